package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// contractTraffic registers two breakers and a chain on reg and calls them
// so that every breaker and fallback series of the metric contract exists.
func contractTraffic(t *testing.T, reg *breaker.Registry, ctx context.Context) {
	t.Helper()
	primary := mustRegister(t, reg, breaker.Config{Name: "primary", FailureThreshold: 1})
	mustRegister(t, reg, breaker.Config{Name: "backup", Mode: breaker.ModeMonitor, SlowCall: time.Nanosecond})
	_ = primary.Execute(ctx, succeed)
	ch, err := reg.NewChain("primary", "backup")
	if err != nil {
		t.Fatal(err)
	}
	// The primary fails and trips; the backup serves.
	if _, err := breaker.CallChain(ctx, ch, func(_ context.Context, m *breaker.Breaker) (int, error) {
		if m.Name() == "primary" {
			return 0, errDown
		}
		return 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Rejected by the open primary.
	if err := primary.Execute(ctx, succeed); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("want the open primary to reject, got %v", err)
	}
}

// contractNames are the series every breaker reports, and the fallback
// counter of a chain that was served by a fallback.
var contractNames = []string{
	breaker.MetricState, breaker.MetricErrorRate, breaker.MetricLatencyP50, breaker.MetricLatencyP95,
	breaker.MetricLatencyP99, breaker.MetricCalls, breaker.MetricWouldReject, breaker.MetricSlowCalls,
	breaker.MetricCallDuration, breaker.MetricTransitions, breaker.MetricFallbacks,
}

// Regression: with a provider of the user's own (a plain ManualReader, no
// producer), the call-duration histogram was missing; it was served only by
// Registry.Producer, which a reader built before the registry could not get.
func TestUserProviderManualReaderGetsEverySeries(t *testing.T) {
	reg, reader := newMeteredRegistry(t)
	contractTraffic(t, reg, context.Background())
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	for _, name := range contractNames {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from the user's reader", name)
		}
	}
	h, ok := got[breaker.MetricCallDuration].Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, want a float64 histogram", breaker.MetricCallDuration, got[breaker.MetricCallDuration].Data)
	}
	counts := map[string]uint64{}
	for _, p := range h.DataPoints {
		n, _ := p.Attributes.Value(breaker.LabelName)
		o, _ := p.Attributes.Value(breaker.LabelOutcome)
		counts[n.AsString()+"/"+o.AsString()] = p.Count
	}
	want := map[string]uint64{"primary/success": 1, "primary/failure": 1, "backup/success": 1} // the backup's call is slow (> 1ns)
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("histogram %s count %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
}

// The same through an OTLP/HTTP exporter on a periodic reader, as a service
// configures it, to a real receiver that decodes the protobuf.
func TestUserProviderOTLPExporterGetsEverySeries(t *testing.T) {
	rcv := testutil.NewOTLPHTTPReceiver(t)
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(rcv.Endpoint+"/v1/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	// A long interval: the test exports with ForceFlush.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	contractTraffic(t, reg, ctx)
	if err := mp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	e := rcv.WaitFor(t, 10*time.Second, func(testutil.OTLPExport) bool { return true })
	names := map[string]bool{}
	var hist bool
	for _, p := range testutil.Points(e.Request) {
		names[p.Name] = true
		if p.Series() == breaker.MetricCallDuration+"{name=primary,outcome=failure}" {
			hist = true
			if p.Kind != "histogram" || p.Unit != breaker.UnitSeconds || p.Count != 1 || len(p.Bounds) != len(breaker.DurationBuckets) {
				t.Errorf("histogram point %+v", p)
			}
		}
	}
	if !hist {
		t.Error("no call-duration point for the primary's failure")
	}
	for _, name := range contractNames {
		if !names[name] {
			t.Errorf("%s missing from the OTLP export", name)
		}
	}
	if err := errors.Join(reg.Close(), mp.Shutdown(ctx)); err != nil {
		t.Fatal(err)
	}
}

// A call whose context carries a sampled span leaves an exemplar with its
// trace and span on the call-duration histogram; unsampled or no span, none.
func TestCallDurationExemplars(t *testing.T) {
	reg, reader := newMeteredRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "dep"})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid}))
	_ = b.Execute(unsampled, fail)
	_ = b.Execute(context.Background(), fail)
	_ = b.Execute(sampled, func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil })

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != breaker.MetricCallDuration {
				continue
			}
			for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				o, _ := p.Attributes.Value(breaker.LabelOutcome)
				switch o.AsString() {
				case breaker.OutcomeFailureValue:
					if len(p.Exemplars) != 0 {
						t.Errorf("failures without a sampled span have exemplars: %+v", p.Exemplars)
					}
				case breaker.OutcomeSuccessValue:
					if len(p.Exemplars) != 1 {
						t.Fatalf("success: %d exemplars, want 1", len(p.Exemplars))
					}
					ex := p.Exemplars[0]
					found = true
					if string(ex.TraceID) != string(tid[:]) || string(ex.SpanID) != string(sid[:]) {
						t.Errorf("exemplar trace %x span %x, want %s %s", ex.TraceID, ex.SpanID, tid, sid)
					}
					if ex.Value < 0.002 || ex.Value > p.Sum+1e-12 {
						t.Errorf("exemplar value %v: not the call's duration (>= 2ms, <= sum %v)", ex.Value, p.Sum)
					}
				}
			}
		}
	}
	if !found {
		t.Error("no success data point")
	}
}
