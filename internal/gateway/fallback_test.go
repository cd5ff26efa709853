package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// recorder is a test upstream that records what it received, then runs
// its handler (default: 200 "from <name>").
type recorder struct {
	name    string
	hits    atomic.Int32
	mu      sync.Mutex
	bodies  []string
	paths   []string
	handler http.HandlerFunc
}

func (u *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, string(body))
	u.paths = append(u.paths, r.URL.RequestURI())
	u.mu.Unlock()
	if u.handler != nil {
		u.handler(w, r)
		return
	}
	io.WriteString(w, "from "+u.name)
}

func (u *recorder) received() (bodies, paths []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.bodies...), append([]string(nil), u.paths...)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	}
}

// chainSpec is one member of a test chain: its breaker and its upstream
// (a handler served on loopback, or a fixed URL).
type chainSpec struct {
	cfg breaker.Config
	up  http.Handler
	url string
}

// chainFront serves one route /chat/ through a chain of the given members,
// the first being the route's own, with real metrics.
type chainFront struct {
	URL      string
	metrics  *exporter.Metrics
	breakers map[string]*breaker.Breaker
}

func setupChain(t *testing.T, rc config.Route, members ...chainSpec) *chainFront {
	t.Helper()
	metrics, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metrics.Shutdown(context.Background()) })
	reg, err := metrics.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	f := &chainFront{metrics: metrics, breakers: map[string]*breaker.Breaker{}}
	for i, m := range members {
		b, err := reg.Register(m.cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.breakers[m.cfg.Name] = b
		raw := m.url
		if m.up != nil {
			srv := httptest.NewServer(m.up)
			t.Cleanup(srv.Close)
			raw = srv.URL
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			rc.Upstream, rc.Breaker = u, m.cfg.Name
		} else {
			rc.Fallbacks = append(rc.Fallbacks, config.Fallback{Upstream: u, Breaker: m.cfg.Name})
		}
	}
	if rc.Prefix == "" {
		rc.Prefix = "/chat/"
	}
	f.URL = serveRoute(t, rc, reg).URL
	return f
}

// fallbacks returns circuit_breaker_fallback_total{name=primary, fallback=fb}
// as scraped, and whether the series exists.
func (f *chainFront) fallbacks(t *testing.T, primary, fb string) (float64, bool) {
	t.Helper()
	return testutil.Counter(t, f.metrics.Gatherer(), breaker.MetricFallbacks,
		map[string]string{breaker.LabelName: primary, breaker.LabelFallback: fb})
}

func (f *chainFront) wantFallbacks(t *testing.T, primary, fb string, want float64) {
	t.Helper()
	got, ok := f.fallbacks(t, primary, fb)
	if !ok || got != want {
		t.Errorf("%s{name=%q,fallback=%q} = %v (exists %v), want %v", breaker.MetricFallbacks, primary, fb, got, ok, want)
	}
}

func (f *chainFront) counts(name string) breaker.Counts { return f.breakers[name].Snapshot().Counts }

type result struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

// onlyReader hides a reader's type so the client sends the body chunked,
// without a Content-Length.
type onlyReader struct{ io.Reader }

func enforce(name string, threshold uint32) breaker.Config {
	return breaker.Config{Name: name, Mode: breaker.ModeEnforce, FailureThreshold: threshold, Timeout: time.Minute}
}

