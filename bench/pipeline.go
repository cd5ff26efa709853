package bench

import (
	"context"
	"errors"

	"github.com/breakerwatch/breakerwatch/breaker"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// ManualPipeline is a breakerwatch registry on a real SDK MeterProvider read
// by a plain ManualReader.
type ManualPipeline struct {
	Registry *breaker.Registry
	Reader   *sdkmetric.ManualReader
	Provider *sdkmetric.MeterProvider
}

// NewManualPipeline builds the pipeline.
func NewManualPipeline() (*ManualPipeline, error) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(mp))
	if err != nil {
		return nil, errors.Join(err, mp.Shutdown(context.Background()))
	}
	return &ManualPipeline{Registry: reg, Reader: rd, Provider: mp}, nil
}

// Close closes the registry and shuts the provider down.
func (p *ManualPipeline) Close() error {
	return errors.Join(p.Registry.Close(), p.Provider.Shutdown(context.Background()))
}
