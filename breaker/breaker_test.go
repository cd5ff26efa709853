package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// testTimeout is the open timeout of tests that wait for it to end. Steps
// that expect a breaker to stay open run within it, so it must be longer than
// the stalls of a loaded machine.
const testTimeout = 500 * time.Millisecond

// step is one action in a transition table: a call that fails or succeeds, or
// a wait past the open timeout; then what must hold.
type step struct {
	op          string // "fail", "ok" or "wait"
	ran         bool   // the function ran (calls only)
	rejected    bool   // the call returned a rejection (calls only)
	state       breaker.State
	wouldReject uint64 // cumulative, checked after the step
}

func TestTransitions(t *testing.T) {
	closed, halfOpen, open := breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen
	tests := []struct {
		name  string
		mode  breaker.Mode
		steps []step
	}{
		{"enforce/success keeps closed", breaker.ModeEnforce, []step{
			{op: "ok", ran: true, state: closed},
			{op: "ok", ran: true, state: closed},
		}},
		{"enforce/failures below threshold keep closed", breaker.ModeEnforce, []step{
			{op: "fail", ran: true, state: closed},
			{op: "ok", ran: true, state: closed},
			{op: "fail", ran: true, state: closed},
		}},
		{"enforce/closed to open and rejecting", breaker.ModeEnforce, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "ok", rejected: true, state: open},
		}},
		{"enforce/open to half-open after timeout", breaker.ModeEnforce, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "wait", state: halfOpen},
		}},
		{"enforce/half-open to closed on probe success", breaker.ModeEnforce, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "wait", state: halfOpen},
			{op: "ok", ran: true, state: closed},
			{op: "ok", ran: true, state: closed},
		}},
		{"enforce/half-open to open on probe failure", breaker.ModeEnforce, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "wait", state: halfOpen},
			{op: "fail", ran: true, state: open},
			{op: "ok", rejected: true, state: open},
		}},
		{"monitor/closed to open, nothing blocked", breaker.ModeMonitor, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "ok", ran: true, state: open, wouldReject: 1},
			{op: "fail", ran: true, state: open, wouldReject: 2},
		}},
		{"monitor/would-reject outcomes do not feed the state machine", breaker.ModeMonitor, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "ok", ran: true, state: open, wouldReject: 1},
			{op: "ok", ran: true, state: open, wouldReject: 2},
			{op: "wait", state: halfOpen, wouldReject: 2},
			{op: "ok", ran: true, state: closed, wouldReject: 2},
		}},
		{"monitor/half-open to open on probe failure", breaker.ModeMonitor, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: open},
			{op: "wait", state: halfOpen},
			{op: "fail", ran: true, state: open},
			{op: "ok", ran: true, state: open, wouldReject: 1},
		}},
		{"disabled/never opens", breaker.ModeDisabled, []step{
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: closed},
			{op: "fail", ran: true, state: closed},
			{op: "ok", ran: true, state: closed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newRegistry(t)
			b := mustRegister(t, reg, breaker.Config{Name: "dep", Mode: tt.mode, FailureThreshold: 2, Timeout: testTimeout})
			if got := b.State(); got != breaker.StateClosed {
				t.Fatalf("initial state = %v, want closed", got)
			}
			for i, s := range tt.steps {
				switch s.op {
				case "wait":
					time.Sleep(testTimeout + 10*time.Millisecond)
				case "ok", "fail":
					ran := false
					err := b.Execute(context.Background(), func(context.Context) error {
						ran = true
						if s.op == "fail" {
							return errDown
						}
						return nil
					})
					if ran != s.ran {
						t.Errorf("step %d (%s): ran = %v, want %v", i, s.op, ran, s.ran)
					}
					if got := breaker.IsRejected(err); got != s.rejected {
						t.Errorf("step %d (%s): rejected = %v (err %v), want %v", i, s.op, got, err, s.rejected)
					}
					if s.ran && s.op == "fail" && !errors.Is(err, errDown) {
						t.Errorf("step %d: err = %v, want the function's error", i, err)
					}
				}
				if got := b.State(); got != s.state {
					t.Errorf("step %d (%s): state = %v, want %v", i, s.op, got, s.state)
				}
				if got := b.Snapshot().Counts.WouldReject; got != s.wouldReject {
					t.Errorf("step %d (%s): would-reject = %d, want %d", i, s.op, got, s.wouldReject)
				}
			}
		})
	}
}

func TestRejectedErrorCarriesNameAndRetryTime(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 1, Timeout: time.Minute})
	before := time.Now()
	_ = b.Execute(context.Background(), fail)
	err := b.Execute(context.Background(), succeed)
	var rej *breaker.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("err = %v, want *RejectedError", err)
	}
	if !errors.Is(err, breaker.ErrOpen) || errors.Is(err, breaker.ErrTooManyRequests) {
		t.Errorf("err = %v: want ErrOpen only", err)
	}
	if rej.Name != "openai_api" || rej.State != breaker.StateOpen {
		t.Errorf("rejection = %+v", rej)
	}
	if rej.RetryAt.Before(before.Add(time.Minute-time.Second)) || rej.RetryAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("RetryAt = %v, want about a minute from %v", rej.RetryAt, before)
	}
	if d := rej.RetryAfter(); d <= 58*time.Second || d > time.Minute {
		t.Errorf("RetryAfter = %v", d)
	}
}

func TestHalfOpenTooManyRequests(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: testTimeout})
	_ = b.Execute(context.Background(), fail)
	time.Sleep(testTimeout + 10*time.Millisecond)

	probing := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error {
			close(probing)
			<-release
			return nil
		})
	}()
	<-probing
	err := b.Execute(context.Background(), succeed)
	if !errors.Is(err, breaker.ErrTooManyRequests) || errors.Is(err, breaker.ErrOpen) {
		t.Errorf("second call while probing: err = %v, want ErrTooManyRequests", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("probe: %v", err)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state after successful probe = %v, want closed", s)
	}
}

func TestHalfOpenRequestsProbes(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: testTimeout, HalfOpenRequests: 3})
	_ = b.Execute(context.Background(), fail)
	time.Sleep(testTimeout + 10*time.Millisecond)
	for i := range 2 {
		if err := b.Execute(context.Background(), succeed); err != nil {
			t.Fatal(err)
		}
		if s := b.State(); s != breaker.StateHalfOpen {
			t.Fatalf("after %d probe(s): state = %v, want half-open", i+1, s)
		}
	}
	_ = b.Execute(context.Background(), succeed)
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("after 3 probes: state = %v, want closed", s)
	}
}

func TestCallerCancellationIsIgnored(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		err := b.Execute(ctx, func(ctx context.Context) error { return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state = %v after caller cancellations, want closed", s)
	}
	c := b.Snapshot().Counts
	if c.Ignored != 3 || c.Failure != 0 {
		t.Errorf("counts = %+v, want 3 ignored", c)
	}
	// A context.Canceled that is not the caller's (the caller's ctx is live)
	// is the dependency's failure.
	_ = b.Execute(context.Background(), func(context.Context) error { return context.Canceled })
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("state = %v after a dependency's own Canceled, want open", s)
	}
}

func TestClassifierOverrides(t *testing.T) {
	notFound := errors.New("404")
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1,
		Classifier: func(_ context.Context, err error) breaker.Outcome {
			switch {
			case err == nil, errors.Is(err, notFound):
				return breaker.OutcomeSuccess
			}
			return breaker.OutcomeFailure
		}})
	for range 3 {
		if err := b.Execute(context.Background(), func(context.Context) error { return notFound }); !errors.Is(err, notFound) {
			t.Fatalf("err = %v", err)
		}
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Fatalf("state = %v, want closed: the classifier made 404 a success", s)
	}
	if c := b.Snapshot().Counts; c.Success != 3 {
		t.Errorf("counts = %+v", c)
	}
}

