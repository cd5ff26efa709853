package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

const tooLargeBody = "payload too large\n"

// tooLarge answers 413 at once, without reading the body, as a server that
// judges an upload by its headers does. It enables full duplex itself: Go's
// half-duplex server would first read up to 256 KiB of a chunked body. (It
// closes the connection, for golang/go#68560.) GET /ok is answered 200 "ok".
func tooLarge(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ok" {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok\n")
		return
	}
	_ = http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	io.WriteString(w, tooLargeBody)
}

// serveLogged serves a gateway of the route rc under /up/, through the
// breaker "up" with cfg (and a default one for each fallback), with the
// server's error log in errLog.
func serveLogged(t *testing.T, rc config.Route, cfg breaker.Config) (front *httptest.Server, b *breaker.Breaker, errLog *testutil.SyncBuffer) {
	t.Helper()
	cfg.Name, rc.Breaker, rc.Prefix = "up", "up", "/up/"
	if rc.Timeout == 0 {
		rc.Timeout = 5 * time.Second
	}
	cfgs := []breaker.Config{cfg}
	for _, f := range rc.Fallbacks {
		cfgs = append(cfgs, breaker.Config{Name: f.Breaker})
	}
	reg := newRegistry(t, cfgs...)
	b, _ = reg.Get("up")
	g, err := New([]config.Route{rc}, reg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	front = httptest.NewUnstartedServer(mux)
	errLog = &testutil.SyncBuffer{}
	front.Config.ErrorLog = log.New(errLog, "", 0)
	front.Start()
	t.Cleanup(front.Close)
	t.Cleanup(g.CloseIdleConnections)
	return front, b, errLog
}

// noPanic checks, once front is closed, that its server logged no panic.
func noPanic(t *testing.T, front *httptest.Server, errLog *testutil.SyncBuffer) {
	t.Helper()
	front.Close()
	if s := errLog.String(); strings.Contains(s, "panic") {
		t.Errorf("server log: %s", s)
	}
}

// postConn is a raw HTTP/1.1 client connection to the gateway.
type postConn struct {
	net.Conn
	br *bufio.Reader
}

func dialFront(t *testing.T, front *httptest.Server) *postConn {
	t.Helper()
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not a bound
	return &postConn{Conn: conn, br: bufio.NewReader(conn)}
}

// sendPost writes a POST of size bytes to path, with a Content-Length or
// chunked, in 32 KiB pieces; after the first 64 KiB it waits for wait to
// close, if wait is not nil. It returns the write's error on errc.
func (c *postConn) sendPost(path string, size int, chunked bool, wait <-chan struct{}) <-chan error {
	errc := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(c.Conn, 64<<10)
		if chunked {
			fmt.Fprintf(bw, "POST %s HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", path)
		} else {
			fmt.Fprintf(bw, "POST %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", path, size)
		}
		piece := bytes.Repeat([]byte("a"), 32<<10)
		for sent := 0; sent < size; sent += len(piece) {
			if wait != nil && sent == 64<<10 {
				if err := bw.Flush(); err != nil {
					errc <- err
					return
				}
				<-wait
			}
			p := piece[:min(len(piece), size-sent)]
			if chunked {
				fmt.Fprintf(bw, "%x\r\n", len(p))
			}
			bw.Write(p)
			if chunked {
				bw.WriteString("\r\n")
			}
		}
		if chunked {
			bw.WriteString("0\r\n\r\n")
		}
		errc <- bw.Flush()
	}()
	return errc
}

// read reads a response and its body.
func (c *postConn) read() (*http.Response, string, error) {
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// nextRequestServedOrClosed sends a GET /up/ok on c after a request whose
// body was not all read: the gateway must answer it (want; 200 is the
// upstream's "ok"), or have closed the connection (a read error) unless
// mustServe (the previous answer said it keeps the connection); any other
// response is the previous body read as a request.
func (c *postConn) nextRequestServedOrClosed(t *testing.T, want int, mustServe bool) {
	t.Helper()
	io.WriteString(c.Conn, "GET /up/ok HTTP/1.1\r\nHost: gw\r\n\r\n") // may fail: the connection is closed
	resp, body, err := c.read()
	if err != nil {
		if !mustServe && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err)) {
			return
		}
		t.Fatalf("next request on the connection: %v; want a response or the connection closed", err)
	}
	if resp.StatusCode != want || (want == http.StatusOK && body != "ok\n") {
		t.Fatalf("next request on the connection: %d %q; want %d or the connection closed", resp.StatusCode, body, want)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && (strings.Contains(oe.Err.Error(), "reset") || strings.Contains(oe.Err.Error(), "broken pipe"))
}

