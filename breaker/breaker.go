package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Signals from a call to the gobreaker state machine. The call's own error
// never reaches gobreaker: the breaker classifies it first and passes one of
// these, so gobreaker's IsSuccessful and IsExcluded only compare pointers.
var (
	errSignalFailure = errors.New("breakerwatch: failure")
	errSignalSlow    = errors.New("breakerwatch: slow call")
	errSignalIgnored = errors.New("breakerwatch: ignored")
)

func isSuccessfulSignal(err error) bool { return err == nil }
func isExcludedSignal(err error) bool   { return err == errSignalIgnored }

// StateChange describes one state change of a breaker, given to listeners.
type StateChange struct {
	Name string
	Mode Mode
	From State
	To   State
	// Reason says why, e.g. "5 consecutive failures reached failure_threshold 5".
	Reason string
	At     time.Time
	// Window holds the breaker's window at the moment of the change.
	Window WindowStats
}

// generation is one run of the state machine: Reset and leaving disabled
// mode start a new one, with fresh counts and a fresh window.
type generation struct {
	cb  *gobreaker.CircuitBreaker[struct{}]
	win *window
	// cfg holds the settings this generation runs with (Promote changes
	// them for the next generations).
	cfg *Config
	// tripReason is written by ReadyToTrip and read by OnStateChange; both
	// run under gobreaker's mutex.
	tripReason string
	// until, in unix nanoseconds, is the end of an open period decided
	// outside (Breaker.Apply); 0 when the open period is the state
	// machine's own. A change the state machine makes itself clears it.
	until atomic.Int64
	// streak counts the failures (slow calls included) since the last
	// success or state change, however far apart in time: gobreaker's own
	// ConsecutiveFailures lives in its rolling window and loses a failure
	// when the failure's bucket rolls off, so a dependency called less
	// often than failure_threshold times per window would never trip.
	// streakStart, in unix nanoseconds, is when its first failure finished
	// (see Breaker.Evidence).
	streak      atomic.Uint32
	streakStart atomic.Int64
	// slowRun counts the slow calls among them, for the trip's reason.
	slowRun atomic.Uint32
}

// clock is the monotonic time since g's window began: the call path's
// clock. It reads only the monotonic clock, as time.Since does, where
// time.Now reads the wall clock too (this VM: ~26 ns against ~47 ns; the
// call path reads the clock twice, gobreaker twice more).
func (g *generation) clock() time.Duration { return time.Since(g.win.start) }

// at is the time.Time of clock reading c: the wall clock of the window's
// start plus the monotonic time elapsed since, so it differs from a
// time.Now read at the same moment only by the steps the wall clock took
// since (time.Time's own monotonic arithmetic makes the same choice).
func (g *generation) at(c time.Duration) time.Time { return g.win.start.Add(c) }

// restartRun ends g's run of failures.
func (g *generation) restartRun() {
	g.streak.Store(0)
	g.slowRun.Store(0)
}

// Breaker is one named, instrumented circuit breaker. Create it with
// Registry.Register; it is safe for concurrent use.
type Breaker struct {
	cfg     Config // defaults applied, as registered
	reg     *Registry
	created time.Time

	// tuned is cfg with the settings of the last promoted candidate, if
	// any: what new generations run with. restartMu orders the changes of
	// generation that read it.
	tuned     atomic.Pointer[Config]
	restartMu sync.Mutex
	// cands are the candidate settings evaluated in the breaker's shadow;
	// nil without candidates (candidates.go).
	cands *candidateSet

	mode  atomic.Int32
	gen   atomic.Pointer[generation]
	state atomic.Int32 // last state the state machine reported
	since atomic.Int64 // unix nanoseconds of the last state change
	// lastSuccess, in unix nanoseconds, is the last success the state
	// machine counted (Evidence).
	lastSuccess atomic.Int64
	// modeSource says where the current mode comes from (ModeSource).
	modeSource atomic.Pointer[string]
	// configured is the configured mode (Config's Mode): cfg's until
	// SetConfiguredMode. modeMu orders the writes of mode, modeSource and
	// configured, so that a configured mode never replaces an override set
	// at the same moment.
	configured atomic.Int32
	modeMu     sync.Mutex

	// Cumulative counts, read by metric collection.
	calls       [numOutcomes]atomic.Uint64
	wouldReject atomic.Uint64
	slow        atomic.Uint64
	transitions [3][3]atomic.Uint64
	durations   [3]durationHistogram // success, failure, ignored

	// State-change events wait here until they can be delivered outside
	// gobreaker's lock.
	pending     atomic.Bool
	dispatching atomic.Bool
	evMu        sync.Mutex
	events      []StateChange
	timer       *time.Timer // fires when an open breaker's timeout ends

	attrs attrSets
	// stateAttrs is the attribute set of the state gauge for the current
	// mode, built when the mode is first observed.
	stateAttrs atomic.Pointer[modeAttrs]
}

