package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup serves one route in front of upstream through a breaker with cfg.
func setup(t *testing.T, upstream http.Handler, cfg breaker.Config, rc config.Route) (front *httptest.Server, b *breaker.Breaker) {
	t.Helper()
	return setupLogged(t, upstream, cfg, rc, slog.New(slog.DiscardHandler))
}

// setupLogged is setup with the gateway logging to logger.
func setupLogged(t *testing.T, upstream http.Handler, cfg breaker.Config, rc config.Route, logger *slog.Logger) (front *httptest.Server, b *breaker.Breaker) {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if cfg.Name == "" {
		cfg.Name = "up"
	}
	b, err = reg.Register(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	if rc.Prefix == "" {
		rc.Prefix = "/up/"
	}
	if rc.Upstream != nil {
		u.Path = rc.Upstream.Path
	}
	rc.Upstream, rc.Breaker = u, cfg.Name
	return serveRouteLogged(t, rc, reg, logger), b
}

// serveRoute serves the gateway of one route (timeout 5s unless set) until
// the test ends.
func serveRoute(t *testing.T, rc config.Route, reg *breaker.Registry) *httptest.Server {
	t.Helper()
	return serveRouteLogged(t, rc, reg, slog.New(slog.DiscardHandler))
}

func serveRouteLogged(t *testing.T, rc config.Route, reg *breaker.Registry, logger *slog.Logger) *httptest.Server {
	t.Helper()
	if rc.Timeout == 0 {
		rc.Timeout = 5 * time.Second
	}
	front, _ := serveGateway(t, reg, Options{Logger: logger}, nil, rc)
	return front
}

// serveGateway serves the gateway of routes, built with opts, through wrap
// if not nil, until the test ends.
func serveGateway(t *testing.T, reg *breaker.Registry, opts Options, wrap func(http.Handler) http.Handler, routes ...config.Route) (*httptest.Server, *Gateway) {
	t.Helper()
	g, err := New(routes, reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	t.Cleanup(g.CloseIdleConnections)
	return front, g
}

// newRegistry returns a registry (its metrics dropped) with a breaker of
// each of cfgs, closed at the test's end.
func newRegistry(t *testing.T, cfgs ...breaker.Config) *breaker.Registry {
	t.Helper()
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, cfg := range cfgs {
		if _, err := reg.Register(cfg); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// serveGatewayH2 serves the gateway of routes over HTTPS with HTTP/2 and
// returns its URL, a client that speaks HTTP/2 to it, and the gateway.
func serveGatewayH2(t *testing.T, reg *breaker.Registry, routes ...config.Route) (string, *http.Client, *Gateway) {
	t.Helper()
	g, err := New(routes, reg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	mux := http.NewServeMux()
	g.Register(mux)
	front := httptest.NewUnstartedServer(mux)
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	client := front.Client()
	t.Cleanup(client.CloseIdleConnections)
	return front.URL, client, g
}

// hangUp sends a request to url and cancels it once arrived is closed (the
// upstream has it), then waits until b counts the call as ignored.
func hangUp(t *testing.T, method, url string, body io.Reader, arrived <-chan struct{}, b *breaker.Breaker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, method, url, body)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Snapshot().Counts.Ignored == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c := b.Snapshot().Counts; c != (breaker.Counts{Ignored: 1}) {
		t.Errorf("%s counts = %+v, want 1 ignored", b.Name(), c)
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fetch(t, http.DefaultClient, req)
}

// fetch sends req with c and returns the response and its body, read to
// its end (or its error) and closed.
func fetch(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestRewrite(t *testing.T) {
	type seen struct {
		path, rawPath, query, host, xff, xfh, connHeader, keepAlive string
	}
	got := make(chan seen, 1)
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Hop"), r.Header.Get("Keep-Alive")}
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop-by-hop")
		w.Header().Set("X-Kept", "end-to-end")
		w.Write([]byte("ok"))
	})
	front, _ := setup(t, up, breaker.Config{}, config.Route{Prefix: "/openai/", Upstream: &url.URL{Path: "/base"}})

	req, _ := http.NewRequest("GET", front.URL+"/openai/v1/chat%2Fcompletions?stream=true", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "should not pass")
	req.Header.Set("Keep-Alive", "timeout=5")
	resp, body := fetch(t, http.DefaultClient, req)
	var s seen
	select {
	case s = <-got:
	default:
		t.Fatalf("the request did not reach the upstream: %d %s", resp.StatusCode, body)
	}
	upHost := strings.TrimPrefix(front.URL, "http://") // same host, other port: compare below
	want := seen{
		path: "/base/v1/chat/completions", rawPath: "/base/v1/chat%2Fcompletions", query: "stream=true",
		xff: "127.0.0.1", xfh: upHost,
	}
	if s.host == upHost || s.host == "" {
		t.Errorf("upstream saw Host %q; want the upstream's own host", s.host)
	}
	s.host = ""
	if s != want {
		t.Errorf("upstream saw %+v\nwant %+v", s, want)
	}
	if resp.Header.Get("X-Secret") != "" || resp.Header.Get("X-Kept") != "end-to-end" {
		t.Errorf("response headers %v: want X-Secret (named by Connection) dropped, X-Kept kept", resp.Header)
	}
}

func TestClassification(t *testing.T) {
	var status atomic.Int32
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, `{"upstream":"body"}`)
	})
	tests := map[string]struct {
		failureStatus []int
		status        int
		want          breaker.Counts
	}{
		"5xx is a failure":          {status: 500, want: breaker.Counts{Failure: 1}},
		"503 is a failure":          {status: 503, want: breaker.Counts{Failure: 1}},
		"4xx is not":                {status: 404, want: breaker.Counts{Success: 1}},
		"429 is not by default":     {status: 429, want: breaker.Counts{Success: 1}},
		"2xx":                       {status: 200, want: breaker.Counts{Success: 1}},
		"listed status":             {failureStatus: []int{429, 502}, status: 429, want: breaker.Counts{Failure: 1}},
		"5xx not listed is success": {failureStatus: []int{502}, status: 500, want: breaker.Counts{Success: 1}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status.Store(int32(tt.status))
			front, b := setup(t, up, breaker.Config{Mode: breaker.ModeMonitor}, config.Route{FailureStatus: tt.failureStatus})
			resp, body := get(t, front.URL+"/up/x")
			if resp.StatusCode != tt.status || body != `{"upstream":"body"}` {
				t.Errorf("client got %d %q; want the upstream's own response", resp.StatusCode, body)
			}
			if got := b.Snapshot().Counts; got != tt.want {
				t.Errorf("counts = %+v, want %+v", got, tt.want)
			}
			// Whose response it is; a route without fallbacks lists no attempts.
			if resp.Header.Get(HeaderServedBy) != "up" || resp.Header.Get(exporter.HeaderBreakerName) != "up" ||
				resp.Header.Get(exporter.HeaderBreakerMode) != "monitor" || resp.Header.Get(exporter.HeaderBreakerState) != "closed" ||
				resp.Header.Get(HeaderAttempts) != "" {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}
}

func TestUnreachableUpstream(t *testing.T) {
	// The route points at a port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Close()
	b, _ := reg.Register(breaker.Config{Name: "dead", FailureThreshold: 1})
	srv := serveRoute(t, config.Route{Prefix: "/dead/", Upstream: &url.URL{Scheme: "http", Host: dead}, Breaker: "dead", Timeout: time.Second}, reg)

	resp, body := get(t, srv.URL+"/dead/x")
	var eb errorBody
	if resp.StatusCode != http.StatusBadGateway || json.Unmarshal([]byte(body), &eb) != nil ||
		eb.Breaker != "dead" || eb.Route != "/dead/" || !strings.Contains(eb.Error, "upstream unreachable") {
		t.Errorf("got %d %s; want 502 with a JSON body naming the breaker", resp.StatusCode, body)
	}
	if c := b.Snapshot().Counts; c.Failure != 1 {
		t.Errorf("counts = %+v, want 1 failure", c)
	}

	// The breaker (threshold 1) is open now: 503, Retry-After, JSON naming it.
	resp, body = get(t, srv.URL+"/dead/x")
	var rej struct {
		Error   string `json:"error"`
		Breaker string `json:"breaker"`
		State   string `json:"state"`
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		json.Unmarshal([]byte(body), &rej) != nil || rej.Breaker != "dead" || rej.State != "open" {
		t.Errorf("got %d %v %s; want 503 with Retry-After and a JSON body naming the breaker", resp.StatusCode, resp.Header, body)
	}
	if c := b.Snapshot().Counts; c.Rejected != 1 {
		t.Errorf("counts = %+v, want 1 rejection", c)
	}
}

func TestRejectionDoesNotReachUpstream(t *testing.T) {
	var hits atomic.Int32
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	front, b := setup(t, up, breaker.Config{FailureThreshold: 2, Timeout: time.Minute}, config.Route{})
	for range 2 {
		if resp, _ := get(t, front.URL+"/up/"); resp.StatusCode != 500 {
			t.Fatalf("status %d, want the upstream's 500", resp.StatusCode)
		}
	}
	resp, _ := get(t, front.URL+"/up/")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" {
		t.Errorf("status %d Retry-After %q; want 503 and 60", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("upstream hit %d times, want 2", n)
	}
	if b.State() != breaker.StateOpen {
		t.Errorf("state %v", b.State())
	}
}

// twoEvents streams server-sent events: "first", flushed, then "second"
// once release is closed.
func twoEvents(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := twoEvents(release)
	// The timeout is shorter than the stream: it must not cut it.
	front, b := setup(t, up, breaker.Config{}, config.Route{Timeout: 200 * time.Millisecond})
	resp, err := http.Get(front.URL + "/up/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := rd.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if line != "data: first\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the first event was not flushed to the client while the upstream held the stream open")
	}
	time.Sleep(300 * time.Millisecond) // past the route's timeout
	close(release)
	rest, err := io.ReadAll(rd)
	if err != nil || string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest = %q, %v; want the second event, uncut", rest, err)
	}
	if c := b.Snapshot().Counts; c.Success != 1 {
		t.Errorf("counts = %+v, want 1 success", c)
	}
}

func TestHeaderTimeout(t *testing.T) {
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	front, b := setup(t, up, breaker.Config{}, config.Route{Timeout: 100 * time.Millisecond})
	start := time.Now()
	resp, body := get(t, front.URL+"/up/slow")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	var eb errorBody
	if resp.StatusCode != http.StatusGatewayTimeout || json.Unmarshal([]byte(body), &eb) != nil ||
		!strings.Contains(eb.Error, "within 100ms") || eb.Breaker != "up" {
		t.Errorf("got %d %s; want 504 naming the timeout and the breaker", resp.StatusCode, body)
	}
	if c := b.Snapshot().Counts; c.Failure != 1 {
		t.Errorf("counts = %+v, want 1 failure", c)
	}
}

func TestClientHangsUpIsIgnored(t *testing.T) {
	arrived := make(chan struct{})
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	front, b := setup(t, up, breaker.Config{FailureThreshold: 1}, config.Route{})
	hangUp(t, "GET", front.URL+"/up/hang", nil, arrived, b)
	if b.State() != breaker.StateClosed {
		t.Errorf("state %v, want closed", b.State())
	}
}

func TestNewUnknownBreaker(t *testing.T) {
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Close()
	_, err := New([]config.Route{{Prefix: "/x/", Upstream: &url.URL{Scheme: "http", Host: "x"}, Breaker: "nope", Timeout: time.Second}}, reg, Options{})
	if !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}

// TestStreamsAreNotBatched: the upstream sends each event only once the
// client has received the one before. A gateway that holds writes back (a
// buffer that waits to fill, a flush that does not reach the connection)
// never passes the first event on while the upstream waits, and the test
// fails at that event instead of the stream arriving in batches.
//
// With debug logging the gateway watches the response (the status for the
// access log) through a wrapper of the ResponseWriter, which must let
// ReverseProxy flush.
func TestStreamsAreNotBatched(t *testing.T) {
	loggers := map[string]*slog.Logger{
		"info":  slog.New(slog.DiscardHandler),
		"debug": slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, level := range []string{"info", "debug"} {
		for _, contentType := range []string{"text/event-stream", "application/x-ndjson"} {
			t.Run(level+"/"+contentType, func(t *testing.T) {
				testNotBatched(t, contentType, loggers[level])
			})
		}
	}
}

func testNotBatched(t *testing.T, contentType string, logger *slog.Logger) {
	const events = 5
	received := make(chan struct{})
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType) // no Content-Length: chunked
		for i := range events {
			fmt.Fprintf(w, "data: %d\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-received:
			case <-r.Context().Done():
				return
			}
		}
	})
	front, _ := setupLogged(t, up, breaker.Config{}, config.Route{}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/up/stream", nil)
	lines := make(chan string)
	go func() {
		defer close(lines)
		resp, err := http.DefaultClient.Do(req) // the headers are held back too when nothing flushes
		if err != nil {
			return
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			lines <- line
		}
	}()
	for i := range events {
		select {
		case line := <-lines:
			if want := fmt.Sprintf("data: %d\n", i); line != want {
				cancel()
				for range lines { // until the client stops
				}
				t.Fatalf("event %d = %q, want %q", i, line, want)
			}
		case <-time.After(10 * time.Second):
			cancel()
			for range lines {
			}
			t.Fatalf("event %d did not reach the client while the upstream waited for it to: the gateway holds events back", i)
		}
		received <- struct{}{} // the next event, or the end of the stream
	}
	if line, ok := <-lines; ok {
		t.Errorf("after the events: %q", line)
	}
}

// TestDispatch: the gateway under "/" answers as ServeMux did with a
// pattern per route, and leaves the mux's more specific patterns theirs.
func TestDispatch(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.URL.RequestURI())
	}))
	t.Cleanup(up.Close)
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, name := range []string{"a", "ab"} {
		if _, err := reg.Register(breaker.Config{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(up.URL)
	g, err := New([]config.Route{
		{Prefix: "/a/", Upstream: u, Breaker: "a", Timeout: 5 * time.Second},
		{Prefix: "/a/b/", Upstream: &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/deeper"}, Breaker: "ab", Timeout: 5 * time.Second},
	}, reg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") }))
	g.Register(mux)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	t.Cleanup(g.CloseIdleConnections)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{
		"/a/x?q=1":    "200 upstream /x?q=1",
		"/a/b/x":      "200 upstream /deeper/x",
		"/a/bx":       "200 upstream /bx",
		"/metrics":    "200 metrics",
		"/a?q=1":      "301 /a/?q=1",
		"/a/b":        "200 upstream /b",
		"/nowhere/":   "404 404 page not found\n",
		"/":           "404 404 page not found\n",
		"/a/../a/b/y": "307 /a/b/y", // the mux's own clean-up
	} {
		resp, err := noRedirect.Get(front.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := fmt.Sprintf("%d %s", resp.StatusCode, body)
		if resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusTemporaryRedirect {
			got = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got != want {
			t.Errorf("GET %s: %q, want %q", path, got, want)
		}
	}
}

// An upstream status of three digits under 100 is no HTTP status: the
// client gets 502 and the breaker a failure, on every proxying path (the
// server would otherwise panic writing it, and the breaker count a
// success).
func TestStatusUnder100(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	for _, tc := range []struct {
		name    string
		opts    Options
		headers map[string]string
		path    string // which of serveDirect and ReverseProxy sends it
	}{
		{"serveDirect", Options{}, nil, "serveDirect"},
		{"ReverseProxy on the fast path", Options{}, map[string]string{"Te": "trailers"}, "ReverseProxy"},
		{"http.Transport", Options{DisableFastPath: true}, nil, "ReverseProxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t, breaker.Config{Name: "odd"})
			front, g := serveGateway(t, reg, tc.opts, nil,
				config.Route{Prefix: "/odd/", Upstream: mustURL(up.URL), Breaker: "odd", Timeout: 5 * time.Second})
			spy := spyOn(g.byPrefix["/odd/"])
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/odd/x", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, body := fetch(t, http.DefaultClient, req)
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "malformed HTTP status code 099") {
				t.Errorf("got %d %s; want 502 naming the status", resp.StatusCode, body)
			}
			b, _ := reg.Get("odd")
			if c := b.Snapshot().Counts; c.Failure != 1 || c.Success != 0 {
				t.Errorf("counts = %+v, want 1 failure", c)
			}
			if p := spy.take(); !slices.Equal(p, []string{tc.path}) {
				t.Errorf("sent by %v, want %s", p, tc.path)
			}
		})
	}
}
