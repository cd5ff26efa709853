package bench

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/breakerwatch/breakerwatch/breaker"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// lateProducer forwards to a registry's Producer. A reader takes its
// producers when it is built, before the MeterProvider and so before the
// registry that the producer serves exist.
type lateProducer struct {
	reg atomic.Pointer[breaker.Registry]
}

func (p *lateProducer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	r := p.reg.Load()
	if r == nil {
		return nil, nil
	}
	return r.Producer().Produce(ctx)
}

// ManualPipeline is a breakerwatch registry on a real SDK MeterProvider read
// by a ManualReader that also reads the registry's producer.
type ManualPipeline struct {
	Registry *breaker.Registry
	Reader   *sdkmetric.ManualReader
	Provider *sdkmetric.MeterProvider
}

// NewManualPipeline builds the pipeline.
func NewManualPipeline(opts ...breaker.Option) (*ManualPipeline, error) {
	lp := &lateProducer{}
	rd := sdkmetric.NewManualReader(sdkmetric.WithProducer(lp))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	reg, err := breaker.NewRegistry(append([]breaker.Option{breaker.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		return nil, errors.Join(err, mp.Shutdown(context.Background()))
	}
	lp.reg.Store(reg)
	return &ManualPipeline{Registry: reg, Reader: rd, Provider: mp}, nil
}

// Close closes the registry and shuts the provider down.
func (p *ManualPipeline) Close() error {
	return errors.Join(p.Registry.Close(), p.Provider.Shutdown(context.Background()))
}
