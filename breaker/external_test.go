package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

func TestEvidenceCountsWhatTheStateMachineCounts(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 10, Mode: breaker.ModeMonitor})
	if e := b.Evidence(); e.Requests != 0 || !e.LastSuccess.IsZero() || !e.StreakStart.IsZero() {
		t.Fatalf("fresh breaker: %+v", e)
	}
	ctx := context.Background()
	_ = b.Execute(ctx, succeed)
	afterSuccess := time.Now()
	_ = b.Execute(ctx, fail)
	_ = b.Execute(ctx, fail)
	e := b.Evidence()
	if e.Requests != 3 || e.Successes != 1 || e.Failures != 2 || e.ConsecutiveFailures != 2 {
		t.Errorf("counts %+v, want 3 requests, 1 success, 2 failures, 2 consecutive", e)
	}
	if e.LastSuccess.IsZero() || e.LastSuccess.After(afterSuccess) {
		t.Errorf("LastSuccess %v, want at or before %v", e.LastSuccess, afterSuccess)
	}
	if e.StreakStart.Before(e.LastSuccess) {
		t.Errorf("StreakStart %v before LastSuccess %v", e.StreakStart, e.LastSuccess)
	}
	if e.Mode != breaker.ModeMonitor || e.State != breaker.StateClosed {
		t.Errorf("mode %v state %v", e.Mode, e.State)
	}
	_ = b.Execute(ctx, succeed)
	if e := b.Evidence(); e.ConsecutiveFailures != 0 || !e.StreakStart.IsZero() {
		t.Errorf("a success did not end the streak: %+v", e)
	}
	// A new streak starts at its own first failure.
	before := time.Now()
	_ = b.Execute(ctx, fail)
	if e := b.Evidence(); e.ConsecutiveFailures != 1 || e.StreakStart.Before(before) {
		t.Errorf("new streak %+v, want 1 failure from %v", e, before)
	}
}

func TestApplyOpenUntil(t *testing.T) {
	reg := newRegistry(t)
	listen, events := resEvents()
	b := mustRegister(t, reg, breaker.Config{Name: "dep", Timeout: time.Hour, OnStateChange: listen})
	until := time.Now().Add(150 * time.Millisecond)
	if b.Apply(breaker.StateOpen, time.Now().Add(-time.Second), "") {
		t.Error("Apply(open) with an open-until in the past = true")
	}
	if !b.Apply(breaker.StateOpen, until, "fleet opened") {
		t.Fatal("Apply(open) on a closed breaker = false")
	}
	if b.Apply(breaker.StateOpen, until, "again") {
		t.Error("Apply(open) with the same open-until = true")
	}
	err := b.Execute(context.Background(), succeed)
	var rej *breaker.RejectedError
	if !errors.As(err, &rej) || !rej.RetryAt.Equal(until) {
		t.Fatalf("err %v, want a rejection retrying at %v (not after the 1h timeout)", err, until)
	}
	if e := b.Evidence(); e.State != breaker.StateOpen || !e.OpenUntil.Equal(until) {
		t.Errorf("evidence %+v, want open until %v", e, until)
	}
	// Extending the open period is not a state change.
	until = until.Add(100 * time.Millisecond)
	if !b.Apply(breaker.StateOpen, until, "hold") {
		t.Error("Apply(open) with a later open-until = false")
	}
	if n := len(events()); n != 1 {
		t.Errorf("%d state changes, want 1 (closed -> open): %+v", n, events())
	}
	if ev := events()[0]; ev.Reason != "fleet opened" || ev.To != breaker.StateOpen {
		t.Errorf("event %+v", ev)
	}
	// At the open-until the breaker half-opens by itself, not after Timeout.
	testutil.WaitFor(t, "half-open", 5*time.Second, func() bool { return b.State() == breaker.StateHalfOpen })
	if time.Now().Before(until) {
		t.Errorf("half-open before %v", until)
	}
	if err := b.Execute(context.Background(), succeed); err != nil {
		t.Fatal(err)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Fatalf("after the probe: %v", s)
	}
	// A later trip of its own gets the configured timeout again.
	_ = b.Execute(context.Background(), fail)
	for range 4 {
		_ = b.Execute(context.Background(), fail)
	}
	if e := b.Evidence(); e.State != breaker.StateOpen || time.Until(e.OpenUntil) < 30*time.Minute {
		t.Errorf("own trip: %+v, want open for about the 1h timeout", e)
	}
}