type modeAttrs struct {
	mode Mode
	opt  metric.MeasurementOption
}

func newBreaker(r *Registry, cfg Config) *Breaker {
	now := time.Now()
	b := &Breaker{cfg: cfg, reg: r, created: now}
	b.mode.Store(int32(cfg.Mode))
	b.configured.Store(int32(cfg.Mode))
	b.since.Store(now.UnixNano())
	b.attrs = newAttrSets(cfg.Name)
	b.tuned.Store(&b.cfg)
	b.gen.Store(b.newGeneration(now))
	b.cands = newCandidateSet(&b.cfg)
	return b
}

func (b *Breaker) newGeneration(now time.Time) *generation {
	cfg := b.tuned.Load()
	g := &generation{cfg: cfg, win: newWindow(now, cfg.Bucket, cfg.buckets())}
	g.cb = gobreaker.NewCircuitBreaker[struct{}](b.settings(g))
	return g
}

// settings are the gobreaker settings of generation g's state machine.
func (b *Breaker) settings(g *generation) gobreaker.Settings {
	cfg := g.cfg
	return gobreaker.Settings{
		Name:         cfg.Name,
		MaxRequests:  cfg.HalfOpenRequests,
		Interval:     cfg.Window,
		BucketPeriod: cfg.Bucket,
		Timeout:      cfg.Timeout,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return b.readyToTrip(g, c) },
		IsSuccessful: isSuccessfulSignal,
		IsExcluded:   isExcludedSignal,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			// A call that started before a Reset (or a forced change)
			// finishes on the old state machine: its changes are not the
			// breaker's any more.
			if b.gen.Load() != g {
				return
			}
			g.restartRun() // each state counts its own run
			g.until.Store(0)
			b.onStateChange(g, State(from), State(to), "")
		},
	}
}

// readyToTrip runs under gobreaker's mutex after a failure while closed.
func (b *Breaker) readyToTrip(g *generation, c gobreaker.Counts) bool {
	if c.Requests < g.cfg.MinThroughput {
		return false
	}
	if n := g.streak.Load(); n >= g.cfg.FailureThreshold {
		switch slow := g.slowRun.Load(); {
		case slow == 0:
			g.tripReason = fmt.Sprintf("%d consecutive failures reached failure_threshold %d", n, g.cfg.FailureThreshold)
		case slow >= n:
			g.tripReason = fmt.Sprintf("%d consecutive slow calls (over slow_call %v) reached failure_threshold %d", n, g.cfg.SlowCall, g.cfg.FailureThreshold)
		default:
			g.tripReason = fmt.Sprintf("%d consecutive failures and slow calls (%d slow, over slow_call %v) reached failure_threshold %d",
				n, slow, g.cfg.SlowCall, g.cfg.FailureThreshold)
		}
		return true
	}
	if g.cfg.FailureRate > 0 {
		ran := c.TotalSuccesses + c.TotalFailures
		if ran > 0 {
			rate := float64(c.TotalFailures) / float64(ran)
			if rate >= g.cfg.FailureRate {
				what := "failure rate"
				if g.cfg.SlowCall > 0 {
					what = "failure rate (slow calls count as failures)"
				}
				g.tripReason = fmt.Sprintf("%s %.3g over %d calls reached failure_rate %g", what, rate, ran, g.cfg.FailureRate)
				return true
			}
		}
	}
	return false
}

