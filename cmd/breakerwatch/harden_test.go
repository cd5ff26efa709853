package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// forwarder relays TCP connections to a target set after it starts: an
// upstream that is, unknown to the configuration, the gateway itself (a
// DNS name, a port forward, a sidecar).
type forwarder struct {
	ln     net.Listener
	target atomic.Pointer[string]
	wg     sync.WaitGroup
}

func newForwarder(t *testing.T) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.relay(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *forwarder) relay(c net.Conn) {
	defer c.Close()
	to := f.target.Load()
	if to == nil {
		return
	}
	u, err := net.Dial("tcp", *to)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); close(done) }()
	_, _ = io.Copy(c, u)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// A route whose upstream leads back to the gateway (here through a TCP
// relay the configuration cannot see through) does not hand its clients
// the admin API as loopback: the request arrives from loopback, but it was
// forwarded, so without a token the mutation is refused as for a remote
// client. A loopback client that asks directly is still admitted.
func TestSelfRouteIsNotLoopback(t *testing.T) {
	fw := newForwarder(t)
	cfg := writeConfig(t, "breakers: {self: {mode: disabled}}\nroutes:\n  - {prefix: /self/, upstream: 'http://"+fw.ln.Addr().String()+"', breaker: self}\n")
	p := serve(t, nil, "--config", cfg)
	target := strings.TrimPrefix(p.base, "http://")
	fw.target.Store(&target)

	if r := do(t, "POST", p.base+"/self/api/circuit-breaker/reset-all"); r.status != 403 || !strings.Contains(r.body, "came through a proxy") {
		t.Errorf("reset-all through the self-route: %d %s, want 403 (forwarded, not loopback)", r.status, r.body)
	}
	if r := do(t, "POST", p.base+"/api/circuit-breaker/reset-all"); r.status != 200 {
		t.Errorf("reset-all from loopback directly: %d %s, want 200", r.status, r.body)
	}
}

// A self-route that the configuration shows is refused by validate and by
// serve, which starts nothing.
func TestSelfRouteRefused(t *testing.T) {
	cfg := writeConfig(t, "listen: 127.0.0.1:8000\nbreakers: {a: {}}\nroutes:\n  - {prefix: /self/, upstream: 'http://localhost:8000', breaker: a}\n")
	want := `:4: routes[0].upstream: "http://localhost:8000" is breakerwatch's own listener (listen 127.0.0.1:8000)`
	code, _, errOut := runCmd(t, nil, "validate", "--config", cfg)
	if code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("validate: exit %d, stderr %s; want %s", code, errOut, want)
	}
	// --listen moves the listener onto the route's upstream. The address is
	// held by the test, so a serve that missed the loop could not listen
	// either, and would exit 1, not 2.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	cfg = writeConfig(t, "breakers: {a: {}}\nroutes:\n  - {prefix: /self/, upstream: 'http://"+addr+"', breaker: a}\n")
	code, out, errOut := runCmd(t, nil, "serve", "--config", cfg, "--listen", addr)
	if code != 2 || out != "" || !strings.Contains(errOut, `routes[0].upstream: "http://`+addr+`" is breakerwatch's own listener (listen `+addr+`)`) {
		t.Errorf("serve --listen onto a route's upstream: exit %d, stdout %q, stderr %s; want 2 and nothing started", code, out, errOut)
	}
}

// Listening beyond loopback without an admin token is warned about.
func TestWarnExposedWithoutToken(t *testing.T) {
	cfg := writeConfig(t, "breakers: {a: {}}\n")
	// stdout and stderr are separate pipes: look at them once the process
	// has exited and everything it wrote has arrived.
	for _, c := range []struct {
		listen string
		warn   bool
	}{{"0.0.0.0:0", true}, {"127.0.0.1:0", false}} {
		p := start(t, nil, "serve", "--config", cfg, "--listen", c.listen)
		testutil.WaitFor(t, "serving", 60*time.Second, func() bool { return strings.Contains(p.stdout.String(), "serving on") })
		if code := p.stop(); code != 0 {
			t.Errorf("exit %d", code)
		}
		if got := strings.Contains(p.stderr.String(), "no admin token"); got != c.warn {
			t.Errorf("listen %s: warning about the missing admin token: %v, want %v\n%s", c.listen, got, c.warn, p.stderr)
		}
	}
}

