package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// A client that sends its headers, then stalls or trickles its body, gets
// 408 once the route's body_read_timeout has passed; the breaker (enforce,
// threshold 1) counts no failure and stays closed; the handler returns and
// the replay budget is given back; the next request is served.
func TestBodyReadTimeout(t *testing.T) {
	// Long enough that the next request's small body, sent with its
	// headers, is read well within it on a loaded machine.
	const timeout = time.Second
	for _, tc := range []struct {
		name               string
		fallbacks, trickle bool
	}{
		{"streamed body, stalled", false, false},
		{"streamed body, trickled", false, true},
		{"replay buffer, stalled", true, false},
		{"replay buffer, trickled", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upErr := make(chan error, 10)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.Copy(io.Discard, r.Body)
				upErr <- err
			}))
			t.Cleanup(up.Close)
			var fbCalls atomic.Int32
			fb := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fbCalls.Add(1) }))
			t.Cleanup(fb.Close)

			reg := newRegistry(t, breaker.Config{Name: "up", FailureThreshold: 1}, breaker.Config{Name: "fb"})
			b, _ := reg.Get("up")
			rc := config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: 10 * time.Second, BodyReadTimeout: timeout}
			if tc.fallbacks {
				rc.Fallbacks = []config.Fallback{{Upstream: mustURL(fb.URL), Breaker: "fb"}}
			}
			var active atomic.Int32
			front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.DiscardHandler)}, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					active.Add(1)
					defer active.Add(-1)
					h.ServeHTTP(w, r)
				})
			}, rc)

			conn, err := net.Dial("tcp", front.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			io.WriteString(conn, "POST /up/x HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
			stop := make(chan struct{})
			defer close(stop)
			if tc.trickle { // a byte every 20ms: the 1000 would take 20s
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := conn.Write([]byte("1")); err != nil {
								return
							}
						}
					}
				}()
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang guard, not a bound
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			var eb errorBody
			if resp.StatusCode != http.StatusRequestTimeout || json.Unmarshal(body, &eb) != nil ||
				!strings.Contains(eb.Error, "body_read_timeout") || eb.Route != "/up/" || eb.Breaker != "up" {
				t.Fatalf("got %d %s; want 408 with the gateway's JSON naming body_read_timeout", resp.StatusCode, body)
			}
			if elapsed < timeout {
				t.Errorf("408 after %v, before the timeout of %v", elapsed, timeout)
			}
			testutil.WaitFor(t, "the gateway's handler to return", 10*time.Second, func() bool { return active.Load() == 0 })
			testutil.WaitFor(t, "the replay budget to be given back", 10*time.Second, func() bool { return g.replay.used.Load() == 0 })

			counts := b.Snapshot().Counts
			if counts.Failure != 0 || b.State() != breaker.StateClosed {
				t.Errorf("counts %+v, state %v: a client's slow body is no failure of the upstream", counts, b.State())
			}
			if tc.fallbacks {
				// The body never arrived whole: no member was called.
				if counts.Ignored != 0 || counts.Success != 0 || fbCalls.Load() != 0 {
					t.Errorf("counts %+v, fallback calls %d: want no call", counts, fbCalls.Load())
				}
			} else {
				if counts.Ignored != 1 {
					t.Errorf("counts %+v, want the call ignored", counts)
				}
				select {
				case err := <-upErr:
					if err == nil {
						t.Error("the upstream read the cut body to its end without an error")
					}
				case <-time.After(10 * time.Second):
					t.Error("the upstream's request never ended")
				}
			}

			// The route still serves.
			resp2, err := http.Post(front.URL+"/up/x", "application/json", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp2.Body)
			resp2.Body.Close()
			http.DefaultClient.CloseIdleConnections()
			if resp2.StatusCode != 200 {
				t.Errorf("next request: %d", resp2.StatusCode)
			}
		})
	}
}