// onStateChange records a change and queues it for the listeners. It runs
// under gobreaker's mutex (or, for resets, under none): it must not call back
// into gobreaker or into user code.
func (b *Breaker) onStateChange(g *generation, from, to State, reason string) {
	now := time.Now()
	b.state.Store(int32(to))
	b.since.Store(now.UnixNano())
	b.transitions[from][to].Add(1)
	if reason == "" {
		switch {
		case from == StateClosed && to == StateOpen:
			reason = g.tripReason
		case from == StateOpen && to == StateHalfOpen:
			reason = fmt.Sprintf("open timeout %v elapsed", g.cfg.Timeout)
		case from == StateHalfOpen && to == StateOpen:
			reason = "a half-open probe failed"
		case from == StateHalfOpen && to == StateClosed:
			reason = fmt.Sprintf("%d half-open probe(s) succeeded", g.cfg.HalfOpenRequests)
		}
	}
	ev := StateChange{
		Name: b.cfg.Name, Mode: Mode(b.mode.Load()), From: from, To: to,
		Reason: reason, At: now, Window: g.win.stats(now),
	}
	b.evMu.Lock()
	b.events = append(b.events, ev)
	b.stopTimerLocked()
	if to == StateOpen && !b.reg.closed.Load() {
		// gobreaker moves open -> half-open lazily, on the next call. Look
		// at the state when the timeout ends so the change shows (in the
		// gauge and to listeners) even with no traffic.
		b.timer = time.AfterFunc(max(b.openUntil().Sub(now), 0)+time.Millisecond, b.refresh)
	}
	b.evMu.Unlock()
	b.pending.Store(true)
}

// refresh reads the state machine's state, which applies a pending
// open -> half-open change, and delivers queued events.
func (b *Breaker) refresh() {
	if Mode(b.mode.Load()) != ModeDisabled {
		b.gen.Load().cb.State()
	}
	b.deliver()
}

// deliver calls the listeners with the queued events, outside every lock.
// One goroutine delivers at a time, in order; a listener that calls back into
// the breaker only queues more events for the loop below.
func (b *Breaker) deliver() {
	for b.pending.Load() {
		if !b.dispatching.CompareAndSwap(false, true) {
			return
		}
		b.evMu.Lock()
		evs := b.events
		b.events = nil
		b.pending.Store(false)
		b.evMu.Unlock()
		func() {
			defer b.dispatching.Store(false)
			for _, ev := range evs {
				b.reg.notify(b, ev)
			}
		}()
	}
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.cfg.Name }

// Config returns the breaker's configuration with defaults applied, the
// settings of the last promoted candidate (see Promote), if any, and the
// configured mode (see SetConfiguredMode): the mode ModeSourceConfig
// means, not necessarily the current one.
func (b *Breaker) Config() Config {
	c := *b.tuned.Load()
	c.Mode = Mode(b.configured.Load())
	return c
}

// Mode returns the breaker's current mode.
func (b *Breaker) Mode() Mode { return Mode(b.mode.Load()) }

// State returns the state of the breaker's state machine; in monitor mode the
// state it would be in; in disabled mode always closed.
func (b *Breaker) State() State {
	if Mode(b.mode.Load()) == ModeDisabled {
		return StateClosed
	}
	s := State(b.gen.Load().cb.State())
	if b.pending.Load() {
		b.deliver()
	}
	return s
}

// SetMode switches the breaker's mode. Counters are kept. Leaving disabled
// mode starts the state machine afresh (closed), since it did not run.
// ModeSource becomes ModeSourceRuntime.
func (b *Breaker) SetMode(m Mode) error {
	return b.SetModeFrom(m, ModeSourceRuntime)
}