// validate stops on the first SIGTERM even while its file does not come
// (a FIFO nobody writes to stands for a hung network mount).
func TestValidateStopsOnFirstSignal(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	p := start(t, nil, "validate", "--config", fifo)
	// Opening the write end succeeds once validate has the read end open:
	// from then on it waits for data that never comes.
	var w *os.File
	testutil.WaitFor(t, "validate opens the file", 60*time.Second, func() bool {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		w = f
		return err == nil
	})
	defer w.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("validate still running 20s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.stderr.String(), "validate: interrupted while reading") {
		t.Errorf("exit %d, stderr %q; want 1 and the interruption", code, p.stderr)
	}
}

var (
	adminRE   = regexp.MustCompile(`admin API on (http://\S+)`)
	metricsRE = regexp.MustCompile(`metrics on (http://\S+)`)
)

// With admin_listen and metrics_listen, the proxy's port serves no admin
// path and no /metrics; each listener answers the probes. /healthz and
// /readyz say 200 while the breaker is open (when
// /api/circuit-breaker/health says 503), and /readyz says 503 while the
// process drains on SIGTERM.
func TestSeparateListenersAndProbes(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, "admin_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n"+
		"breakers: {up: {mode: enforce, failure_threshold: 1, timeout: 1m}}\n"+
		"routes:\n  - {prefix: /up/, upstream: '"+up.URL+"', breaker: up}\n")
	p := serve(t, nil, "--config", cfg)
	admin := adminRE.FindStringSubmatch(p.stdout.String())
	metrics := metricsRE.FindStringSubmatch(p.stdout.String())
	if admin == nil || metrics == nil {
		t.Fatalf("the banner names no admin or metrics listener:\n%s", p.stdout)
	}
	for _, c := range []struct {
		url    string
		status int
	}{
		{p.base + "/api/circuit-breaker/status", 404},
		{p.base + "/metrics", 404},
		{admin[1] + "/api/circuit-breaker/status", 200},
		{admin[1] + "/metrics", 404},
		{metrics[1] + "/metrics", 200},
		{metrics[1] + "/api/circuit-breaker/status", 404},
		{p.base + "/healthz", 200}, {p.base + "/readyz", 200},
		{admin[1] + "/healthz", 200}, {admin[1] + "/readyz", 200},
		{metrics[1] + "/healthz", 200}, {metrics[1] + "/readyz", 200},
	} {
		if r := get(t, c.url); r.status != c.status {
			t.Errorf("GET %s: %d, want %d", c.url, r.status, c.status)
		}
	}
	if r := do(t, "POST", p.base+"/api/circuit-breaker/reset-all"); r.status != 404 && r.status != 405 {
		t.Errorf("reset-all on the proxy's port: %d %s, want no admin API there", r.status, r.body)
	}

	// An outage: health says 503, the probes stay 200.
	up.set(500)
	get(t, p.base+"/up/x")
	if r := get(t, admin[1]+"/api/circuit-breaker/health"); r.status != 503 {
		t.Errorf("health with the breaker open: %d, want 503", r.status)
	}
	for _, u := range []string{p.base + "/healthz", p.base + "/readyz", admin[1] + "/readyz"} {
		if r := get(t, u); r.status != 200 {
			t.Errorf("GET %s with the breaker open: %d, want 200", u, r.status)
		}
	}

	// Draining: a request is held in flight, SIGTERM; the admin listener
	// still answers, /readyz with 503.
	up.set(200)
	// The breaker is open (timeout 1m): reset it first so the hold goes through.
	if r := do(t, "POST", admin[1]+"/api/circuit-breaker/reset/up"); r.status != 200 {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	go func() { _, _ = http.Get(p.base + "/up/hold") }()
	select {
	case <-up.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the held request did not reach the upstream")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	testutil.WaitFor(t, "/readyz 503 while draining", 30*time.Second, func() bool {
		resp, err := http.Get(admin[1] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	if r := get(t, admin[1]+"/healthz"); r.status != 200 {
		t.Errorf("/healthz while draining: %d, want 200", r.status)
	}
	close(up.release)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after the held request finished")
	}
}

// SIGHUP and `ctl reload` re-read the configuration: a breaker whose
// settings did not change keeps its state, a changed mode switches in
// place, new breakers and routes appear; an invalid file is refused with
// its problems logged and the running configuration kept.
func TestReload(t *testing.T) {
	up := newUpstream(t)
	routes := "routes:\n  - {prefix: /a/, upstream: '" + up.URL + "', breaker: a}\n"
	cfg := writeConfig(t, "breakers:\n  a: {mode: enforce, failure_threshold: 1, timeout: 1m}\n  b: {mode: monitor}\n"+routes)
	p := serve(t, nil, "--config", cfg, "--log-format", "json")

	up.set(500)
	get(t, p.base+"/a/x")
	if s := p.breaker("a").State; s != "open" {
		t.Fatalf("a: %s, want open", s)
	}
	up.set(200)

	// b's mode changes, c and its route are new; a is untouched.
	write := func(text string) {
		t.Helper()
		testutil.WriteFile(t, filepath.Dir(cfg), filepath.Base(cfg), []byte(text))
	}
	write("breakers:\n  a: {mode: enforce, failure_threshold: 1, timeout: 1m}\n  b: {mode: enforce}\n  c: {}\n" + routes +
		"  - {prefix: /c/, upstream: '" + up.URL + "', breaker: c}\n")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	rec := p.waitLog(30*time.Second, map[string]string{"msg": "configuration reloaded"})
	if fmt.Sprint(rec["kept"]) != "[a]" || fmt.Sprint(rec["mode_switched"]) != "[b]" || fmt.Sprint(rec["added"]) != "[c]" {
		t.Errorf("reload record %v", rec)
	}
	if s := p.breaker("a").State; s != "open" {
		t.Errorf("a after a reload that did not change it: %s, want still open", s)
	}
	if m := p.breaker("b").Mode; m != "enforce" {
		t.Errorf("b's mode after the reload: %s, want enforce", m)
	}
	if r := get(t, p.base+"/c/x"); r.status != 200 || r.body != "ok /x" {
		t.Errorf("new route /c/: %d %q", r.status, r.body)
	}

	// An invalid file: ctl reload fails with the problems, nothing changes.
	write("breakers:\n  a: {mode: enforcing}\n" + routes)
	code, out, errOut := runCmd(t, nil, "ctl", "--addr", p.base, "reload")
	if code != 1 || out != "" || !strings.Contains(errOut, "422") || !strings.Contains(errOut, `breakers.a.mode: unknown mode "enforcing"`) {
		t.Errorf("ctl reload of an invalid file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	p.waitLog(30*time.Second, map[string]string{"msg": "configuration reload refused: the running configuration is kept"})
	if r := get(t, p.base+"/c/x"); r.status != 200 {
		t.Errorf("/c/ after a refused reload: %d, want the old configuration kept", r.status)
	}
	if s := p.breaker("a").State; s != "open" {
		t.Errorf("a after a refused reload: %s, want still open", s)
	}

	// a's threshold changes: a fresh breaker with the new settings; /c/ is gone.
	write("breakers:\n  a: {mode: enforce, failure_threshold: 2, timeout: 1m}\n  b: {mode: enforce}\n  c: {}\n" + routes)
	code, out, errOut = runCmd(t, nil, "ctl", "--addr", p.base, "reload")
	if code != 0 || !strings.HasPrefix(out, "reloaded: 2 breaker(s) kept, 0 mode switched, 1 replaced, 0 added, 0 removed") {
		t.Errorf("ctl reload: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if s := p.breaker("a").State; s != "closed" {
		t.Errorf("a with new settings: %s, want closed", s)
	}
	if r := get(t, p.base+"/c/x"); r.status != 404 {
		t.Errorf("/c/ after its route was removed: %d, want 404", r.status)
	}
}

// ctl reload is a mutation: with a token, it needs the token.
func TestReloadNeedsTheToken(t *testing.T) {
	cfg := writeConfig(t, "breakers: {a: {}}\n")
	p := serve(t, []string{"BREAKERWATCH_ADMIN_TOKEN=s3cret"}, "--config", cfg)
	if code, _, errOut := runCmd(t, nil, "ctl", "--addr", p.base, "reload"); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("reload without the token: exit %d, %s", code, errOut)
	}
	if code, out, errOut := runCmd(t, nil, "ctl", "--addr", p.base, "--token", "s3cret", "reload"); code != 0 || !strings.HasPrefix(out, "reloaded: 1 breaker(s) kept") {
		t.Errorf("reload with the token: exit %d, %q %s", code, out, errOut)
	}
}
