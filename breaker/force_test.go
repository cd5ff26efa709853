package breaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func resEvents() (func(breaker.StateChange), func() []breaker.StateChange) {
	var mu sync.Mutex
	var evs []breaker.StateChange
	return func(ev breaker.StateChange) {
			mu.Lock()
			defer mu.Unlock()
			evs = append(evs, ev)
		}, func() []breaker.StateChange {
			mu.Lock()
			defer mu.Unlock()
			return append([]breaker.StateChange(nil), evs...)
		}
}

func TestForceOpen(t *testing.T) {
	reg, rd := newMeteredRegistry(t)
	listen, events := resEvents()
	// Long enough that the breaker is still open for the checks below on a
	// loaded machine; the test then waits for it to end.
	const timeout = 500 * time.Millisecond
	b := resRegister(t, reg, breaker.Config{Name: "a", Timeout: timeout, OnStateChange: listen})[0]
	ok := func(context.Context) error { return nil }
	if err := b.Execute(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	before := b.Snapshot().Window
	if !b.ForceOpen("health check failed") {
		t.Fatal("ForceOpen on a closed breaker = false")
	}
	if b.ForceOpen("again") {
		t.Error("ForceOpen on an open breaker = true")
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state %v, want open", s)
	}
	err := b.Execute(context.Background(), func(context.Context) error {
		t.Error("call ran through a forced-open breaker")
		return nil
	})
	var rej *breaker.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want a rejection", err)
	}
	if d := rej.RetryAfter(); d <= 0 || d > timeout {
		t.Errorf("RetryAfter %v, want within the open timeout %v", d, timeout)
	}
	if w := b.Snapshot().Window; w.Successes != before.Successes {
		t.Errorf("window lost its calls: %+v, before %+v", w, before)
	}
	// The timeout ends as for a breaker that tripped: half-open, then a
	// successful probe closes it.
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != breaker.StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("still %v after the open timeout", b.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Execute(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state %v after a successful probe, want closed", s)
	}
	evs := events()
	if len(evs) != 3 {
		t.Fatalf("events %+v, want 3", evs)
	}
	want := []struct {
		from, to breaker.State
		reason   string
	}{
		{breaker.StateClosed, breaker.StateOpen, "health check failed"},
		{breaker.StateOpen, breaker.StateHalfOpen, "open timeout 500ms elapsed"},
		{breaker.StateHalfOpen, breaker.StateClosed, "1 half-open probe(s) succeeded"},
	}
	for i, w := range want {
		if evs[i].From != w.from || evs[i].To != w.to || evs[i].Reason != w.reason {
			t.Errorf("event %d: %v -> %v (%q), want %v -> %v (%q)", i, evs[i].From, evs[i].To, evs[i].Reason, w.from, w.to, w.reason)
		}
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricTransitions}), `
		# circuit_breaker_transitions_total counter
		circuit_breaker_transitions_total{from="closed",name="a",to="open"} 1
		circuit_breaker_transitions_total{from="half-open",name="a",to="closed"} 1
		circuit_breaker_transitions_total{from="half-open",name="a",to="open"} 0
		circuit_breaker_transitions_total{from="open",name="a",to="half-open"} 1`)
}

func TestForceHalfOpen(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	listen, events := resEvents()
	bs := resRegister(t, reg,
		breaker.Config{Name: "a", FailureThreshold: 1, Timeout: time.Hour, HalfOpenRequests: 2, OnStateChange: listen})
	b := bs[0]
	if b.ForceHalfOpen("") {
		t.Error("ForceHalfOpen on a closed breaker = true")
	}
	fail := func(context.Context) error { return errResDown }
	_ = b.Execute(context.Background(), fail)
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state %v, want open", s)
	}
	if !b.ForceHalfOpen("") {
		t.Fatal("ForceHalfOpen on an open breaker = false")
	}
	if s := b.State(); s != breaker.StateHalfOpen {
		t.Fatalf("state %v, want half-open", s)
	}
	// HalfOpenRequests probes at a time, the next one is rejected.
	release := make(chan struct{})
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.Execute(context.Background(), func(context.Context) error {
				started <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	<-started
	<-started
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	if !errors.Is(err, breaker.ErrTooManyRequests) {
		t.Errorf("third probe: err = %v, want ErrTooManyRequests", err)
	}
	close(release)
	wg.Wait()
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state %v after 2 successful probes, want closed", s)
	}
	// Forced half-open again; a failing probe opens it for a full timeout.
	_ = b.Execute(context.Background(), fail)
	b.ForceHalfOpen("health check passed")
	_ = b.Execute(context.Background(), fail)
	err = b.Execute(context.Background(), fail)
	var rej *breaker.RejectedError
	if !errors.As(err, &rej) || rej.RetryAfter() < 59*time.Minute {
		t.Errorf("err = %v, want a rejection for the full hour", err)
	}
	var reasons []string
	for _, ev := range events() {
		reasons = append(reasons, ev.From.String()+">"+ev.To.String()+": "+ev.Reason)
	}
	want := []string{
		"closed>open: 1 consecutive failures reached failure_threshold 1",
		"open>half-open: forced half-open",
		"half-open>closed: 2 half-open probe(s) succeeded",
		"closed>open: 1 consecutive failures reached failure_threshold 1",
		"open>half-open: health check passed",
		"half-open>open: a half-open probe failed",
	}
	if len(reasons) != len(want) {
		t.Fatalf("events:\n%v\nwant:\n%v", reasons, want)
	}
	for i := range want {
		if reasons[i] != want[i] {
			t.Errorf("event %d: %q, want %q", i, reasons[i], want[i])
		}
	}
}

func TestForceInOtherModes(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	bs := resRegister(t, reg,
		breaker.Config{Name: "mon", Mode: breaker.ModeMonitor, Timeout: time.Hour},
		breaker.Config{Name: "off", Mode: breaker.ModeDisabled})
	mon, off := bs[0], bs[1]
	if off.ForceOpen("") || off.ForceHalfOpen("") {
		t.Error("a disabled breaker was forced")
	}
	if !mon.ForceOpen("") {
		t.Fatal("ForceOpen in monitor mode = false")
	}
	ran := false
	if err := mon.Execute(context.Background(), func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("monitor mode: err %v, ran %v; want the call to run", err, ran)
	}
	if s := mon.Snapshot(); s.State != breaker.StateOpen || s.Counts.WouldReject != 1 {
		t.Errorf("monitor snapshot %+v, want open with 1 would-reject", s)
	}
}

// Forced changes racing with calls, resets and each other: no panic, no
// race, and the breaker ends in a state its state machine agrees with.
func TestForceConcurrent(t *testing.T) {
	resNoLeaks(t)
	reg, _ := newMeteredRegistry(t)
	b := resRegister(t, reg, breaker.Config{Name: "a", FailureThreshold: 2, Timeout: time.Millisecond})[0]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch (g + i) % 5 {
				case 0:
					b.ForceOpen("")
				case 1:
					b.ForceHalfOpen("")
				case 2:
					if i%50 == 0 {
						b.Reset()
					}
				default:
					_ = b.Execute(context.Background(), func(context.Context) error {
						if i%3 == 0 {
							return errResDown
						}
						return nil
					})
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	b.Reset()
	if s := b.Snapshot(); s.State != breaker.StateClosed {
		t.Errorf("after Reset: %v", s.State)
	}
}
