package bench

import (
	"context"
	"errors"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
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
func NewManualPipeline(opts ...breaker.Option) (*ManualPipeline, error) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	reg, err := breaker.NewRegistry(append([]breaker.Option{breaker.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		return nil, errors.Join(err, mp.Shutdown(context.Background()))
	}
	return &ManualPipeline{Registry: reg, Reader: rd, Provider: mp}, nil
}

// Close closes the registry and shuts the provider down.
func (p *ManualPipeline) Close() error {
	return errors.Join(p.Registry.Close(), p.Provider.Shutdown(context.Background()))
}

// NewOTLPPipeline is a breakerwatch registry on a MeterProvider whose only
// reader is a periodic reader with an OTLP/HTTP exporter to endpoint (a URL
// such as http://127.0.0.1:4318/v1/metrics), exporting every interval: the
// set-up of a service that pushes OTLP. Close shuts it down (a last export).
func NewOTLPPipeline(endpoint string, interval time.Duration) (*OTLPPipeline, error) {
	exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))))
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(mp))
	if err != nil {
		return nil, errors.Join(err, mp.Shutdown(context.Background()))
	}
	return &OTLPPipeline{Registry: reg, Provider: mp}, nil
}

// OTLPPipeline is what NewOTLPPipeline builds.
type OTLPPipeline struct {
	Registry *breaker.Registry
	Provider *sdkmetric.MeterProvider
}

// Close closes the registry and shuts the provider down.
func (p *OTLPPipeline) Close() error {
	return errors.Join(p.Registry.Close(), p.Provider.Shutdown(context.Background()))
}
