package breaker_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect flattens one collection into "name{k=v,...} value" lines, sorted.
// Histograms give name_count and name_sum{...} lines; gauges in milliseconds
// (latency) are left out unless keepLatency.
func collect(t *testing.T, reader interface {
	Collect(context.Context, *metricdata.ResourceMetrics) error
}, keepLatency bool) []string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var lines []string
	labels := func(s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
		}
		return "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != breaker.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, breaker.ScopeName)
		}
		for _, m := range sm.Metrics {
			if !keepLatency && strings.HasPrefix(m.Name, "circuit_breaker_latency_") {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, labels(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %g", m.Name, labels(p.Attributes), p.Value))
				}
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: want a cumulative monotonic sum", m.Name)
				}
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, labels(p.Attributes), p.Value))
				}
			case metricdata.Histogram[float64]:
				if m.Unit != "s" {
					t.Errorf("%s: unit %q, want s", m.Name, m.Unit)
				}
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s_count%s %d", m.Name, labels(p.Attributes), p.Count))
					if fmt.Sprint(p.Bounds) != fmt.Sprint(breaker.DurationBuckets) {
						t.Errorf("%s: bounds %v", m.Name, p.Bounds)
					}
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	sort.Strings(lines)
	return lines
}

func TestMetricOutput(t *testing.T) {
	reg, reader := newMeteredRegistry(t)
	enf := mustRegister(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 2, Timeout: time.Minute})
	mon := mustRegister(t, reg, breaker.Config{Name: "meta_api", Mode: breaker.ModeMonitor, FailureThreshold: 1, Timeout: time.Minute})
	ctx := context.Background()
	_ = enf.Execute(ctx, succeed)
	_ = enf.Execute(ctx, fail)
	_ = enf.Execute(ctx, fail)    // trips
	_ = enf.Execute(ctx, succeed) // rejected
	_ = mon.Execute(ctx, fail)    // trips the virtual breaker
	_ = mon.Execute(ctx, succeed) // would-reject, runs
	_ = mon.Execute(ctx, succeed) // would-reject, runs

	want := []string{
		"circuit_breaker_call_duration_seconds_count{name=meta_api,outcome=failure} 1",
		"circuit_breaker_call_duration_seconds_count{name=meta_api,outcome=success} 2",
		"circuit_breaker_call_duration_seconds_count{name=openai_api,outcome=failure} 2",
		"circuit_breaker_call_duration_seconds_count{name=openai_api,outcome=success} 1",
		"circuit_breaker_calls_total{name=meta_api,outcome=failure} 1",
		"circuit_breaker_calls_total{name=meta_api,outcome=ignored} 0",
		"circuit_breaker_calls_total{name=meta_api,outcome=rejected} 0",
		"circuit_breaker_calls_total{name=meta_api,outcome=success} 2",
		"circuit_breaker_calls_total{name=openai_api,outcome=failure} 2",
		"circuit_breaker_calls_total{name=openai_api,outcome=ignored} 0",
		"circuit_breaker_calls_total{name=openai_api,outcome=rejected} 1",
		"circuit_breaker_calls_total{name=openai_api,outcome=success} 1",
		"circuit_breaker_error_rate{name=meta_api} 0.3333333333333333",
		"circuit_breaker_error_rate{name=openai_api} 0.6666666666666666",
		"circuit_breaker_slow_calls_total{name=meta_api} 0",
		"circuit_breaker_slow_calls_total{name=openai_api} 0",
		"circuit_breaker_state{mode=enforce,name=openai_api} 2",
		"circuit_breaker_state{mode=monitor,name=meta_api} 2",
		"circuit_breaker_transitions_total{from=closed,name=meta_api,to=open} 1",
		"circuit_breaker_transitions_total{from=closed,name=openai_api,to=open} 1",
		"circuit_breaker_transitions_total{from=half-open,name=meta_api,to=closed} 0",
		"circuit_breaker_transitions_total{from=half-open,name=meta_api,to=open} 0",
		"circuit_breaker_transitions_total{from=half-open,name=openai_api,to=closed} 0",
		"circuit_breaker_transitions_total{from=half-open,name=openai_api,to=open} 0",
		"circuit_breaker_transitions_total{from=open,name=meta_api,to=half-open} 0",
		"circuit_breaker_transitions_total{from=open,name=openai_api,to=half-open} 0",
		"circuit_breaker_would_reject_total{name=meta_api} 2",
		"circuit_breaker_would_reject_total{name=openai_api} 0",
	}
	got := collect(t, reader, false)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A mode switch moves the state series to the new mode label; a reset
	// adds its transition and keeps the counters.
	_ = reg.SetMode("meta_api", breaker.ModeEnforce)
	_ = reg.Reset("openai_api")
	got = collect(t, reader, false)
	for _, line := range []string{
		"circuit_breaker_state{mode=enforce,name=meta_api} 2",
		"circuit_breaker_state{mode=enforce,name=openai_api} 0",
		"circuit_breaker_transitions_total{from=open,name=openai_api,to=closed} 1",
		"circuit_breaker_calls_total{name=openai_api,outcome=failure} 2",
	} {
		if !contains(got, line) {
			t.Errorf("after mode switch and reset, missing %q in\n%s", line, strings.Join(got, "\n"))
		}
	}
	if contains(got, "circuit_breaker_state{mode=monitor,name=meta_api} 2") {
		t.Error("the old mode's state series is still reported")
	}
}

