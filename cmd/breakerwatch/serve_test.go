package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// upstream is a test upstream that the tests break and heal.
//
//	/status/NNN  answers NNN
//	/sleep       waits 5s (or for the client) before answering
//	/hold        signals held, waits for release, answers 200 "held"
//	/stream      server-sent events: "first", then waits for release, "second"
//	/echo        answers the request it saw, as JSON
//	anything else answers the current status (set), with "ok <path>"
type upstream struct {
	*httptest.Server
	status  atomic.Int32
	hits    atomic.Int64
	held    chan struct{}
	release chan struct{}
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{held: make(chan struct{}, 16), release: make(chan struct{})}
	u.status.Store(200)
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		select {
		case <-u.release:
		default:
			close(u.release)
		}
		u.Close()
	})
	return u
}

func (u *upstream) set(status int) { u.status.Store(int32(status)) }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/status/"):
		code, _ := strconv.Atoi(strings.TrimPrefix(p, "/status/"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "upstream says %d", code)
	case p == "/sleep":
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	case p == "/hold":
		u.held <- struct{}{}
		select {
		case <-u.release:
			io.WriteString(w, "held")
		case <-r.Context().Done():
		}
	case p == "/stream":
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-u.release:
			io.WriteString(w, "data: second\n\n")
		case <-r.Context().Done():
		}
	case p == "/echo":
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "hop-by-hop")
		w.Header().Set("X-Resp-Kept", "end-to-end")
		json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "path": r.URL.Path, "query": r.URL.RawQuery, "header": r.Header})
	default:
		code := int(u.status.Load())
		w.WriteHeader(code)
		fmt.Fprintf(w, "ok %s", p)
	}
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var stateRE = func(name string, v int) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^circuit_breaker_state\{[^}]*name="` + name + `"[^}]*\} ` + strconv.Itoa(v) + `$`)
}

// Serve with a config in front of an upstream that breaks and heals: the
// breaker opens on 5xx, rejects with 503 without touching the upstream,
// probes after its timeout and closes; every change is logged with its
// reason and shows on /metrics.
func TestServeBreaksAndHeals(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, `
defaults:
  mode: enforce
  timeout: 1s
breakers:
  up: {failure_threshold: 3}
routes:
  - prefix: /up/
    upstream: `+up.URL+`
    breaker: up
