package breaker

import (
	"context"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// The call-duration histogram reaches the MeterProvider the registry was
// given, and so every reader of it, as an ordinary synchronous
// Float64Histogram. Recording into it on the call path would cost more than
// the breaker itself (dependencies.md measures ~135 ns a Record), so the call
// path only adds to the breaker's atomic bucket counts, and collection
// replays what was added since the previous collection: for each bucket, as
// many Record calls as calls landed in it, with values inside the bucket
// chosen so that the recorded sum equals the calls' real sum.
//
// The replay runs in the registry's metric callback, which the SDK runs at
// the start of every collection, before it aggregates synchronous
// instruments: a collection sees every call that finished before it began.
// A Record reaches every reader of the provider, so the delta is replayed
// once, whichever reader collects first, and every reader (cumulative or
// delta temporality) ends up with each call exactly once.
//
// What differs from recording each call as it happens: the histogram's
// min and max are bucket edges rather than real extremes, and a series
// appears at the first collection after its first call rather than at
// registration. With boundaries other than DurationBuckets (a View, or an
// exponential histogram) calls are re-bucketed from breakerwatch's buckets.

// durationSnapshot is a durationHistogram's counts and sum at one moment.
type durationSnapshot struct {
	counts [len(durationBoundsNanos) + 1]uint64
	sum    int64 // nanoseconds
}

// exemplarSlots hold, per bucket, the last call with a sampled span that
// the next collection has not yet turned into an exemplar.
type exemplarSlots struct {
	mu    sync.Mutex
	slots [len(durationBoundsNanos) + 1]exemplar
}

type exemplar struct {
	fresh   bool
	d       time.Duration
	traceID trace.TraceID
	spanID  trace.SpanID
}

// keepExemplar remembers the call in bucket i, of duration d, made under
// the sampled span sc. Only calls with a sampled span pay for it.
func (h *durationHistogram) keepExemplar(i int, d time.Duration, sc trace.SpanContext) {
	ex := h.exemplars.Load()
	if ex == nil {
		h.exemplars.CompareAndSwap(nil, &exemplarSlots{})
		ex = h.exemplars.Load()
	}
	ex.mu.Lock()
	ex.slots[i] = exemplar{fresh: true, d: d, traceID: sc.TraceID(), spanID: sc.SpanID()}
	ex.mu.Unlock()
}

// takeExemplars returns the fresh exemplars of the buckets that have calls
// in delta, marking them taken. An exemplar whose call is not in delta yet
// (its count was added after delta was read) waits for the next collection.
func (h *durationHistogram) takeExemplars(delta *durationSnapshot) (out [len(durationBoundsNanos) + 1]exemplar) {
	ex := h.exemplars.Load()
	if ex == nil {
		return out
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for i := range ex.slots {
		if ex.slots[i].fresh && delta.counts[i] > 0 {
			out[i] = ex.slots[i]
			ex.slots[i].fresh = false
		}
	}
	return out
}

// replayDurations records on ins.duration the calls of b that finished
// since the last replay. The caller holds ins.replayMu.
func (ins *instruments) replayDurations(b *Breaker) {
	for _, oc := range histogramOutcomes {
		h := &b.durations[oc]
		var cur, delta durationSnapshot
		// Counts before the sum: a call in flight between the two reads
		// has its count without its duration; clamping below absorbs it
		// and the next replay's sum includes it.
		n := uint64(0)
		for i := range h.counts {
			cur.counts[i] = h.counts[i].Load()
			delta.counts[i] = cur.counts[i] - h.replayed.counts[i]
			n += delta.counts[i]
		}
		if n == 0 {
			continue
		}
		cur.sum = h.sum.Load()
		delta.sum = cur.sum - h.replayed.sum
		h.replayed = cur

		// One options slice for all the Records: a variadic argument
		// built per call would allocate per call.
		opts := []metric.RecordOption{b.attrs.calls[oc]}
		exs := h.takeExemplars(&delta)
		for i := range exs {
			e := &exs[i]
			if !e.fresh {
				continue
			}
			ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: e.traceID, SpanID: e.spanID, TraceFlags: trace.FlagsSampled,
			}))
			ins.duration.Record(ctx, clampToBucket(i, e.d.Seconds()), opts...)
			delta.counts[i]--
			delta.sum -= int64(e.d)
		}
		values := spread(&delta)
		for i, c := range delta.counts {
			for range c {
				ins.duration.Record(context.Background(), values[i], opts...)
			}
		}
	}
}

// bucketLow and bucketHigh are the smallest and largest values, in seconds,
// that fall into each bucket: buckets are (previous bound, bound], the
// first starts at 0 and the last has no upper bound.
var bucketLow, bucketHigh = func() (lo, hi [len(durationBoundsNanos) + 1]float64) {
	for i := range lo {
		if i > 0 {
			lo[i] = math.Nextafter(DurationBuckets[i-1], math.Inf(1))
		}
		if i < len(DurationBuckets) {
			hi[i] = DurationBuckets[i]
		} else {
			hi[i] = math.Inf(1)
		}
	}
	return lo, hi
}()

func clampToBucket(i int, v float64) float64 {
	return min(max(v, bucketLow[i]), bucketHigh[i])
}

// spread returns, per bucket, the value to record delta.counts[i] times:
// inside the bucket, and such that the values add up to delta.sum. The real
// durations are one such choice, so one exists unless the counts and the sum
// were read while a call was being added; then the values are clamped to
// their buckets. Every bounded bucket takes the same fraction of its width,
// and the unbounded last bucket takes whatever is left above them.
func spread(delta *durationSnapshot) (v [len(durationBoundsNanos) + 1]float64) {
	last := len(delta.counts) - 1
	s := float64(delta.sum) / float64(time.Second)
	var lowSum, highSum, boundedHigh float64 // highSum: bounded buckets at their top, the last at its bottom
	for i, c := range delta.counts {
		n := float64(c)
		lowSum += n * bucketLow[i]
		if i < last {
			highSum += n * bucketHigh[i]
			boundedHigh += n * bucketHigh[i]
		} else {
			highSum += n * bucketLow[i]
		}
	}
	switch {
	case s <= lowSum:
		v = bucketLow
	case s >= highSum:
		v = bucketHigh
		v[last] = bucketLow[last]
		if c := delta.counts[last]; c > 0 {
			v[last] = (s - boundedHigh) / float64(c)
		}
	default:
		f := (s - lowSum) / (highSum - lowSum)
		for i := range v {
			if i < last {
				v[i] = bucketLow[i] + f*(bucketHigh[i]-bucketLow[i])
			} else {
				v[i] = bucketLow[i]
			}
		}
	}
	for i := range v {
		v[i] = clampToBucket(i, v[i])
	}
	return v
}

// newDurationHistogram creates the call-duration histogram with its buckets.
func newDurationHistogram(m metric.Meter) (metric.Float64Histogram, error) {
	return m.Float64Histogram(MetricCallDuration,
		metric.WithDescription("Duration of calls through the breaker that ran, by outcome."),
		metric.WithUnit(UnitSeconds),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
}