// A failing primary with a replayable body: the fallback gets the same
// request (path, query, body) and serves; the headers say so; the counter
// counts it.
func TestFallbackReplaysBody(t *testing.T) {
	primary := &recorder{name: "primary", handler: status(503)}
	fb := &recorder{name: "fb"}
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: primary},
		chainSpec{cfg: enforce("fb", 5), up: fb})
	f.wantFallbacks(t, "primary", "fb", 0) // the series exists before the first fallback

	tests := map[string]func() io.Reader{
		"known length": func() io.Reader { return strings.NewReader(`{"model":"demo","messages":["hello"]}`) },
		"chunked":      func() io.Reader { return onlyReader{strings.NewReader(`{"model":"demo","messages":["hello"]}`)} },
	}
	n := 0
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			n++
			r := send(t, "POST", f.URL+"/chat/v1/chat/completions?x=1", body())
			if r.status != 200 || r.body != "from fb" {
				t.Fatalf("got %d %q, want the fallback's 200", r.status, r.body)
			}
			for h, want := range map[string]string{
				HeaderServedBy:              "fb",
				HeaderAttempts:              "primary=503, fb=200",
				exporter.HeaderBreakerName:  "fb",
				exporter.HeaderBreakerMode:  "enforce",
				exporter.HeaderBreakerState: "closed",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			pb, pp := primary.received()
			fbb, fp := fb.received()
			want := `{"model":"demo","messages":["hello"]}`
			if pb[len(pb)-1] != want || fbb[len(fbb)-1] != want {
				t.Errorf("bodies: primary %q, fallback %q; want both %q", pb, fbb, want)
			}
			if pp[len(pp)-1] != "/v1/chat/completions?x=1" || fp[len(fp)-1] != "/v1/chat/completions?x=1" {
				t.Errorf("paths: primary %q, fallback %q", pp, fp)
			}
			f.wantFallbacks(t, "primary", "fb", float64(n))
		})
	}
	if c := f.counts("primary"); c.Failure != 2 {
		t.Errorf("primary counts %+v, want 2 failures", c)
	}
	if c := f.counts("fb"); c.Success != 2 {
		t.Errorf("fallback counts %+v, want 2 successes", c)
	}
}

// A fallback's upstream may have a base path: the prefix is stripped and the
// rest joined to it, as for the route's own upstream.
func TestFallbackURL(t *testing.T) {
	fb := &recorder{name: "fb"}
	srv := httptest.NewServer(fb)
	defer srv.Close()
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: status(502)},
		chainSpec{cfg: enforce("fb", 5), url: srv.URL + "/compat/openai"})
	if r := send(t, "GET", f.URL+"/chat/v1/models%2Fx?q=a%20b", nil); r.status != 200 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if _, paths := fb.received(); len(paths) != 1 || paths[0] != "/compat/openai/v1/models%2Fx?q=a%20b" {
		t.Errorf("fallback saw %q", paths)
	}
}

// A body larger than max_replay_body is streamed to the primary and not
// sent again: the client gets the primary's failure.
func TestFallbackBodyOverLimit(t *testing.T) {
	big := strings.Repeat("x", 100)
	for name, body := range map[string]func() io.Reader{
		"known length": func() io.Reader { return strings.NewReader(big) },
		"chunked":      func() io.Reader { return onlyReader{strings.NewReader(big)} },
	} {
		t.Run(name, func(t *testing.T) {
			primary := &recorder{name: "primary", handler: status(503)}
			fb := &recorder{name: "fb"}
			f := setupChain(t, config.Route{MaxReplayBody: 64},
				chainSpec{cfg: enforce("primary", 5), up: primary},
				chainSpec{cfg: enforce("fb", 5), up: fb})
			r := send(t, "POST", f.URL+"/chat/x", body())
			if r.status != 503 || r.body != "status 503" {
				t.Errorf("got %d %q, want the primary's own 503", r.status, r.body)
			}
			if r.header.Get(HeaderServedBy) != "primary" || r.header.Get(HeaderAttempts) != "primary=503" {
				t.Errorf("headers %v", r.header)
			}
			if bodies, _ := primary.received(); len(bodies) != 1 || bodies[0] != big {
				t.Errorf("the primary got %q, want the whole body", bodies)
			}
			if n := fb.hits.Load(); n != 0 {
				t.Errorf("the fallback was called %d times", n)
			}
			f.wantFallbacks(t, "primary", "fb", 0)

			// Within the limit the same request falls back.
			if r := send(t, "POST", f.URL+"/chat/x", strings.NewReader(big[:64])); r.status != 200 || r.body != "from fb" {
				t.Errorf("within the limit: %d %q", r.status, r.body)
			}
			f.wantFallbacks(t, "primary", "fb", 1)
		})
	}
}

