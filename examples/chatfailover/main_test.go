package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// What a fake provider does with a request.
const (
	serve      int32 = iota // answers
	down                    // 503
	hang                    // answers only when the client gives up
	badRequest              // 400: the request's fault
)

// fakeProvider is a chat-completions server speaking the OpenAI wire
// format, requiring its own key.
type fakeProvider struct {
	name string
	key  string
	mode atomic.Int32
	hits atomic.Int32
	srv  *httptest.Server
}

func newFakeProvider(t *testing.T, name string, mode int32) *fakeProvider {
	t.Helper()
	p := &fakeProvider{name: name, key: "key-" + name}
	p.mode.Store(mode)
	release := make(chan struct{})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+p.key {
			http.Error(w, `{"error":{"message":"invalid api key"}}`, http.StatusUnauthorized)
			return
		}
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		switch p.mode.Load() {
		case down:
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			return
		case hang:
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		case badRequest:
			http.Error(w, `{"error":{"message":"context length exceeded"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "model": req.Model,
			"choices": []map[string]any{{
				"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": "hello from " + p.name},
			}},
		})
	}))
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(release) })
	return p
}

func (p *fakeProvider) provider() Provider {
	return Provider{Name: p.name, BaseURL: p.srv.URL + "/v1", APIKey: p.key, Model: p.name + "-model"}
}

// newTestRouter returns a router over the fake providers, in order, with
// metrics as the exporter serves them.
func newTestRouter(t *testing.T, cfg breaker.Config, attemptTimeout time.Duration, provs ...Provider) (*Router, *breaker.Registry, *exporter.Metrics) {
	t.Helper()
	m, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	reg, err := m.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	r, err := NewRouter(reg, provs, RouterOptions{Breaker: cfg, AttemptTimeout: attemptTimeout, Client: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	return r, reg, m
}

func scrape(t *testing.T, m *exporter.Metrics, names ...string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := writeMetrics(&buf, m, names...); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func trimLines(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return strings.Join(out, "\n")
}

func assertScrape(t *testing.T, m *exporter.Metrics, want string, names ...string) {
	t.Helper()
	if got := scrape(t, m, names...); trimLines(got) != trimLines(want) {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, trimLines(want))
	}
}

// OpenAI answers 503, Claude hangs, Gemini serves. Once their breakers open,
// OpenAI and Claude are skipped without a request.
func TestFailoverAcrossThreeProviders(t *testing.T) {
	openai := newFakeProvider(t, "openai_api", down)
	anthropic := newFakeProvider(t, "anthropic_api", hang)
	gemini := newFakeProvider(t, "gemini_api", serve)
	// The attempt timeout ends Claude's hanging calls; it must leave the
	// answering providers time to answer on a loaded machine.
	r, reg, m := newTestRouter(t, breaker.Config{FailureThreshold: 2, Timeout: time.Hour}, time.Second, openai.provider(), anthropic.provider(), gemini.provider())

	for i := 1; i <= 5; i++ {
		c, err := r.Complete(context.Background(), "Say hi")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if c.Provider != "gemini_api" || !c.Fallback || c.Content != "hello from gemini_api" || c.Model != "gemini_api-model" {
			t.Errorf("request %d: %+v", i, c)
		}
		if len(c.NotServed) != 2 {
			t.Fatalf("request %d: not served %v", i, c.NotServed)
		}
		skipped := i > 2 // both breakers opened after 2 failures
		var se *StatusError
		if o := c.NotServed[0]; o.Member != "openai_api" || o.Skipped != skipped || (!skipped && (!errors.As(o, &se) || se.Code != 503)) {
			t.Errorf("request %d: openai %v", i, o)
		}
		if a := c.NotServed[1]; a.Member != "anthropic_api" || a.Skipped != skipped || (!skipped && !errors.Is(a, context.DeadlineExceeded)) {
			t.Errorf("request %d: anthropic %v", i, a)
		}
		if skipped && !errors.Is(c.NotServed[0], breaker.ErrOpen) {
			t.Errorf("request %d: openai skipped with %v", i, c.NotServed[0])
		}
	}
	if o, a, g := openai.hits.Load(), anthropic.hits.Load(), gemini.hits.Load(); o != 2 || a != 2 || g != 5 {
		t.Errorf("requests to openai %d, anthropic %d, gemini %d; want 2, 2, 5", o, a, g)
	}
	for name, want := range map[string]breaker.State{"openai_api": breaker.StateOpen, "anthropic_api": breaker.StateOpen, "gemini_api": breaker.StateClosed} {
		if b, _ := reg.Get(name); b.State() != want {
			t.Errorf("%s: %v, want %v", name, b.State(), want)
		}
	}
	assertScrape(t, m, `
		# HELP circuit_breaker_fallback_total Calls of a fallback chain served by a member other than the primary, by primary (name) and serving member (fallback).
		# TYPE circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 0
		circuit_breaker_fallback_total{fallback="gemini_api",name="openai_api"} 5
		# HELP circuit_breaker_state Circuit breaker state: 0 closed, 1 half-open, 2 open; in monitor mode the state it would be in.
		# TYPE circuit_breaker_state gauge
		circuit_breaker_state{mode="enforce",name="anthropic_api"} 2
		circuit_breaker_state{mode="enforce",name="gemini_api"} 0
		circuit_breaker_state{mode="enforce",name="openai_api"} 2`,
		breaker.MetricFallbacks, breaker.MetricState)
}

// The seed's failover test: a wrong OpenAI key fails over to Claude.
func TestWrongKeyFailsOver(t *testing.T) {
	openai := newFakeProvider(t, "openai_api", serve)
	anthropic := newFakeProvider(t, "anthropic_api", serve)
	wrong := openai.provider()
	wrong.APIKey = "invalid"
	r, _, _ := newTestRouter(t, breaker.Config{}, time.Second, wrong, anthropic.provider())
	c, err := r.Complete(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if c.Provider != "anthropic_api" || !c.Fallback || !errors.As(c.NotServed[0], &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("%+v", c)
	}
}

// A request the provider refuses as invalid is not sent elsewhere and does
// not count against the provider.
func TestBadRequestDoesNotFailOver(t *testing.T) {
	openai := newFakeProvider(t, "openai_api", badRequest)
	anthropic := newFakeProvider(t, "anthropic_api", serve)
	r, reg, _ := newTestRouter(t, breaker.Config{FailureThreshold: 1}, time.Second, openai.provider(), anthropic.provider())
	_, err := r.Complete(context.Background(), "a prompt far too long")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || errors.Is(err, breaker.ErrChainExhausted) {
		t.Fatalf("err = %v, want the 400", err)
	}
	if n := anthropic.hits.Load(); n != 0 {
		t.Errorf("anthropic got %d requests", n)
	}
	b, _ := reg.Get("openai_api")
	if s := b.Snapshot(); s.State != breaker.StateClosed || s.Counts.Ignored != 1 || s.Counts.Failure != 0 {
		t.Errorf("openai breaker %v %+v, want closed with the 400 ignored", s.State, s.Counts)
	}
}

// When the primary's breaker lets a probe through again and the provider is
// back, the primary serves.
func TestPrimaryServesAgainAfterRecovery(t *testing.T) {
	openai := newFakeProvider(t, "openai_api", down)
	anthropic := newFakeProvider(t, "anthropic_api", serve)
	r, reg, m := newTestRouter(t, breaker.Config{FailureThreshold: 1, Timeout: 50 * time.Millisecond}, time.Second, openai.provider(), anthropic.provider())
	for range 3 {
		if c, err := r.Complete(context.Background(), "hi"); err != nil || c.Provider != "anthropic_api" {
			t.Fatalf("%+v, %v", c, err)
		}
	}
	openai.mode.Store(serve)
	b, _ := reg.Get("openai_api")
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != breaker.StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("openai breaker still %v", b.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := r.Complete(context.Background(), "hi")
	if err != nil || c.Provider != "openai_api" || c.Fallback || len(c.NotServed) != 0 {
		t.Fatalf("after recovery: %+v, %v", c, err)
	}
	if b.State() != breaker.StateClosed {
		t.Errorf("openai breaker %v after a good probe", b.State())
	}
	assertScrape(t, m, `
		# HELP circuit_breaker_fallback_total Calls of a fallback chain served by a member other than the primary, by primary (name) and serving member (fallback).
		# TYPE circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 3`,
		breaker.MetricFallbacks)
}

// The command end to end against the fake providers.
func TestRun(t *testing.T) {
	openai := newFakeProvider(t, "openai_api", down)
	anthropic := newFakeProvider(t, "anthropic_api", serve)
	gemini := newFakeProvider(t, "gemini_api", serve)
	for _, p := range []*fakeProvider{openai, anthropic, gemini} {
		t.Setenv(strings.ToUpper(p.name)+"_KEY", p.key)
	}
	args := []string{"-n", "3", "-failure-threshold", "1", "-prompt", "Say hi"}
	for _, p := range []*fakeProvider{openai, anthropic, gemini} {
		args = append(args, "-provider", p.name+"="+p.srv.URL+"/v1,"+p.name+"-model")
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		`request 1: served by anthropic_api (fallback, model anthropic_api-model): "hello from anthropic_api"`,
		`  openai_api: status 503: {"error":{"message":"overloaded"}}`,
		`request 3: served by anthropic_api (fallback, model anthropic_api-model)`,
		`  openai_api: skipped: circuit breaker "openai_api": circuit breaker is open`,
		"  openai_api     open      success=0 failure=1 rejected=2",
		"  anthropic_api  closed    success=3 failure=0 rejected=0",
		`circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 3`,
		`circuit_breaker_fallback_total{fallback="gemini_api",name="openai_api"} 0`,
		`circuit_breaker_state{mode="enforce",name="openai_api"} 2`,
		`circuit_breaker_calls_total{name="openai_api",outcome="rejected"} 2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", got)
	}

	// Every provider down: the command fails.
	anthropic.mode.Store(down)
	gemini.mode.Store(down)
	out.Reset()
	err := run(context.Background(), args, &out, &errOut)
	if err == nil || err.Error() != "3 of 3 requests failed" {
		t.Errorf("run with every provider down: %v", err)
	}
	if !strings.Contains(out.String(), "request 1: no provider served") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestParseProviders(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "k")
	ps, err := parseProviders([]string{"openai_api=https://api.openai.com/v1,gpt-4o-mini"})
	if err != nil || len(ps) != 1 || ps[0] != (Provider{Name: "openai_api", BaseURL: "https://api.openai.com/v1", APIKey: "k", Model: "gpt-4o-mini"}) {
		t.Errorf("%+v, %v", ps, err)
	}
	_, err = parseProviders([]string{"nourl", "bad name=http://x"})
	if err == nil || !strings.Contains(err.Error(), "provider[0]") || !strings.Contains(err.Error(), "provider[1]") {
		t.Errorf("err = %v", err)
	}
	if _, err := parseProviders(defaultProviders); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// The chain, health-check and retry-queue series keep the names of the
// metric contract (breaker/names.go) through the exporter's pipeline.
func TestResilienceSeriesNamesOnScrape(t *testing.T) {
	m, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	reg, err := m.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, n := range []string{"a", "b"} {
		if _, err := reg.Register(breaker.Config{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.NewChain("a", "b"); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Logger: quiet}, breaker.HealthCheck{Breaker: "a", Probe: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	if _, err := h.Check(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	b, _ := reg.Get("b")
	q, err := breaker.NewRetryQueue("q", b, breaker.RetryOptions[int]{Size: 1, Run: func(context.Context, int) error { return nil }, OnGiveUp: func(int, error) {}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())

	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		got[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	for name, typ := range map[string]string{
		breaker.MetricFallbacks:       "counter",
		breaker.MetricHealthUp:        "gauge",
		breaker.MetricHealthDuration:  "gauge",
		breaker.MetricRetryQueueDepth: "gauge",
		breaker.MetricRetryItems:      "counter",
	} {
		if got[name] != typ {
			t.Errorf("%s: %q on the scrape, want a %s", name, got[name], typ)
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(got))
	}
}
