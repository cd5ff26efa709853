package breaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
)

// The seed document's own check: failure_threshold 3, min_throughput 1, five
// failing calls give three failures that ran, then two rejections that never
// ran the function, and the breaker is open.
func TestSeedCircuitOpening(t *testing.T) {
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	b, err := reg.Register(breaker.Config{Name: "test", FailureThreshold: 3, MinThroughput: 1})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("Service down")
	ran := 0
	var errs []error
	for range 5 {
		errs = append(errs, b.Execute(context.Background(), func(context.Context) error {
			ran++
			return down
		}))
	}
	if ran != 3 {
		t.Errorf("function ran %d times, want 3", ran)
	}
	for i, err := range errs[:3] {
		if !errors.Is(err, down) {
			t.Errorf("call %d: err = %v, want the function's error", i+1, err)
		}
	}
	for i, err := range errs[3:] {
		var rej *breaker.RejectedError
		if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &rej) || rej.Name != "test" {
			t.Errorf("call %d: err = %v, want a rejection by %q matching ErrOpen", i+4, err, "test")
		}
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("final state = %v, want open", s)
	}
	snap := b.Snapshot()
	if snap.Counts.Failure != 3 || snap.Counts.Rejected != 2 {
		t.Errorf("counts = %+v, want 3 failures and 2 rejections", snap.Counts)
	}
}
