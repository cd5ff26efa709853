package breaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

var errDown = errors.New("service down")

func newRegistry(t testing.TB, opts ...breaker.Option) *breaker.Registry {
	t.Helper()
	opts = append([]breaker.Option{breaker.WithMeterProvider(noop.NewMeterProvider())}, opts...)
	reg, err := breaker.NewRegistry(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// newMeteredRegistry returns a registry on a real SDK MeterProvider and the
// in-memory reader that collects it: a plain reader, with nothing of
// breakerwatch's, as a user's own provider has.
func newMeteredRegistry(t testing.TB, opts ...breaker.Option) (*breaker.Registry, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Errorf("meter provider shutdown: %v", err)
		}
	})
	opts = append([]breaker.Option{breaker.WithMeterProvider(mp)}, opts...)
	r, err := breaker.NewRegistry(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registry close: %v", err)
		}
	})
	return r, reader
}

func mustRegister(t testing.TB, reg *breaker.Registry, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	b, err := reg.Register(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fail(context.Context) error    { return errDown }
func succeed(context.Context) error { return nil }
