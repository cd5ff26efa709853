package bench

import (
	"context"
	"errors"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Executor is what every contender offers the benchmarks: run fn through a
// circuit breaker. *breaker.Breaker satisfies it as it is.
type Executor interface {
	Execute(ctx context.Context, fn func(context.Context) error) error
}

var _ Executor = (*breaker.Breaker)(nil)

// The peers run the same state machine as a breakerwatch breaker with its
// defaults: a 60 s rolling window in 6 s buckets, 60 s open timeout, one
// half-open probe, trip on the 5th consecutive failure. The benchmarks call
// a function that always succeeds, so nothing trips.
func gobreakerSettings(name string) gobreaker.Settings {
	return gobreaker.Settings{
		Name:         name,
		MaxRequests:  breaker.DefaultHalfOpenRequests,
		Interval:     breaker.DefaultWindow,
		BucketPeriod: breaker.DefaultWindow / breaker.MaxWindowBuckets,
		Timeout:      breaker.DefaultTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= breaker.DefaultFailureThreshold
		},
	}
}

// Gobreaker is sony/gobreaker with no metrics.
type Gobreaker struct {
	cb *gobreaker.CircuitBreaker[struct{}]
}

// NewGobreaker returns a gobreaker breaker named name.
func NewGobreaker(name string) *Gobreaker {
	return &Gobreaker{cb: gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(name))}
}

// Execute runs fn through the breaker.
func (g *Gobreaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

func isRejection(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// GobreakerProm is gobreaker with the metrics a user writes by hand today
// with client_golang: a calls counter by outcome and a call-duration
// histogram by outcome, children looked up once (WithLabelValues outside the
// call path), buckets as breakerwatch's.
type GobreakerProm struct {
	cb                       *gobreaker.CircuitBreaker[struct{}]
	success, failure, reject prometheus.Counter
	successDur, failureDur   prometheus.Observer
}

// NewGobreakerProm registers the metrics on reg and returns the breaker.
func NewGobreakerProm(name string, reg prometheus.Registerer) (*GobreakerProm, error) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: breaker.MetricCalls, Help: "Calls through the breaker by outcome.",
	}, []string{breaker.LabelName, breaker.LabelOutcome})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: breaker.MetricCallDuration, Help: "Duration of calls through the breaker that ran, by outcome.",
		Buckets: breaker.DurationBuckets,
	}, []string{breaker.LabelName, breaker.LabelOutcome})
	if err := reg.Register(calls); err != nil {
		return nil, err
	}
	if err := reg.Register(dur); err != nil {
		return nil, err
	}
	return &GobreakerProm{
		cb:         gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(name)),
		success:    calls.WithLabelValues(name, breaker.OutcomeSuccessValue),
		failure:    calls.WithLabelValues(name, breaker.OutcomeFailureValue),
		reject:     calls.WithLabelValues(name, breaker.OutcomeRejectedValue),
		successDur: dur.WithLabelValues(name, breaker.OutcomeSuccessValue),
		failureDur: dur.WithLabelValues(name, breaker.OutcomeFailureValue),
	}, nil
}

// Execute runs fn through the breaker, counts its outcome and observes its
// duration.
func (g *GobreakerProm) Execute(ctx context.Context, fn func(context.Context) error) error {
	start := time.Now()
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, fn(ctx) })
	switch {
	case err == nil:
		g.success.Inc()
		g.successDur.Observe(time.Since(start).Seconds())
	case isRejection(err):
		g.reject.Inc()
	default:
		g.failure.Inc()
		g.failureDur.Observe(time.Since(start).Seconds())
	}
	return err
}

// GobreakerOTel is the same as GobreakerProm with OpenTelemetry synchronous
// instruments: the attribute sets and option slices are built once.
type GobreakerOTel struct {
	cb                             *gobreaker.CircuitBreaker[struct{}]
	calls                          metric.Int64Counter
	dur                            metric.Float64Histogram
	addSuccess, addFailure, addRej []metric.AddOption
	recSuccess, recFailure         []metric.RecordOption
}

// NewGobreakerOTel creates the instruments on mp and returns the breaker.
func NewGobreakerOTel(name string, mp metric.MeterProvider) (*GobreakerOTel, error) {
	m := mp.Meter("bench/gobreaker")
	calls, err := m.Int64Counter(breaker.MetricCalls, metric.WithDescription("Calls through the breaker by outcome."))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram(breaker.MetricCallDuration,
		metric.WithDescription("Duration of calls through the breaker that ran, by outcome."),
		metric.WithUnit(breaker.UnitSeconds),
		metric.WithExplicitBucketBoundaries(breaker.DurationBuckets...))
	if err != nil {
		return nil, err
	}
	set := func(outcome string) attribute.Set {
		return attribute.NewSet(attribute.String(breaker.LabelName, name), attribute.String(breaker.LabelOutcome, outcome))
	}
	ok, fail, rej := set(breaker.OutcomeSuccessValue), set(breaker.OutcomeFailureValue), set(breaker.OutcomeRejectedValue)
	return &GobreakerOTel{
		cb:         gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(name)),
		calls:      calls,
		dur:        dur,
		addSuccess: []metric.AddOption{metric.WithAttributeSet(ok)},
		addFailure: []metric.AddOption{metric.WithAttributeSet(fail)},
		addRej:     []metric.AddOption{metric.WithAttributeSet(rej)},
		recSuccess: []metric.RecordOption{metric.WithAttributeSet(ok)},
		recFailure: []metric.RecordOption{metric.WithAttributeSet(fail)},
	}, nil
}

// Execute runs fn through the breaker, counts its outcome and records its
// duration.
func (g *GobreakerOTel) Execute(ctx context.Context, fn func(context.Context) error) error {
	start := time.Now()
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, fn(ctx) })
	switch {
	case err == nil:
		g.calls.Add(ctx, 1, g.addSuccess...)
		g.dur.Record(ctx, time.Since(start).Seconds(), g.recSuccess...)
	case isRejection(err):
		g.calls.Add(ctx, 1, g.addRej...)
	default:
		g.calls.Add(ctx, 1, g.addFailure...)
		g.dur.Record(ctx, time.Since(start).Seconds(), g.recFailure...)
	}
	return err
}

// Failsafe is a failsafe-go circuit breaker (count based, 5 consecutive
// failures, 60 s delay) behind an executor built once.
type Failsafe struct {
	exec failsafe.Executor[struct{}]
}

// NewFailsafe returns a failsafe-go breaker.
func NewFailsafe() *Failsafe {
	cb := circuitbreaker.NewBuilder[struct{}]().
		WithFailureThreshold(breaker.DefaultFailureThreshold).
		WithDelay(breaker.DefaultTimeout).
		Build()
	return &Failsafe{exec: failsafe.With[struct{}](cb)}
}

// Execute runs fn through the breaker.
func (f *Failsafe) Execute(ctx context.Context, fn func(context.Context) error) error {
	return f.exec.Run(func() error { return fn(ctx) })
}