func TestPanicCountsAsFailureAndRepanics(t *testing.T) {
	for _, mode := range []breaker.Mode{breaker.ModeEnforce, breaker.ModeMonitor, breaker.ModeDisabled} {
		t.Run(mode.String(), func(t *testing.T) {
			reg := newRegistry(t)
			b := mustRegister(t, reg, breaker.Config{Name: "dep", Mode: mode, FailureThreshold: 1})
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("recovered %v, want boom", r)
					}
				}()
				_ = b.Execute(context.Background(), func(context.Context) error { panic("boom") })
			}()
			if c := b.Snapshot().Counts; c.Failure != 1 {
				t.Errorf("counts = %+v, want 1 failure", c)
			}
			want := breaker.StateOpen
			if mode == breaker.ModeDisabled {
				want = breaker.StateClosed
			}
			if s := b.State(); s != want {
				t.Errorf("state = %v, want %v", s, want)
			}
		})
	}
}

func TestSlowCallsTrip(t *testing.T) {
	reg := newRegistry(t)
	trips := make(chan string, 1)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 2, SlowCall: 5 * time.Millisecond,
		OnStateChange: func(sc breaker.StateChange) { trips <- sc.Reason }})
	slow := func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }
	for i := range 2 {
		if err := b.Execute(context.Background(), slow); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("state = %v after 2 slow calls, want open", s)
	}
	c := b.Snapshot().Counts
	if c.Slow != 2 || c.Success != 2 {
		t.Errorf("counts = %+v, want 2 slow successes", c)
	}
	// Regression: the reason said "2 consecutive failures" of two successes.
	if r, want := <-trips, "2 consecutive slow calls (over slow_call 5ms) reached failure_threshold 2"; r != want {
		t.Errorf("reason %q, want %q", r, want)
	}
}

func TestFailuresAndSlowCallsTripReason(t *testing.T) {
	reg := newRegistry(t)
	trips := make(chan string, 1)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 3, SlowCall: 5 * time.Millisecond,
		OnStateChange: func(sc breaker.StateChange) { trips <- sc.Reason }})
	slow := func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }
	for _, fn := range []func(context.Context) error{fail, slow, fail} {
		_ = b.Execute(context.Background(), fn)
	}
	if r, want := <-trips, "3 consecutive failures and slow calls (1 slow, over slow_call 5ms) reached failure_threshold 3"; r != want {
		t.Errorf("reason %q, want %q", r, want)
	}
}

func TestFailureRateAndMinThroughput(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 100, FailureRate: 0.5, MinThroughput: 4})
	seq := []func(context.Context) error{succeed, fail, succeed, fail}
	for i, fn := range seq {
		_ = b.Execute(context.Background(), fn)
		want := breaker.StateClosed
		if i == 3 {
			want = breaker.StateOpen // 2 failures / 4 calls = 0.5, min_throughput 4 reached
		}
		if s := b.State(); s != want {
			t.Errorf("after call %d: state = %v, want %v", i+1, s, want)
		}
	}
}

func TestMinThroughputHoldsBackThreshold(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, MinThroughput: 3})
	for i := range 3 {
		_ = b.Execute(context.Background(), fail)
		want := breaker.StateClosed
		if i == 2 {
			want = breaker.StateOpen
		}
		if s := b.State(); s != want {
			t.Errorf("after failure %d: state = %v, want %v", i+1, s, want)
		}
	}
}

func TestResetAndModeSwitchKeepCounters(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: time.Minute})
	_ = b.Execute(context.Background(), fail)
	_ = b.Execute(context.Background(), succeed) // rejected
	if err := reg.SetMode("dep", breaker.ModeMonitor); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("state after switching to monitor = %v, want open (the same state machine)", s)
	}
	_ = b.Execute(context.Background(), succeed) // would-reject, runs
	if err := reg.Reset("dep"); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state after reset = %v", s)
	}
	snap := b.Snapshot()
	want := breaker.Counts{Success: 1, Failure: 1, Rejected: 1, WouldReject: 1}
	if snap.Counts != want {
		t.Errorf("counts = %+v, want %+v (resets keep cumulative counts)", snap.Counts, want)
	}
	if snap.Window.Successes+snap.Window.Failures+snap.Window.Rejected != 0 {
		t.Errorf("window after reset = %+v, want empty", snap.Window)
	}
	if err := reg.Reset("nope"); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("Reset(unknown) = %v, want ErrNotFound", err)
	}
	if err := reg.SetMode("nope", breaker.ModeEnforce); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("SetMode(unknown) = %v, want ErrNotFound", err)
	}
	if _, ok := reg.Get("nope"); ok {
		t.Error("Get(unknown) created a breaker")
	}
}

