package breaker_test

import (
	"context"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
)

// BenchmarkExecute is the in-package check that the call path allocates
// nothing; the comparison against peers is in the bench module.
func BenchmarkExecute(b *testing.B) {
	for _, mode := range []breaker.Mode{breaker.ModeEnforce, breaker.ModeMonitor, breaker.ModeDisabled} {
		b.Run(mode.String(), func(b *testing.B) {
			benchExecute(b, breaker.Config{Name: "bench", Mode: mode})
		})
	}
	b.Run("typed", func(b *testing.B) {
		reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
		defer reg.Close()
		br, _ := reg.Register(breaker.Config{Name: "bench"})
		t := breaker.Of[int](br)
		ctx := context.Background()
		fn := func(context.Context) (int, error) { return 1, nil }
		b.ReportAllocs()
		for b.Loop() {
			if _, err := t.Execute(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchExecute measures Execute of a trivial function on a breaker built
// from cfg, in a registry with a no-op MeterProvider.
func benchExecute(b *testing.B, cfg breaker.Config) {
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	br, err := reg.Register(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Execute(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}
