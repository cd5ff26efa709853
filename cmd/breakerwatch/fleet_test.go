package main

// The proof of issue #10 with three real gateway processes and a real
// redis-server. Figures are logged with t.Logf (go test -v -run TestFleet)
// and recorded in docs/benchmarks.md.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/fleet"
	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

const fleetThreshold = 5

// fleetConfig is one replica's configuration: breaker llm in front of
// upstream, joined to the fleet at redisURL when it is not empty.
func fleetConfig(t *testing.T, upstream, redisURL, instance, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
breakers:
  llm:
    mode: enforce
    failure_threshold: %d
    timeout: 60s
%s
routes:
  - prefix: /llm/
    upstream: %s
    breaker: llm
`, fleetThreshold, extra, upstream)
	if redisURL != "" {
		cfg += fmt.Sprintf("fleet:\n  redis: %s\n  key_prefix: \"proof:\"\n  instance: %s\n  heartbeat: 500ms\n", redisURL, instance)
	}
	return writeConfig(t, cfg)
}

// replicas starts one gateway per config.
func replicas(t *testing.T, cfgs ...string) []*proc {
	t.Helper()
	ps := make([]*proc, len(cfgs))
	for i, c := range cfgs {
		ps[i] = serve(t, nil, "--config", c, "--log-format", "json")
	}
	return ps
}

// fleetStatus is the part of /api/circuit-breaker/status the tests read.
type fleetStatus struct {
	Breakers []struct {
		Name       string `json:"name"`
		State      string `json:"state"`
		Mode       string `json:"mode"`
		ModeSource string `json:"mode_source"`
	} `json:"breakers"`
	Fleet *fleet.Status `json:"fleet"`
}

func (p *proc) status() fleetStatus {
	p.t.Helper()
	r := get(p.t, p.base+"/api/circuit-breaker/status")
	var st fleetStatus
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		p.t.Fatalf("status: %v: %s", err, r.body)
	}
	return st
}

func (p *proc) llmState() string { return p.breaker("llm").State }

// call sends one request through replica p's llm route and reports
// whether the breaker rejected it, and whether the client saw an error
// that is not the upstream's own answer.
func (p *proc) call(t *testing.T) (status int, rejected bool) {
	t.Helper()
	r := get(t, p.base+"/llm/v1/chat")
	var rej struct {
		Breaker string `json:"breaker"`
	}
	rejected = r.status == 503 && json.Unmarshal([]byte(r.body), &rej) == nil && rej.Breaker == "llm"
	return r.status, rejected
}

func waitMembers(t *testing.T, ps []*proc, n int) {
	t.Helper()
	for _, p := range ps {
		testutil.WaitFor(t, fmt.Sprintf("%s sees %d members", p.base, n), 20*time.Second, func() bool {
			st := p.status()
			return st.Fleet != nil && st.Fleet.Connected && len(st.Fleet.Members) == n
		})
	}
}

// lowTraffic sends about three calls a second, round-robin over ps, from
// the moment the upstream dies until every replica rejects; it returns the
// calls that reached the upstream and the time from the first failure
// until the last replica opened.
func lowTraffic(t *testing.T, up *upstream, ps []*proc) (hits int64, took time.Duration) {
	t.Helper()
	up.set(503)
	before := up.hits.Load()
	var first time.Time
	rejecting := make([]bool, len(ps))
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		p := ps[i%len(ps)]
		_, rejected := p.call(t)
		if !rejected && first.IsZero() {
			first = time.Now()
		}
		// A replica rejects once its breaker is open.
		all := true
		for j, q := range ps {
			if !rejecting[j] && q.llmState() == "open" {
				rejecting[j] = true
			}
			all = all && rejecting[j]
		}
		if all {
			return up.hits.Load() - before, time.Since(first)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every replica rejects after 60s: %v", rejecting)
		}
		time.Sleep(333 * time.Millisecond)
	}
}

// traffic calls fn for each replica, every interval, in one goroutine per
// replica, until the returned stop is called (which waits for them).
func traffic(ps []*proc, every time.Duration, fn func(p *proc)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *proc) {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				fn(p)
				time.Sleep(every)
			}
		}(p)
	}
	return func() { close(done); wg.Wait() }
}

// Proof 1: low traffic, the upstream dies.
func TestFleetProof1LowTraffic(t *testing.T) {
	srv := redistest.Start(t)
	var counts [2]int64
	for i, fleetOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "fleet"}[fleetOn], func(t *testing.T) {
			up := newUpstream(t)
			url := ""
			if fleetOn {
				url = srv.URL()
			}
			ps := replicas(t, fleetConfig(t, up.URL, url, "gw-1", ""), fleetConfig(t, up.URL, url, "gw-2", ""),
				fleetConfig(t, up.URL, url, "gw-3", ""))
			if fleetOn {
				waitMembers(t, ps, 3)
			}
			for _, p := range ps {
				if s, _ := p.call(t); s != 200 {
					t.Fatalf("healthy call: %d", s)
				}
			}
			hits, took := lowTraffic(t, up, ps)
			counts[i] = hits
			t.Logf("fleet=%v: %d calls reached the dead upstream before all three replicas rejected; %v from the first failure",
				fleetOn, hits, took.Round(time.Millisecond))
			if fleetOn {
				// Propagation: the first replica opens -> the last one does,
				// from the processes' own log times.
				var first, last time.Time
				for _, p := range ps {
					at := logTime(t, p.waitLog(5*time.Second, map[string]string{"msg": "circuit breaker state change",
						"breaker": "llm", "from": "closed", "to": "open"}))
					if first.IsZero() || at.Before(first) {
						first = at
					}
					if at.After(last) {
						last = at
					}
				}
				t.Logf("propagation: first replica opened -> last replica opened in %v (log times)", last.Sub(first).Round(100*time.Microsecond))
			}
			if fleetOn && hits > fleetThreshold+2 {
				t.Errorf("fleet: %d calls reached the upstream, want at most failure_threshold+2 = %d", hits, fleetThreshold+2)
			}
			if !fleetOn && hits < 3*fleetThreshold {
				t.Errorf("alone: %d calls reached the upstream, want about 3x failure_threshold", hits)
			}
		})
	}
	t.Logf("calls to the dead upstream: alone %d, fleet %d", counts[0], counts[1])
}

// Proof 2: one probe per fleet per half-open cycle; then the fleet closes.
func TestFleetProof2OneProbe(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	short := "    failure_threshold: 3\n    timeout: 2s\n    half_open_requests: 1\n"
	mk := func(inst string) string {
		return writeConfig(t, fmt.Sprintf(`
breakers:
  llm:
    mode: enforce
%sroutes:
  - prefix: /llm/
    upstream: %s
    breaker: llm
fleet:
  redis: %s
  key_prefix: "proof2:"
  instance: %s
  heartbeat: 500ms
`, short, up.URL, srv.URL(), inst))
	}
	ps := replicas(t, mk("gw-1"), mk("gw-2"), mk("gw-3"))
	waitMembers(t, ps, 3)
	up.set(503)
	for i := 0; ; i++ {
		ps[i%3].call(t)
		if ps[0].llmState() == "open" && ps[1].llmState() == "open" && ps[2].llmState() == "open" {
			break
		}
		if i > 50 {
			t.Fatal("the fleet did not open")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Hammer all three replicas through one open -> half-open -> open
	// cycle: count what reaches the upstream until every replica has a new
	// open-until.
	// gw-1's status shows the fleet's decision just after its state.
	var until time.Time
	testutil.WaitFor(t, "gw-1 to show the fleet's open-until", 10*time.Second, func() bool {
		until = openUntil(t, ps[0])
		return !until.IsZero()
	})
	time.Sleep(time.Until(until) - 500*time.Millisecond) // traffic starts just before the half-open
	before := up.hits.Load()
	stopTraffic := traffic(ps, 20*time.Millisecond, func(p *proc) { p.call(t) })
	testutil.WaitFor(t, "every replica re-opened with a later open-until", 20*time.Second, func() bool {
		for _, p := range ps {
			if u := openUntil(t, p); !u.After(until.Add(time.Second)) {
				return false
			}
		}
		return true
	})
	stopTraffic()
	probes := up.hits.Load() - before
	t.Logf("one half-open cycle with the upstream still down: %d probe(s) reached it from 3 replicas (half_open_requests 1)", probes)
	if probes != 1 {
		t.Errorf("%d probes reached the upstream during one half-open cycle, want 1 for the whole fleet", probes)
	}
	// The next cycle's probe succeeds: every replica closes.
	up.set(200)
	testutil.WaitFor(t, "the fleet closes after a successful probe", 30*time.Second, func() bool {
		for _, p := range ps {
			p.call(t)
		}
		return ps[0].llmState() == "closed" && ps[1].llmState() == "closed" && ps[2].llmState() == "closed"
	})
}

// openUntil is the fleet's open-until as replica p reports it (zero when
// not open fleet-wide).
func openUntil(t *testing.T, p *proc) time.Time {
	t.Helper()
	st := p.status()
	if st.Fleet == nil || len(st.Fleet.Breakers) == 0 || !st.Fleet.Breakers[0].FleetOpen {
		return time.Time{}
	}
	if u := st.Fleet.Breakers[0].OpenUntil; u != nil {
		return *u
	}
	t.Fatal("fleet open without open_until")
	return time.Time{}
}

// Proof 3: a replica whose own path is broken opens alone.
func TestFleetProof3NoPoisoning(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	broken := newUpstream(t)
	broken.set(502) // only gw-3 goes through it: its own path to the upstream is broken
	ps := replicas(t, fleetConfig(t, up.URL, srv.URL(), "gw-1", ""), fleetConfig(t, up.URL, srv.URL(), "gw-2", ""),
		fleetConfig(t, broken.URL, srv.URL(), "gw-3", ""))
	waitMembers(t, ps, 3)
	served := 0
	for i := 0; i < 3*(fleetThreshold+3); i++ {
		s, rejected := ps[i%3].call(t)
		if i%3 != 2 && (s != 200 || rejected) {
			t.Errorf("call %d through %s: %d (rejected %v)", i, ps[i%3].base, s, rejected)
		}
		if i%3 != 2 && s == 200 {
			served++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := ps[2].llmState(); s != "open" {
		t.Fatalf("gw-3: %s, want open on its own evidence", s)
	}
	testutil.WaitFor(t, "gw-1 sees gw-3 open", 10*time.Second, func() bool {
		b := ps[0].status().Fleet.Breakers
		return len(b) == 1 && len(b[0].OpenReplicas) == 1 && b[0].OpenReplicas[0] == "gw-3"
	})
	for _, p := range ps[:2] {
		if s := p.llmState(); s != "closed" {
			t.Errorf("%s: %s, want closed", p.base, s)
		}
	}
	st := ps[1].status().Fleet.Breakers[0]
	if st.FleetOpen {
		t.Error("the fleet opened because of gw-3 alone")
	}
	for _, r := range st.Replicas {
		if r.Instance == "gw-3" && (r.State != "open" || r.Decision != "local") {
			t.Errorf("gw-3 as gw-2 sees it: %+v, want open, local", r)
		}
	}
	t.Logf("no poisoning: gw-3 open alone (local); gw-1 and gw-2 closed and served %d calls", served)
}

// Proof 4: a mode override reaches every replica within a second, survives
// a restart of all three, and --clear restores the configured mode.
func TestFleetProof4ModeOverride(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	cfgs := []string{
		fleetConfig(t, up.URL, srv.URL(), "gw-1", ""),
		fleetConfig(t, up.URL, srv.URL(), "gw-2", ""),
		fleetConfig(t, up.URL, srv.URL(), "gw-3", ""),
	}
	for i, c := range cfgs { // configured mode: monitor
		cfgs[i] = writeConfig(t, strings.Replace(readFile(t, c), "mode: enforce", "mode: monitor", 1))
	}
	ps := replicas(t, cfgs...)
	waitMembers(t, ps, 3)
	code, out, errOut := runCmd(t, []string{"USER=alice"}, "ctl", "--addr", ps[0].base, "mode", "llm", "enforce")
	if code != 0 || !strings.Contains(out, "fleet: recorded") {
		t.Fatalf("ctl mode: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" enforce", 10*time.Second, func() bool { return p.breaker("llm").Mode == "enforce" })
	}
	// Propagation, from the processes' own log times: gw-1 wrote the
	// override; gw-2 and gw-3 applied it.
	slowest := propagation(t, ps, map[string]string{"msg": "fleet: mode override written"},
		map[string]string{"msg": "fleet: mode override applied", "mode": "enforce"})
	t.Logf("ctl mode llm enforce against gw-1: the last replica applied it %v after gw-1 wrote it (log times)", slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("override reached the last replica after %v, want within 1s", slowest)
	}
	// ctl status shows where the mode comes from.
	_, out, _ = runCmd(t, nil, "ctl", "--addr", ps[2].base, "status")
	if !regexp.MustCompile(`(?m)^llm +closed +enforce +override by alice@`).MatchString(out) {
		t.Errorf("ctl status on gw-3:\n%s", out)
	}
	// Restart all three: the override applies at start-up.
	for _, p := range ps {
		p.stop()
	}
	ps = replicas(t, cfgs...)
	for _, p := range ps {
		b := p.status().Breakers[0]
		if b.Mode != "enforce" || !strings.HasPrefix(b.ModeSource, "override by alice@") {
			t.Errorf("after restart %s: mode %s from %q, want the override", p.base, b.Mode, b.ModeSource)
		}
	}
	code, out, errOut = runCmd(t, nil, "ctl", "--addr", ps[1].base, "mode", "llm", "--clear")
	if code != 0 {
		t.Fatalf("ctl mode --clear: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" back to monitor", 10*time.Second, func() bool {
			b := p.status().Breakers[0]
			return b.Mode == "monitor" && b.ModeSource == "config"
		})
	}
}

func logTime(t *testing.T, l logLine) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"]))
	if err != nil {
		t.Fatalf("log record without a time: %v", l)
	}
	return at
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Proof 5 (and 6 under -race): Redis stops mid-traffic.
func TestFleetProof5RedisDown(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	ps := replicas(t, fleetConfig(t, up.URL, srv.URL(), "gw-1", ""), fleetConfig(t, up.URL, srv.URL(), "gw-2", ""),
		fleetConfig(t, up.URL, srv.URL(), "gw-3", ""))
	waitMembers(t, ps, 3)
	// Traffic on every replica while Redis stops and starts.
	var (
		mu       sync.Mutex
		calls    int
		failures []string
	)
	stopTraffic := traffic(ps, 10*time.Millisecond, func(p *proc) {
		s, rejected := p.call(t)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if s != 200 || rejected {
			failures = append(failures, fmt.Sprintf("%s: %d", p.base, s))
		}
	})
	srv.Stop()
	connectedRE := regexp.MustCompile(`(?m)^circuit_breaker_fleet_connected\{[^}]*\} 0$`)
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" reports the fleet lost", 10*time.Second, func() bool {
			return connectedRE.MatchString(get(t, p.base+"/metrics").body)
		})
		h := get(t, p.base+"/api/circuit-breaker/health")
		if h.status != 200 || !strings.Contains(h.body, `"fleet":{"connected":false}`) {
			t.Errorf("health with Redis down: %d %s", h.status, h.body)
		}
		p.waitLog(5*time.Second, map[string]string{"msg": "fleet: redis unavailable; breakers decide locally until it answers"})
	}
	time.Sleep(time.Second) // traffic keeps flowing with Redis down
	stopTraffic()
	t.Logf("Redis down mid-traffic: %d calls, %d client-visible errors", calls, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d calls failed while Redis stopped: %v", len(failures), calls, failures[:min(5, len(failures))])
	}
	// Local breaking still works without Redis.
	up.set(503)
	for range fleetThreshold {
		ps[0].call(t)
	}
	if s := ps[0].llmState(); s != "open" {
		t.Errorf("gw-1 with Redis down after %d failures: %s, want open (local)", fleetThreshold, s)
	}
	if s := ps[1].llmState(); s != "closed" {
		t.Errorf("gw-2 with Redis down: %s, want closed (no fleet to learn from)", s)
	}
	// Redis returns: the replicas resync and pooled decisions resume.
	srv.Restart()
	waitMembers(t, ps, 3)
	code, out, errOut := runCmd(t, nil, "ctl", "--addr", ps[0].base, "reset", "llm")
	if code != 0 {
		t.Fatalf("ctl reset: %d %s %s", code, out, errOut)
	}
	up.set(200)
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" closed after the reset", 10*time.Second, func() bool { return p.llmState() == "closed" })
		p.call(t)
	}
	hits, took := lowTraffic(t, up, ps)
	t.Logf("after Redis returned: %d calls reached the dead upstream before all three rejected (%v)", hits, took.Round(time.Millisecond))
	if hits > fleetThreshold+2 {
		t.Errorf("pooled decisions did not resume: %d calls reached the upstream, want at most %d", hits, fleetThreshold+2)
	}
}
