package exporter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

func TestTransportOutcomes(t *testing.T) {
	type counts struct{ success, failure uint64 }
	tests := []struct {
		name   string
		opts   []exporter.Option
		status int
		want   counts
	}{
		{"200", nil, 200, counts{1, 0}},
		{"404 is a success", nil, 404, counts{1, 0}},
		{"500", nil, 500, counts{0, 1}},
		{"503", nil, 503, counts{0, 1}},
		{"429 by default is a success", nil, 429, counts{1, 0}},
		{"WithFailureStatus 429", []exporter.Option{exporter.WithFailureStatus(429, 500, 502, 503, 504)}, 429, counts{0, 1}},
		{"WithFailureStatus replaces 5xx", []exporter.Option{exporter.WithFailureStatus(429)}, 501, counts{1, 0}},
		{"WithFailureStatusFunc", []exporter.Option{exporter.WithFailureStatusFunc(func(s int) bool { return s >= 400 })}, 404, counts{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := register(t, testRegistry(t), breaker.Config{Name: "upstream"})
			body := strings.Repeat("payload ", 1000)
			srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, body)
			}))
			c := client(t, exporter.NewTransport(&http.Transport{}, b, tt.opts...))
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != body || resp.StatusCode != tt.status {
				t.Errorf("got %d with %d bytes (%v), want %d with the server's body untouched", resp.StatusCode, len(got), err, tt.status)
			}
			c2 := b.Snapshot().Counts
			if g := (counts{c2.Success, c2.Failure}); g != tt.want {
				t.Errorf("counts %+v, want %+v", g, tt.want)
			}
		})
	}
}

// A transport error is a failure; the caller gets the error.
func TestTransportError(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "upstream"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = client(t, exporter.NewTransport(&http.Transport{}, b)).Get("http://" + addr)
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("err = %v, want the dial error", err)
	}
	if c := b.Snapshot().Counts; c.Failure != 1 {
		t.Errorf("counts %+v, want 1 failure", c)
	}
}

// The caller canceling is ignored; the caller's deadline expiring is a
// failure (the dependency was too slow).
func TestTransportCancellation(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		cancelIn bool // cancel once the server has the request
		ignored  uint64
		failures uint64
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, true, 1, 0},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, false, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := register(t, testRegistry(t), breaker.Config{Name: "upstream"})
			entered := make(chan struct{}, 1)
			srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-r.Context().Done()
			}))
			ctx, cancel := tt.ctx()
			defer cancel()
			if tt.cancelIn {
				go func() {
					<-entered
					cancel()
				}()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			_, err := client(t, exporter.NewTransport(&http.Transport{}, b)).Do(req)
			if err == nil {
				t.Fatal("want an error")
			}
			if c := b.Snapshot().Counts; c.Ignored != tt.ignored || c.Failure != tt.failures {
				t.Errorf("counts %+v, want %d ignored and %d failures (err %v)", c, tt.ignored, tt.failures, err)
			}
		})
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// A rejected request never reaches the network: no connection is made, the
// body is closed and the error matches breaker.ErrOpen through *url.Error.
func TestTransportRejects(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "upstream", FailureThreshold: 1})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := client(t, exporter.NewTransport(&http.Transport{DisableKeepAlives: true}, b))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	body := &closeRecorder{Reader: strings.NewReader("request body")}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
	resp, err = c.Do(req)
	if resp != nil {
		resp.Body.Close()
		t.Errorf("got a response: %s", resp.Status)
	}
	var (
		rej    *breaker.RejectedError
		urlErr *url.Error
	)
	if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &rej) || !errors.As(err, &urlErr) {
		t.Fatalf("err = %#v, want a *url.Error wrapping a *breaker.RejectedError matching ErrOpen", err)
	}
	if rej.Name != "upstream" || rej.State != breaker.StateOpen {
		t.Errorf("rejection %+v", rej)
	}
	if !body.closed.Load() {
		t.Error("the request body was not closed")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: the rejected request touched the network", n)
	}
	if c := b.Snapshot().Counts; c.Rejected != 1 || c.Failure != 1 {
		t.Errorf("counts %+v", c)
	}
}

// nil base means http.DefaultTransport; CloseIdleConnections reaches it.
func TestTransportNilBase(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "upstream"})
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	c := &http.Client{Transport: exporter.NewTransport(nil, b)}
	defer c.CloseIdleConnections() // else DefaultTransport keeps the connection's goroutines
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if c := b.Snapshot().Counts; c.Success != 1 {
		t.Errorf("counts %+v", c)
	}
}

// A streamed body reaches the caller as it is sent, and the breaker's call
// ended with the headers: it is counted while the body is still streaming.
func TestTransportStreaming(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "events"})
	srv := server(t, sseHandler(t, func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }))
	c := client(t, exporter.NewTransport(&http.Transport{}, b))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().Counts.Success; got != 1 {
		resp.Body.Close()
		t.Fatalf("success = %d after the headers, want 1", got)
	}
	readStream(t, c, srv.URL, resp) // stalls (and fails) if the body were buffered
}

// Streaming through both: a protected handler behind the middleware, read
// through the transport.
func TestStreamingThroughBoth(t *testing.T) {
	reg := testRegistry(t)
	server_ := register(t, reg, breaker.Config{Name: "events_server"})
	clientB := register(t, reg, breaker.Config{Name: "events_client"})
	srv, done := protected(t, server_, sseHandler(t, func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }))
	readEvents(t, client(t, exporter.NewTransport(&http.Transport{}, clientB)), srv.URL)
	for range sseEvents {
		wait(t, done)
	}
	if s, c := server_.Snapshot().Counts, clientB.Snapshot().Counts; s.Success != sseEvents || c.Success != sseEvents {
		t.Errorf("server counts %+v, client counts %+v; want %d successes each", s, c, sseEvents)
	}
}

// Many concurrent round trips through one transport, against a server that
// fails some: each is counted once, and every rejection is the breaker's.
func TestTransportConcurrent(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "upstream", FailureThreshold: 3, Timeout: 20 * time.Millisecond})
	var served atomic.Int64
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(500)
		}
	}))
	c := client(t, exporter.NewTransport(&http.Transport{MaxIdleConnsPerHost: 64}, b))
	const n = 400
	var (
		wg                   sync.WaitGroup
		ok, failed, rejected atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			u := srv.URL
			if i%4 == 0 {
				u += "?fail=1"
			}
			resp, err := c.Get(u)
			switch {
			case errors.Is(err, breaker.ErrOpen) || errors.Is(err, breaker.ErrTooManyRequests):
				rejected.Add(1)
			case err != nil:
				t.Error(err)
			default:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 500 {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	got := b.Snapshot().Counts
	if got.Success != uint64(ok.Load()) || got.Failure != uint64(failed.Load()) || got.Rejected != uint64(rejected.Load()) ||
		uint64(served.Load()) != got.Success+got.Failure {
		t.Errorf("counts %+v; callers saw %d ok, %d failed, %d rejected; server served %d",
			got, ok.Load(), failed.Load(), rejected.Load(), served.Load())
	}
}
