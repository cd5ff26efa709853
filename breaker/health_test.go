package breaker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestParseHealthInterval(t *testing.T) {
	tests := map[string]struct {
		in   string
		want time.Duration
		err  string
	}{
		"unset":          {in: "", want: 30 * time.Second},
		"seed seconds":   {in: "30", want: 30 * time.Second},
		"duration":       {in: "1m30s", want: 90 * time.Second},
		"milliseconds":   {in: "250ms", want: 250 * time.Millisecond},
		"zero":           {in: "0", err: `HEALTH_CHECK_INTERVAL: "0" is not a positive interval`},
		"zero duration":  {in: "0s", err: `HEALTH_CHECK_INTERVAL: "0s" is not a positive interval`},
		"negative":       {in: "-5", err: `HEALTH_CHECK_INTERVAL: "-5" is not a positive interval`},
		"garbage":        {in: "soon", err: `HEALTH_CHECK_INTERVAL: "soon" is neither`},
		"too many units": {in: "99999999999999", err: "HEALTH_CHECK_INTERVAL: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := breaker.ParseHealthInterval(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseHealthInterval(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseHealthInterval(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNewHealthCheckerRejectsBadInput(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "a"}, breaker.Config{Name: "b"})
	probe := func(context.Context) error { return nil }
	tests := map[string]struct {
		opts   breaker.HealthOptions
		checks []breaker.HealthCheck
		want   []string
	}{
		"no checks": {want: []string{"checks: none given"}},
		"unknown breaker": {
			checks: []breaker.HealthCheck{{Breaker: "x", Probe: probe}},
			want:   []string{`checks[0].breaker: no such circuit breaker: "x"`},
		},
		"duplicate breaker": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe}, {Breaker: "a", URL: "http://h/"}},
			want:   []string{`checks[1].breaker: "a" has two checks`},
		},
		"tls with an http url": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "http://h/", TLS: &tls.Config{}}},
			want:   []string{"checks[0].tls: set for an http:// URL: TLS applies to https:// URLs only"},
		},
		"tls with a probe": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe, TLS: &tls.Config{}}},
			want:   []string{"checks[0].tls: set without url"},
		},
		"url and probe": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe, URL: "http://h/"}},
			want:   []string{"checks[0]: url and probe are both set"},
		},
		"neither": {
			checks: []breaker.HealthCheck{{Breaker: "a"}},
			want:   []string{"checks[0]: neither url nor probe is set"},
		},
		"url that does not parse": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "http://[::1"}},
			want:   []string{"checks[0].url: parse"},
		},
		"url without scheme": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "localhost:8080/health"}},
			want:   []string{`checks[0].url: "localhost:8080/health": scheme must be http or https`},
		},
		"ftp url": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "ftp://h/x"}},
			want:   []string{"checks[0].url:", "scheme must be http or https"},
		},
		"url without host, password redacted": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "http://user:secret@/x"}},
			want:   []string{"checks[0].url:", "no host", "xxxxx"},
		},
		"bad status": {
			checks: []breaker.HealthCheck{{Breaker: "a", URL: "http://h/", ExpectStatus: 42}},
			want:   []string{"checks[0].expect_status: 42 is not an HTTP status"},
		},
		"status without url": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe, ExpectStatus: 200}},
			want:   []string{"checks[0].expect_status: set without url"},
		},
		"negative interval": {
			opts:   breaker.HealthOptions{Interval: -time.Second},
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe}},
			want:   []string{"interval: -1s is not a positive interval"},
		},
		"check interval below the minimum": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe, Interval: time.Microsecond}},
			want:   []string{"checks[0].interval: 1µs is not a positive interval"},
		},
		"jitter of 1": {
			opts:   breaker.HealthOptions{Jitter: 1},
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe}},
			want:   []string{"jitter: 1 is outside [0, 1)"},
		},
		"negative jitter": {
			opts:   breaker.HealthOptions{Jitter: -0.5},
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe}},
			want:   []string{"jitter: -0.5 is outside [0, 1)"},
		},
		"timeout not below the interval": {
			opts:   breaker.HealthOptions{Interval: time.Second, Timeout: time.Second},
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe}},
			want:   []string{"timeout: 1s is not shorter than the interval 1s"},
		},
		"check timeout not below its interval": {
			checks: []breaker.HealthCheck{{Breaker: "a", Probe: probe, Interval: time.Second, Timeout: 2 * time.Second}},
			want:   []string{"checks[0].timeout: 2s is not shorter than the interval 1s"},
		},
		"negative check timeout": {
			checks: []breaker.HealthCheck{{Breaker: "b", Probe: probe, Timeout: -1}},
			want:   []string{"checks[0].timeout: -1ns is negative"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := reg.NewHealthChecker(tc.opts, tc.checks...)
			if err == nil {
				h.Stop()
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
	// A breaker has one check at a time, across checkers.
	h1, err := reg.NewHealthChecker(breaker.HealthOptions{}, breaker.HealthCheck{Breaker: "a", Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	if h2, err := reg.NewHealthChecker(breaker.HealthOptions{}, breaker.HealthCheck{Breaker: "a", Probe: probe}); err == nil || !strings.Contains(err.Error(), `breaker "a" already has a health check`) {
		t.Errorf("second checker for a: %v", err)
		if h2 != nil {
			h2.Stop()
		}
	}
	h1.Stop()
	h3, err := reg.NewHealthChecker(breaker.HealthOptions{}, breaker.HealthCheck{Breaker: "a", Probe: probe})
	if err != nil {
		t.Fatalf("after the first checker stopped: %v", err)
	}
	h3.Stop()
}

// resProviders starts test servers: up (200), down (503), hanging (answers
// only when the client gives up) and created (201).
func resProviders(t *testing.T) (urls map[string]string, hits map[string]*atomic.Int32) {
	t.Helper()
	urls, hits = map[string]string{}, map[string]*atomic.Int32{}
	release := make(chan struct{})
	for name, h := range map[string]func(w http.ResponseWriter, r *http.Request){
		"up": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) },
		"down": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		},
		"hanging": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		},
		"created": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) },
	} {
		n := new(atomic.Int32)
		hits[name] = n
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			h(w, r)
		}))
		t.Cleanup(srv.Close)
		urls[name] = srv.URL + "/health"
	}
	t.Cleanup(func() { close(release) })
	return urls, hits
}

