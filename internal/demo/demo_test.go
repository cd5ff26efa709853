package demo

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/gateway"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// transitions records state changes.
type transitions struct {
	mu  sync.Mutex
	all []breaker.StateChange
}

func (tr *transitions) add(sc breaker.StateChange) {
	tr.mu.Lock()
	tr.all = append(tr.all, sc)
	tr.mu.Unlock()
}

// has reports whether name went from -> to.
func (tr *transitions) has(name string, from, to breaker.State) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, sc := range tr.all {
		if sc.Name == name && sc.From == from && sc.To == to {
			return true
		}
	}
	return false
}

// serve runs the demo's config behind a real gateway, with real metrics; it
// returns the gateway's URL.
func serve(t *testing.T, d *Demo, tr *transitions) (string, *breaker.Registry, *exporter.Metrics) {
	t.Helper()
	cfg := d.Config()
	if err := config.Apply(cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	metrics, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metrics.Shutdown(context.Background()) })
	reg, err := metrics.NewRegistry(breaker.WithStateListener(tr.add))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, b := range cfg.Breakers {
		if _, err := reg.Register(b); err != nil {
			t.Fatal(err)
		}
	}
	g, err := gateway.New(cfg.Routes, reg, gateway.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	front := httptest.NewServer(mux)
	t.Cleanup(g.CloseIdleConnections)
	t.Cleanup(front.Close)
	return front.URL, reg, metrics
}

