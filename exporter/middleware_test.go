package exporter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// server starts a real HTTP server for h; closed when the test ends. Panics
// that net/http recovers are not logged.
func server(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// client returns a client with its own transport, whose idle connections
// are closed when the test ends.
func client(t *testing.T, rt http.RoundTripper) *http.Client {
	t.Helper()
	if rt == nil {
		rt = &http.Transport{}
	}
	// Timeout only guards against a hang: the concurrent tests' hundreds of
	// requests took more than 10s under -race on a loaded machine.
	c := &http.Client{Transport: rt, Timeout: time.Minute}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// protected serves h behind Middleware(b, opts...) and signals on done after
// each request has fully left the middleware (its outcome recorded).
func protected(t *testing.T, b *breaker.Breaker, h http.Handler, opts ...exporter.Option) (srv *httptest.Server, done chan struct{}) {
	t.Helper()
	done = make(chan struct{}, 1000)
	mw := exporter.Middleware(b, opts...)(h)
	srv = server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mw.ServeHTTP(w, r)
	}))
	return srv, done
}

func wait(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not finish")
	}
}

func testRegistry(t *testing.T) *breaker.Registry {
	t.Helper()
	return newRegistry(t, newMetrics(t))
}

func TestMiddlewareOutcomes(t *testing.T) {
	type counts struct{ success, failure, ignored uint64 }
	tests := []struct {
		name    string
		opts    []exporter.Option
		handler http.HandlerFunc
		status  int // 0: the client gets no response
		want    counts
	}{
		{"200", nil, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, 200, counts{1, 0, 0}},
		{"nothing written is 200", nil, func(http.ResponseWriter, *http.Request) {}, 200, counts{1, 0, 0}},
		{"404 is a success", nil, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, 404, counts{1, 0, 0}},
		{"500", nil, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, 500, counts{0, 1, 0}},
		{"503", nil, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, 503, counts{0, 1, 0}},
		{"early hints then 502", nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusBadGateway)
		}, 502, counts{0, 1, 0}},
		{"only the first status counts", nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			w.WriteHeader(500) // superfluous, ignored by net/http
		}, 200, counts{1, 0, 0}},
		{"panic", nil, func(http.ResponseWriter, *http.Request) { panic("handler bug") }, 0, counts{0, 1, 0}},
		{"panic after writing", nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			panic("handler bug")
		}, 0, counts{0, 1, 0}},
		{"abort without hang-up", nil, func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, 0, counts{0, 1, 0}},
		{"WithFailureStatus 429", []exporter.Option{exporter.WithFailureStatus(429)},
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }, 429, counts{0, 1, 0}},
		{"WithFailureStatus replaces 5xx", []exporter.Option{exporter.WithFailureStatus(429)},
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, 500, counts{1, 0, 0}},
		{"WithFailureStatusFunc", []exporter.Option{exporter.WithFailureStatusFunc(func(s int) bool { return s == 418 })},
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) }, 418, counts{0, 1, 0}},
		{"WithFailureStatus() none", []exporter.Option{exporter.WithFailureStatus()},
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, 500, counts{1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := register(t, testRegistry(t), breaker.Config{Name: "svc"})
			srv, done := protected(t, b, tt.handler, tt.opts...)
			resp, err := client(t, nil).Get(srv.URL)
			if tt.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s, want the connection cut by the panic", resp.Status)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if got := resp.Header.Get(exporter.HeaderBreakerName); got != "svc" {
					t.Errorf("%s = %q, want svc", exporter.HeaderBreakerName, got)
				}
				if got := resp.Header.Get(exporter.HeaderBreakerState); got != "closed" {
					t.Errorf("%s = %q, want closed", exporter.HeaderBreakerState, got)
				}
				if got := resp.Header.Get(exporter.HeaderBreakerMode); got != "enforce" {
					t.Errorf("%s = %q, want enforce", exporter.HeaderBreakerMode, got)
				}
			}
			wait(t, done)
			c := b.Snapshot().Counts
			if got := (counts{c.Success, c.Failure, c.Ignored}); got != tt.want {
				t.Errorf("counts %+v, want %+v", got, tt.want)
			}
		})
	}
}

