package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The seed's troubleshooting steps with ctl, against a running breakerwatch
// that has an admin token.
func TestCtl(t *testing.T) {
	up := newUpstream(t)
	cfg := writeConfig(t, `
defaults: {mode: enforce, timeout: 1m}
breakers:
  up: {failure_threshold: 1}
  other: {mode: monitor}
routes:
  - {prefix: /up/, upstream: '`+up.URL+`', breaker: up}
`)
	token := "BREAKERWATCH_ADMIN_TOKEN=s3cret"
	p := serve(t, []string{token}, "--config", cfg, "--log-format", "json")
	up.set(500)
	get(t, p.base+"/up/x")
	if r := get(t, p.base+"/up/x"); r.status != 503 {
		t.Fatalf("breaker not open: %d %s", r.status, r.body)
	}

	ctl := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, env, append([]string{"ctl", "--addr", p.base}, args...)...)
	}

	code, out, errOut := ctl(nil, "status")
	if code != 0 ||
		!regexp.MustCompile(`(?m)^status: degraded$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^BREAKER +STATE +MODE +MODE FROM +FOR`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^other +closed +monitor +config +\d+s +0\.0% /1m`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^up +open +enforce +config +\d+s +100\.0% /1m +[\d.]+ms +0 +1 +0 +1 +0 +1 +1m$`).MatchString(out) {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}

	// Mutations need the token: the server's message is printed, exit 1.
	code, out, errOut = ctl(nil, "reset", "up")
	if code != 1 || out != "" || errOut != "breakerwatch: server answered 401 Unauthorized: this endpoint needs the admin token: send Authorization: Bearer <token>\n" {
		t.Errorf("reset without token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = ctl(nil, "--token", "guess", "reset-all")
	if code != 1 || !strings.Contains(errOut, "401 Unauthorized: invalid admin token") {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}

	// The token from the environment, as serve reads it.
	code, out, errOut = ctl([]string{token}, "reset", "up")
	if code != 0 || out != "up: reset; now closed (mode enforce)\n" {
		t.Errorf("reset: exit %d %q %q", code, out, errOut)
	}
	p.waitLog(5*time.Second, map[string]string{"breaker": "up", "from": "open", "to": "closed", "reason": "reset"})
	code, out, errOut = ctl(nil, "--token", "s3cret", "mode", "up", "monitor")
	if code != 0 || out != "up: mode enforce -> monitor; state closed\n" {
		t.Errorf("mode: exit %d %q %q", code, out, errOut)
	}
	if b := p.breaker("up"); b.Mode != "monitor" {
		t.Errorf("mode is %s", b.Mode)
	}
	code, out, errOut = ctl([]string{token}, "reset-all")
	if code != 0 || out != "reset 2 breaker(s): other, up\n" {
		t.Errorf("reset-all: exit %d %q %q", code, out, errOut)
	}
	code, out, errOut = ctl([]string{token}, "reset", "nope")
	if code != 1 || out != "" || errOut != "breakerwatch: server answered 404 Not Found: no such circuit breaker: \"nope\"\n" {
		t.Errorf("unknown breaker: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut = ctl(nil, "mode", "up", "sometimes")
	if code != 2 || !strings.Contains(errOut, `unknown mode "sometimes"`) {
		t.Errorf("bad mode: exit %d %q", code, errOut)
	}

	// Nothing listening: exit 1 with the reason.
	code, _, errOut = runCmd(t, nil, "ctl", "--addr", "http://"+deadAddr(t), "status")
	if code != 1 || !strings.Contains(errOut, "cannot reach") {
		t.Errorf("dead server: exit %d %q", code, errOut)
	}
}

// Without a token, mutations from loopback are allowed.
func TestCtlLoopbackWithoutToken(t *testing.T) {
	cfg := writeConfig(t, "breakers: {a: {}}\n")
	p := serve(t, nil, "--config", cfg)
	code, out, errOut := runCmd(t, nil, "ctl", "--addr", p.base, "mode", "a", "enforce")
	if code != 0 || out != "a: mode monitor -> enforce; state closed\n" {
		t.Errorf("exit %d %q %q", code, out, errOut)
	}
}
