package breaker_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// A service's own MeterProvider: every series, the call-duration histogram
// included, reaches its readers with no other wiring. docs/opentelemetry.md
// quotes this example (TestDocQuotesOwnProviderExample checks it).
func Example_ownMeterProvider() {
	// In production: sdkmetric.NewPeriodicReader(exporter), with an OTLP
	// exporter from otlpmetrichttp.New or otlpmetricgrpc.New.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	b, _ := reg.Register(breaker.Config{Name: "payments_api"})
	_ = b.Execute(context.Background(), func(context.Context) error { return nil })

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				fmt.Println(m.Name, m.Unit, h.DataPoints[0].Count)
			}
		}
	}
	// Output:
	// circuit_breaker_call_duration_seconds s 1
}