func TestHealthCheckHTTP(t *testing.T) {
	resNoLeaks(t)
	urls, _ := resProviders(t)
	reg, rd := newMeteredRegistry(t)
	resRegister(t, reg,
		breaker.Config{Name: "up"}, breaker.Config{Name: "down"}, breaker.Config{Name: "hanging"},
		breaker.Config{Name: "created"}, breaker.Config{Name: "created_want_200"}, breaker.Config{Name: "refused"})
	// Long enough that a server which answers does so in time on a loaded
	// machine; the hanging one takes all of it.
	const timeout = time.Second
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: time.Hour, Timeout: timeout, Logger: resQuiet},
		breaker.HealthCheck{Breaker: "up", URL: urls["up"]},
		breaker.HealthCheck{Breaker: "down", URL: urls["down"]},
		breaker.HealthCheck{Breaker: "hanging", URL: urls["hanging"]},
		breaker.HealthCheck{Breaker: "created", URL: urls["created"], ExpectStatus: 201},
		breaker.HealthCheck{Breaker: "created_want_200", URL: urls["created"], ExpectStatus: 200},
		breaker.HealthCheck{Breaker: "refused", URL: "http://user:secret@127.0.0.1:1/health"},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()

	// Before any probe: results say unchecked, metrics show nothing.
	for _, st := range h.Results() {
		if st.Checked || st.Up {
			t.Errorf("%s before any probe: %+v", st.Name, st)
		}
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricHealthUp, breaker.MetricHealthDuration}), "")

	want := map[string]struct {
		up  bool
		err string
	}{
		"up":               {up: true},
		"down":             {err: "status 503, want 2xx"},
		"hanging":          {err: "no answer within the 1s timeout"},
		"created":          {up: true},
		"created_want_200": {err: "status 201, want 200"},
		"refused":          {err: "connect"},
	}
	for name, w := range want {
		start := time.Now()
		st, err := h.Check(context.Background(), name)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Checked || st.Up != w.up || !strings.Contains(st.Error, w.err) || (w.up && st.Error != "") {
			t.Errorf("%s: %+v, want up=%v error containing %q", name, st, w.up, w.err)
		}
		if strings.Contains(st.Error, "secret") || strings.Contains(st.Probe, "secret") {
			t.Errorf("%s: the password shows: %+v", name, st)
		}
		if st.Duration <= 0 || st.Duration > elapsed {
			t.Errorf("%s: duration %v (the call took %v)", name, st.Duration, elapsed)
		}
		if name == "hanging" && (elapsed < timeout || elapsed > 20*timeout) {
			t.Errorf("hanging: took %v, want about the %v timeout", elapsed, timeout)
		}
	}
	if _, err := h.Check(context.Background(), "nope"); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("Check of an unknown name: %v", err)
	}
	res := h.Results()
	if len(res) != 6 || res[0].Name != "created" || res[5].Name != "up" {
		t.Errorf("results not sorted by name: %+v", res)
	}
	if res[0].ConsecutiveFailures != 0 || res[2].ConsecutiveFailures != 1 || res[5].ConsecutiveFailures != 0 {
		t.Errorf("consecutive failures: %+v", res)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricHealthUp, breaker.MetricHealthDuration}, breaker.MetricHealthDuration), `
		# circuit_breaker_health_check_duration_seconds gauge
		circuit_breaker_health_check_duration_seconds{name="created"} <positive>
		circuit_breaker_health_check_duration_seconds{name="created_want_200"} <positive>
		circuit_breaker_health_check_duration_seconds{name="down"} <positive>
		circuit_breaker_health_check_duration_seconds{name="hanging"} <positive>
		circuit_breaker_health_check_duration_seconds{name="refused"} <positive>
		circuit_breaker_health_check_duration_seconds{name="up"} <positive>
		# circuit_breaker_health_check_up gauge
		circuit_breaker_health_check_up{name="created"} 1
		circuit_breaker_health_check_up{name="created_want_200"} 0
		circuit_breaker_health_check_up{name="down"} 0
		circuit_breaker_health_check_up{name="hanging"} 0
		circuit_breaker_health_check_up{name="refused"} 0
		circuit_breaker_health_check_up{name="up"} 1`)

	// Stop removes the series.
	h.Stop()
	resDiff(t, resSeries(t, rd, []string{breaker.MetricHealthUp, breaker.MetricHealthDuration}), "")
}