// SetModeFrom is SetMode recording where the mode comes from (ModeSource),
// e.g. ModeSourceConfig to go back to the configured mode, or a fleet
// override's author and time.
func (b *Breaker) SetModeFrom(m Mode, source string) error {
	if err := checkMode(m); err != nil {
		return err
	}
	b.modeMu.Lock()
	old := b.switchMode(m, source)
	b.modeMu.Unlock()
	b.afterSwitch(old, m)
	return nil
}

// SetConfiguredMode changes the configured mode (Config's Mode, what the
// mode returns to when an override is cleared), as a configuration reload
// does. The current mode follows it only when it comes from the
// configuration (ModeSource is ModeSourceConfig): an override, at runtime
// or from a fleet, stays in force until it is cleared. It reports whether
// the current mode was switched.
func (b *Breaker) SetConfiguredMode(m Mode) (bool, error) {
	if err := checkMode(m); err != nil {
		return false, err
	}
	b.modeMu.Lock()
	b.configured.Store(int32(m))
	if b.ModeSource() != ModeSourceConfig {
		b.modeMu.Unlock()
		return false, nil
	}
	old := b.switchMode(m, ModeSourceConfig)
	b.modeMu.Unlock()
	b.afterSwitch(old, m)
	return true, nil
}

// ClearModeOverride goes back to the configured mode (source
// ModeSourceConfig), dropping a runtime or fleet override, and returns that
// mode. The configured mode is read under the same lock that
// SetConfiguredMode writes it with, so a clear racing a configuration
// reload cannot bring back the mode the reload replaced.
func (b *Breaker) ClearModeOverride() Mode {
	b.modeMu.Lock()
	m := Mode(b.configured.Load())
	old := b.switchMode(m, ModeSourceConfig)
	b.modeMu.Unlock()
	b.afterSwitch(old, m)
	return m
}

func checkMode(m Mode) error {
	switch m {
	case ModeEnforce, ModeMonitor, ModeDisabled:
		return nil
	}
	return fmt.Errorf("mode: unknown mode %d", int(m))
}

// switchMode sets the mode and its source under modeMu and returns the old
// mode.
func (b *Breaker) switchMode(m Mode, source string) Mode {
	b.modeSource.Store(&source)
	return Mode(b.mode.Swap(int32(m)))
}

// afterSwitch restarts the state machine when the mode leaves disabled
// (outside modeMu: listeners may change the mode again).
func (b *Breaker) afterSwitch(old, m Mode) {
	if old == ModeDisabled && m != ModeDisabled {
		b.restart("mode changed from disabled")
	}
}

// Reset puts the breaker back to closed with a fresh state machine and a
// fresh window. Cumulative counters (the _total series) keep counting.
func (b *Breaker) Reset() {
	b.restart("reset")
}

func (b *Breaker) restart(reason string) {
	b.restartMu.Lock()
	now := time.Now()
	ng := b.newGeneration(now)
	old := b.gen.Swap(ng)
	from := State(b.state.Swap(int32(StateClosed)))
	if from != StateClosed {
		b.onStateChange(old, from, StateClosed, reason)
	} else {
		b.stop()
	}
	b.restartMu.Unlock() // listeners may restart the breaker again
	b.deliver()
}

// stop releases the breaker's timer.
func (b *Breaker) stop() {
	b.evMu.Lock()
	b.stopTimerLocked()
	b.evMu.Unlock()
}

// stopTimerLocked stops the open-timeout timer; b.evMu must be held.
func (b *Breaker) stopTimerLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// classify returns the outcome of a call that returned err. The common
// case, a success without a Classifier, is inlined into the call path.
func (b *Breaker) classify(ctx context.Context, err error) Outcome {
	if err == nil && b.cfg.Classifier == nil {
		return OutcomeSuccess
	}
	return b.classifySlow(ctx, err)
}

func (b *Breaker) classifySlow(ctx context.Context, err error) Outcome {
	if b.cfg.Classifier != nil {
		o := b.cfg.Classifier(ctx, err)
		if o == OutcomeSuccess || o == OutcomeFailure || o == OutcomeIgnored {
			return o
		}
		return OutcomeFailure
	}
	if err == nil {
		return OutcomeSuccess
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		return OutcomeIgnored
	}
	return OutcomeFailure
}

