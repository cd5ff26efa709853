package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
)

// A breaker in monitor mode with two candidate settings, fed bursts of four
// failures and a success: its own threshold (5) never opens; threshold 3
// would have rejected the calls after the third failure, successes too.
func ExampleBreaker_Tune() {
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Close()
	b, err := reg.Register(breaker.Config{
		Name: "openai_api", Mode: breaker.ModeMonitor, FailureThreshold: 5, Timeout: time.Minute,
		Candidates: map[string]breaker.Candidate{
			"strict": {FailureThreshold: new(uint32(3))},
			"rate":   {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	down := errors.New("503")
	for i := range 10 {
		_ = b.Execute(context.Background(), func(context.Context) error {
			if i%5 == 4 {
				return nil
			}
			return down
		})
	}
	r, _ := b.Tune()
	for _, s := range r.Settings {
		fmt.Printf("%-7s opened %d, would reject %d (%d failed, %d succeeded)\n",
			s.Name, s.Opened, s.WouldReject, s.WouldRejectFailed, s.WouldRejectSucceeded)
	}
	// Output:
	// current opened 0, would reject 0 (0 failed, 0 succeeded)
	// rate    opened 0, would reject 0 (0 failed, 0 succeeded)
	// strict  opened 1, would reject 7 (5 failed, 2 succeeded)
}