// An open primary is skipped without a call: its upstream sees nothing,
// the fallback serves (even a body too large to replay: the primary never
// got it), and each fallback is counted.
func TestOpenPrimarySkipped(t *testing.T) {
	primary := &recorder{name: "primary", handler: status(500)}
	fb := &recorder{name: "fb"}
	f := setupChain(t, config.Route{MaxReplayBody: 8},
		chainSpec{cfg: enforce("primary", 1), up: primary},
		chainSpec{cfg: enforce("fb", 5), up: fb})

	if r := send(t, "GET", f.URL+"/chat/a", nil); r.status != 200 || r.header.Get(HeaderAttempts) != "primary=500, fb=200" {
		t.Fatalf("first: %d %v", r.status, r.header)
	}
	if s := f.breakers["primary"].State(); s != breaker.StateOpen {
		t.Fatalf("primary is %v, want open", s)
	}
	for i := range 3 {
		r := send(t, "POST", f.URL+"/chat/b", strings.NewReader("a body over eight bytes"))
		if r.status != 200 || r.body != "from fb" || r.header.Get(HeaderAttempts) != "primary=open, fb=200" {
			t.Errorf("request %d: %d %q %v", i, r.status, r.body, r.header)
		}
	}
	if n := primary.hits.Load(); n != 1 {
		t.Errorf("the open primary's upstream was called %d times, want 1 (before it opened)", n)
	}
	if bodies, _ := fb.received(); bodies[len(bodies)-1] != "a body over eight bytes" {
		t.Errorf("fallback bodies %q", bodies)
	}
	if c := f.counts("primary"); c.Rejected != 3 || c.Failure != 1 {
		t.Errorf("primary counts %+v, want 1 failure and 3 rejections", c)
	}
	f.wantFallbacks(t, "primary", "fb", 4)
}

// Every member fails: the client gets the last called member's failure,
// the attempts header lists each member's, and each breaker counted its own.
func TestEveryMemberFails(t *testing.T) {
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
		<-r.Context().Done()
	})
	dead := deadURL(t)

	t.Run("last is a timeout", func(t *testing.T) {
		f := setupChain(t, config.Route{Timeout: 100 * time.Millisecond},
			chainSpec{cfg: enforce("a", 5), up: status(503)},
			chainSpec{cfg: enforce("b", 5), url: dead},
			chainSpec{cfg: enforce("c", 5), up: hang})
		r := send(t, "POST", f.URL+"/chat/x", strings.NewReader("body"))
		var eb errorBody
		if r.status != http.StatusGatewayTimeout || json.Unmarshal([]byte(r.body), &eb) != nil ||
			eb.Breaker != "c" || eb.Route != "/chat/" || !strings.Contains(eb.Error, "within 100ms") {
			t.Errorf("got %d %s; want 504 naming c", r.status, r.body)
		}
		if got := r.header.Get(HeaderAttempts); got != "a=503, b=unreachable, c=timeout" {
			t.Errorf("%s = %q", HeaderAttempts, got)
		}
		if r.header.Get(HeaderServedBy) != "" || r.header.Get(exporter.HeaderBreakerName) != "c" {
			t.Errorf("headers %v", r.header)
		}
		for _, name := range []string{"a", "b", "c"} {
			if c := f.counts(name); c != (breaker.Counts{Failure: 1}) {
				t.Errorf("%s counts %+v, want 1 failure", name, c)
			}
		}
		f.wantFallbacks(t, "a", "b", 0)
		f.wantFallbacks(t, "a", "c", 0)
	})

	t.Run("last answers a failure status", func(t *testing.T) {
		f := setupChain(t, config.Route{FailureStatus: []int{429, 503}},
			chainSpec{cfg: enforce("a", 5), url: dead},
			chainSpec{cfg: enforce("b", 5), up: status(429)})
		r := send(t, "GET", f.URL+"/chat/x", nil)
		if r.status != 429 || r.body != "status 429" || r.header.Get(HeaderServedBy) != "b" ||
			r.header.Get(HeaderAttempts) != "a=unreachable, b=429" {
			t.Errorf("got %d %q %v; want b's own 429", r.status, r.body, r.header)
		}
	})

	t.Run("the earlier response is kept when the later members are open", func(t *testing.T) {
		f := setupChain(t, config.Route{},
			chainSpec{cfg: enforce("a", 5), up: status(500)},
			chainSpec{cfg: enforce("b", 1), up: status(500)})
		send(t, "GET", f.URL+"/chat/x", nil) // b opens
		r := send(t, "GET", f.URL+"/chat/x", nil)
		if r.status != 500 || r.header.Get(HeaderServedBy) != "a" || r.header.Get(HeaderAttempts) != "a=500, b=open" {
			t.Errorf("got %d %q %v; want a's 500", r.status, r.body, r.header)
		}
	})

	t.Run("all open", func(t *testing.T) {
		f := setupChain(t, config.Route{},
			chainSpec{cfg: breaker.Config{Name: "a", Mode: breaker.ModeEnforce, FailureThreshold: 1, Timeout: time.Minute}, up: status(500)},
			chainSpec{cfg: breaker.Config{Name: "b", Mode: breaker.ModeEnforce, FailureThreshold: 1, Timeout: 10 * time.Second}, up: status(500)})
		send(t, "GET", f.URL+"/chat/x", nil) // both open
		r := send(t, "GET", f.URL+"/chat/x", nil)
		var rej struct {
			Breaker string `json:"breaker"`
			State   string `json:"state"`
		}
		// b lets a call through first (10s against 60s): its rejection.
		if r.status != 503 || json.Unmarshal([]byte(r.body), &rej) != nil || rej.Breaker != "b" || rej.State != "open" ||
			r.header.Get("Retry-After") != "10" || r.header.Get(HeaderAttempts) != "a=open, b=open" {
			t.Errorf("got %d %v %s", r.status, r.header, r.body)
		}
	})
}

