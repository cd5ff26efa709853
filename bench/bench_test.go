package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The benchmarks are only fair if every contender does the work it claims:
// these tests check that the calls were counted and timed.

const calls = 7

func run(t *testing.T, e Executor) {
	t.Helper()
	for range calls {
		if err := e.Execute(context.Background(), succeed); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGobreakerPromRecords(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	g, err := NewGobreakerProm("dep", reg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	if got := testutil.ToFloat64(g.success); got != calls {
		t.Errorf("success counter = %v, want %d", got, calls)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, mf := range mfs {
		if mf.GetName() == breaker.MetricCallDuration {
			for _, m := range mf.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if count != calls {
		t.Errorf("histogram count = %d, want %d", count, calls)
	}
}

// collect returns the sum of counter points and the count of histogram
// points named calls and duration in rm.
func collect(t *testing.T, rd *sdkmetric.ManualReader) (counter int64, hist uint64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == breaker.MetricCalls {
					for _, p := range d.DataPoints {
						counter += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				if m.Name == breaker.MetricCallDuration {
					for _, p := range d.DataPoints {
						hist += p.Count
					}
				}
			}
		}
	}
	return counter, hist
}

func TestGobreakerOTelRecords(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer mp.Shutdown(context.Background())
	g, err := NewGobreakerOTel("dep", mp)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	if c, h := collect(t, rd); c != calls || h != calls {
		t.Errorf("counter %d, histogram count %d; want %d each", c, h, calls)
	}
}

func TestBreakerwatchRecords(t *testing.T) {
	for _, mode := range []breaker.Mode{breaker.ModeEnforce, breaker.ModeMonitor, breaker.ModeDisabled} {
		t.Run(mode.String(), func(t *testing.T) {
			p, err := NewManualPipeline()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			br, err := p.Registry.Register(breaker.Config{Name: "dep", Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			run(t, br)
			if c, h := collect(t, p.Reader); c != calls || h != calls {
				t.Errorf("counter %d, histogram count %d; want %d each", c, h, calls)
			}
		})
	}
}

func TestPeersSucceed(t *testing.T) {
	for _, c := range contenders {
		t.Run(c.name, func(t *testing.T) { run(t, c.new(t)) })
	}
}

func TestScrape(t *testing.T) {
	body := scrape(t, newScrapeFixture(t, 3))
	for _, want := range []string{
		`circuit_breaker_calls_total{name="dep_0002",outcome="success"} 10`,
		`circuit_breaker_calls_total{name="dep_0002",outcome="failure"} 1`,
		`circuit_breaker_call_duration_seconds_count{name="dep_0000",outcome="success"} 10`,
		`circuit_breaker_state{mode="enforce",name="dep_0001"} 0`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(string(body), "otel_scope_name") {
		t.Error("scrape has scope labels")
	}
}