// The timer probes every interval until Stop; Stop does not wait for a
// hanging probe's timeout and does not record it as down.
func TestHealthCheckLoop(t *testing.T) {
	resNoLeaks(t)
	urls, hits := resProviders(t)
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "up"}, breaker.Config{Name: "hanging"}, breaker.Config{Name: "fn"})
	var fnCalls atomic.Int32
	// A tiny jitter: the first probe of the hanging check (interval 1h)
	// happens at once instead of within Jitter×1h.
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: 20 * time.Millisecond, Jitter: 1e-9, Logger: resQuiet},
		breaker.HealthCheck{Breaker: "up", URL: urls["up"]},
		breaker.HealthCheck{Breaker: "hanging", URL: urls["hanging"], Interval: time.Hour, Timeout: 10 * time.Minute},
		breaker.HealthCheck{Breaker: "fn", Probe: func(ctx context.Context) error {
			fnCalls.Add(1)
			return nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits["up"].Load() < 3 || fnCalls.Load() < 3 || hits["hanging"].Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("probes: up %d, fn %d, hanging %d; want at least 3, 3, 1", hits["up"].Load(), fnCalls.Load(), hits["hanging"].Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	h.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v with a probe hanging", d)
	}
	upHits := hits["up"].Load()
	for _, st := range h.Results() {
		switch st.Name {
		case "up", "fn":
			if !st.Up {
				t.Errorf("%s: %+v", st.Name, st)
			}
		case "hanging":
			if st.Checked {
				t.Errorf("the probe Stop interrupted was recorded: %+v", st)
			}
		}
	}
	time.Sleep(60 * time.Millisecond)
	if n := hits["up"].Load(); n != upHits {
		t.Errorf("%d probes after Stop", n-upHits)
	}
	if err := h.Start(ctx); err == nil {
		t.Error("Start after Stop succeeded")
	}
	h.Stop() // again: a no-op
}

func TestHealthCheckMovesBreakers(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	bs := resRegister(t, reg,
		breaker.Config{Name: "early", FailureThreshold: 1, Timeout: time.Hour},
		breaker.Config{Name: "report_only", FailureThreshold: 1, Timeout: time.Hour},
		breaker.Config{Name: "opens", Timeout: time.Hour},
		breaker.Config{Name: "stays_closed", Timeout: time.Hour})
	var pass atomic.Bool
	probe := func(context.Context) error {
		if pass.Load() {
			return nil
		}
		return errResDown
	}
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Logger: resQuiet},
		breaker.HealthCheck{Breaker: "early", Probe: probe, HalfOpenOnPass: true},
		breaker.HealthCheck{Breaker: "report_only", Probe: probe},
		breaker.HealthCheck{Breaker: "opens", Probe: probe, OpenOnFail: true, OpenAfter: 2},
		breaker.HealthCheck{Breaker: "stays_closed", Probe: probe},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	check := func(name string) {
		t.Helper()
		if _, err := h.Check(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	states := func() string {
		var s []string
		for _, b := range bs {
			s = append(s, b.Name()+"="+b.State().String())
		}
		return strings.Join(s, " ")
	}
	for _, b := range bs[:2] {
		_ = b.Execute(context.Background(), func(context.Context) error { return errResDown })
	}
	// Failing probes: an open breaker stays open; OpenOnFail opens after 2.
	for _, n := range []string{"early", "report_only", "opens", "stays_closed"} {
		check(n)
	}
	if got, want := states(), "early=open report_only=open opens=closed stays_closed=closed"; got != want {
		t.Errorf("after 1 failing probe: %s, want %s", got, want)
	}
	for _, n := range []string{"opens", "stays_closed", "stays_closed", "stays_closed"} {
		check(n)
	}
	if got, want := states(), "early=open report_only=open opens=open stays_closed=closed"; got != want {
		t.Errorf("after failing probes: %s, want %s", got, want)
	}
	if r := bs[2].Snapshot(); r.Counts != (breaker.Counts{}) {
		t.Errorf("probes ran through the breaker: %+v", r.Counts)
	}
	// Passing probes: HalfOpenOnPass moves an open breaker to half-open.
	pass.Store(true)
	for _, n := range []string{"early", "report_only", "opens", "stays_closed"} {
		check(n)
	}
	if got, want := states(), "early=half-open report_only=open opens=open stays_closed=closed"; got != want {
		t.Errorf("after a passing probe: %s, want %s", got, want)
	}
}

// Waits are spread over Interval×(1±Jitter) and never shorter.
func TestHealthCheckJitter(t *testing.T) {
	resNoLeaks(t)
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "fn"})
	const interval, jitter = 40 * time.Millisecond, 0.5
	times := make(chan time.Time, 100)
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: interval, Jitter: jitter, Logger: resQuiet},
		breaker.HealthCheck{Breaker: "fn", Probe: func(context.Context) error {
			times <- time.Now()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	for len(got) < 9 {
		got = append(got, <-times)
	}
	h.Stop()
	if first := got[0].Sub(start); first > time.Duration(jitter*float64(interval))+200*time.Millisecond {
		t.Errorf("first probe after %v, want within Jitter×Interval = %v", first, time.Duration(jitter*float64(interval)))
	}
	lo, hi := time.Hour, time.Duration(0)
	for i := 1; i < len(got); i++ {
		gap := got[i].Sub(got[i-1])
		lo, hi = min(lo, gap), max(hi, gap)
	}
	if lo < time.Duration((1-jitter)*float64(interval)) {
		t.Errorf("shortest wait %v, below Interval×(1-Jitter)", lo)
	}
	if hi-lo < 2*time.Millisecond {
		t.Errorf("waits between %v and %v: not jittered", lo, hi)
	}
}
