package bench

import (
	"testing"
	"time"
)

var sinkTime time.Time
var sinkDur time.Duration

// BenchmarkClock: the clock reads that dominate every contender's call path
// on this machine. time.Now reads the wall and the monotonic clock;
// time.Since of a time that carries a monotonic reading reads only the
// monotonic one.
func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			sinkTime = time.Now()
		}
	})
	b.Run("time.Since", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			sinkDur = time.Since(start)
		}
	})
}
