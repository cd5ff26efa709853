package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
	"pgregory.net/rapid"
)

func TestCandidateValidation(t *testing.T) {
	many := map[string]breaker.Candidate{}
	for i := range breaker.MaxCandidates + 1 {
		many[fmt.Sprintf("c%d", i)] = breaker.Candidate{FailureThreshold: new(uint32(3))}
	}
	tests := map[string]struct {
		cfg  breaker.Config
		want []string // substrings, one per problem; nil: valid
	}{
		"valid": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{
			"strict": {FailureThreshold: new(uint32(3))},
			"rate":   {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
			"off":    {FailureRate: new(0.0), SlowCall: new(time.Duration(0))},
			"all": {FailureThreshold: new(uint32(2)), MinThroughput: new(uint32(1)), FailureRate: new(1.0),
				SlowCall: new(time.Second), Timeout: new(time.Second), HalfOpenRequests: new(uint32(2)), Window: new(10 * time.Second)},
		}}},
		"too many": {cfg: breaker.Config{Candidates: many}, want: []string{"candidates: 9 candidates; at most 8"}},
		"bad name": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{"a b": {Timeout: new(time.Second)}}},
			want: []string{`candidates.a b: the name "a b" must match`}},
		"reserved": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{"current": {Timeout: new(time.Second)}}},
			want: []string{`candidates.current: the name "current" is reserved`}},
		"empty": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{"x": {}}},
			want: []string{"candidates.x: sets nothing"}},
		"zeros": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{"x": {
			FailureThreshold: new(uint32(0)), Window: new(time.Duration(0))}}},
			want: []string{"candidates.x.failure_threshold: 0 is not a setting", "candidates.x.window: 0 is not a setting"}},
		"bad values": {cfg: breaker.Config{Candidates: map[string]breaker.Candidate{"x": {
			FailureRate: new(1.5), Timeout: new(-time.Second)}}},
			want: []string{"candidates.x.failure_rate: 1.5 is outside", "candidates.x.timeout: -1s is negative"}},
		// The breaker's own bucket with the candidate's window would make
		// too many buckets; a candidate that sets window gets its own.
		"window with bucket": {cfg: breaker.Config{Bucket: time.Second, Window: 5 * time.Second,
			Candidates: map[string]breaker.Candidate{"x": {Window: new(time.Minute)}}}},
		// A problem of the breaker itself is reported once, not per candidate.
		"base invalid": {cfg: breaker.Config{FailureRate: 2, Candidates: map[string]breaker.Candidate{"x": {Timeout: new(time.Second)}}},
			want: []string{"failure_rate: 2 is outside"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.cfg.Name = "b"
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				reg := newRegistry(t)
				mustRegister(t, reg, tc.cfg)
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.cfg)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Validate = %q, want %d problem(s): %q", lines, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
			if _, err := newRegistry(t).Register(tc.cfg); err == nil {
				t.Error("Register accepted it")
			}
		})
	}
}

// fataler is what the helpers below need of a *testing.T or *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
}