`)
	p := serve(t, nil, "--config", cfg, "--log-format", "json")
	if strings.Contains(p.stdout.String(), "demo") {
		t.Errorf("the demo runs although a config is given:\n%s", p.stdout)
	}

	if r := get(t, p.base+"/up/v1/chat/completions?x=1"); r.status != 200 || r.body != "ok /v1/chat/completions" {
		t.Fatalf("healthy: %d %q", r.status, r.body)
	}

	up.set(503)
	for i := range 3 {
		if r := get(t, p.base+"/up/v1/x"); r.status != 503 || r.body != "ok /v1/x" {
			t.Fatalf("failure %d: %d %q; want the upstream's own 503", i+1, r.status, r.body)
		}
	}
	hits := up.hits.Load()
	r := get(t, p.base+"/up/v1/x")
	var rej struct {
		Error   string `json:"error"`
		Breaker string `json:"breaker"`
		State   string `json:"state"`
	}
	if r.status != 503 || r.header.Get("Retry-After") != "1" || json.Unmarshal([]byte(r.body), &rej) != nil ||
		rej.Breaker != "up" || rej.State != "open" || !strings.Contains(rej.Error, `"up"`) {
		t.Fatalf("rejection: %d %v %s", r.status, r.header, r.body)
	}
	if up.hits.Load() != hits {
		t.Error("a rejected request reached the upstream")
	}
	p.waitLog(5*time.Second, map[string]string{"msg": "circuit breaker state change", "breaker": "up",
		"from": "closed", "to": "open", "reason": "3 consecutive failures reached failure_threshold 3"})
	if m := get(t, p.base+"/metrics").body; !stateRE("up", 2).MatchString(m) {
		t.Errorf("/metrics does not show up open:\n%s", grep(m, "circuit_breaker_state"))
	}

	up.set(200)
	p.waitLog(5*time.Second, map[string]string{"breaker": "up", "from": "open", "to": "half-open", "reason": "open timeout 1s elapsed"})
	if r := get(t, p.base+"/up/v1/x"); r.status != 200 {
		t.Fatalf("probe: %d %q", r.status, r.body)
	}
	p.waitLog(5*time.Second, map[string]string{"breaker": "up", "from": "half-open", "to": "closed", "reason": "1 half-open probe(s) succeeded"})
	if m := get(t, p.base+"/metrics").body; !stateRE("up", 0).MatchString(m) {
		t.Errorf("/metrics does not show up closed:\n%s", grep(m, "circuit_breaker_state"))
	}
	b := p.breaker("up")
	if b.Counts.Success != 2 || b.Counts.Failure != 3 || b.Counts.Rejected != 1 {
		t.Errorf("counts %+v", b.Counts)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// How the proxy classifies outcomes, in monitor mode so nothing is rejected.
func TestFailureClassification(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, fmt.Sprintf(`
defaults: {mode: monitor}
breakers: {d: {}, l: {}, dead: {}, slow: {}}
routes:
  - {prefix: /default/, upstream: %[1]s, breaker: d}
  - {prefix: /listed/, upstream: %[1]s, breaker: l, failure_status: [429, 502]}
  - {prefix: /dead/, upstream: "http://%[2]s", breaker: dead}
  - {prefix: /slow/, upstream: %[1]s, breaker: slow, timeout: 200ms}
