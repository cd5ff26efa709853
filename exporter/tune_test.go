package exporter_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// tuneFixture: openai_api in monitor mode with two candidates, after bursts
// of four failures and a success; plain has no candidates.
func tuneFixture(t *testing.T, reg *breaker.Registry) *breaker.Breaker {
	t.Helper()
	b := register(t, reg, breaker.Config{Name: "openai_api", Mode: breaker.ModeMonitor, Timeout: time.Hour,
		Candidates: map[string]breaker.Candidate{
			"strict": {FailureThreshold: new(uint32(3))},
			"rate":   {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
		}})
	for range 3 {
		run(b, 4, fail)
		run(b, 1, succeed)
	}
	register(t, reg, breaker.Config{Name: "plain"})
	return b
}

// tuneResponses are the documented examples of the tune endpoint (see
// TestAPIDocExamples).
func tuneResponses(t *testing.T) map[string]func() (int, []byte) {
	serve := func(method, path, body, remote string) (int, []byte) {
		reg := testRegistry(t)
		tuneFixture(t, reg)
		h := exporter.NewAdmin(reg, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)})
		rec := direct(h, method, path, body, remote, "localhost:8000")
		return rec.Code, rec.Body.Bytes()
	}
	const local, remote = "127.0.0.1:50000", "198.51.100.7:50000"
	return map[string]func() (int, []byte){
		"GET /api/circuit-breaker/tune/{name} 200": func() (int, []byte) {
			return serve("GET", prefix+"tune/openai_api", "", remote)
		},
		"GET /api/circuit-breaker/tune/{name} 404": func() (int, []byte) {
			return serve("GET", prefix+"tune/plain", "", remote)
		},
		"POST /api/circuit-breaker/tune/{name} 200": func() (int, []byte) {
			return serve("POST", prefix+"tune/openai_api", `{"promote": "strict"}`, local)
		},
		"POST /api/circuit-breaker/tune/{name} 404": func() (int, []byte) {
			return serve("POST", prefix+"tune/openai_api", `{"promote": "strcit"}`, local)
		},
	}
}

