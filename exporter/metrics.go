package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Metrics is a metrics pipeline private to one process: an OTel
// sdkmetric.MeterProvider read by the OTel Prometheus exporter, which is
// registered on a private prometheus.Registry together with the Go runtime
// and process collectors. Nothing is registered on a global registry.
//
// The exporter is configured with a pinned translation strategy
// (UnderscoreEscapingWithSuffixes), without
// otel_scope_* labels (WithoutScopeInfo) and without target_info
// (WithoutTargetInfo): the resource attributes it would carry include the SDK
// version, which would change the exposition on every dependency bump, and
// Prometheus' own target labels already identify the process. Synchronous
// histograms recorded on the MeterProvider use breaker.DurationBuckets (in
// seconds) instead of OTel's millisecond-oriented defaults (the breakers'
// call-duration histogram carries those buckets itself).
//
// A Metrics is safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// MetricsOption configures NewMetrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	readers []sdkmetric.Reader
	res     *resource.Resource
}

// WithReader adds a reader to the MeterProvider beside the Prometheus
// exporter, e.g. a periodic reader with an OTLP exporter: every series
// /metrics serves (the Go, process and promhttp ones aside) reaches it too.
// Shutdown shuts it down, which flushes it.
func WithReader(r sdkmetric.Reader) MetricsOption {
	return func(c *metricsConfig) { c.readers = append(c.readers, r) }
}

// WithResource sets the MeterProvider's resource, which OTLP readers send
// with every export. Default: the SDK's default resource. /metrics does not
// show it (no target_info).
func WithResource(r *resource.Resource) MetricsOption {
	return func(c *metricsConfig) { c.res = r }
}

// NewMetrics builds the pipeline. It fails only if a collector cannot be
// registered or the exporter cannot be built.
func NewMetrics(opts ...MetricsOption) (*Metrics, error) {
	var cfg metricsConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("exporter: registering the Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("exporter: registering the process collector: %w", err)
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Pinned, not left to the exporter's default (which depends on
		// model.NameValidationScheme and is announced to change): names are
		// escaped to [a-zA-Z0-9_:], counters end in _total and units become
		// suffixes. The breaker instruments already carry their final names
		// (breaker/names.go), so this strategy leaves them unchanged:
		// TestScrapeNames and the golden scrape fail if a name ever changes,
		// TestMetricsHistogramBuckets if the strategy does.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
		otelprom.WithAggregationSelector(aggregationSelector),
	)
	if err != nil {
		return nil, fmt.Errorf("exporter: building the OTel Prometheus exporter: %w", err)
	}
	// Breaker series are bounded by configuration (one set per registered
	// breaker), not by traffic: the SDK's default limit of 2,000 series per
	// instrument would fold the calls of every breaker past the ~500th into
	// one otel_metric_overflow series.
	mpOpts := []sdkmetric.Option{sdkmetric.WithReader(exp), sdkmetric.WithCardinalityLimit(0)}
	for _, r := range cfg.readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	if cfg.res != nil {
		mpOpts = append(mpOpts, sdkmetric.WithResource(cfg.res))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(slog.Default().Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
		// A scraper that asks for OpenMetrics (Prometheus does, with
		// exemplar storage on) gets it, with the call-duration
		// histogram's exemplars; others get the text format.
		EnableOpenMetrics: true,
	})
	return &Metrics{
		registry: reg,
		provider: mp,
		handler:  promhttp.InstrumentMetricHandler(reg, h),
	}, nil
}

// aggregationSelector gives synchronous histograms the breaker's buckets, in
// seconds; everything else keeps the SDK's default aggregation.
func aggregationSelector(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	if k == sdkmetric.InstrumentKindHistogram {
		return sdkmetric.AggregationExplicitBucketHistogram{
			Boundaries: append([]float64(nil), breaker.DurationBuckets...),
		}
	}
	return sdkmetric.DefaultAggregationSelector(k)
}

// MeterProvider returns the MeterProvider whose instruments /metrics serves.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// NewRegistry returns a breaker registry wired to this pipeline: its
// instruments, the call-duration histogram included, are created on
// MeterProvider, so /metrics and every reader added with WithReader get
// them. opts are applied first;
// the MeterProvider option always comes last, so it cannot be overridden.
//
// Breaker names must be unique across the registries of one Metrics: two
// breakers with the same name would report the same series.
func (m *Metrics) NewRegistry(opts ...breaker.Option) (*breaker.Registry, error) {
	all := append(append([]breaker.Option(nil), opts...), breaker.WithMeterProvider(m.provider))
	return breaker.NewRegistry(all...)
}

// Handler serves the private registry in the Prometheus exposition format
// (promhttp.HandlerFor), instrumented with promhttp_metric_handler_* series.
// A failing collector does not fail the scrape: its error is logged with
// log/slog and counted in promhttp_metric_handler_errors_total.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Gatherer returns the private registry: breaker, Go runtime, process and
// promhttp series.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// Shutdown shuts the MeterProvider down, which makes the readers added with
// WithReader export once more; /metrics then serves only the Go, process
// and promhttp series. Registries made by NewRegistry are not
// closed: their breakers keep working.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }
