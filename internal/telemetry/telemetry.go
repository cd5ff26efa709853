// Package telemetry builds the breakerwatch binary's OpenTelemetry parts
// beyond the breakers' own instruments: the resource that describes the
// process, the OTLP push (a periodic reader with an OTLP/HTTP or OTLP/gRPC
// exporter) configured by config.Telemetry, and the
// breakerwatch_build_info gauge.
package telemetry

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/version"
)

// ScopeName is the instrumentation scope of breakerwatch_build_info.
const ScopeName = "github.com/breakerwatch/breakerwatch/internal/telemetry"

// Resource attribute keys (OpenTelemetry semantic conventions) that carry
// the build information over OTLP.
const (
	AttrServiceName       = "service.name"
	AttrServiceVersion    = "service.version"
	AttrServiceInstanceID = "service.instance.id"
	AttrRevision          = "vcs.ref.head.revision"
	AttrGoVersion         = "process.runtime.version"
)

// Resource describes the process: service.name (t.ServiceName),
// service.version, vcs.ref.head.revision and process.runtime.version from
// in, service.instance.id (the host name unless t sets it), the SDK's
// telemetry.sdk.* attributes, then t.ResourceAttributes over all of them.
func Resource(t config.Telemetry, in version.Info) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		attribute.String(AttrServiceName, t.ServiceName),
		attribute.String(AttrServiceVersion, in.Version),
		attribute.String(AttrRevision, in.Revision),
		attribute.String(AttrGoVersion, in.GoVersion),
		attribute.String("process.runtime.name", "go"),
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		attrs = append(attrs, attribute.String(AttrServiceInstanceID, host))
	}
	for _, k := range slices.Sorted(maps.Keys(t.ResourceAttributes)) {
		attrs = append(attrs, attribute.String(k, t.ResourceAttributes[k]))
	}
	// Later attributes win: the user's over the defaults.
	r, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return r, nil
}

// NewOTLPReader returns a periodic reader that pushes to o's endpoint every
// o.Interval with the configured protocol, headers, timeout and
// temporality. Histograms keep the instrument's own buckets (the
// breakers' DurationBuckets). Shutting the MeterProvider down exports once
// more and flushes.
func NewOTLPReader(ctx context.Context, o *config.OTLP) (sdkmetric.Reader, error) {
	temporality := temporalitySelector(o.Temporality)
	var (
		exp sdkmetric.Exporter
		err error
	)
	switch o.Protocol {
	case config.ProtocolGRPC:
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpointURL(o.Endpoint.String()),
			otlpmetricgrpc.WithHeaders(o.Headers),
			otlpmetricgrpc.WithTimeout(o.Timeout),
			otlpmetricgrpc.WithTemporalitySelector(temporality),
		}
		if o.Endpoint.Scheme == "http" {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	default:
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithEndpointURL(o.Endpoint.String()),
			otlpmetrichttp.WithHeaders(o.Headers),
			otlpmetrichttp.WithTimeout(o.Timeout),
			otlpmetrichttp.WithTemporalitySelector(temporality),
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(o.Interval), sdkmetric.WithTimeout(o.Timeout)), nil
}

// temporalitySelector follows OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE:
// cumulative: everything cumulative; delta: counters and histograms delta,
// up-down counters cumulative; lowmemory: synchronous counters and
// histograms delta, the rest cumulative.
func temporalitySelector(pref string) sdkmetric.TemporalitySelector {
	switch pref {
	case "delta":
		return func(k sdkmetric.InstrumentKind) metricdata.Temporality {
			switch k {
			case sdkmetric.InstrumentKindUpDownCounter, sdkmetric.InstrumentKindObservableUpDownCounter:
				return metricdata.CumulativeTemporality
			}
			return metricdata.DeltaTemporality
		}
	case "lowmemory":
		return func(k sdkmetric.InstrumentKind) metricdata.Temporality {
			switch k {
			case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindHistogram:
				return metricdata.DeltaTemporality
			}
			return metricdata.CumulativeTemporality
		}
	}
	return sdkmetric.DefaultTemporalitySelector
}

// RegisterBuildInfo reports breakerwatch_build_info{version,revision,goversion} 1
// on mp until the returned registration is unregistered.
func RegisterBuildInfo(mp metric.MeterProvider, in version.Info) (metric.Registration, error) {
	m := mp.Meter(ScopeName, metric.WithInstrumentationVersion(in.Version))
	g, err := m.Int64ObservableGauge(breaker.MetricBuildInfo,
		metric.WithDescription("A metric with a constant 1 value labeled by the version, VCS revision and Go version that built breakerwatch."))
	if err != nil {
		return nil, fmt.Errorf("telemetry: build info: %w", err)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(
		attribute.String(breaker.LabelVersion, in.Version),
		attribute.String(breaker.LabelRevision, in.Revision),
		attribute.String(breaker.LabelGoVersion, in.GoVersion)))
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1, attrs)
		return nil
	}, g)
}