// A long response after a body read in time is not cut by the body's
// deadline (it is lifted at the body's end).
func TestBodyReadTimeoutDoesNotCutTheResponse(t *testing.T) {
	const timeout = time.Second
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: x\n\n")
			w.(http.Flusher).Flush()
			if i < 2 {
				time.Sleep(timeout + timeout/5) // the stream outlives the body's deadline
			}
		}
	})
	front, b := setup(t, up, breaker.Config{}, config.Route{BodyReadTimeout: timeout})
	resp, err := http.Post(front.URL+"/up/x", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err != nil || strings.Count(string(body), "data: x") != 3 {
		t.Errorf("stream: %q, %v; want 3 events", body, err)
	}
	if c := b.Snapshot().Counts; c.Success != 1 {
		t.Errorf("counts %+v", c)
	}
}

// Over HTTP/2 the deadline is the stream's, and the server does not cancel
// the request by itself: the gateway's own cancellation makes the breaker
// ignore the call.
func TestBodyReadTimeoutHTTP2(t *testing.T) {
	upErr := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		upErr <- err
	}))
	t.Cleanup(up.Close)
	reg := newRegistry(t, breaker.Config{Name: "up", FailureThreshold: 1})
	b, _ := reg.Get("up")
	frontURL, client, _ := serveGatewayH2(t, reg, config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: 10 * time.Second,
		BodyReadTimeout: 200 * time.Millisecond})

	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(`{"a":`)) // then nothing
	resp, err := client.Post(frontURL+"/up/x", "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "body_read_timeout") {
		t.Fatalf("got %d over HTTP/%d: %s; want 408 over HTTP/2", resp.StatusCode, resp.ProtoMajor, body)
	}
	if err := <-upErr; err == nil {
		t.Error("the upstream read the cut body to its end without an error")
	}
	testutil.WaitFor(t, "the call to be recorded", 10*time.Second, func() bool {
		c := b.Snapshot().Counts
		return c.Ignored+c.Failure > 0
	})
	if c := b.Snapshot().Counts; c.Failure != 0 || c.Ignored != 1 || b.State() != breaker.StateClosed {
		t.Errorf("counts %+v, state %v; want the call ignored", c, b.State())
	}
}

// A POST whose upstream answers as soon as it has read the body gets the
// whole response: the HTTP/1 server closes the request body when the
// gateway writes the response headers, and the transport's last read of
// the body (to see its end) must not fail and make the transport close the
// upstream connection mid-response. Without the fix, each of 5 runs
// (-race, -count=5) lost a response's tail within its first 40 requests.
func TestPostResponseNotCut(t *testing.T) {
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(5 * time.Millisecond)
		io.WriteString(w, "data: 2\n\n")
	})
	front, b := setup(t, up, breaker.Config{}, config.Route{})
	defer http.DefaultClient.CloseIdleConnections()
	for i := range 60 {
		resp, err := http.Post(front.URL+"/up/x", "application/json", strings.NewReader(`{"stream":true}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "data: 1\n\ndata: 2\n\n" {
			t.Fatalf("request %d: %q, %v; want both events", i, body, err)
		}
	}
	if c := b.Snapshot().Counts; c.Success != 60 {
		t.Errorf("counts %+v", c)
	}
}

// After its end a timed body answers io.EOF itself, even once the server
// has closed the body underneath.
func TestTimedBodyEOF(t *testing.T) {
	under := &closeOnce{Reader: strings.NewReader("abc")}
	tb := &timedBody{ReadCloser: under}
	got, err := io.ReadAll(tb)
	if err != nil || string(got) != "abc" {
		t.Fatalf("%q, %v", got, err)
	}
	under.Close()
	if n, err := tb.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read after the end and a close: %d, %v; want 0, EOF", n, err)
	}
}

// closeOnce is a body that fails reads once closed, like the server's.
type closeOnce struct {
	io.Reader
	closed bool
}

func (c *closeOnce) Read(p []byte) (int, error) {
	if c.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return c.Reader.Read(p)
}

func (c *closeOnce) Close() error { c.closed = true; return nil }