type rejectionJSON struct {
	Error             string `json:"error"`
	Breaker           string `json:"breaker"`
	State             string `json:"state"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
}

func TestMiddlewareRejects(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc", FailureThreshold: 1, Timeout: 30 * time.Second})
	var calls atomic.Int32
	srv, done := protected(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	}))
	c := client(t, nil)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wait(t, done)

	resp, err = c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wait(t, done)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1 (the rejected request must not reach it)", n)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 29 || ra > 30 {
		t.Errorf("Retry-After = %q, want 30 (seconds until the probe, rounded up)", resp.Header.Get("Retry-After"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := resp.Header.Get(exporter.HeaderBreakerState); got != "open" {
		t.Errorf("%s = %q, want open", exporter.HeaderBreakerState, got)
	}
	if got := resp.Header.Get(exporter.HeaderBreakerName); got != "svc" {
		t.Errorf("%s = %q, want svc", exporter.HeaderBreakerName, got)
	}
	var body rejectionJSON
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Breaker != "svc" || body.State != "open" || body.RetryAfterSeconds != ra || !strings.Contains(body.Error, "open") {
		t.Errorf("body %+v", body)
	}
	if n := b.Snapshot().Counts.Rejected; n != 1 {
		t.Errorf("rejected = %d, want 1", n)
	}
}

// A monitor-mode breaker never rejects: the request runs and counts as
// would-reject.
func TestMiddlewareMonitor(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc", Mode: breaker.ModeMonitor, FailureThreshold: 1})
	srv, done := protected(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	c := client(t, nil)
	for i := range 3 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wait(t, done)
		if resp.StatusCode != 500 {
			t.Errorf("request %d: status %d, want the handler's 500", i, resp.StatusCode)
		}
		if i > 0 && resp.Header.Get(exporter.HeaderBreakerState) != "open" || resp.Header.Get(exporter.HeaderBreakerMode) != "monitor" {
			t.Errorf("request %d: headers %v", i, resp.Header)
		}
	}
	if c := b.Snapshot().Counts; c.WouldReject != 2 || c.Rejected != 0 {
		t.Errorf("counts %+v, want 2 would-reject and no rejection", c)
	}
}

// A client that hangs up says nothing about the handler: ignored when the
// handler then answers 500, aborts or answers nothing.
func TestMiddlewareClientHangUp(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after func(http.ResponseWriter)
	}{
		{"500", func(w http.ResponseWriter) { w.WriteHeader(500) }},
		{"abort", func(http.ResponseWriter) { panic(http.ErrAbortHandler) }},
		{"nothing written", func(http.ResponseWriter) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := register(t, testRegistry(t), breaker.Config{Name: "svc", FailureThreshold: 1})
			entered := make(chan struct{})
			srv, done := protected(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-r.Context().Done()
				tt.after(w)
			}))
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-entered
				cancel()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if resp, err := client(t, nil).Do(req); err == nil {
				resp.Body.Close()
				t.Fatal("the request succeeded; want it canceled")
			}
			wait(t, done)
			c := b.Snapshot().Counts
			if c.Ignored != 1 || c.Failure != 0 || b.State() != breaker.StateClosed {
				t.Errorf("counts %+v, state %v: want 1 ignored, no failure, closed", c, b.State())
			}
		})
	}
}

// Server-sent events: each event reaches the client while the handler is
// still running, through http.Flusher and through http.ResponseController.
func TestMiddlewareStreaming(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flush func(http.ResponseWriter) error
	}{
		{"Flusher", func(w http.ResponseWriter) error {
			f, ok := w.(http.Flusher)
			if !ok {
				return errors.New("the ResponseWriter is not an http.Flusher")
			}
			f.Flush()
			return nil
		}},
		{"ResponseController", func(w http.ResponseWriter) error {
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
				return fmt.Errorf("SetWriteDeadline: %w", err)
			}
			return rc.Flush()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := register(t, testRegistry(t), breaker.Config{Name: "events"})
			srv, done := protected(t, b, sseHandler(t, tt.flush))
			readEvents(t, client(t, nil), srv.URL)
			for range sseEvents { // the stream and its acks
				wait(t, done)
			}
			if c := b.Snapshot().Counts; c.Success != sseEvents {
				t.Errorf("counts %+v, want %d successes (the stream and its acks)", c, sseEvents)
			}
		})
	}
}

const sseEvents = 3

// sseHandler sends sseEvents events; it sends each one only after the client
// acknowledged the previous one (POST ?ack), so a buffered stream deadlocks
// instead of passing.
func sseHandler(t *testing.T, flush func(http.ResponseWriter) error) http.Handler {
	acks := make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			select {
			case acks <- struct{}{}:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range sseEvents {
			if i > 0 {
				select {
				case <-acks:
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Second):
					t.Error("no ack: the client did not receive the previous event")
					return
				}
			}
			fmt.Fprintf(w, "data: event %d\n\n", i)
			if err := flush(w); err != nil {
				t.Error(err)
				return
			}
		}
	})
}

// readEvents reads the stream at url, acknowledging each event.
func readEvents(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, c, url, resp)
}

// readStream reads the events of resp, a response from url, acknowledging each.
func readStream(t *testing.T, c *http.Client, url string, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	got := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		if want := fmt.Sprintf("data: event %d", got); line != want {
			t.Errorf("read %q, want %q", line, want)
		}
		got++
		if got == sseEvents {
			break
		}
		ack, err := c.Post(url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ack.Body.Close()
	}
	if got != sseEvents {
		t.Fatalf("read %d events, want %d (err %v)", got, sseEvents, sc.Err())
	}
}

// The optional interfaces pass through: a hijacked connection, io.Copy
// through ReadFrom, full duplex through ResponseController.
func TestMiddlewarePassThrough(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc"})
	mux := http.NewServeMux()
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		brw.Flush()
	})
	mux.HandleFunc("/copy", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("not an io.ReaderFrom")
		}
		io.Copy(w, strings.NewReader("copied"))
	})
	mux.HandleFunc("/duplex", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "duplex")
	})
	srv, done := protected(t, b, mux)
	c := client(t, nil)
	for path, want := range map[string]string{"/hijack": "hijacked", "/copy": "copied", "/duplex": "duplex"} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wait(t, done)
		if string(body) != want || resp.StatusCode != 200 {
			t.Errorf("%s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	if c := b.Snapshot().Counts; c.Success != 3 {
		t.Errorf("counts %+v, want 3 successes", c)
	}
}

// Many concurrent requests, some failing: every request is counted once, as
// a success, a failure or a rejection, and every rejection is a proper 503.
func TestMiddlewareConcurrent(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc", FailureThreshold: 3, Timeout: 20 * time.Millisecond})
	var ran, failed atomic.Int64
	srv, done := protected(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		if r.URL.Query().Get("fail") != "" {
			failed.Add(1)
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "ok")
	}))
	c := client(t, &http.Transport{MaxIdleConnsPerHost: 64})
	const n = 400
	var (
		wg       sync.WaitGroup
		rejected atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			url := srv.URL
			if i%4 == 0 {
				url += "?fail=1"
			}
			resp, err := c.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.Header.Get(exporter.HeaderBreakerName) != "svc" {
				t.Errorf("response without %s", exporter.HeaderBreakerName)
			}
			if resp.StatusCode == 503 {
				var body rejectionJSON
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Breaker != "svc" {
					t.Errorf("rejection body %+v, %v", body, err)
				}
				rejected.Add(1)
			}
		})
	}
	wg.Wait()
	// The server may still be finishing the last requests' bookkeeping.
	for range n {
		wait(t, done)
	}
	got := b.Snapshot().Counts
	if total := got.Success + got.Failure + got.Rejected; total != n {
		t.Errorf("counts %+v add up to %d, want %d requests", got, total, n)
	}
	if got.Success+got.Failure != uint64(ran.Load()) || got.Failure != uint64(failed.Load()) || got.Rejected != uint64(rejected.Load()) {
		t.Errorf("counts %+v; handler ran %d times (%d failed), clients saw %d rejections", got, ran.Load(), failed.Load(), rejected.Load())
	}
}

// WriteRejection rounds Retry-After up and never sends 0.
func TestWriteRejection(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc", FailureThreshold: 1, Timeout: 1500 * time.Millisecond})
	run(b, 1, fail)
	err := b.Execute(context.Background(), succeed)
	var rej *breaker.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("err = %v, want a rejection", err)
	}
	rec := httptest.NewRecorder()
	exporter.WriteRejection(rec, rej)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q; want 503 and 2 (1.5 s rounded up)", rec.Code, rec.Header().Get("Retry-After"))
	}

	rej.RetryAt = time.Now().Add(-time.Second) // past: at least 1
	rec = httptest.NewRecorder()
	exporter.WriteRejection(rec, rej)
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q for a past RetryAt, want 1", rec.Header().Get("Retry-After"))
	}

	rec = httptest.NewRecorder()
	exporter.WriteRejection(rec, nil)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("nil error: %d %s", rec.Code, rec.Body)
	}
}

// Regression: a response sent in full is a success even if the client hangs
// up before the handler returns (seen as a flaky streaming test, where the
// client closed the stream after the last event).
func TestMiddlewareResponseThenHangUp(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc"})
	srv, done := protected(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "all of it\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // the client has gone
	}))
	resp, err := client(t, &http.Transport{DisableKeepAlives: true}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if line != "all of it\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	wait(t, done)
	if c := b.Snapshot().Counts; c.Success != 1 || c.Ignored != 0 {
		t.Errorf("counts %+v, want 1 success", c)
	}
}