func TestLeavingDisabledStartsClosed(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: time.Minute})
	_ = b.Execute(context.Background(), fail)
	_ = b.SetMode(breaker.ModeDisabled)
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("disabled state = %v, want closed", s)
	}
	if err := b.Execute(context.Background(), succeed); err != nil {
		t.Errorf("disabled breaker rejected: %v", err)
	}
	_ = b.SetMode(breaker.ModeEnforce)
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state after leaving disabled = %v, want closed", s)
	}
}

func TestStateShowsHalfOpenWithoutTraffic(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	reg := newRegistry(t, breaker.WithStateListener(func(ev breaker.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s->%s", ev.From, ev.To))
	}))
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: testTimeout})
	_ = b.Execute(context.Background(), fail)
	// No call and no State(): the timer alone must apply the change.
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[closed->open open->half-open]" {
		t.Errorf("listener saw %v, want [closed->open open->half-open]", seen)
	}
}

func TestListenerRunsOutsideLocks(t *testing.T) {
	var events []breaker.StateChange
	var b *breaker.Breaker
	reg := newRegistry(t, breaker.WithStateListener(func(ev breaker.StateChange) {
		// Calling back into the breaker from a listener must not deadlock
		// (gobreaker's OnStateChange runs under its mutex).
		_ = b.State()
		_ = b.Snapshot()
		events = append(events, ev)
	}))
	b = mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 2, Timeout: time.Minute})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Execute(context.Background(), fail)
		_ = b.Execute(context.Background(), fail)
		b.Reset()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: a listener calling the breaker blocked")
	}
	if len(events) != 2 {
		t.Fatalf("events = %+v, want 2", events)
	}
	trip := events[0]
	if trip.Name != "dep" || trip.From != breaker.StateClosed || trip.To != breaker.StateOpen ||
		trip.Reason != "2 consecutive failures reached failure_threshold 2" || trip.Window.Failures != 2 {
		t.Errorf("trip event = %+v", trip)
	}
	if ev := events[1]; ev.From != breaker.StateOpen || ev.To != breaker.StateClosed || ev.Reason != "reset" {
		t.Errorf("reset event = %+v", ev)
	}
}

func TestTypedCall(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep"})
	got, err := breaker.Of[string](b).Execute(context.Background(), func(context.Context) (string, error) {
		return "hello", nil
	})
	if err != nil || got != "hello" {
		t.Errorf("Execute = %q, %v", got, err)
	}
	n, err := breaker.Call(context.Background(), b, func(context.Context) (int, error) { return 0, errDown })
	if n != 0 || !errors.Is(err, errDown) {
		t.Errorf("Call = %d, %v", n, err)
	}
}

func TestWindowStats(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1000})
	for i := range 100 {
		d := time.Duration(0)
		if i >= 90 {
			d = 20 * time.Millisecond
		}
		_ = b.Execute(context.Background(), func(context.Context) error {
			time.Sleep(d)
			if i%4 == 0 {
				return errDown
			}
			return nil
		})
	}
	w := b.Snapshot().Window
	if w.Successes != 75 || w.Failures != 25 || w.ErrorRate != 0.25 {
		t.Errorf("window = %+v, want 75 successes, 25 failures, error rate 0.25", w)
	}
	if w.P50 >= 5 {
		t.Errorf("p50 = %vms, want well under 20ms (90%% of calls are instant)", w.P50)
	}
	if w.P95 < 17 || w.P99 < 17 {
		t.Errorf("p95 = %vms, p99 = %vms, want at least ~20ms", w.P95, w.P99)
	}
}

func TestWindowRollsOff(t *testing.T) {
	reg := newRegistry(t)
	// Long enough that the call is still inside the window when it is read
	// on a loaded machine; then the test waits for it to pass.
	const window = breaker.MinWindow
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1000, Window: window})
	start := time.Now()
	_ = b.Execute(context.Background(), fail)
	called := time.Now()
	if w := b.Snapshot().Window; time.Since(start) < window && (w.Failures != 1 || w.ErrorRate != 1) {
		t.Fatalf("window = %+v", w)
	}
	time.Sleep(time.Until(called.Add(window * 3 / 2))) // the window and its last bucket have passed
	if w := b.Snapshot().Window; w.Failures != 0 || w.ErrorRate != 0 || w.P95 != 0 {
		t.Errorf("window after it passed = %+v, want empty", w)
	}
}

