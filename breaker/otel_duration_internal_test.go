package breaker

import (
	"context"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"pgregory.net/rapid"
)

// spread's values fall in their buckets (as the SDK buckets them) and add up
// to the sum of the durations they stand for.
func TestSpreadKeepsBucketsAndSum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h durationHistogram
		n := rapid.IntRange(1, 50).Draw(t, "calls")
		for i := range n {
			// Durations from 0 to 2 minutes, often on a bucket bound.
			var d time.Duration
			if rapid.Bool().Draw(t, "on_bound") {
				d = time.Duration(durationBoundsNanos[rapid.IntRange(0, len(durationBoundsNanos)-1).Draw(t, "bound")])
			} else {
				d = time.Duration(rapid.Int64Range(0, int64(2*time.Minute)).Draw(t, "d"))
			}
			_ = i
			h.observe(d)
		}
		var delta durationSnapshot
		for i := range h.counts {
			delta.counts[i] = h.counts[i].Load()
		}
		delta.sum = h.sum.Load()
		v := spread(&delta)
		var sum float64
		for i, c := range delta.counts {
			if c == 0 {
				continue
			}
			if got := sort.SearchFloat64s(DurationBuckets, v[i]); got != i {
				t.Fatalf("bucket %d: value %v falls in bucket %d", i, v[i], got)
			}
			sum += float64(c) * v[i]
		}
		want := float64(delta.sum) / 1e9
		if math.Abs(sum-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("sum %v, want %v (counts %v, values %v)", sum, want, delta.counts, v)
		}
	})
}

func histogramPoints(t *testing.T, rd sdkmetric.Reader) map[string]metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != MetricCallDuration {
				continue
			}
			for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				o, _ := p.Attributes.Value(LabelOutcome)
				out[o.AsString()] = p
			}
		}
	}
	return out
}

// Two readers of one provider, one cumulative and one delta, collecting in
// turns: each sees every call once, in the breaker's own buckets, with the
// calls' real sum.
func TestDurationReplayEveryReaderEveryCall(t *testing.T) {
	cum := sdkmetric.NewManualReader()
	delta := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(cum), sdkmetric.WithReader(delta))
	defer mp.Shutdown(context.Background())
	reg, err := NewRegistry(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	b, err := reg.Register(Config{Name: "dep"})
	if err != nil {
		t.Fatal(err)
	}
	h := &b.durations[OutcomeSuccess]
	var deltaCount uint64
	var deltaSum float64
	rounds := [][]time.Duration{
		{time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond, 300 * time.Millisecond},
		{61 * time.Second, 0, 10 * time.Second},
		{},
		{2 * time.Millisecond, 2 * time.Millisecond, 90 * time.Second},
	}
	for i, ds := range rounds {
		for _, d := range ds {
			h.observe(d)
		}
		// Alternate which reader collects first.
		first, second := sdkmetric.Reader(cum), sdkmetric.Reader(delta)
		if i%2 == 1 {
			first, second = second, first
		}
		pts := map[sdkmetric.Reader]map[string]metricdata.HistogramDataPoint[float64]{}
		pts[first] = histogramPoints(t, first)
		pts[second] = histogramPoints(t, second)

		var wantCounts []uint64
		var wantTotal uint64
		for j := range h.counts {
			wantCounts = append(wantCounts, h.counts[j].Load())
			wantTotal += h.counts[j].Load()
		}
		wantSum := time.Duration(h.sum.Load()).Seconds()
		c := pts[cum]["success"]
		if c.Count != wantTotal || !slices.Equal(c.BucketCounts, wantCounts) {
			t.Errorf("round %d cumulative: count %d buckets %v, want %d %v", i, c.Count, c.BucketCounts, wantTotal, wantCounts)
		}
		if math.Abs(c.Sum-wantSum) > 1e-9*math.Max(1, wantSum) {
			t.Errorf("round %d cumulative: sum %v, want %v", i, c.Sum, wantSum)
		}
		if d, ok := pts[delta]["success"]; ok {
			deltaCount += d.Count
			deltaSum += d.Sum
		}
		if deltaCount != wantTotal || math.Abs(deltaSum-wantSum) > 1e-9*math.Max(1, wantSum) {
			t.Errorf("round %d delta: running count %d sum %v, want %d %v", i, deltaCount, deltaSum, wantTotal, wantSum)
		}
	}
}

// A View that drops the call-duration histogram also spares collection the
// replay (one SDK Record per call); the other instruments are still read.
func TestDurationReplaySkippedWhenDropped(t *testing.T) {
	for _, drop := range []bool{false, true} {
		var opts []sdkmetric.Option
		rd := sdkmetric.NewManualReader()
		opts = append(opts, sdkmetric.WithReader(rd))
		if drop {
			opts = append(opts, sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: MetricCallDuration},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})))
		}
		mp := sdkmetric.NewMeterProvider(opts...)
		reg, err := NewRegistry(WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		b, err := reg.Register(Config{Name: "dep"})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := b.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		var rm metricdata.ResourceMetrics
		if err := rd.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		var replayed uint64
		for _, c := range b.durations[OutcomeSuccess].replayed.counts {
			replayed += c
		}
		names := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				names[m.Name] = true
			}
		}
		if want := map[bool]uint64{false: 3, true: 0}[drop]; replayed != want {
			t.Errorf("drop=%v: %d calls replayed, want %d", drop, replayed, want)
		}
		if names[MetricCallDuration] == drop || !names[MetricCalls] {
			t.Errorf("drop=%v: exported %v", drop, names)
		}
		_ = reg.Close()
		_ = mp.Shutdown(context.Background())
	}
}