// A short schedule: openai_api goes down, and recovers when the test says
// so; its enforce-mode breaker opens, probes and closes, all from the demo's
// own traffic. The recovery is the test's, not a scheduled event, so that a
// loaded machine cannot make it come before the checks of the outage.
func TestShortScheduleShowsTransitions(t *testing.T) {
	sched := Schedule{
		Interval: 200 * time.Millisecond,
		Events: []Event{
			{At: 0, Upstream: OpenAI, Behavior: Behavior{ErrorRate: 1}},
			{At: 0, Upstream: Meta, Behavior: Behavior{ErrorRate: 1}},
		},
	}
	// Speed 10: traffic every 20ms; the /chat/ route's 10s timeout is 1s
	// (a loaded machine can take hundreds of milliseconds to answer), and
	// openai_api's 15s open timeout is 1.5s.
	d, err := New(Options{Schedule: &sched, Speed: 10, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr := &transitions{}
	base, reg, metrics := serve(t, d, tr)
	d.Start(base)

	testutil.WaitFor(t, "openai_api to open", 10*time.Second, func() bool {
		return tr.has(OpenAI, breaker.StateClosed, breaker.StateOpen)
	})
	// /chat/ falls back: its traffic is served by anthropic_api.
	testutil.WaitFor(t, "the demo's /chat/ traffic to be served by a fallback", 10*time.Second, func() bool {
		v, _ := testutil.Counter(t, metrics.Gatherer(), breaker.MetricFallbacks, map[string]string{breaker.LabelName: OpenAI, breaker.LabelFallback: Anthropic})
		return v > 0
	})
	// openai_api is still down: whatever its breaker's state (open,
	// half-open and busy, or probing and failing), /chat/ is served by a
	// fallback (anthropic_api, or gemini_api after it), never by
	// openai_api. A loaded machine can make the fallbacks time out too (and
	// open their breakers): ask until one answers.
	testutil.WaitFor(t, "a /chat/ request served by a fallback", 10*time.Second, func() bool {
		resp, err := http.Post(base+"/chat/v1/chat/completions", "application/json", strings.NewReader(`{"model":"demo"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.Header.Get(gateway.HeaderServedBy) == OpenAI:
			t.Fatalf("/chat/ served by openai_api while it is down: %d %v %s", resp.StatusCode, resp.Header, body)
		case resp.StatusCode != 200:
			t.Logf("/chat/ while openai_api is down: %d %v (asking again)", resp.StatusCode, resp.Header)
			return false
		case !slices.Contains([]string{Anthropic, Gemini}, resp.Header.Get(gateway.HeaderServedBy)) ||
			!strings.HasPrefix(resp.Header.Get(gateway.HeaderAttempts), OpenAI+"=") ||
			!strings.Contains(string(body), "simulated "+resp.Header.Get(gateway.HeaderServedBy)):
			t.Errorf("/chat/ while openai_api is down: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		return true
	})
	testutil.WaitFor(t, "openai_api to reject calls while open", 10*time.Second, func() bool {
		b, _ := reg.Get(OpenAI)
		return b.Snapshot().Counts.Rejected > 0
	})
	testutil.WaitFor(t, "meta_api (monitor mode) to count would-reject", 10*time.Second, func() bool {
		b, _ := reg.Get(Meta)
		return b.Snapshot().Counts.WouldReject > 0
	})
	d.apply(d.byName[OpenAI], Healthy, "the test ends the outage")
	testutil.WaitFor(t, "openai_api to close again", 10*time.Second, func() bool {
		return tr.has(OpenAI, breaker.StateHalfOpen, breaker.StateClosed)
	})
	b, _ := reg.Get(OpenAI)
	if c := b.Snapshot().Counts; c.Rejected == 0 || c.Failure == 0 || c.Success == 0 {
		t.Errorf("openai_api counts %+v: want successes, failures and rejections", c)
	}
	m, _ := reg.Get(Meta)
	if c := m.Snapshot().Counts; c.Rejected != 0 {
		t.Errorf("meta_api (monitor) rejected %d calls", c.Rejected)
	}
}

func TestDefaultScheduleIsSorted(t *testing.T) {
	s := DefaultSchedule()
	seen := map[string]bool{}
	for i, e := range s.Events {
		if i > 0 && e.At < s.Events[i-1].At {
			t.Errorf("event %d at %v comes before the previous one", i, e.At)
		}
		if e.At >= s.Cycle {
			t.Errorf("event %d at %v is past the cycle %v", i, e.At, s.Cycle)
		}
		seen[e.Upstream] = true
	}
	for _, name := range []string{OpenAI, Anthropic, Gemini, Meta} {
		if !seen[name] {
			t.Errorf("the schedule never touches %s", name)
		}
	}
	// Within the first minute every enforce-mode upstream has a fault.
	first := map[string]time.Duration{}
	for _, e := range s.Events {
		if _, ok := first[e.Upstream]; !ok && e.Behavior != Healthy {
			first[e.Upstream] = e.At
		}
	}
	for name, at := range first {
		if at > time.Minute {
			t.Errorf("%s's first fault is at %v", name, at)
		}
	}
}

func TestUpstreamAnswers(t *testing.T) {
	d, err := New(Options{Logger: quiet, Speed: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	u := d.byName[OpenAI]

	resp, err := http.Post(u.url()+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, line)
		}
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || len(events) < 2 || events[len(events)-1] != "[DONE]" {
		t.Errorf("stream: %v %q", resp.Header, events)
	}

	u.set(Behavior{ErrorRate: 1})
	resp, err = http.Get(u.url() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "simulated") {
		t.Errorf("outage: %d %s", resp.StatusCode, body)
	}
}

func TestScaled(t *testing.T) {
	s := Schedule{Cycle: time.Minute, Interval: time.Second,
		Events: []Event{{At: 10 * time.Second, Upstream: OpenAI, Behavior: Behavior{Latency: time.Second}}}}
	got := s.scaled(10)
	if got.Cycle != 6*time.Second || got.Interval != 100*time.Millisecond ||
		got.Events[0].At != time.Second || got.Events[0].Behavior.Latency != 100*time.Millisecond {
		t.Errorf("scaled = %+v", got)
	}
	if s.Events[0].At != 10*time.Second {
		t.Error("scaled changed its receiver")
	}
}

func TestCloseWithoutStart(t *testing.T) {
	d, err := New(Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d.StopTraffic()
	d.Close()
	d.Close()
}

func TestUnknownUpstreamInSchedule(t *testing.T) {
	_, err := New(Options{Logger: quiet, Schedule: &Schedule{Events: []Event{{Upstream: "nope"}}}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("err = %v", err)
	}
}