func setting(t fataler, r breaker.TuneReport, name string) breaker.SettingReport {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	for _, s := range r.Settings {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("report has no setting %q: %+v", name, r)
	return breaker.SettingReport{}
}

func tune(t fataler, b *breaker.Breaker) breaker.TuneReport {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	r, err := b.Tune()
	if err != nil {
		t.Fatalf("Tune: %v", err)
	}
	return r
}

// Bursts of four failures and a success, with a long open timeout: the
// breaker's own threshold (5) never opens; threshold 3 opens at the third
// failure and would have rejected everything after, successes included.
func TestCandidatesCountWhatTheyWouldReject(t *testing.T) {
	for _, mode := range []breaker.Mode{breaker.ModeMonitor, breaker.ModeDisabled, breaker.ModeEnforce} {
		t.Run(mode.String(), func(t *testing.T) {
			b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: mode, Timeout: time.Hour,
				Candidates: map[string]breaker.Candidate{"strict": {FailureThreshold: new(uint32(3))}}})
			ran := 0
			for i := range 15 {
				fn := fail
				if i%5 == 4 {
					fn = succeed
				}
				_ = b.Execute(context.Background(), func(ctx context.Context) error { ran++; return fn(ctx) })
			}
			if ran != 15 {
				t.Fatalf("%d of 15 calls ran", ran)
			}
			r := tune(t, b)
			wantSees := breaker.SeesAllCalls
			if mode == breaker.ModeEnforce {
				wantSees = breaker.SeesCallsThatRan
			}
			if r.Name != "up" || r.Mode != mode || r.Sees != wantSees || len(r.Settings) != 2 {
				t.Fatalf("report %+v", r)
			}
			cur, strict := setting(t, r, breaker.CurrentSetting), setting(t, r, "strict")
			if cur.Opened != 0 || cur.WouldReject != 0 || cur.State != breaker.StateClosed || cur.Calls != 15 || cur.OpenSeconds != 0 {
				t.Errorf("current = %+v, want never open", cur)
			}
			// Opens at call 3; calls 4..15 (12: 9 failures, 3 successes) rejected.
			if strict.Opened != 1 || strict.State != breaker.StateOpen || strict.WouldReject != 12 ||
				strict.WouldRejectFailed != 9 || strict.WouldRejectSucceeded != 3 || strict.Calls != 15 {
				t.Errorf("strict = %+v", strict)
			}
			if strict.OpenSeconds <= 0 || strict.OpenSeconds > time.Hour.Seconds() {
				t.Errorf("strict open for %vs", strict.OpenSeconds)
			}
			if strict.Settings.FailureThreshold != 3 || strict.Settings.Timeout != "1h0m0s" || cur.Settings.FailureThreshold != 5 {
				t.Errorf("settings: current %+v, strict %+v", cur.Settings, strict.Settings)
			}
		})
	}
}

func TestTuneWithoutCandidates(t *testing.T) {
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "plain"})
	if _, err := b.Tune(); !errors.Is(err, breaker.ErrNoCandidate) {
		t.Fatalf("Tune = %v, want ErrNoCandidate", err)
	}
	if _, err := b.Promote("x"); !errors.Is(err, breaker.ErrNoCandidate) {
		t.Fatalf("Promote = %v, want ErrNoCandidate", err)
	}
}

// A candidate with its own slow_call judges the call's duration itself.
func TestCandidateSlowCall(t *testing.T) {
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: breaker.ModeMonitor, Timeout: time.Hour,
		Candidates: map[string]breaker.Candidate{"slow": {SlowCall: new(time.Millisecond), FailureThreshold: new(uint32(2))}}})
	for range 3 {
		_ = b.Execute(context.Background(), func(context.Context) error { time.Sleep(3 * time.Millisecond); return nil })
	}
	r := tune(t, b)
	if s := setting(t, r, "slow"); s.Opened != 1 || s.WouldReject != 1 || s.WouldRejectSucceeded != 1 {
		t.Errorf("slow = %+v, want open after 2 slow calls and the third would-rejected", s)
	}
	if c := setting(t, r, breaker.CurrentSetting); c.Opened != 0 {
		t.Errorf("current = %+v", c)
	}
}

func TestPromote(t *testing.T) {
	var changes []breaker.StateChange
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: breaker.ModeEnforce, FailureThreshold: 2, Timeout: time.Hour,
		OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) },
		Candidates:    map[string]breaker.Candidate{"lax": {FailureThreshold: new(uint32(4)), Timeout: new(time.Minute)}}})
	for range 2 {
		_ = b.Execute(context.Background(), fail)
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v, want open", b.State())
	}
	if _, err := b.Promote("nope"); !errors.Is(err, breaker.ErrNoCandidate) || !strings.Contains(err.Error(), "candidates: lax") {
		t.Fatalf("Promote(nope) = %v", err)
	}
	p, err := b.Promote("lax")
	if err != nil {
		t.Fatal(err)
	}
	if p.From.FailureThreshold != 2 || p.To.FailureThreshold != 4 || p.To.Timeout != "1m0s" || p.From.Timeout != "1h0m0s" {
		t.Errorf("promotion %+v", p)
	}
	if b.State() != breaker.StateClosed || b.Config().FailureThreshold != 4 || b.Snapshot().Settings.FailureThreshold != 4 {
		t.Fatalf("after promotion: state %v, config %+v", b.State(), b.Config())
	}
	if last := changes[len(changes)-1]; last.To != breaker.StateClosed || last.Reason != "promoted candidate lax" {
		t.Errorf("last change %+v", last)
	}
	// The live breaker now trips on the fourth failure, not the second,
	// and a reset keeps the promoted settings.
	b.Reset()
	for i := range 4 {
		if got := b.State(); got != breaker.StateClosed {
			t.Fatalf("open after %d failures", i)
		}
		_ = b.Execute(context.Background(), fail)
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("not open after 4 failures")
	}
	r := tune(t, b)
	cur := setting(t, r, breaker.CurrentSetting)
	if cur.Settings.FailureThreshold != 4 || cur.Calls != 4 || cur.Opened != 1 {
		t.Errorf("current after promotion = %+v", cur)
	}
}

