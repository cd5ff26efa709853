package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// settingsOf is where p's breaker llm takes its settings from, as /status
// says: the promoted candidate, its source and the failure threshold.
func (p *proc) settingsOf() (promoted, source string, threshold int) {
	p.t.Helper()
	var st struct {
		Breakers []struct {
			Name           string `json:"name"`
			Promoted       string `json:"promoted"`
			SettingsSource string `json:"settings_source"`
			Settings       struct {
				FailureThreshold int `json:"failure_threshold"`
			} `json:"settings"`
		} `json:"breakers"`
	}
	r := get(p.t, p.base+"/api/circuit-breaker/status")
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		p.t.Fatalf("status: %v: %s", err, r.body)
	}
	for _, b := range st.Breakers {
		if b.Name == "llm" {
			return b.Promoted, b.SettingsSource, b.Settings.FailureThreshold
		}
	}
	p.t.Fatalf("no llm in %s", r.body)
	return "", "", 0
}

// propagation is how long after ps[0] logged written the slowest of the
// other replicas logged applied, by the processes' own log times.
func propagation(t *testing.T, ps []*proc, written, applied map[string]string) time.Duration {
	t.Helper()
	at := logTime(t, ps[0].waitLog(5*time.Second, written))
	var slowest time.Duration
	for _, p := range ps[1:] {
		slowest = max(slowest, logTime(t, p.waitLog(5*time.Second, applied)).Sub(at))
	}
	return slowest
}

// Issue #16's promotion follows the persistence rules of ctl mode (proof 4
// of issue #10): ctl tune --promote against one replica reaches all three
// within a second with who and when, survives a restart of all three, and
// ctl tune --clear restores the configured settings everywhere.
func TestFleetProofPromotion(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	extra := "    candidates:\n      strict: {failure_threshold: 3}"
	cfgs := []string{
		fleetConfig(t, up.URL, srv.URL(), "gw-1", extra),
		fleetConfig(t, up.URL, srv.URL(), "gw-2", extra),
		fleetConfig(t, up.URL, srv.URL(), "gw-3", extra),
	}
	for i, c := range cfgs { // configured mode: monitor (phase 1 of a rollout)
		cfgs[i] = writeConfig(t, strings.Replace(readFile(t, c), "mode: enforce", "mode: monitor", 1))
	}
	ps := replicas(t, cfgs...)
	waitMembers(t, ps, 3)
	if _, src, th := ps[0].settingsOf(); src != "config" || th != fleetThreshold {
		t.Fatalf("before: settings from %q, threshold %d", src, th)
	}
	code, out, errOut := runCmd(t, []string{"USER=alice"}, "ctl", "--addr", ps[0].base, "tune", "llm", "--promote", "strict")
	if code != 0 || !strings.Contains(out, "llm: promoted strict: failure_threshold 5 -> 3") ||
		!strings.Contains(out, "fleet: recorded: every replica applies it; settings from override by alice@") {
		t.Fatalf("ctl tune --promote: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" promoted", 10*time.Second, func() bool {
			cand, src, th := p.settingsOf()
			return cand == "strict" && strings.HasPrefix(src, "override by alice@") && th == 3
		})
	}
	slowest := propagation(t, ps, map[string]string{"msg": "fleet: promotion override written"},
		map[string]string{"msg": "fleet: promotion override applied", "candidate": "strict"})
	t.Logf("ctl tune llm --promote strict against gw-1: the last replica applied it %v after gw-1 wrote it (log times)", slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("the promotion reached the last replica after %v, want within 1s", slowest)
	}
	_, out, _ = runCmd(t, nil, "ctl", "--addr", ps[2].base, "status")
	if !regexp.MustCompile(`(?m)^settings: llm runs candidate strict \(from override by alice@\S+ at \S+; ctl tune llm --clear goes back to the configured settings\)$`).MatchString(out) {
		t.Errorf("ctl status on gw-3:\n%s", out)
	}

	// Restart all three: the promotion applies at start-up.
	for _, p := range ps {
		p.stop()
	}
	ps = replicas(t, cfgs...)
	for _, p := range ps {
		if cand, src, th := p.settingsOf(); cand != "strict" || th != 3 || !strings.HasPrefix(src, "override by alice@") {
			t.Errorf("after restart %s: promoted %q from %q, threshold %d; want the override", p.base, cand, src, th)
		}
	}
	code, out, errOut = runCmd(t, []string{"USER=bob"}, "ctl", "--addr", ps[1].base, "tune", "llm", "--clear")
	if code != 0 || !strings.Contains(out, "llm: promotion cleared: failure_threshold 3 -> 5") || !strings.Contains(out, "settings from config") {
		t.Fatalf("ctl tune --clear: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range ps {
		testutil.WaitFor(t, p.base+" back to the configured settings", 10*time.Second, func() bool {
			cand, src, th := p.settingsOf()
			return cand == "" && src == "config" && th == fleetThreshold
		})
	}
	// --promote and --clear together is a usage error.
	if code, _, errOut := runCmd(t, nil, "ctl", "--addr", ps[0].base, "tune", "llm", "--promote", "strict", "--clear"); code != 2 || !strings.Contains(errOut, "--promote and --clear together") {
		t.Errorf("--promote with --clear: exit %d %q", code, errOut)
	}
}
