package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// bodyUpstream records the bodies and paths it receives and answers every
// request with its status (and its name in the body); /health answers the
// health status.
type bodyUpstream struct {
	*httptest.Server
	name   string
	status int
	hits   atomic.Int64
	mu     sync.Mutex
	seen   []string // "path body"
}

func newBodyUpstream(t *testing.T, name string, status int) *bodyUpstream {
	u := &bodyUpstream{name: name, status: status}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(u.status)
			return
		}
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r.URL.Path+" "+string(body))
		u.mu.Unlock()
		w.WriteHeader(u.status)
		fmt.Fprintf(w, "from %s", u.name)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *bodyUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return ""
	}
	return u.seen[len(u.seen)-1]
}

func post(t *testing.T, url, body string) response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// A route with a fallback through the real binary: the failing primary's
// requests, bodies included, are served by the fallback, the open primary
// is skipped, the counter counts, and the health checks of both breakers
// show on /api/circuit-breaker/health and /metrics.
func TestFallbackAndHealthChecks(t *testing.T) {
	primary := newBodyUpstream(t, "primary", 503)
	backup := newBodyUpstream(t, "backup", 200)
	cfg := writeConfig(t, `
defaults: {mode: enforce, failure_threshold: 2, timeout: 1m}
breakers:
  primary: {health_check: {url: "`+primary.URL+`/health"}}
  backup: {health_check: {url: "`+backup.URL+`/health", expect_status: 200}}
routes:
  - prefix: /chat/
    upstream: `+primary.URL+`
    breaker: primary
    fallbacks: [{upstream: "`+backup.URL+`/v2", breaker: backup}]
    max_replay_body: 1KiB
`)
	p := serve(t, []string{"HEALTH_CHECK_INTERVAL=100ms"}, "--config", cfg, "--log-format", "json")
	if !strings.Contains(p.stdout.String(), "breaker primary (enforce), falls back to backup") {
		t.Errorf("the banner does not show the fallback:\n%s", p.stdout)
	}

	// The primary fails twice (and opens); each request is served by the
	// fallback, with the same body.
	for i := range 2 {
		body := fmt.Sprintf(`{"model":"demo","n":%d}`, i)
		r := post(t, p.base+"/chat/v1/chat/completions", body)
		if r.status != 200 || r.body != "from backup" || r.header.Get("X-Breakerwatch-Served-By") != "backup" ||
			r.header.Get("X-Breakerwatch-Attempts") != "primary=503, backup=200" || r.header.Get("X-Circuit-Breaker-Name") != "backup" {
			t.Fatalf("request %d: %d %q %v", i, r.status, r.body, r.header)
		}
		if got, want := primary.last(), "/v1/chat/completions "+body; got != want {
			t.Errorf("primary saw %q, want %q", got, want)
		}
		if got, want := backup.last(), "/v2/v1/chat/completions "+body; got != want {
			t.Errorf("backup saw %q, want %q", got, want)
		}
	}
	// Open: skipped without a call, even for a body too large to replay.
	big := strings.Repeat("x", 2048)
	r := post(t, p.base+"/chat/v1/chat/completions", big)
	if r.status != 200 || r.header.Get("X-Breakerwatch-Attempts") != "primary=open, backup=200" || backup.last() != "/v2/v1/chat/completions "+big {
		t.Errorf("open primary: %d %v", r.status, r.header)
	}
	if n := primary.hits.Load(); n != 2 {
		t.Errorf("the primary was called %d times, want 2", n)
	}
	if c := p.breaker("primary").Counts; c.Failure != 2 || c.Rejected != 1 {
		t.Errorf("primary counts %+v", c)
	}

	// Health: the primary's check fails, the backup's passes.
	var health response
	testutil.WaitFor(t, "both health checks to report", 10*time.Second, func() bool {
		health = get(t, p.base+"/api/circuit-breaker/health")
		return strings.Contains(health.body, `"name":"backup","healthy":true`) && strings.Contains(health.body, `"name":"primary","healthy":false`)
	})
	if health.status != 503 || !strings.Contains(health.body, `"error":"status 503, want 2xx"`) {
		t.Errorf("/health: %d %s", health.status, health.body)
	}

	metrics := get(t, p.base+"/metrics").body
	for _, want := range []string{
		`circuit_breaker_fallback_total{fallback="backup",name="primary"} 3`,
		`circuit_breaker_health_check_up{name="backup"} 1`,
		`circuit_breaker_health_check_up{name="primary"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics has no %s:\n%s", want, grep(metrics, "fallback_total")+"\n"+grep(metrics, "health_check"))
		}
	}
	if !regexp.MustCompile(`(?m)^circuit_breaker_health_check_duration_seconds\{name="primary"\} [0-9.e-]+$`).MatchString(metrics) {
		t.Errorf("no health check duration:\n%s", grep(metrics, "health_check"))
	}
	p.waitLog(time.Second, map[string]string{"msg": "route", "prefix": "/chat/", "fallbacks": "[backup]"})
	if code := p.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