func TestTuneReport(t *testing.T) {
	reg := testRegistry(t)
	tuneFixture(t, reg)
	srv := httptest.NewServer(exporter.NewAdmin(reg, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + prefix + "tune/openai_api")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type setting struct {
		Name                 string `json:"name"`
		Calls                uint64 `json:"calls"`
		Opened               uint64 `json:"opened"`
		WouldReject          uint64 `json:"would_reject"`
		WouldRejectFailed    uint64 `json:"would_reject_failed"`
		WouldRejectSucceeded uint64 `json:"would_reject_succeeded"`
	}
	var rep struct {
		Sees     string
		Settings []setting
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
	}
	if rep.Sees != breaker.SeesAllCalls || len(rep.Settings) != 3 {
		t.Fatalf("report %s", raw)
	}
	byName := map[string]setting{}
	for _, s := range rep.Settings {
		byName[s.Name] = s
	}
	// 15 calls: current (threshold 5) never opens; strict opens at call 3
	// and would reject the 12 after it (9 failures, 3 successes); rate
	// needs 20 calls first.
	if c := byName["current"]; c.Opened != 0 || c.WouldReject != 0 || c.Calls != 15 {
		t.Errorf("current %+v", c)
	}
	if s := byName["strict"]; s.Opened != 1 || s.WouldReject != 12 || s.WouldRejectFailed != 9 || s.WouldRejectSucceeded != 3 {
		t.Errorf("strict %+v", s)
	}
	if r := byName["rate"]; r.Opened != 0 || r.WouldReject != 0 {
		t.Errorf("rate %+v", r)
	}
	if rep.Settings[0].Name != "current" || rep.Settings[1].Name != "rate" || rep.Settings[2].Name != "strict" {
		t.Errorf("order %v", rep.Settings)
	}
}

func TestTuneErrorsAndAuthorisation(t *testing.T) {
	reg := testRegistry(t)
	b := tuneFixture(t, reg)
	h := exporter.NewAdmin(reg, exporter.AdminOptions{Token: "s3cret", Logger: slog.New(slog.DiscardHandler)})
	const local = "127.0.0.1:5000"
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		err                      string
	}{
		{"unknown breaker", "GET", "tune/nope", "", nil, 404, `no such circuit breaker: "nope"`},
		{"no candidates", "GET", "tune/plain", "", nil, 404, `breaker "plain": no such candidate: it has no candidates`},
		{"wrong method", "PUT", "tune/openai_api", "", nil, 405, "method PUT not allowed; use GET, HEAD, POST"},
		{"no token", "POST", "tune/openai_api", `{"promote":"strict"}`, nil, 401, "this endpoint needs the admin token"},
		{"bad token", "POST", "tune/openai_api", `{"promote":"strict"}`, []string{"Authorization", "Bearer nope"}, 401, "invalid admin token"},
		{"empty body", "POST", "tune/openai_api", ``, []string{"Authorization", "Bearer s3cret"}, 400, `empty body: body must be {"promote": "<candidate name>"}`},
		{"unknown field", "POST", "tune/openai_api", `{"candidate":"strict"}`, []string{"Authorization", "Bearer s3cret"}, 400, "invalid body: json: unknown field"},
		{"missing", "POST", "tune/openai_api", `{}`, []string{"Authorization", "Bearer s3cret"}, 400, "missing promote"},
		{"unknown candidate", "POST", "tune/openai_api", `{"promote":"strcit"}`, []string{"Authorization", "Bearer s3cret"}, 404, `no such candidate "strcit" (candidates: rate, strict)`},
		{"unknown breaker promote", "POST", "tune/nope", `{"promote":"strict"}`, []string{"Authorization", "Bearer s3cret"}, 404, `no such circuit breaker`},
		{"too large", "POST", "tune/openai_api", `{"promote":"` + strings.Repeat("x", 2000) + `"}`, []string{"Authorization", "Bearer s3cret"}, 413, "body is larger than 1024 bytes"},
		{"promote and clear", "POST", "tune/openai_api", `{"promote":"strict","clear":true}`, []string{"Authorization", "Bearer s3cret"}, 400, "both promote and clear"},
		{"clear without candidates", "POST", "tune/plain", `{"clear":true}`, []string{"Authorization", "Bearer s3cret"}, 404, "it has no candidates"},
		{"clear without token", "POST", "tune/openai_api", `{"clear":true}`, nil, 401, "this endpoint needs the admin token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := direct(h, tc.method, prefix+tc.path, tc.body, local, "localhost", tc.hdr...)
			if rec.Code != tc.status || !strings.Contains(errorOf(t, rec), tc.err) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body, tc.status, tc.err)
			}
		})
	}
	if b.Config().FailureThreshold != breaker.DefaultFailureThreshold {
		t.Fatalf("a refused promotion changed the breaker: %+v", b.Config())
	}
	rec := direct(h, "POST", prefix+"tune/openai_api", `{"promote":"strict"}`, local, "localhost", "Authorization", "Bearer s3cret")
	var got struct {
		Candidate string           `json:"candidate"`
		From      breaker.Settings `json:"from"`
		To        breaker.Settings `json:"to"`
		Note      string           `json:"note"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil || got.Candidate != "strict" || got.Note != exporter.PromoteNote {
		t.Fatalf("promote: %d %s", rec.Code, rec.Body)
	}
	if b.Config().FailureThreshold != 3 || got.From.FailureThreshold != 5 || got.To.FailureThreshold != 3 {
		t.Errorf("after promotion: %+v", b.Config())
	}
	// /status says where the settings come from; without a fleet, a
	// promotion is a runtime override like a mode change.
	settingsSource := func() (promoted, source string) {
		t.Helper()
		var st struct {
			Breakers []struct {
				Name           string `json:"name"`
				Promoted       string `json:"promoted"`
				SettingsSource string `json:"settings_source"`
			} `json:"breakers"`
		}
		if err := json.Unmarshal(direct(h, "GET", prefix+"status", "", local, "localhost").Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		for _, b := range st.Breakers {
			if b.Name == "openai_api" {
				return b.Promoted, b.SettingsSource
			}
		}
		t.Fatal("openai_api not in /status")
		return "", ""
	}
	if p, src := settingsSource(); p != "strict" || src != breaker.ModeSourceRuntime {
		t.Errorf("status after promotion: promoted %q from %q", p, src)
	}
	// {"clear": true} goes back to the configured settings.
	rec = direct(h, "POST", prefix+"tune/openai_api", `{"clear":true}`, local, "localhost", "Authorization", "Bearer s3cret")
	var cleared struct {
		Action         string           `json:"action"`
		Candidate      string           `json:"candidate"`
		To             breaker.Settings `json:"to"`
		SettingsSource string           `json:"settings_source"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &cleared); rec.Code != 200 || err != nil || cleared.Action != "clear-promotion" ||
		cleared.Candidate != "" || cleared.To.FailureThreshold != 5 || cleared.SettingsSource != breaker.ModeSourceConfig {
		t.Fatalf("clear: %d %s", rec.Code, rec.Body)
	}
	if p, src := settingsSource(); p != "" || src != breaker.ModeSourceConfig || b.Config().FailureThreshold != 5 {
		t.Errorf("status after clearing: promoted %q from %q, threshold %d", p, src, b.Config().FailureThreshold)
	}
}

// The candidate series reach the Prometheus exposition under their names,
// and pass promtool's lint.
func TestCandidateExposition(t *testing.T) {
	m := newMetrics(t)
	reg := newRegistry(t, m)
	tuneFixture(t, reg)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`circuit_breaker_candidate_state{candidate="strict",name="openai_api"`,
		`circuit_breaker_candidate_would_reject_total{candidate="strict",name="openai_api"`,
		`circuit_breaker_candidate_transitions_total{candidate="strict",from="closed",name="openai_api"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	promtool(t, rec.Body.Bytes())
}
