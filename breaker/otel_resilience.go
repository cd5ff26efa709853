package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The metrics of fallback chains, health checks and retry queues. As for the
// breakers themselves, the hot paths (a chain served by a fallback, a retry
// queue accepting an item) only add to atomics; the instruments are
// observable and a second callback on the registry's meter reads the atomics
// at collection.

// resilience is the registry's part of chains, health checks and retry
// queues: the state their metrics are read from.
type resilience struct {
	mu        sync.Mutex
	fallbacks map[[2]string]*fallbackCounter // by primary, serving member
	health    map[string]*healthMetrics      // by breaker name
	queues    map[string]*retryCounters      // by queue name

	fallbackTotal  metric.Int64ObservableCounter
	healthUp       metric.Int64ObservableGauge
	healthDuration metric.Float64ObservableGauge
	queueDepth     metric.Int64ObservableGauge
	queueItems     metric.Int64ObservableCounter
	reg            metric.Registration
}

func (x *resilience) init(r *Registry) error {
	x.fallbacks = map[[2]string]*fallbackCounter{}
	x.health = map[string]*healthMetrics{}
	x.queues = map[string]*retryCounters{}
	m := r.meter()
	var (
		err  error
		errs []error
	)
	x.fallbackTotal, err = m.Int64ObservableCounter(MetricFallbacks,
		metric.WithDescription("Calls of a fallback chain served by a member other than the primary, by primary (name) and serving member (fallback)."))
	errs = append(errs, err)
	x.healthUp, err = m.Int64ObservableGauge(MetricHealthUp,
		metric.WithDescription("1 when the breaker's last health check passed, 0 when it failed; absent before the first check."))
	errs = append(errs, err)
	x.healthDuration, err = m.Float64ObservableGauge(MetricHealthDuration,
		metric.WithDescription("Duration in seconds of the breaker's last health check."))
	errs = append(errs, err)
	x.queueDepth, err = m.Int64ObservableGauge(MetricRetryQueueDepth,
		metric.WithDescription("Items waiting in a deferred-retry queue, including the one being attempted."))
	errs = append(errs, err)
	x.queueItems, err = m.Int64ObservableCounter(MetricRetryItems,
		metric.WithDescription("Deferred-retry queue events: retried (an attempt ran), succeeded, given_up (handed to the caller's callback), dropped (refused: queue full)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	x.reg, err = m.RegisterCallback(x.observe,
		x.fallbackTotal, x.healthUp, x.healthDuration, x.queueDepth, x.queueItems)
	return err
}

func (x *resilience) close() error {
	if x.reg == nil {
		return nil
	}
	return x.reg.Unregister()
}

func (x *resilience) observe(_ context.Context, o metric.Observer) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.fallbacks {
		o.ObserveInt64(x.fallbackTotal, int64(c.n.Load()), c.attrs)
	}
	for _, h := range x.health {
		up := h.up.Load()
		if up < 0 {
			continue // not checked yet
		}
		o.ObserveInt64(x.healthUp, int64(up), h.attrs)
		o.ObserveFloat64(x.healthDuration, time.Duration(h.duration.Load()).Seconds(), h.attrs)
	}
	for _, q := range x.queues {
		o.ObserveInt64(x.queueDepth, q.depth.Load(), q.attrs)
		o.ObserveInt64(x.queueItems, int64(q.retried.Load()), q.resultAttrs[0])
		o.ObserveInt64(x.queueItems, int64(q.succeeded.Load()), q.resultAttrs[1])
		o.ObserveInt64(x.queueItems, int64(q.givenUp.Load()), q.resultAttrs[2])
		o.ObserveInt64(x.queueItems, int64(q.dropped.Load()), q.resultAttrs[3])
	}
	return nil
}

// fallbackCounter counts the calls of chains with one primary served by one
// fallback. Chains with the same primary and member share it.
type fallbackCounter struct {
	n     atomic.Uint64
	attrs metric.MeasurementOption
}

// fallbackCounter returns the counter for (primary, member), creating it at 0
// so that rate() sees the first fallback.
func (x *resilience) fallbackCounter(primary, member string) *fallbackCounter {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := [2]string{primary, member}
	if c, ok := x.fallbacks[k]; ok {
		return c
	}
	c := &fallbackCounter{attrs: metric.WithAttributeSet(attribute.NewSet(
		attribute.String(LabelName, primary), attribute.String(LabelFallback, member)))}
	x.fallbacks[k] = c
	return c
}

// healthMetrics is what the metrics show of one breaker's health check.
type healthMetrics struct {
	up       atomic.Int32 // -1 not checked yet, 0 down, 1 up
	duration atomic.Int64 // nanoseconds, last check
	attrs    metric.MeasurementOption
}

func newHealthMetrics(name string) *healthMetrics {
	h := &healthMetrics{attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String(LabelName, name)))}
	h.up.Store(-1)
	return h
}

// addHealth registers the health metrics of the named breakers; it fails,
// registering none, if one of them already has a health check.
func (x *resilience) addHealth(hs map[string]*healthMetrics) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for name := range hs {
		if _, dup := x.health[name]; dup {
			return fmt.Errorf("breaker %q already has a health check (in another HealthChecker that was not stopped)", name)
		}
	}
	for name, h := range hs {
		x.health[name] = h
	}
	return nil
}

func (x *resilience) removeHealth(hs map[string]*healthMetrics) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for name, h := range hs {
		if x.health[name] == h {
			delete(x.health, name)
		}
	}
}

// retryCounters are a retry queue's metrics.
type retryCounters struct {
	depth       atomic.Int64
	retried     atomic.Uint64
	succeeded   atomic.Uint64
	givenUp     atomic.Uint64
	dropped     atomic.Uint64
	closed      atomic.Bool
	attrs       metric.MeasurementOption
	resultAttrs [4]metric.MeasurementOption // retried, succeeded, given_up, dropped
}

func newRetryCounters(queue string) *retryCounters {
	q := attribute.String(LabelQueue, queue)
	c := &retryCounters{attrs: metric.WithAttributeSet(attribute.NewSet(q))}
	for i, v := range [...]string{RetryRetriedValue, RetrySucceededValue, RetryGivenUpValue, RetryDroppedValue} {
		c.resultAttrs[i] = metric.WithAttributeSet(attribute.NewSet(q, attribute.String(LabelResult, v)))
	}
	return c
}

// addQueue registers a queue's counters under its name. A closed queue's
// series stay (with their final values, so that a last collection at
// shutdown sees what Close handed off) until a new queue takes the name.
func (x *resilience) addQueue(name string, c *retryCounters) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, dup := x.queues[name]; dup && !old.closed.Load() {
		return fmt.Errorf("name: a retry queue %q is already open in this registry", name)
	}
	x.queues[name] = c
	return nil
}
