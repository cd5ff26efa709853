package breaker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
	"pgregory.net/rapid"
)

// Monitor mode runs the same state machine as enforce: on the same call
// sequence (the same outcomes, the same ends of the open timeout) it goes
// through the same states, and counts as would-reject exactly the calls
// enforce rejects.
//
// The open timeout is an hour, so that no pause of a loaded machine ends it
// between the two breakers' calls; "wait" (the timeout ends) moves an open
// breaker to half-open with ForceHalfOpen, which is what the end of the
// timeout does (TestTransitions checks the real timeout in both modes).
func TestMonitorMatchesEnforce(t *testing.T) {
	const timeout = time.Hour
	rapid.Check(t, func(t *rapid.T) {
		threshold := rapid.Uint32Range(1, 4).Draw(t, "failure_threshold")
		probes := rapid.Uint32Range(1, 3).Draw(t, "half_open_requests")
		ops := rapid.SliceOfN(rapid.SampledFrom([]string{"ok", "fail", "fail", "ok", "wait"}), 1, 30).Draw(t, "ops")

		reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		cfg := breaker.Config{FailureThreshold: threshold, HalfOpenRequests: probes, Timeout: timeout}
		cfg.Name, cfg.Mode = "enforce", breaker.ModeEnforce
		enf, err := reg.Register(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Name, cfg.Mode = "monitor", breaker.ModeMonitor
		mon, err := reg.Register(cfg)
		if err != nil {
			t.Fatal(err)
		}

		var states []string
		for i, op := range ops {
			if op == "wait" {
				for _, b := range []*breaker.Breaker{enf, mon} {
					if b.State() == breaker.StateOpen && !b.ForceHalfOpen("open timeout elapsed") {
						t.Fatalf("op %d: ForceHalfOpen on open %s breaker failed", i, b.Mode())
					}
				}
			} else {
				fn := succeed
				if op == "fail" {
					fn = fail
				}
				monRan := false
				_ = enf.Execute(context.Background(), fn)
				_ = mon.Execute(context.Background(), func(ctx context.Context) error { monRan = true; return fn(ctx) })
				if !monRan {
					t.Fatalf("op %d: monitor mode blocked a call", i)
				}
			}
			es, ms := enf.State(), mon.State()
			states = append(states, fmt.Sprintf("%s:%v", op, es))
			if es != ms {
				t.Fatalf("op %d (%s): enforce %v, monitor %v; history %v", i, op, es, ms, states)
			}
		}
		ec, mc := enf.Snapshot().Counts, mon.Snapshot().Counts
		if ec.Rejected != mc.WouldReject {
			t.Fatalf("enforce rejected %d, monitor would-reject %d; history %v", ec.Rejected, mc.WouldReject, states)
		}
		if mc.Rejected != 0 || ec.WouldReject != 0 {
			t.Fatalf("enforce %+v, monitor %+v", ec, mc)
		}
		if ran := mc.Success + mc.Failure; ran != uint64(len(ops)-waits0(ops)) {
			t.Fatalf("monitor ran %d calls of %d", ran, len(ops)-waits0(ops))
		}
	})
}

func waits0(ops []string) int {
	n := 0
	for _, op := range ops {
		if op == "wait" {
			n++
		}
	}
	return n
}