func TestApplyClosedAndHalfOpen(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: time.Hour})
	if b.Apply(breaker.StateClosed, time.Time{}, "") {
		t.Error("Apply(closed) on a closed breaker = true")
	}
	_ = b.Execute(context.Background(), fail)
	if b.State() != breaker.StateOpen {
		t.Fatal("did not trip")
	}
	if !b.Apply(breaker.StateHalfOpen, time.Time{}, "fleet probe") || b.State() != breaker.StateHalfOpen {
		t.Fatalf("Apply(half-open): %v", b.State())
	}
	if !b.Apply(breaker.StateClosed, time.Time{}, "fleet closed") || b.State() != breaker.StateClosed {
		t.Fatalf("Apply(closed): %v", b.State())
	}
	if w := b.Snapshot().Window; w.Failures != 1 {
		t.Errorf("window %+v, want the failure kept", w)
	}
	if e := b.Evidence(); e.Requests != 0 || e.ConsecutiveFailures != 0 {
		t.Errorf("state machine counts %+v, want fresh", e)
	}
	_ = b.SetMode(breaker.ModeDisabled)
	if b.Apply(breaker.StateOpen, time.Now().Add(time.Minute), "") {
		t.Error("Apply on a disabled breaker = true")
	}
}

func TestModeSource(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", Mode: breaker.ModeMonitor})
	if s := b.ModeSource(); s != breaker.ModeSourceConfig {
		t.Errorf("source %q", s)
	}
	_ = b.SetMode(breaker.ModeEnforce)
	if s := b.Snapshot().ModeSource; s != breaker.ModeSourceRuntime {
		t.Errorf("after SetMode: %q", s)
	}
	if err := b.SetModeFrom(breaker.ModeDisabled, "override by ops at noon"); err != nil {
		t.Fatal(err)
	}
	if b.Mode() != breaker.ModeDisabled || b.ModeSource() != "override by ops at noon" {
		t.Errorf("%v from %q", b.Mode(), b.ModeSource())
	}
	if err := b.SetModeFrom(breaker.Mode(9), "x"); err == nil || b.ModeSource() != "override by ops at noon" {
		t.Errorf("bad mode: err %v, source %q", err, b.ModeSource())
	}
}

// A configured mode (a reload's) applies only while the mode comes from the
// configuration; an override stays, and clearing it returns to the new
// configured mode.
func TestSetConfiguredMode(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", Mode: breaker.ModeMonitor})
	if on, err := reg.SetConfiguredMode("dep", breaker.ModeEnforce); err != nil || !on {
		t.Fatalf("without an override: switched %v, err %v", on, err)
	}
	if b.Mode() != breaker.ModeEnforce || b.ModeSource() != breaker.ModeSourceConfig || b.Config().Mode != breaker.ModeEnforce {
		t.Errorf("without an override: %v from %q, configured %v; want enforce from config", b.Mode(), b.ModeSource(), b.Config().Mode)
	}
	if err := b.SetModeFrom(breaker.ModeDisabled, "override by ops at noon"); err != nil {
		t.Fatal(err)
	}
	if on, err := b.SetConfiguredMode(breaker.ModeMonitor); err != nil || on {
		t.Fatalf("with an override: switched %v, err %v", on, err)
	}
	if b.Mode() != breaker.ModeDisabled || b.ModeSource() != "override by ops at noon" || b.Config().Mode != breaker.ModeMonitor {
		t.Errorf("with an override: %v from %q, configured %v; want the override kept, monitor configured", b.Mode(), b.ModeSource(), b.Config().Mode)
	}
	if _, err := b.SetConfiguredMode(breaker.Mode(9)); err == nil || b.Config().Mode != breaker.ModeMonitor {
		t.Errorf("bad mode: err %v, configured %v", err, b.Config().Mode)
	}
	if _, err := reg.SetConfiguredMode("nope", breaker.ModeMonitor); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("unknown breaker: %v", err)
	}
	// Clearing the override goes to the configured mode the reload set.
	if m := b.ClearModeOverride(); m != breaker.ModeMonitor || b.Mode() != breaker.ModeMonitor || b.ModeSource() != breaker.ModeSourceConfig {
		t.Errorf("after ClearModeOverride: returned %v, %v from %q; want monitor from config", m, b.Mode(), b.ModeSource())
	}
}
