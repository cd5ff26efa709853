package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// With no --config the embedded demo runs, says so, and (sped up 30 times)
// shows the enforce-mode openai_api breaker opening and closing again on
// the admin API and /metrics, and meta_api counting would-reject in
// monitor mode.
func TestDemo(t *testing.T) {
	p := serve(t, nil, "--demo-speed", "30", "--log-format", "json")
	out := p.stdout.String()
	for _, want := range []string{
		"No --config given: running the embedded demo",
		p.base + "/api/circuit-breaker/status",
		p.base + "/metrics",
		"breaker openai_api (enforce)", "breaker anthropic_api (enforce)", "breaker gemini_api (enforce)", "breaker meta_api (monitor)",
		p.base + "/chat/", "breaker openai_api (enforce), falls back to anthropic_api, gemini_api",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner does not say %q:\n%s", want, out)
		}
	}
	status := get(t, p.base+"/api/circuit-breaker/status").body
	for _, name := range []string{"openai_api", "anthropic_api", "gemini_api", "meta_api"} {
		if !strings.Contains(status, `"name":"`+name+`"`) {
			t.Errorf("status does not list %s: %s", name, status)
		}
	}

	// At speed 30 the outage starts at 0.33s and ends at 1.67s; the
	// breaker's timeout is 0.5s.
	testutil.WaitFor(t, "openai_api to open and close again", 30*time.Second, func() bool {
		b := p.breaker("openai_api")
		return b.transitions("closed", "open") > 0 && b.transitions("half-open", "closed") > 0
	})
	testutil.WaitFor(t, "meta_api to count would-reject", 30*time.Second, func() bool {
		return p.breaker("meta_api").Counts.WouldReject > 0
	})
	// The health checks of the enforce-mode upstreams report on /status
	// (probed every 5s/30).
	testutil.WaitFor(t, "the health checks to report", 30*time.Second, func() bool {
		status := get(t, p.base+"/api/circuit-breaker/status").body
		return strings.Contains(status, `"checks":[{"name":"anthropic_api"`) &&
			strings.Contains(status, `{"name":"gemini_api"`) && strings.Contains(status, `{"name":"openai_api"`)
	})
	metrics := get(t, p.base+"/metrics").body
	for _, series := range []string{
		`circuit_breaker_transitions_total{from="closed",name="openai_api",to="open"}`,
		`circuit_breaker_transitions_total{from="half-open",name="openai_api",to="closed"}`,
		`circuit_breaker_would_reject_total{name="meta_api"}`,
		`circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"}`, // /chat/ during the outage
	} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\d+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Errorf("/metrics has no %s:\n%s", series, grep(metrics, "circuit_breaker_transitions_total"))
		} else if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("%s is 0", series)
		}
	}
	p.waitLog(time.Second, map[string]string{"msg": "circuit breaker state change", "breaker": "openai_api", "from": "closed", "to": "open"})
	p.waitLog(time.Second, map[string]string{"msg": "demo: simulated upstream changes", "upstream": "openai_api", "behavior": "outage: every request answers 503"})
	if code := p.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
