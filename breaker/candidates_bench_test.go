package breaker_test

import (
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// BenchmarkExecuteCandidates is the cost of candidates on the call path: a
// monitor-mode breaker without candidates and the same with three (plus the
// shadow of its own setting), side by side. docs/benchmarks.md records it.
func BenchmarkExecuteCandidates(b *testing.B) {
	three := map[string]breaker.Candidate{
		"strict": {FailureThreshold: new(uint32(3))},
		"rate":   {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
		"slow":   {SlowCall: new(time.Second), Timeout: new(30 * time.Second)},
	}
	for _, bc := range []struct {
		name       string
		candidates map[string]breaker.Candidate
	}{{"none", nil}, {"three", three}} {
		b.Run(bc.name, func(b *testing.B) {
			benchExecute(b, breaker.Config{Name: "bench", Mode: breaker.ModeMonitor, Candidates: bc.candidates})
		})
	}
}