// The candidate metrics: state, would-reject and transitions per candidate,
// from 0; the breaker's own setting is not among them.
func TestCandidateMetrics(t *testing.T) {
	reg, reader := newMeteredRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "up", Mode: breaker.ModeMonitor, Timeout: time.Hour,
		Candidates: map[string]breaker.Candidate{"strict": {FailureThreshold: new(uint32(2))}, "lax": {FailureThreshold: new(uint32(9))}}})
	mustRegister(t, reg, breaker.Config{Name: "plain"})
	for range 3 {
		_ = b.Execute(context.Background(), fail)
	}
	var got []string
	for _, l := range collect(t, reader, false) {
		if strings.HasPrefix(l, "circuit_breaker_candidate_") {
			got = append(got, l)
		}
	}
	want := []string{
		"circuit_breaker_candidate_state{candidate=lax,name=up} 0",
		"circuit_breaker_candidate_state{candidate=strict,name=up} 2",
		"circuit_breaker_candidate_transitions_total{candidate=lax,from=closed,name=up,to=open} 0",
		"circuit_breaker_candidate_transitions_total{candidate=lax,from=half-open,name=up,to=closed} 0",
		"circuit_breaker_candidate_transitions_total{candidate=lax,from=half-open,name=up,to=open} 0",
		"circuit_breaker_candidate_transitions_total{candidate=lax,from=open,name=up,to=half-open} 0",
		"circuit_breaker_candidate_transitions_total{candidate=strict,from=closed,name=up,to=open} 1",
		"circuit_breaker_candidate_transitions_total{candidate=strict,from=half-open,name=up,to=closed} 0",
		"circuit_breaker_candidate_transitions_total{candidate=strict,from=half-open,name=up,to=open} 0",
		"circuit_breaker_candidate_transitions_total{candidate=strict,from=open,name=up,to=half-open} 0",
		"circuit_breaker_candidate_would_reject_total{candidate=lax,name=up} 0",
		"circuit_breaker_candidate_would_reject_total{candidate=strict,name=up} 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("candidate metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A candidate's shadow goes through the same states, and would reject the
// same calls, as a monitor-mode breaker configured with the candidate's
// settings does on the same calls; the breaker's own setting's shadow does
// the same as the breaker itself. The calls are instantaneous, so that the
// breaker's call and the references' calls, made one after the other, fall
// on the same side of every open timeout; TestCandidateSlowCall covers
// slow_call and TestCandidateDecidesAtCallStart calls that overlap.
func TestCandidateMatchesMonitorBreaker(t *testing.T) {
	const timeout = 60 * time.Millisecond
	stalled := 0 // cases discarded because the machine stalled
	defer func() {
		if stalled > 0 {
			t.Logf("%d cases discarded (and replaced) because a run of calls outlasted half the open timeout", stalled)
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		drawCandidate := func(label string) breaker.Candidate {
			var c breaker.Candidate
			if rapid.Bool().Draw(t, label+".set_threshold") {
				c.FailureThreshold = new(rapid.Uint32Range(1, 4).Draw(t, label+".failure_threshold"))
			}
			if rapid.Bool().Draw(t, label+".set_rate") {
				c.FailureRate = new(rapid.SampledFrom([]float64{0, 0.25, 0.5, 0.75, 1}).Draw(t, label+".failure_rate"))
				c.MinThroughput = new(rapid.Uint32Range(1, 6).Draw(t, label+".min_throughput"))
			}
			if rapid.Bool().Draw(t, label+".set_probes") {
				c.HalfOpenRequests = new(rapid.Uint32Range(1, 3).Draw(t, label+".half_open_requests"))
			}
			if c == (breaker.Candidate{}) {
				c.FailureThreshold = new(uint32(1))
			}
			return c
		}
		base := breaker.Config{Name: "live", Mode: breaker.ModeMonitor, Timeout: timeout,
			FailureThreshold: rapid.Uint32Range(1, 5).Draw(t, "failure_threshold"),
			Candidates:       map[string]breaker.Candidate{}}
		n := rapid.IntRange(1, 3).Draw(t, "candidates")
		for i := range n {
			base.Candidates[fmt.Sprintf("c%d", i)] = drawCandidate(fmt.Sprintf("c%d", i))
		}
		live, err := reg.Register(base)
		if err != nil {
			t.Fatal(err)
		}
		// One monitor-mode breaker per candidate, with its settings.
		refs := map[string]*breaker.Breaker{}
		for name, c := range base.Candidates {
			cfg := base
			cfg.Candidates = nil
			cfg.Name = "ref_" + name
			cfg.FailureThreshold = deref(c.FailureThreshold, cfg.FailureThreshold)
			cfg.FailureRate = deref(c.FailureRate, cfg.FailureRate)
			cfg.MinThroughput = deref(c.MinThroughput, cfg.MinThroughput)
			cfg.HalfOpenRequests = deref(c.HalfOpenRequests, cfg.HalfOpenRequests)
			refs[name] = mustRegisterT(t, reg, cfg)
		}

		ops := rapid.SliceOfN(rapid.SampledFrom([]string{"ok", "fail", "fail", "ok", "ignored", "wait"}), 1, 30).Draw(t, "ops")
		waits := 0
		for i, op := range ops { // bound the run time: at most two waits
			if op == "wait" {
				if waits++; waits > 2 {
					ops[i] = "fail"
				}
			}
		}
		fnFor := func(op string) func(context.Context) error {
			switch op {
			case "fail":
				return fail
			case "ignored":
				return func(context.Context) error { return context.Canceled }
			}
			return succeed
		}
		var history []string
		// The breaker's call and the references' calls are made one after
		// the other: they fall on the same side of every open timeout only
		// while no timeout ends among the calls between two waits. So
		// those runs of calls must stay short against the timeout (they
		// take a few milliseconds), and each wait outlasts a timeout begun
		// before it by more than such a run. A run of calls that takes
		// longer than half the timeout (a stalled machine) voids the case:
		// rapid discards it and draws another, so every case counted was
		// checked to its end, and a machine that stalls in too many cases
		// fails the test (rapid wants 100 valid cases from at most 1,000).
		segment := time.Now()
		for i, op := range ops {
			if op == "wait" {
				time.Sleep(timeout + timeout/2)
				segment = time.Now()
			} else {
				fn := fnFor(op)
				ctx := context.Background()
				if op == "ignored" {
					c, cancel := context.WithCancel(ctx)
					cancel()
					ctx = c
				}
				// The live breaker first (its shadows see the call inside
				// its own), then the references.
				_ = live.Execute(ctx, fn)
				for _, name := range slices.Sorted(maps.Keys(refs)) {
					_ = refs[name].Execute(ctx, fn)
				}
			}
			history = append(history, op)
			if d := time.Since(segment); d > timeout/2 {
				stalled++
				t.Skipf("calls since the last wait took %v, over half the open timeout %v: case discarded after op %d", d, timeout, i)
			}
			check := func(what string, ref *breaker.Breaker, name string) {
				want := ref.State()
				got := setting(t, tune(t, live), name)
				if got.State != want {
					t.Fatalf("op %d (%s): %s state %v, reference %v; ops %v", i, op, what, got.State, want, history)
				}
				if rw := ref.Snapshot().Counts.WouldReject; got.WouldReject != rw {
					t.Fatalf("op %d (%s): %s would-reject %d, reference %d; ops %v", i, op, what, got.WouldReject, rw, history)
				}
			}
			for name, ref := range refs {
				check("candidate "+name, ref, name)
			}
			check("current setting", live, breaker.CurrentSetting)
		}
	})
}

func deref[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

func mustRegisterT(t *rapid.T, reg *breaker.Registry, cfg breaker.Config) *breaker.Breaker {
	b, err := reg.Register(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The breaker keeps its own copy of the candidates: changing the caller's
// map or values afterwards changes nothing.
func TestCandidatesAreCopied(t *testing.T) {
	threshold := uint32(3)
	cands := map[string]breaker.Candidate{"strict": {FailureThreshold: &threshold}}
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: breaker.ModeMonitor, Candidates: cands})
	threshold = 7
	cands["other"] = breaker.Candidate{Timeout: new(time.Second)}
	if got := b.Config().Candidates; len(got) != 1 || *got["strict"].FailureThreshold != 3 {
		t.Errorf("Config().Candidates = %v", got)
	}
	if s := setting(t, tune(t, b), "strict"); s.Settings.FailureThreshold != 3 {
		t.Errorf("strict settings %+v", s.Settings)
	}
}

// A candidate decides when a call starts, as an enforcing breaker would: a
// call already running when the candidate opens is not one it would have
// rejected (its outcome is ignored, as gobreaker ignores the results of an
// older generation), and with half_open_requests 1 a second call that
// starts while the probe is still running is one it would have rejected.
func TestCandidateDecidesAtCallStart(t *testing.T) {
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: breaker.ModeMonitor, Timeout: time.Hour,
		Candidates: map[string]breaker.Candidate{
			"strict":  {FailureThreshold: new(uint32(2))},
			"probing": {FailureThreshold: new(uint32(1)), Timeout: new(time.Millisecond)},
		}})
	// hold runs a call through b that succeeds once released, and returns
	// when the call has started.
	hold := func() (release func(), done <-chan struct{}) {
		started, rel, fin := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(fin)
			_ = b.Execute(context.Background(), func(context.Context) error {
				close(started)
				<-rel
				return nil
			})
		}()
		<-started
		return func() { close(rel) }, fin
	}

	release, done := hold() // in flight while strict opens
	_ = b.Execute(context.Background(), fail)
	_ = b.Execute(context.Background(), fail)
	release()
	<-done
	r := tune(t, b)
	if s := setting(t, r, "strict"); s.Opened != 1 || s.State != breaker.StateOpen || s.WouldReject != 0 || s.Calls != 3 {
		t.Errorf("strict = %+v, want open with nothing it would have rejected: the held call started before it opened", s)
	}

	// probing opened at the first failure; after its 1ms timeout the next
	// call is its one half-open probe, and a call that starts while the
	// probe runs is rejected (ErrTooManyRequests).
	// Whatever it did with the second failure above (rejected it, or took
	// it as a probe and opened again), it is half-open after the sleep.
	before := setting(t, tune(t, b), "probing")
	time.Sleep(5 * time.Millisecond)
	release, done = hold() // the probe
	_ = b.Execute(context.Background(), succeed)
	release()
	<-done
	after := setting(t, tune(t, b), "probing")
	if after.WouldReject-before.WouldReject != 1 || after.WouldRejectSucceeded-before.WouldRejectSucceeded != 1 || after.State != breaker.StateClosed {
		t.Errorf("probing before %+v, after %+v: want the call beside the probe rejected, and closed after the probe", before, after)
	}
}

// A listener may reset the breaker it hears from: a reset (or a promotion)
// does not call listeners while holding the lock that orders restarts.
func TestListenerMayResetDuringReset(t *testing.T) {
	var b *breaker.Breaker
	resets := 0
	b = mustRegister(t, newRegistry(t), breaker.Config{Name: "up", FailureThreshold: 1, Timeout: time.Hour,
		OnStateChange: func(c breaker.StateChange) {
			if c.To == breaker.StateClosed && resets == 0 {
				resets++
				b.Reset()
			}
		}})
	_ = b.Execute(context.Background(), fail)
	done := make(chan struct{})
	go func() { defer close(done); b.Reset() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Reset from a listener during Reset deadlocked")
	}
	if resets != 1 || b.State() != breaker.StateClosed {
		t.Errorf("resets %d, state %v", resets, b.State())
	}
}