// An upstream that answers before reading the request body (413 on a large
// upload) has its answer reach the client, whole, while the client is still
// sending the body or waits for the answer before sending more; the answer
// closes the connection (Connection: close), and the rest of the body is
// never read as the next request. Without the fix (half duplex), each
// "waits" case got no answer within 10s (6 of 6, -count=3: the server's
// header write waited for the transport's body read, itself waiting for
// the client); the "at once" cases passed (-count=20). Full duplex alone,
// without the close and the end of the read in flight, answered the next
// request with 400 (the body's rest parsed as a request), or panicked
// (golang/go#68560).
func TestEarlyResponseReachesClient(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		size                    int
		chunked, wait, fallback bool
	}{
		{"8 MiB, Content-Length, at once", 8 << 20, false, false, false},
		{"8 MiB, Content-Length, waits", 8 << 20, false, true, false},
		{"8 MiB, chunked, at once", 8 << 20, true, false, false},
		{"8 MiB, chunked, waits", 8 << 20, true, true, false},
		{"200 KiB, Content-Length, waits", 200 << 10, false, true, false},
		{"200 KiB, chunked, waits", 200 << 10, true, true, false},
		// Over max_replay_body: the body streams to the route's upstream.
		{"with a fallback, 8 MiB, Content-Length, waits", 8 << 20, false, true, true},
		{"with a fallback, 200 KiB, chunked, waits", 200 << 10, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(tooLarge))
			t.Cleanup(up.Close)
			rc := config.Route{Upstream: mustURL(up.URL), BodyReadTimeout: 30 * time.Second}
			if tc.fallback {
				rc.Fallbacks = []config.Fallback{{Upstream: mustURL(deadURL(t)), Breaker: "fb"}}
				rc.MaxReplayBody = 1 << 10
			}
			front, b, errLog := serveLogged(t, rc, breaker.Config{})
			c := dialFront(t, front)
			answered := make(chan struct{})
			var wait <-chan struct{}
			if tc.wait {
				wait = answered
			}
			sent := c.sendPost("/up/upload", tc.size, tc.chunked, wait)
			resp, body, err := c.read()
			close(answered)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || body != tooLargeBody {
				t.Fatalf("got %d %q; want the upstream's 413 %q", resp.StatusCode, body, tooLargeBody)
			}
			if !resp.Close {
				t.Error("the answer before the body's end does not close the connection")
			}
			<-sent // whether the gateway took it all or closed the connection
			c.nextRequestServedOrClosed(t, http.StatusOK, false)
			if counts := b.Snapshot().Counts; counts.Success != 1 {
				t.Errorf("counts %+v; want the 413 counted a success", counts)
			}
			noPanic(t, front, errLog)
		})
	}
}

// A body that the upstream reads to its end keeps the connection open: the
// next request on it is served, whatever the body's size.
//
// net/http's HTTP/1 server reads at most 256 KiB (maxPostHandlerReadBytes)
// of what a handler left unread of a request body before it answers, and
// past that answers with Connection: close (response.writeHeader's
// "tooBig"). That limit is on the unread rest only: here the transport has
// read the body to its end before the upstream could answer (the server's
// body has seen it: the last byte of a Content-Length, the last chunk), so
// nothing is left, and a body over 256 KiB (the limit itself, and four
// times it) keeps the connection as one under it does. Its counterpart, an
// answer that leaves more than 256 KiB unread and closes the connection,
// is TestGatewayAnswerBeforeBodyEnd's.
func TestBodyReadWholeKeepsConnection(t *testing.T) {
	for _, size := range []int{200 << 10, 256 << 10, 1 << 20} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d KiB, chunked=%v", size>>10, chunked), func(t *testing.T) {
				up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n, _ := io.Copy(io.Discard, r.Body)
					fmt.Fprintf(w, "%d\n", n)
				})
				front, _ := setup(t, up, breaker.Config{}, config.Route{})
				c := dialFront(t, front)
				for i := range 2 {
					if err := <-c.sendPost("/up/x", size, chunked, nil); err != nil {
						t.Fatal(err)
					}
					resp, body, err := c.read()
					if err != nil || resp.StatusCode != 200 || body != fmt.Sprintf("%d\n", size) || resp.Close {
						t.Fatalf("request %d on the connection: %v, %v, %q; want 200 with the body's size, the connection kept", i, resp, err, body)
					}
				}
			})
		}
	}
}

// The gateway's own answer before the body's end (the breaker rejects the
// request, the upstream is unreachable) stays half duplex, as it was: the
// server reads the rest of a small body first and keeps the connection for
// the next request; a large one closes it. (Full duplex there would leave
// the server reading the body's end after the handler, and panicking on
// the connection's next request, golang/go#68560.) Large is net/http's
// maxPostHandlerReadBytes, 256 KiB: with more of a Content-Length body
// unread, the server answers with Connection: close instead of reading it,
// and a 300 KiB body leaves more than that (the server has read at most a
// buffer's worth with the headers). That close costs the server's
// rstAvoidanceDelay (500ms) per subtest.
func TestGatewayAnswerBeforeBodyEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{
		{"rejected", http.StatusServiceUnavailable},
		{"unreachable", http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream := deadURL(t)
			if tc.status == http.StatusServiceUnavailable {
				up := httptest.NewServer(http.HandlerFunc(tooLarge))
				t.Cleanup(up.Close)
				upstream = up.URL
			}
			// Not opened by the unreachable upstream's failures.
			front, b, errLog := serveLogged(t, config.Route{Upstream: mustURL(upstream)}, breaker.Config{FailureThreshold: 100})
			if tc.status == http.StatusServiceUnavailable {
				b.ForceOpen("test")
			}
			for _, size := range []int{1000, 200 << 10, 300 << 10} {
				c := dialFront(t, front)
				sent := c.sendPost("/up/x", size, false, nil)
				resp, body, err := c.read()
				if err != nil || resp.StatusCode != tc.status {
					t.Fatalf("%d bytes: %v, %v %q; want %d", size, resp, err, body, tc.status)
				}
				<-sent
				if size < 256<<10 && resp.Close {
					t.Errorf("%d bytes: the answer closes the connection; want it kept", size)
				}
				if size >= 256<<10 && !resp.Close {
					t.Errorf("%d bytes: the answer keeps the connection; want it closed (more than 256 KiB unread)", size)
				}
				c.nextRequestServedOrClosed(t, tc.status, !resp.Close)
				c.Close()
			}
			noPanic(t, front, errLog)
		})
	}
}

// A client that stalls after the early answer, neither sending the rest of
// its body nor closing, has its connection closed once body_read_timeout
// has passed: the transport's read of the body, in flight as the handler
// returns, is ended by the gateway, not by the server, which would lift
// the read deadline and then wait for the body's rest for as long as the
// client keeps the connection.
func TestStalledBodyAfterEarlyResponse(t *testing.T) {
	const timeout = 2 * time.Second // the upstream's answer must come within it
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(tooLarge))
			t.Cleanup(up.Close)
			front, _, errLog := serveLogged(t, config.Route{Upstream: mustURL(up.URL), BodyReadTimeout: timeout}, breaker.Config{})
			c := dialFront(t, front)
			never := make(chan struct{})
			defer close(never)
			start := time.Now()
			c.sendPost("/up/upload", 200<<10, chunked, never) // 64 KiB, then nothing
			resp, body, err := c.read()
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || body != tooLargeBody {
				t.Fatalf("%v, %v %q; want the upstream's 413", resp, err, body)
			}
			if _, err := c.br.ReadByte(); err == nil || isTimeout(err) {
				t.Fatalf("after the answer: %v; want the connection closed", err)
			}
			if elapsed := time.Since(start); elapsed > timeout+5*time.Second {
				t.Errorf("connection closed after %v", elapsed)
			}
			noPanic(t, front, errLog)
		})
	}
}

// Over HTTP/2, full duplex already, the early answer reaches the client
// while it still sends the body, as it did.
func TestEarlyResponseHTTP2(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(tooLarge))
	t.Cleanup(up.Close)
	reg := newRegistry(t, breaker.Config{Name: "up"})
	frontURL, client, _ := serveGatewayH2(t, reg, config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: 5 * time.Second})

	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(bytes.Repeat([]byte("a"), 64<<10)) // then nothing until the answer
	req, _ := http.NewRequest(http.MethodPost, frontURL+"/up/upload", pr)
	req.ContentLength = 8 << 20
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != tooLargeBody {
		t.Fatalf("got %d over HTTP/%d: %q; want the upstream's 413 over HTTP/2", resp.StatusCode, resp.ProtoMajor, body)
	}
}