`, up.URL, deadAddr(t)))
	p := serve(t, nil, "--config", cfg)

	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/default/status/404", 404}, {"/default/status/400", 400}, {"/default/status/500", 500}, {"/default/status/503", 503},
		{"/listed/status/500", 500}, {"/listed/status/429", 429}, {"/listed/status/502", 502},
	} {
		if r := get(t, p.base+tt.path); r.status != tt.status {
			t.Errorf("%s: %d %q", tt.path, r.status, r.body)
		}
	}

	var eb struct{ Error, Breaker, Route string }
	r := get(t, p.base+"/dead/v1/x")
	if r.status != 502 || json.Unmarshal([]byte(r.body), &eb) != nil || eb.Breaker != "dead" || eb.Route != "/dead/" ||
		!strings.HasPrefix(eb.Error, "upstream unreachable: ") {
		t.Errorf("transport error: %d %s", r.status, r.body)
	}
	start := time.Now()
	r = get(t, p.base+"/slow/sleep")
	if r.status != 504 || json.Unmarshal([]byte(r.body), &eb) != nil || eb.Breaker != "slow" ||
		!strings.HasSuffix(eb.Error, "within 200ms") || time.Since(start) > 3*time.Second {
		t.Errorf("timeout: %d %s after %v", r.status, r.body, time.Since(start))
	}

	// A client that hangs up is ignored.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/default/sleep", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang-up: %v", err)
	}
	cancel()
	testutil.WaitFor(t, "the hang-up to be counted", 5*time.Second, func() bool { return p.breaker("d").Counts.Ignored == 1 })

	for name, want := range map[string][3]uint64{ // success, failure, ignored
		"d": {2, 2, 1}, "l": {1, 2, 0}, "dead": {0, 1, 0}, "slow": {0, 1, 0},
	} {
		c := p.breaker(name).Counts
		if got := [3]uint64{c.Success, c.Failure, c.Ignored}; got != want {
			t.Errorf("%s: success, failure, ignored = %v, want %v", name, got, want)
		}
	}
}

// Hop-by-hop headers are dropped both ways; the upstream sees its own Host
// and the X-Forwarded-* headers.
func TestProxyHeaders(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, "breakers: {b: {}}\nroutes: [{prefix: /api/v1/, upstream: '"+up.URL+"', breaker: b}]\n")
	p := serve(t, nil, "--config", cfg)
	r := do(t, "GET", p.base+"/api/v1/echo?q=1", "Connection", "X-Hop", "X-Hop", "secret", "X-Kept", "yes")
	var seen struct {
		Host, Path, Query string
		Header            http.Header
	}
	if err := json.Unmarshal([]byte(r.body), &seen); err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	upHost := strings.TrimPrefix(up.URL, "http://")
	if seen.Host != upHost || seen.Path != "/echo" || seen.Query != "q=1" {
		t.Errorf("upstream saw host %q path %q query %q", seen.Host, seen.Path, seen.Query)
	}
	if seen.Header.Get("X-Hop") != "" || seen.Header.Get("X-Kept") != "yes" ||
		seen.Header.Get("X-Forwarded-For") != "127.0.0.1" || seen.Header.Get("X-Forwarded-Host") != strings.TrimPrefix(p.base, "http://") {
		t.Errorf("upstream saw headers %v", seen.Header)
	}
	if r.header.Get("X-Resp-Hop") != "" || r.header.Get("X-Resp-Kept") != "end-to-end" {
		t.Errorf("client got headers %v", r.header)
	}
}

// A stream is flushed event by event, and a route timeout shorter than the
// stream does not cut it.
func TestStreaming(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, "breakers: {llm: {mode: enforce}}\nroutes: [{prefix: /llm/, upstream: '"+up.URL+"', breaker: llm, timeout: 300ms}]\n")
	p := serve(t, nil, "--config", cfg)
	resp, err := http.Get(p.base + "/llm/stream")
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
			t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event did not arrive while the upstream held the stream open: buffered?")
	}
	time.Sleep(500 * time.Millisecond) // past the route's 300ms timeout
	close(up.release)
	rest, err := io.ReadAll(rd)
	if err != nil || string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest of the stream %q, %v", rest, err)
	}
	if c := p.breaker("llm").Counts; c.Success != 1 || c.Failure != 0 {
		t.Errorf("counts %+v", c)
	}
}

// SIGTERM: the listener closes at once, in-flight requests finish, the
// process exits 0.
func TestShutdownDrains(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, "breakers: {b: {}}\nroutes: [{prefix: /b/, upstream: '"+up.URL+"', breaker: b}]\n")
	p := serve(t, nil, "--config", cfg, "--log-format", "json")
	type result struct {
		r   response
		err error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(p.base + "/b/hold")
		if err != nil {
			res <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{response{status: resp.StatusCode, body: string(body)}, err}
	}()
	<-up.held
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(5*time.Second, map[string]string{"msg": "shutting down: draining in-flight requests"})
	testutil.WaitFor(t, "the listener to close", 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.base, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-p.done:
		t.Fatal("exited with a request in flight")
	default:
	}
	close(up.release)
	got := <-res
	if got.err != nil || got.r.status != 200 || got.r.body != "held" {
		t.Errorf("in-flight request: %+v", got)
	}
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	p.waitLog(time.Second, map[string]string{"msg": "stopped"})
}

// The drain is bounded by --shutdown-timeout.
func TestShutdownBounded(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, "breakers: {b: {}}\nroutes: [{prefix: /b/, upstream: '"+up.URL+"', breaker: b}]\n")
	p := serve(t, nil, "--config", cfg, "--log-format", "json", "--shutdown-timeout", "300ms")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(p.base + "/b/hold")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-up.held
	start := time.Now()
	if code := p.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to exit with a 300ms shutdown timeout", d)
	}
	if err := <-errc; err == nil {
		t.Error("the stuck request succeeded")
	}
	p.waitLog(time.Second, map[string]string{"msg": "in-flight requests did not finish in time; closing their connections"})
}
