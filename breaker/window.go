package breaker

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The rolling window: a ring of buckets, each covering Config.Bucket of time,
// holding call counts and a latency histogram. Writers add with atomics and
// never lock; readers (collection, snapshots) sum the buckets that are still
// inside the window. A bucket is recycled by the first writer that sees it
// carry an older epoch: writes racing with the recycle may be lost, which
// bounds the error to a few calls at bucket boundaries.

// Latency buckets are log-linear in units of 16 µs: the first 4 units (up to
// 64 µs) each have a bucket, then every power of two is split into 4
// sub-buckets (relative error under 12.5%), up to 2^23 units (134 s); longer
// calls land in the last one.
const (
	latUnit       = 16 * time.Microsecond
	latSubBits    = 2
	latSub        = 1 << latSubBits
	latMaxExp     = 23
	latNumBuckets = latSub + (latMaxExp-latSubBits)*latSub
)

func latencyIndex(d time.Duration) int {
	us := uint64(d / latUnit)
	if d < 0 {
		us = 0
	}
	if us < latSub {
		return int(us)
	}
	e := bits.Len64(us) - 1 // us in [2^e, 2^(e+1))
	sub := int(us>>(uint(e)-latSubBits)) & (latSub - 1)
	i := latSub + (e-latSubBits)*latSub + sub
	if i >= latNumBuckets {
		return latNumBuckets - 1
	}
	return i
}

// latencyBounds returns bucket i's range in milliseconds [lo, hi).
func latencyBounds(i int) (lo, hi float64) {
	const unitMs = float64(latUnit) / float64(time.Millisecond)
	if i < latSub {
		return float64(i) * unitMs, float64(i+1) * unitMs
	}
	e := (i-latSub)/latSub + latSubBits
	sub := (i - latSub) % latSub
	step := float64(uint64(1) << uint(e-latSubBits))
	lo = float64(latSub+sub) * step
	return lo * unitMs, (lo + step) * unitMs
}

type windowBucket struct {
	epoch     atomic.Int64 // bucket number since the window's start; -1 = never used
	successes atomic.Uint32
	failures  atomic.Uint32
	ignored   atomic.Uint32
	rejected  atomic.Uint32
	slow      atomic.Uint32
	latency   [latNumBuckets]atomic.Uint32
}

func (b *windowBucket) clear() {
	b.successes.Store(0)
	b.failures.Store(0)
	b.ignored.Store(0)
	b.rejected.Store(0)
	b.slow.Store(0)
	for i := range b.latency {
		b.latency[i].Store(0)
	}
}

type window struct {
	start   time.Time
	bucket  time.Duration
	buckets []windowBucket
}

func newWindow(now time.Time, bucket time.Duration, n int) *window {
	w := &window{start: now, bucket: bucket, buckets: make([]windowBucket, n)}
	for i := range w.buckets {
		w.buckets[i].epoch.Store(-1)
	}
	return w
}

func (w *window) epoch(now time.Time) int64 {
	e := int64(now.Sub(w.start) / w.bucket)
	if e < 0 {
		return 0
	}
	return e
}

// current returns the bucket for now, recycling it if it holds an older epoch.
func (w *window) current(now time.Time) *windowBucket {
	e := w.epoch(now)
	b := &w.buckets[e%int64(len(w.buckets))]
	old := b.epoch.Load()
	if old < e && b.epoch.CompareAndSwap(old, e) {
		b.clear()
	}
	return b
}

// record adds one finished call to the window.
func (w *window) record(now time.Time, o Outcome, d time.Duration, slow bool) {
	b := w.current(now)
	switch o {
	case OutcomeSuccess:
		b.successes.Add(1)
	case OutcomeFailure:
		b.failures.Add(1)
	case OutcomeIgnored:
		b.ignored.Add(1)
		return
	case OutcomeRejected:
		b.rejected.Add(1)
		return
	}
	if slow {
		b.slow.Add(1)
	}
	b.latency[latencyIndex(d)].Add(1)
}

// WindowStats summarises the calls in a breaker's window.
type WindowStats struct {
	Successes uint64 `json:"successes"`
	Failures  uint64 `json:"failures"`
	Ignored   uint64 `json:"ignored"`
	Rejected  uint64 `json:"rejected"`
	Slow      uint64 `json:"slow"`
	// ErrorRate is Failures / (Successes + Failures), 0 with no calls.
	ErrorRate float64 `json:"error_rate"`
	// P50, P95 and P99 are latency percentiles in milliseconds of the calls
	// that ran (successes and failures), 0 with no calls.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

// stats sums the buckets inside the window at now.
func (w *window) stats(now time.Time) WindowStats {
	var s WindowStats
	var hist [latNumBuckets]uint64
	cur := w.epoch(now)
	oldest := cur - int64(len(w.buckets)) + 1
	for i := range w.buckets {
		b := &w.buckets[i]
		if e := b.epoch.Load(); e < oldest || e > cur {
			continue
		}
		s.Successes += uint64(b.successes.Load())
		s.Failures += uint64(b.failures.Load())
		s.Ignored += uint64(b.ignored.Load())
		s.Rejected += uint64(b.rejected.Load())
		s.Slow += uint64(b.slow.Load())
		for j := range b.latency {
			hist[j] += uint64(b.latency[j].Load())
		}
	}
	if ran := s.Successes + s.Failures; ran > 0 {
		s.ErrorRate = float64(s.Failures) / float64(ran)
	}
	s.P50 = quantile(&hist, 0.50)
	s.P95 = quantile(&hist, 0.95)
	s.P99 = quantile(&hist, 0.99)
	return s
}

// quantile returns the q-quantile in milliseconds, interpolating linearly
// inside the bucket that holds it; 0 for an empty histogram.
func quantile(hist *[latNumBuckets]uint64, q float64) float64 {
	var total uint64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range hist {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := latencyBounds(i)
			return lo + (hi-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	lo, _ := latencyBounds(latNumBuckets - 1)
	return lo
}
