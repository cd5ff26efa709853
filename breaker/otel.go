package breaker

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Version is breakerwatch's version, the instrumentation scope's version.
var Version = "dev"

// The call path only writes atomics into the breaker; these instruments are
// observable and read them when a reader collects. The call-duration
// histogram has no observable form in OTel: it is a synchronous histogram
// that the same callback records into (otel_duration.go).
type instruments struct {
	state       metric.Int64ObservableGauge
	errorRate   metric.Float64ObservableGauge
	p50         metric.Float64ObservableGauge
	p95         metric.Float64ObservableGauge
	p99         metric.Float64ObservableGauge
	calls       metric.Int64ObservableCounter
	wouldReject metric.Int64ObservableCounter
	slow        metric.Int64ObservableCounter
	transitions metric.Int64ObservableCounter
	duration    metric.Float64Histogram
	reg         metric.Registration

	// replayMu makes each call's duration recorded once when readers
	// collect concurrently.
	replayMu sync.Mutex
}

// meter is the registry's meter: the breakers' instruments and those of
// chains, health checks and retry queues share its scope.
func (r *Registry) meter() metric.Meter {
	return r.opts.mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
}

func newInstruments(r *Registry) (*instruments, error) {
	m := r.meter()
	var (
		ins  = &instruments{}
		err  error
		errs []error
	)
	ins.state, err = m.Int64ObservableGauge(MetricState,
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open; in monitor mode the state it would be in."))
	errs = append(errs, err)
	ins.errorRate, err = m.Float64ObservableGauge(MetricErrorRate,
		metric.WithDescription("Failures / (successes + failures) over the breaker's window; 0 with no calls."))
	errs = append(errs, err)
	ins.p50, err = m.Float64ObservableGauge(MetricLatencyP50,
		metric.WithDescription("50th percentile call latency in milliseconds over the breaker's window."))
	errs = append(errs, err)
	ins.p95, err = m.Float64ObservableGauge(MetricLatencyP95,
		metric.WithDescription("95th percentile call latency in milliseconds over the breaker's window."))
	errs = append(errs, err)
	ins.p99, err = m.Float64ObservableGauge(MetricLatencyP99,
		metric.WithDescription("99th percentile call latency in milliseconds over the breaker's window."))
	errs = append(errs, err)
	ins.calls, err = m.Int64ObservableCounter(MetricCalls,
		metric.WithDescription("Calls through the breaker by outcome: success, failure, rejected, ignored."))
	errs = append(errs, err)
	ins.wouldReject, err = m.Int64ObservableCounter(MetricWouldReject,
		metric.WithDescription("Monitor mode: calls that enforcement would have rejected (they ran)."))
	errs = append(errs, err)
	ins.slow, err = m.Int64ObservableCounter(MetricSlowCalls,
		metric.WithDescription("Calls slower than the breaker's slow_call setting."))
	errs = append(errs, err)
	ins.transitions, err = m.Int64ObservableCounter(MetricTransitions,
		metric.WithDescription("Circuit breaker state changes."))
	errs = append(errs, err)
	ins.duration, err = newDurationHistogram(m)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ins.reg, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		now := time.Now()
		list := r.list()
		ins.replayMu.Lock()
		// The replay costs one Record per call (otel_duration.go): skip it
		// when no reader takes the histogram (a View that drops it).
		if ins.duration.Enabled(ctx) {
			for _, b := range list {
				ins.replayDurations(b)
			}
		}
		ins.replayMu.Unlock()
		for _, b := range list {
			b.observe(ins, o, now)
		}
		return nil
	}, ins.state, ins.errorRate, ins.p50, ins.p95, ins.p99, ins.calls, ins.wouldReject, ins.slow, ins.transitions)
	if err != nil {
		return nil, err
	}
	return ins, nil
}

func (ins *instruments) close() error { return ins.reg.Unregister() }

// The state changes every breaker can make, reported from the start at 0 so
// that rate() and increase() see the first one.
var canonicalTransitions = [...][2]State{
	{StateClosed, StateOpen}, {StateOpen, StateHalfOpen},
	{StateHalfOpen, StateClosed}, {StateHalfOpen, StateOpen},
}

func (b *Breaker) observe(ins *instruments, o metric.Observer, now time.Time) {
	mode := b.Mode()
	o.ObserveInt64(ins.state, int64(b.State()), b.stateOption(mode))
	ws := b.gen.Load().win.stats(now)
	o.ObserveFloat64(ins.errorRate, ws.ErrorRate, b.attrs.name)
	o.ObserveFloat64(ins.p50, ws.P50, b.attrs.name)
	o.ObserveFloat64(ins.p95, ws.P95, b.attrs.name)
	o.ObserveFloat64(ins.p99, ws.P99, b.attrs.name)
	for oc := range b.calls {
		o.ObserveInt64(ins.calls, int64(b.calls[oc].Load()), b.attrs.calls[oc])
	}
	o.ObserveInt64(ins.wouldReject, int64(b.wouldReject.Load()), b.attrs.name)
	o.ObserveInt64(ins.slow, int64(b.slow.Load()), b.attrs.name)
	for from := range b.transitions {
		for to := range b.transitions[from] {
			n := b.transitions[from][to].Load()
			opt := b.attrs.transitions[from][to]
			if opt == nil { // a change no breaker makes
				continue
			}
			if n == 0 && !canonical[from][to] {
				continue
			}
			o.ObserveInt64(ins.transitions, int64(n), opt)
		}
	}
}

// stateOption returns the state gauge's attributes for mode, building them
// when the mode changed since the last collection.
func (b *Breaker) stateOption(mode Mode) metric.MeasurementOption {
	if a := b.stateAttrs.Load(); a != nil && a.mode == mode {
		return a.opt
	}
	a := &modeAttrs{mode: mode, opt: metric.WithAttributeSet(attribute.NewSet(
		attribute.String(LabelName, b.cfg.Name), attribute.String(LabelMode, mode.String())))}
	b.stateAttrs.Store(a)
	return a.opt
}

// canonical[from][to] says whether from -> to is in canonicalTransitions.
var canonical = func() (c [3][3]bool) {
	for _, t := range canonicalTransitions {
		c[t[0]][t[1]] = true
	}
	return c
}()

// reachableTransitions are the changes a breaker can make: the state
// machine's four, and open -> closed (a reset, or leaving an open state for a
// fresh state machine). Resets from half-open and forced changes are among
// the four.
var reachableTransitions = [...][2]State{
	{StateClosed, StateOpen}, {StateOpen, StateHalfOpen},
	{StateHalfOpen, StateClosed}, {StateHalfOpen, StateOpen},
	{StateOpen, StateClosed},
}

func newAttrSets(name string) attrSets {
	n := attribute.String(LabelName, name)
	var a attrSets
	a.name = metric.WithAttributeSet(attribute.NewSet(n))
	for o := Outcome(0); o < numOutcomes; o++ {
		a.outcomes[o] = attribute.NewSet(n, attribute.String(LabelOutcome, o.String()))
		a.calls[o] = metric.WithAttributeSet(a.outcomes[o])
	}
	for _, t := range reachableTransitions {
		a.transitions[t[0]][t[1]] = metric.WithAttributeSet(attribute.NewSet(n,
			attribute.String(LabelFrom, t[0].String()), attribute.String(LabelTo, t[1].String())))
	}
	return a
}

// histogramOutcomes are the outcomes of calls that ran.
var histogramOutcomes = [...]Outcome{OutcomeSuccess, OutcomeFailure, OutcomeIgnored}