// Regression: failure_threshold counted the consecutive failures inside one
// window (gobreaker's rolling counts forget a failure when its bucket rolls
// off), so a dependency called every 300ms with a 1s window never opened,
// however many calls in a row failed. The calls here are at least 300ms
// apart (a loaded machine only spreads them further): the first failure has
// left the window before the fifth.
func TestConsecutiveFailuresOfALowTrafficDependency(t *testing.T) {
	reg := newRegistry(t)
	const threshold = 5
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: threshold, Window: time.Second, Timeout: time.Minute})
	for i := range threshold {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		if s := b.State(); s != breaker.StateClosed {
			t.Fatalf("before failure %d: state %v, want closed", i+1, s)
		}
		_ = b.Execute(context.Background(), fail)
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("after %d failures in a row, 300ms apart: state %v, want open", threshold, s)
	}
	if ch := b.Snapshot(); ch.State != breaker.StateOpen {
		t.Errorf("snapshot state %v", ch.State)
	}
}

// A success ends a run of failures, however the calls are spaced.
func TestSuccessEndsTheRun(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 3})
	for _, fn := range []func(context.Context) error{fail, fail, succeed, fail, fail} {
		_ = b.Execute(context.Background(), fn)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("fail, fail, succeed, fail, fail with threshold 3: state %v, want closed", s)
	}
	_ = b.Execute(context.Background(), fail)
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("third failure in a row: state %v, want open", s)
	}
}

func TestConcurrentTrafficResetsAndModeSwitches(t *testing.T) {
	reg := newRegistry(t)
	bs := []*breaker.Breaker{
		mustRegister(t, reg, breaker.Config{Name: "a", FailureThreshold: 3, Timeout: 5 * time.Millisecond}),
		mustRegister(t, reg, breaker.Config{Name: "b", Mode: breaker.ModeMonitor, FailureThreshold: 2, Timeout: 5 * time.Millisecond}),
	}
	var calls, ran atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				b := bs[(w+i)%len(bs)]
				calls.Add(1)
				_ = b.Execute(context.Background(), func(context.Context) error {
					ran.Add(1)
					if (i+w)%3 == 0 {
						return errDown
					}
					return nil
				})
			}
		})
	}
	modes := []breaker.Mode{breaker.ModeEnforce, breaker.ModeMonitor, breaker.ModeDisabled}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_ = reg.SetMode(bs[i%2].Name(), modes[i%3])
			if i%5 == 0 {
				reg.ResetAll()
			}
			_ = reg.Snapshots()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	var total uint64
	for _, s := range reg.Snapshots() {
		c := s.Counts
		total += c.Success + c.Failure + c.Rejected + c.Ignored
	}
	if total != uint64(calls.Load()) {
		t.Errorf("counted %d calls, made %d", total, calls.Load())
	}
	if ran.Load() == 0 {
		t.Error("no call ran")
	}
}

// Regression: a call in flight across a Reset finishes on the old state
// machine; its trip must not change the reset breaker's state, transitions
// or listeners.
func TestInFlightCallAcrossResetDoesNotTrip(t *testing.T) {
	var events []breaker.StateChange
	var mu sync.Mutex
	reg := newRegistry(t, breaker.WithStateListener(func(ev breaker.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	}))
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: time.Minute})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error {
			close(started)
			<-release
			return errDown
		})
	}()
	<-started
	b.Reset()
	close(release)
	<-done
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state = %v, want closed", s)
	}
	snap := b.Snapshot()
	if len(snap.Transitions) != 0 {
		t.Errorf("transitions = %+v, want none", snap.Transitions)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 0 {
		t.Errorf("events = %+v, want none", events)
	}
	if snap.Counts.Failure != 1 {
		t.Errorf("counts = %+v: the call's failure still counts", snap.Counts)
	}
}