// A primary that answers 200 and then fails mid-stream is not retried: the
// response had started.
func TestStartedResponseIsNeverRetried(t *testing.T) {
	primary := &recorder{name: "primary", handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the upstream dies mid-stream
	}}
	fb := &recorder{name: "fb"}
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: primary},
		chainSpec{cfg: enforce("fb", 5), up: fb})
	resp, err := http.Post(f.URL+"/chat/stream", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "data: first\n\n") || err == nil {
		t.Errorf("got %d %q %v; want the primary's 200, cut", resp.StatusCode, body, err)
	}
	if resp.Header.Get(HeaderServedBy) != "primary" || resp.Header.Get(HeaderAttempts) != "primary=200" {
		t.Errorf("headers %v", resp.Header)
	}
	if n := fb.hits.Load(); n != 0 {
		t.Errorf("the fallback was called %d times", n)
	}
	f.wantFallbacks(t, "primary", "fb", 0)
}

// A fallback's stream is flushed as it arrives, like the primary's.
func TestFallbackStreams(t *testing.T) {
	release := make(chan struct{})
	fb := twoEvents(release)
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: status(503)},
		chainSpec{cfg: enforce("fb", 5), up: fb})
	resp, err := http.Get(f.URL + "/chat/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("data: first\n\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(first) != "data: first\n\n" {
			t.Fatalf("first event %q, %v", first, err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the fallback's first event was not flushed")
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "data: second\n\n" || resp.Header.Get(HeaderServedBy) != "fb" {
		t.Errorf("rest %q, headers %v", rest, resp.Header)
	}
	f.wantFallbacks(t, "primary", "fb", 1)
}

// A 4xx is the request's own fault: a success, not failed over.
func TestClientErrorIsNotFailedOver(t *testing.T) {
	fb := &recorder{name: "fb"}
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: status(400)},
		chainSpec{cfg: enforce("fb", 5), up: fb})
	if r := send(t, "POST", f.URL+"/chat/x", strings.NewReader("bad")); r.status != 400 || r.header.Get(HeaderServedBy) != "primary" {
		t.Errorf("got %d %v", r.status, r.header)
	}
	if fb.hits.Load() != 0 {
		t.Error("a 400 was failed over")
	}
}

