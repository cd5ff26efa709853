package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// ctl tune, end to end: a breaker in monitor mode with two candidates in
// the configuration, bursts of four upstream failures and a success through
// the gateway, the report through the binary, then a promotion.
func TestCtlTune(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, `
breakers:
  up:
    mode: monitor
    failure_threshold: 5
    timeout: 1h
    candidates:
      strict: {failure_threshold: 3}
      rate: {failure_rate: 0.5, min_throughput: 20}
  other: {mode: monitor}
routes:
  - {prefix: /up/, upstream: '`+up.URL+`', breaker: up}
`)
	token := "BREAKERWATCH_ADMIN_TOKEN=s3cret"
	p := serve(t, []string{token}, "--config", cfg, "--log-format", "json")
	for range 3 {
		up.set(500)
		for range 4 {
			if r := get(t, p.base+"/up/x"); r.status != 500 {
				t.Fatalf("monitor mode: got %d %s, want the upstream's 500", r.status, r.body)
			}
		}
		up.set(200)
		if r := get(t, p.base+"/up/x"); r.status != 200 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	}
	ctl := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, env, append([]string{"ctl", "--addr", p.base}, args...)...)
	}

	// 15 calls. current (threshold 5) never opens; strict opens at the
	// third failure and would have rejected the 12 calls after it, 3 of
	// which succeeded; rate needs 20 calls before it may open.
	code, out, errOut := ctl(nil, "tune", "up")
	want := []string{
		`^up: monitor mode: every call ran, so every setting saw every call$`,
		`^$`,
		`^SETTING +THRESHOLD +FAILURE RATE +SLOW CALL +TIMEOUT +PROBES +WINDOW +CALLS +STATE +OPENED +TIME OPEN +WOULD REJECT +FAILED +SUCCEEDED$`,
		`^current +5 +- +- +1h +1 +1m +15 +closed +0 +0s +0 +0 +0$`,
		`^rate +5 +50% of >=20 +- +1h +1 +1m +15 +closed +0 +0s +0 +0 +0$`,
		`^strict +3 +- +- +1h +1 +1m +15 +open +1 +(<1s|\d+s) +12 +9 +3$`,
		`^$`,
		`^FAILED: would-rejected calls that failed when they ran`,
		`^SUCCEEDED: would-rejected calls that succeeded`,
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != len(want) {
		t.Fatalf("tune: exit %d\n%s%s", code, out, errOut)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("tune line %d = %q, want %s", i, lines[i], re)
		}
	}

	// Errors: a breaker without candidates, --promote without tune.
	code, out, errOut = ctl(nil, "tune", "other")
	if code != 1 || out != "" || errOut != `breakerwatch: server answered 404 Not Found: breaker "other": no such candidate: it has no candidates (add candidates to its configuration)`+"\n" {
		t.Errorf("tune other: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut = ctl(nil, "status", "--promote", "strict")
	if code != 2 || !strings.Contains(errOut, "--promote goes with tune NAME") {
		t.Errorf("status --promote: exit %d %q", code, errOut)
	}

	// Promotion is a mutation: it needs the token, like mode.
	code, _, errOut = ctl(nil, "tune", "up", "--promote", "strict")
	if code != 1 || !strings.Contains(errOut, "401 Unauthorized") {
		t.Errorf("promote without token: exit %d %q", code, errOut)
	}
	code, _, errOut = ctl([]string{token}, "tune", "up", "--promote", "strcit")
	if code != 1 || !strings.Contains(errOut, `no such candidate "strcit" (candidates: rate, strict)`) {
		t.Errorf("promote unknown: exit %d %q", code, errOut)
	}
	code, out, errOut = ctl([]string{token}, "tune", "up", "--promote", "strict")
	if code != 0 || out != "up: promoted strict: failure_threshold 5 -> 3; state closed (mode monitor)\n"+
		"runtime override in this process only, like a mode change: a restart goes back to the configured settings\n" {
		t.Errorf("promote: exit %d %q %q", code, out, errOut)
	}
	p.waitLog(5*time.Second, map[string]string{"action": "promote", "breaker": "up", "candidate": "strict", "result": "ok"})
	code, out, _ = ctl(nil, "status")
	if code != 0 || !regexp.MustCompile(`(?m)^up +closed +monitor .* 3 +1h$`).MatchString(out) {
		t.Errorf("status after promotion: exit %d\n%s", code, out)
	}
	code, out, _ = ctl(nil, "tune", "up")
	if code != 0 || !regexp.MustCompile(`(?m)^current +3 +- +- +1h +1 +1m +0 +closed +0 +0s +0 +0 +0$`).MatchString(out) {
		t.Errorf("tune after promotion: exit %d\n%s", code, out)
	}
}