func TestMetricStateBeforeFirstCallAndLazyHalfOpen(t *testing.T) {
	const timeout = 500 * time.Millisecond
	reg, reader := newMeteredRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1, Timeout: timeout})
	// held trips like dep but stays open for an hour: its state after the
	// trip is checked whatever the machine's delays (dep's open state can
	// last only until its timeout, which a stalled machine may let pass
	// before the collection).
	held := mustRegister(t, reg, breaker.Config{Name: "held", FailureThreshold: 1, Timeout: time.Hour})
	if got := collect(t, reader, true); !contains(got, "circuit_breaker_state{mode=enforce,name=dep} 0") ||
		!contains(got, "circuit_breaker_latency_p95{name=dep} 0") || !contains(got, "circuit_breaker_error_rate{name=dep} 0") {
		t.Errorf("before the first call:\n%s", strings.Join(got, "\n"))
	}
	_ = b.Execute(context.Background(), fail)
	tripped := time.Now() // the open timeout began before this
	_ = held.Execute(context.Background(), fail)
	if got := collect(t, reader, false); !contains(got, "circuit_breaker_state{mode=enforce,name=held} 2") ||
		!contains(got, "circuit_breaker_transitions_total{from=closed,name=dep,to=open} 1") {
		t.Errorf("after tripping:\n%s", strings.Join(got, "\n"))
	}
	// No traffic: once the timeout has ended, collection alone shows the
	// lazy open -> half-open change.
	time.Sleep(time.Until(tripped.Add(timeout + time.Millisecond)))
	if got := collect(t, reader, false); !contains(got, "circuit_breaker_state{mode=enforce,name=dep} 1") ||
		!contains(got, "circuit_breaker_transitions_total{from=open,name=dep,to=half-open} 1") ||
		!contains(got, "circuit_breaker_state{mode=enforce,name=held} 2") {
		t.Errorf("after the timeout with no traffic:\n%s", strings.Join(got, "\n"))
	}
}

func TestMetricLatencyPercentiles(t *testing.T) {
	const sleep = 30 * time.Millisecond
	reg, reader := newMeteredRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep"})
	// Each call takes at least sleep and at most what the caller saw:
	// scheduling delays can only lengthen it.
	var longest time.Duration
	for range 4 {
		start := time.Now()
		_ = b.Execute(context.Background(), func(context.Context) error { time.Sleep(sleep); return nil })
		longest = max(longest, time.Since(start))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != breaker.MetricLatencyP95 {
				continue
			}
			v := m.Data.(metricdata.Gauge[float64]).DataPoints[0].Value
			// In milliseconds, within the log-linear buckets' width (a
			// bucket spans at most a quarter of its lower bound) of the
			// calls' durations.
			lo, hi := ms(sleep)*4/5, ms(longest)*5/4
			if v < lo || v > hi {
				t.Errorf("p95 = %v ms, want within [%.3g, %.3g] (calls of %v to %v)", v, lo, hi, sleep, longest)
			}
			return
		}
	}
	t.Error("no p95 series")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestRegistryCloseStopsReporting(t *testing.T) {
	reg, reader := newMeteredRegistry(t)
	mustRegister(t, reg, breaker.Config{Name: "dep"})
	if len(collect(t, reader, true)) == 0 {
		t.Fatal("nothing collected")
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader, true); len(got) != 0 {
		t.Errorf("after Close:\n%s", strings.Join(got, "\n"))
	}
	if _, err := reg.Register(breaker.Config{Name: "late"}); err == nil {
		t.Error("Register after Close succeeded")
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