// Execute runs fn through the breaker. In enforce mode a rejected call does
// not run and returns a *RejectedError matching ErrOpen or
// ErrTooManyRequests. In monitor mode every call runs. A panic in fn counts
// as a failure and is re-panicked.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	mode := Mode(b.mode.Load())
	if mode == ModeDisabled {
		return b.passThrough(ctx, fn)
	}
	g := b.gen.Load()

	var (
		err     error
		outcome = OutcomeFailure // what a panic leaves
		began   time.Duration    // g.clock() when fn started
		ran     bool
		done    bool
	)
	defer func() {
		if ran && !done { // fn panicked
			at := g.clock()
			b.record(ctx, g, g.at(at), OutcomeFailure, at-began, false)
		}
	}()
	_, sig := g.cb.Execute(func() (struct{}, error) {
		ran = true
		defer func() {
			if !done { // fn panicked: gobreaker counts a failure, and so does the run
				g.failed(time.Now())
			}
		}()
		began = g.clock()
		err = b.call(ctx, fn)
		at := g.clock()
		d, end := at-began, g.at(at)
		done = true
		outcome = b.classify(ctx, err)
		slow := g.cfg.SlowCall > 0 && d > g.cfg.SlowCall
		b.record(ctx, g, end, outcome, d, slow)
		sig := outcomeSignal(outcome, slow)
		b.counted(g, sig, end)
		return struct{}{}, sig
	})
	if b.pending.Load() {
		b.deliver()
	}
	if ran {
		return err
	}
	// gobreaker rejected the call.
	if mode == ModeMonitor {
		b.wouldReject.Add(1)
		return b.passThrough(ctx, fn)
	}
	now := time.Now()
	b.calls[OutcomeRejected].Add(1)
	g.win.record(now, OutcomeRejected, 0, false)
	return b.rejection(sig, now)
}

func (b *Breaker) rejection(sig error, now time.Time) error {
	e := &RejectedError{Name: b.cfg.Name, State: StateOpen, err: ErrOpen}
	if errors.Is(sig, gobreaker.ErrTooManyRequests) {
		e.State, e.err, e.RetryAt = StateHalfOpen, ErrTooManyRequests, now
		return e
	}
	e.RetryAt = b.openUntil()
	if e.RetryAt.Before(now) {
		e.RetryAt = now
	}
	return e
}

// openUntil is when the open period ends: the one Apply set, or the open
// timeout that began at the last state change. Meaningful while the breaker
// is open.
func (b *Breaker) openUntil() time.Time {
	if u := b.gen.Load().until.Load(); u != 0 {
		return time.Unix(0, u)
	}
	return time.Unix(0, b.since.Load()).Add(b.gen.Load().cfg.Timeout)
}

// outcomeSignal is what the state machine gets for a call's outcome.
func outcomeSignal(o Outcome, slow bool) error {
	switch {
	case o == OutcomeIgnored:
		return errSignalIgnored
	case o == OutcomeFailure:
		return errSignalFailure
	case slow:
		return errSignalSlow
	}
	return nil
}

// counted records in g's streak the signal the state machine gets for a
// call that finished at now: a failure or slow call extends the streak, a
// success ends it, an ignored call leaves it.
func (b *Breaker) counted(g *generation, sig error, now time.Time) {
	switch sig {
	case nil:
		b.succeeded(g, now)
	case errSignalFailure:
		g.failed(now)
	case errSignalSlow:
		g.failedSlow(now)
	}
}

// failed records a failure the state machine counts in g's streak.
func (g *generation) failed(now time.Time) {
	if g.streak.Add(1) == 1 {
		g.streakStart.Store(now.UnixNano())
	}
}

// failedSlow records a slow call the state machine counts as a failure.
func (g *generation) failedSlow(now time.Time) {
	g.slowRun.Add(1)
	g.failed(now)
}