// A failing member's 1xx interim responses do not reach the client: only
// the response of the member that serves does.
func TestInterimResponsesOfFailedMembersAreDropped(t *testing.T) {
	primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 5), up: primary},
		chainSpec{cfg: enforce("fb", 5), up: &recorder{name: "fb"}})
	var interim atomic.Int32
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { interim.Add(1); return nil },
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/chat/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || interim.Load() != 0 {
		t.Errorf("status %d after %d interim responses; want 200 and none", resp.StatusCode, interim.Load())
	}
}

// A client that hangs up during the primary's attempt: ignored by the
// primary's breaker, and no fallback is tried.
func TestFallbackClientHangsUp(t *testing.T) {
	arrived := make(chan struct{})
	primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
	})
	fb := &recorder{name: "fb"}
	f := setupChain(t, config.Route{},
		chainSpec{cfg: enforce("primary", 1), up: primary},
		chainSpec{cfg: enforce("fb", 5), up: fb})
	hangUp(t, "POST", f.URL+"/chat/x", strings.NewReader("body"), arrived, f.breakers["primary"])
	if fb.hits.Load() != 0 {
		t.Error("the fallback was called for a client that left")
	}
}

// In monitor mode nothing is skipped: an "open" primary is still called,
// and a failure still falls over.
func TestFallbackMonitorMode(t *testing.T) {
	primary := &recorder{name: "primary", handler: status(503)}
	f := setupChain(t, config.Route{},
		chainSpec{cfg: breaker.Config{Name: "primary", Mode: breaker.ModeMonitor, FailureThreshold: 1}, up: primary},
		chainSpec{cfg: enforce("fb", 5), up: &recorder{name: "fb"}})
	for range 3 {
		if r := send(t, "GET", f.URL+"/chat/x", nil); r.status != 200 || r.header.Get(HeaderAttempts) != "primary=503, fb=200" {
			t.Errorf("got %d %v", r.status, r.header)
		}
	}
	if n := primary.hits.Load(); n != 3 {
		t.Errorf("primary called %d times, want 3", n)
	}
	f.wantFallbacks(t, "primary", "fb", 3)
}

func TestWithReplay(t *testing.T) {
	for name, tt := range map[string]struct {
		body    string
		chunked bool
		limit   int64
		ok      bool // replayable
	}{
		"no body":            {limit: 4, ok: true},
		"fits":               {body: "abcd", limit: 4, ok: true},
		"fits, chunked":      {body: "abcd", chunked: true, limit: 4, ok: true},
		"too large":          {body: "abcde", limit: 4},
		"too large, chunked": {body: "abcde", chunked: true, limit: 4},
		"empty, chunked":     {chunked: true, limit: 4, ok: true},
		"1 byte too large":   {body: "ab", limit: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = onlyReader{body}
			}
			req := httptest.NewRequest("POST", "/chat/x", body)
			if tt.chunked {
				req.ContentLength = -1
			}
			budget := &replayBudget{limit: 1 << 20}
			out, release, over, err := withReplay(req, tt.limit, budget)
			if err != nil || over != nil {
				t.Fatal(err, over)
			}
			if tt.body != "" && tt.limit >= int64(len(tt.body)) && budget.used.Load() == 0 {
				t.Error("a buffered body took nothing from the budget")
			}
			release()
			if u := budget.used.Load(); u != 0 {
				t.Errorf("budget used after release: %d", u)
			}
			rp := out.Context().Value(replayKey{}).(*replay)
			stored := ""
			if tt.ok {
				stored = tt.body
			}
			if rp.ok != tt.ok || string(rp.body) != stored {
				t.Errorf("replayable %v, buffered %q; want %v, %q", rp.ok, rp.body, tt.ok, stored)
			}
			// Buffered or not, the body sent on is the whole body.
			if all, _ := io.ReadAll(out.Body); string(all) != tt.body {
				t.Errorf("body sent on %q, want %q", all, tt.body)
			}
		})
	}
}

// deadURL is an http URL on loopback that nobody listens on.
func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}
