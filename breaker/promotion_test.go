package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// A promotion records its source; promoting the same candidate again only
// records the new source; ClearPromotion goes back to the configured
// settings and restarts the state machine with them.
func TestPromoteFromAndClear(t *testing.T) {
	var changes []breaker.StateChange
	b := mustRegister(t, newRegistry(t), breaker.Config{Name: "up", Mode: breaker.ModeEnforce, FailureThreshold: 2, Timeout: time.Hour,
		OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) },
		Candidates:    map[string]breaker.Candidate{"lax": {FailureThreshold: new(uint32(4))}}})
	if c, src := b.Promoted(); c != "" || src != breaker.ModeSourceConfig {
		t.Fatalf("Promoted before = %q %q", c, src)
	}
	if p, err := b.ClearPromotion(); err != nil || p.From != p.To || p.From.FailureThreshold != 2 {
		t.Fatalf("ClearPromotion without a promotion = %+v, %v", p, err)
	}
	if _, err := b.PromoteFrom("lax", "override by alice at T"); err != nil {
		t.Fatal(err)
	}
	if c, src := b.Promoted(); c != "lax" || src != "override by alice at T" {
		t.Errorf("Promoted = %q %q", c, src)
	}
	// Open it with the promoted threshold, then promote the same
	// candidate again: the state machine keeps its state.
	for range 4 {
		_ = b.Execute(context.Background(), fail)
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v after 4 failures, want open", b.State())
	}
	p, err := b.PromoteFrom("lax", "override by bob at U")
	if err != nil || p.From != p.To {
		t.Fatalf("second promotion = %+v, %v", p, err)
	}
	if _, src := b.Promoted(); src != "override by bob at U" || b.State() != breaker.StateOpen {
		t.Errorf("after the second promotion: source %q, state %v", src, b.State())
	}
	p, err = b.ClearPromotion()
	if err != nil || p.Candidate != "" || p.From.FailureThreshold != 4 || p.To.FailureThreshold != 2 {
		t.Fatalf("ClearPromotion = %+v, %v", p, err)
	}
	if c, src := b.Promoted(); c != "" || src != breaker.ModeSourceConfig || b.Config().FailureThreshold != 2 || b.State() != breaker.StateClosed {
		t.Errorf("after clearing: %q %q threshold %d state %v", c, src, b.Config().FailureThreshold, b.State())
	}
	if last := changes[len(changes)-1]; last.To != breaker.StateClosed || last.Reason != "promotion cleared: back to the configured settings" {
		t.Errorf("last change %+v", last)
	}
	for range 2 {
		_ = b.Execute(context.Background(), fail)
	}
	if b.State() != breaker.StateOpen {
		t.Error("not open after 2 failures with the configured threshold")
	}
	if cur := setting(t, tune(t, b), breaker.CurrentSetting); cur.Settings.FailureThreshold != 2 || cur.Calls != 2 {
		t.Errorf("current setting after clearing = %+v", cur)
	}
	plain := mustRegister(t, newRegistry(t), breaker.Config{Name: "plain"})
	if _, err := plain.ClearPromotion(); !errors.Is(err, breaker.ErrNoCandidate) {
		t.Errorf("ClearPromotion without candidates = %v", err)
	}
	if c, src := plain.Promoted(); c != "" || src != breaker.ModeSourceConfig {
		t.Errorf("Promoted without candidates = %q %q", c, src)
	}
}