// succeeded records a success the state machine counts: it ends g's streak.
func (b *Breaker) succeeded(g *generation, now time.Time) {
	b.lastSuccess.Store(now.UnixNano())
	if g.streak.Load() != 0 {
		g.restartRun()
	}
}

// passThrough runs fn outside the state machine and measures it.
func (b *Breaker) passThrough(ctx context.Context, fn func(context.Context) error) error {
	g := b.gen.Load()
	began := g.clock()
	done := false
	defer func() {
		if !done {
			at := g.clock()
			b.record(ctx, g, g.at(at), OutcomeFailure, at-began, false)
		}
	}()
	err := b.call(ctx, fn)
	at := g.clock()
	d, end := at-began, g.at(at)
	done = true
	b.record(ctx, g, end, b.classify(ctx, err), d, g.cfg.SlowCall > 0 && d > g.cfg.SlowCall)
	return err
}

// record adds a call that ran to the counters and the window. A call whose
// ctx carries a sampled span also leaves an exemplar.
func (b *Breaker) record(ctx context.Context, g *generation, now time.Time, o Outcome, d time.Duration, slow bool) {
	b.calls[o].Add(1)
	if slow {
		b.slow.Add(1)
	}
	i := b.durations[o].observe(d)
	// Most calls carry no span: comparing with the no-span value skips
	// copying out an empty SpanContext (trace.SpanContextFromContext).
	if s := trace.SpanFromContext(ctx); s != noSpan {
		if sc := s.SpanContext(); sc.IsSampled() {
			b.durations[o].keepExemplar(i, d, sc)
		}
	}
	g.win.record(now, o, d, slow)
}

// noSpan is what trace.SpanFromContext returns for a context without a
// span. Its type is comparable, so comparing a Span with it cannot panic.
var noSpan = trace.SpanFromContext(context.Background())

// Typed runs calls that return a T through a breaker.
type Typed[T any] struct{ b *Breaker }

// Of returns b typed for calls that return a T. It allocates nothing.
func Of[T any](b *Breaker) Typed[T] { return Typed[T]{b} }

// Execute runs fn through the breaker; see Breaker.Execute.
func (t Typed[T]) Execute(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	return Call(ctx, t.b, fn)
}

// Breaker returns the underlying breaker.
func (t Typed[T]) Breaker() *Breaker { return t.b }

// Call runs fn through b and returns its result; see Breaker.Execute.
func Call[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := b.Execute(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// try runs fn through b, bounded by timeout when it is positive, and reports
// whether fn ran: false when the breaker rejected the call.
func (b *Breaker) try(ctx context.Context, timeout time.Duration, fn func(context.Context) error) (ran bool, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err = b.Execute(ctx, func(ctx context.Context) error {
		ran = true
		return fn(ctx)
	})
	return ran, err
}

// durationHistogram is a cumulative histogram of call durations with the
// MetricCallDuration buckets, written with atomics.
type durationHistogram struct {
	counts [len(durationBoundsNanos) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	// exemplars is allocated by the first call with a sampled span.
	exemplars atomic.Pointer[exemplarSlots]
	// replayed is what collection has already recorded on the MeterProvider
	// (otel_duration.go); guarded by the registry's instruments.replayMu.
	replayed durationSnapshot
}

var durationBoundsNanos = func() [13]int64 {
	var b [13]int64
	if len(DurationBuckets) != len(b) {
		panic("breaker: DurationBuckets and durationBoundsNanos differ in length")
	}
	for i, s := range DurationBuckets {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// observe adds d and returns the index of its bucket.
func (h *durationHistogram) observe(d time.Duration) int {
	i := 0
	for i < len(durationBoundsNanos) && int64(d) > durationBoundsNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
	return i
}

// attrSets are the breaker's attribute sets, built once. Only the state
// changes a breaker can make have one (see reachableTransitions).
type attrSets struct {
	name metric.MeasurementOption
	// outcomes are the (name, outcome) sets of calls and of the
	// call-duration histogram.
	outcomes    [numOutcomes]attribute.Set
	calls       [numOutcomes]metric.MeasurementOption
	transitions [3][3]metric.MeasurementOption
}
