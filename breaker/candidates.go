package breaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Candidate settings: tuning on live traffic.
//
// A breaker with candidates runs, next to its own state machine, one shadow
// per candidate and one for its own setting ("current"). A shadow is a
// monitor-mode Breaker that belongs to no registry (so it has no metrics of
// its own, no listeners and no timers): the same state machine code, with
// other settings. Every call that runs through the breaker, in any mode,
// runs inside every shadow's state machine too (Breaker.call), so a shadow
// decides whether it would have let the call through when the call starts
// (counting the probes in flight when half-open) and learns its outcome when
// it ends, exactly as an enforcing breaker does. A call a shadow would have
// rejected runs anyway: it is counted as would-reject with the outcome it
// had and, as in monitor mode, does not feed the shadow's state machine.
//
// In enforce mode the calls the breaker rejects never run, so the shadows see
// only the calls that ran. The breaker's own measured duration includes the
// shadows' bookkeeping (about a microsecond per shadow), and a custom
// Classifier is called twice per call: once for the breaker, once for the
// shadows.

const (
	// MaxCandidates bounds the candidates of one breaker: each one is a
	// state machine fed on every call and a label value.
	MaxCandidates = 8
	// CurrentSetting names the breaker's own setting in a TuneReport; no
	// candidate may take it.
	CurrentSetting = "current"
	// CandidateKeys are the settings a candidate may change.
	CandidateKeys = "failure_threshold, failure_rate, min_throughput, slow_call, timeout, half_open_requests, window"
)

// ErrNoCandidate is matched (errors.Is) by the error for a candidate a
// breaker does not have, and for a breaker without candidates.
var ErrNoCandidate = errors.New("no such candidate")

// Candidate is a setting evaluated in a breaker's shadow: a partial Config
// over the breaker's own. A nil field keeps the breaker's value; a set one
// replaces it. FailureRate and SlowCall may be set to 0 (off); the other
// fields must be positive. A candidate that sets Window gets the default
// bucket, Window/10.
//
// In Go 1.26, new(expr) makes the pointers: Candidate{FailureThreshold: new(uint32(3))}.
type Candidate struct {
	FailureThreshold *uint32        `json:"failure_threshold,omitempty"`
	MinThroughput    *uint32        `json:"min_throughput,omitempty"`
	FailureRate      *float64       `json:"failure_rate,omitempty"`
	SlowCall         *time.Duration `json:"slow_call,omitempty"`
	Timeout          *time.Duration `json:"timeout,omitempty"`
	HalfOpenRequests *uint32        `json:"half_open_requests,omitempty"`
	Window           *time.Duration `json:"window,omitempty"`
}

// apply returns c with the candidate's settings.
func (cd Candidate) apply(c Config) Config {
	if cd.FailureThreshold != nil {
		c.FailureThreshold = *cd.FailureThreshold
	}
	if cd.MinThroughput != nil {
		c.MinThroughput = *cd.MinThroughput
	}
	if cd.FailureRate != nil {
		c.FailureRate = *cd.FailureRate
	}
	if cd.SlowCall != nil {
		c.SlowCall = *cd.SlowCall
	}
	if cd.Timeout != nil {
		c.Timeout = *cd.Timeout
	}
	if cd.HalfOpenRequests != nil {
		c.HalfOpenRequests = *cd.HalfOpenRequests
	}
	if cd.Window != nil {
		c.Window, c.Bucket = *cd.Window, 0
	}
	return c
}

// zeros names the fields set to 0 where 0 would mean "the default".
func (cd Candidate) zeros() []string {
	var out []string
	for _, f := range []struct {
		name string
		zero bool
	}{
		{"failure_threshold", cd.FailureThreshold != nil && *cd.FailureThreshold == 0},
		{"min_throughput", cd.MinThroughput != nil && *cd.MinThroughput == 0},
		{"timeout", cd.Timeout != nil && *cd.Timeout == 0},
		{"half_open_requests", cd.HalfOpenRequests != nil && *cd.HalfOpenRequests == 0},
		{"window", cd.Window != nil && *cd.Window == 0},
	} {
		if f.zero {
			out = append(out, f.name)
		}
	}
	return out
}

func (cd Candidate) empty() bool { return cd == Candidate{} }

// validateCandidates returns the problems of c's candidates, each a
// *FieldError naming its path (candidates, candidates.NAME or
// candidates.NAME.field). The settings a candidate makes are
// checked only when c's own are valid (baseOK), so a problem of the breaker
// is not reported again for each candidate.
func (c Config) validateCandidates(baseOK bool) []error {
	if len(c.Candidates) == 0 {
		return nil
	}
	var errs []error
	if n := len(c.Candidates); n > MaxCandidates {
		errs = append(errs, fieldError("candidates", "%d candidates; at most %d per breaker (each one runs on every call)", n, MaxCandidates))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Candidates)) {
		cd := c.Candidates[name]
		path := "candidates." + name
		if !namePattern.MatchString(name) {
			errs = append(errs, fieldError(path, "the name %q must match [A-Za-z0-9_.-]{1,64} (it is a label value)", name))
			continue
		}
		if name == CurrentSetting {
			errs = append(errs, fieldError(path, "the name %q is reserved for the breaker's own setting", name))
			continue
		}
		if cd.empty() {
			errs = append(errs, fieldError(path, "sets nothing, so it is the breaker's own setting (set one of %s)", CandidateKeys))
			continue
		}
		zeros := cd.zeros()
		for _, f := range zeros {
			errs = append(errs, fieldError(path+"."+f, "0 is not a setting here (omit it to keep the breaker's own)"))
		}
		if !baseOK || len(zeros) > 0 {
			continue
		}
		m := cd.apply(c)
		m.Candidates = nil
		if err := m.Validate(); err != nil {
			for _, e := range unjoinErr(err) {
				// Each is a *FieldError: the only other kind, a bad
				// name, is c's, which is valid (baseOK).
				if fe, ok := e.(*FieldError); ok {
					errs = append(errs, fieldError(path+"."+fe.Field, "%s", fe.Msg))
				} else {
					errs = append(errs, fmt.Errorf("%s.%w", path, e))
				}
			}
		}
	}
	return errs
}

func unjoinErr(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// shadowHome is the registry of every shadow: closed, so that a shadow's
// state changes schedule no timer, and without listeners, so that they go
// nowhere. Nothing lists it.
var shadowHome = func() *Registry {
	r := &Registry{}
	r.closed.Store(true)
	return r
}()

// shadow is one setting evaluated in a breaker's shadow.
type shadow struct {
	name  string
	b     *Breaker // monitor mode, in shadowHome
	since time.Time

	calls             atomic.Uint64 // calls it saw
	rejectedFailed    atomic.Uint64 // of its would-rejects, calls that failed when they ran
	rejectedSucceeded atomic.Uint64 // ... and that succeeded

	// Metric attributes: {name, candidate}, and with {from, to} for each
	// of canonicalTransitions.
	attrs           metric.MeasurementOption
	transitionAttrs [len(canonicalTransitions)]metric.MeasurementOption
}

// shadowConfig is base with the candidate's settings, as a shadow runs it.
func shadowConfig(base Config, cd Candidate) Config {
	c := cd.apply(base)
	c.Mode = ModeMonitor
	c.Candidates, c.Classifier, c.OnStateChange = nil, nil, nil
	return c.withDefaults()
}

func newShadow(name string, cfg Config) *shadow {
	s := &shadow{name: name, b: newBreaker(shadowHome, cfg), since: time.Now()}
	s.attrs = metric.WithAttributeSet(attribute.NewSet(attribute.String(LabelName, cfg.Name), attribute.String(LabelCandidate, name)))
	for i, t := range canonicalTransitions {
		s.transitionAttrs[i] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String(LabelName, cfg.Name), attribute.String(LabelCandidate, name),
			attribute.String(LabelFrom, t[0].String()), attribute.String(LabelTo, t[1].String())))
	}
	return s
}

// call runs fn for the breaker: inside the state machine of every shadow
// when the breaker has candidates, else directly. The breaker calls it
// where it would call fn, so the shadows see exactly the calls that run.
func (b *Breaker) call(ctx context.Context, fn func(context.Context) error) error {
	if b.cands == nil {
		return fn(ctx)
	}
	var r shadowCall
	return b.cands.current.Load().run(ctx, b, fn, b.cands.candidates, &r)
}

// shadowCall is what the shadows learn about the call they wrap.
type shadowCall struct {
	done    bool // fn returned (it did not panic)
	outcome Outcome
	d       time.Duration
}

// run runs the rest of the shadows and fn under s's state machine, as an
// enforcing breaker with s's settings would: it decides whether it would
// have let the call through when the call starts, and learns the outcome
// when the call ends. A call it would have rejected runs anyway (nothing
// blocks), is counted as would-reject with the outcome it had, and, as in
// monitor mode, does not feed its state machine. A panic in fn counts as a
// failure for the shadows that let the call through, and goes on up.
func (s *shadow) run(ctx context.Context, b *Breaker, fn func(context.Context) error, rest []*shadow, r *shadowCall) error {
	var err error
	admitted := false
	g := s.b.gen.Load()
	_, _ = g.cb.Execute(func() (struct{}, error) {
		admitted = true
		err = runShadows(ctx, b, fn, rest, r)
		sig := s.signal(r)
		s.b.counted(g, sig, time.Now())
		return struct{}{}, sig
	})
	if !admitted {
		err = runShadows(ctx, b, fn, rest, r)
		s.b.wouldReject.Add(1)
		switch r.outcome {
		case OutcomeSuccess:
			s.rejectedSucceeded.Add(1)
		case OutcomeFailure:
			s.rejectedFailed.Add(1)
		}
	}
	s.calls.Add(1)
	if s.b.pending.Load() {
		s.b.deliver()
	}
	return err
}

// runShadows runs the first of shadows around the others and fn, or, with
// none left, fn itself, measured and classified.
func runShadows(ctx context.Context, b *Breaker, fn func(context.Context) error, shadows []*shadow, r *shadowCall) error {
	if len(shadows) > 0 {
		return shadows[0].run(ctx, b, fn, shadows[1:], r)
	}
	start := time.Now()
	err := fn(ctx)
	r.d = time.Since(start)
	r.outcome = b.classify(ctx, err)
	r.done = true
	return err
}

// signal is what s's state machine gets for the call: the breaker's
// outcome, with s's own slow_call.
func (s *shadow) signal(r *shadowCall) error {
	if !r.done {
		return errSignalFailure
	}
	return outcomeSignal(r.outcome, s.b.cfg.SlowCall > 0 && r.d > s.b.cfg.SlowCall)
}

// candidateSet is a breaker's shadows.
type candidateSet struct {
	current    atomic.Pointer[shadow]    // the breaker's own setting; replaced by Promote
	candidates []*shadow                 // sorted by name
	promoted   atomic.Pointer[promotion] // nil: the configured settings (promotion.go)
}

// newCandidateSet returns the shadows of cfg (defaults applied), or nil
// when it has no candidates. It gives cfg a copy of its candidates, so that
// the caller's map and values stay the caller's.
func newCandidateSet(cfg *Config) *candidateSet {
	if len(cfg.Candidates) == 0 {
		return nil
	}
	own := make(map[string]Candidate, len(cfg.Candidates))
	for name, cd := range cfg.Candidates {
		own[name] = cd.clone()
	}
	cfg.Candidates = own
	cs := &candidateSet{}
	cs.current.Store(newShadow(CurrentSetting, shadowConfig(*cfg, Candidate{})))
	for _, name := range slices.Sorted(maps.Keys(own)) {
		cs.candidates = append(cs.candidates, newShadow(name, shadowConfig(*cfg, own[name])))
	}
	return cs
}

// clone returns cd with fields that point to copies of its values.
func (cd Candidate) clone() Candidate {
	return Candidate{
		FailureThreshold: clonePtr(cd.FailureThreshold), MinThroughput: clonePtr(cd.MinThroughput),
		FailureRate: clonePtr(cd.FailureRate), SlowCall: clonePtr(cd.SlowCall), Timeout: clonePtr(cd.Timeout),
		HalfOpenRequests: clonePtr(cd.HalfOpenRequests), Window: clonePtr(cd.Window),
	}
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (cs *candidateSet) find(name string) *shadow {
	for _, s := range cs.candidates {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Values of TuneReport.Sees.
const (
	// SeesAllCalls: monitor and disabled mode; every call ran, so every
	// setting saw every call.
	SeesAllCalls = "all_calls"
	// SeesCallsThatRan: enforce mode; the calls the breaker rejected did not
	// run, so no setting saw them.
	SeesCallsThatRan = "calls_that_ran"
)

// TuneReport says how a breaker's own setting and each of its candidates
// would have behaved on the calls the breaker has seen.
type TuneReport struct {
	Name string `json:"name"`
	Mode Mode   `json:"mode"`
	// Sees is SeesAllCalls or SeesCallsThatRan, from the current mode.
	Sees string `json:"sees"`
	// Note says the same for people.
	Note string `json:"note"`
	// Rejected counts the calls the breaker itself rejected since it was
	// registered (enforce mode): they did not run, so no setting saw them.
	Rejected uint64 `json:"rejected"`
	// Settings are the breaker's own setting (named CurrentSetting), then
	// its candidates by name.
	Settings []SettingReport `json:"settings"`
}

// SettingReport is how one setting would have behaved, since Since.
type SettingReport struct {
	Name     string   `json:"name"`
	Settings Settings `json:"settings"`
	// Since is when the setting began to see calls: the breaker's
	// registration, or for the current setting its last promotion.
	Since time.Time `json:"since"`
	// Calls is how many calls it saw.
	Calls uint64 `json:"calls"`
	// State is the state it would be in now.
	State State `json:"state"`
	// Opened is how many times it would have opened.
	Opened uint64 `json:"opened"`
	// OpenSeconds is how long, in total, it would have been open.
	OpenSeconds float64 `json:"open_seconds"`
	// WouldReject counts the calls it would have rejected; of those,
	// WouldRejectFailed failed and WouldRejectSucceeded succeeded when they
	// ran (the rest were ignored outcomes, e.g. the caller's cancellation).
	WouldReject          uint64 `json:"would_reject"`
	WouldRejectFailed    uint64 `json:"would_reject_failed"`
	WouldRejectSucceeded uint64 `json:"would_reject_succeeded"`
}

func (s *shadow) report(now time.Time) SettingReport {
	b := s.b
	st := b.State() // applies a pending open -> half-open change
	opened := b.transitions[StateClosed][StateOpen].Load() + b.transitions[StateHalfOpen][StateOpen].Load()
	// A shadow leaves open only when its timeout ends, so every finished
	// open period lasted exactly Timeout.
	timeout := b.cfg.Timeout
	finished := opened
	var open time.Duration
	if st == StateOpen && finished > 0 {
		finished--
		open = min(max(now.Sub(time.Unix(0, b.since.Load())), 0), timeout)
	}
	open += time.Duration(finished) * timeout
	return SettingReport{
		Name: s.name, Settings: settingsOf(&b.cfg), Since: s.since.UTC(), Calls: s.calls.Load(),
		State: st, Opened: opened, OpenSeconds: open.Seconds(),
		WouldReject:          b.wouldReject.Load(),
		WouldRejectFailed:    s.rejectedFailed.Load(),
		WouldRejectSucceeded: s.rejectedSucceeded.Load(),
	}
}

// Tune reports how the breaker's own setting and each of its candidates
// would have behaved. It fails with ErrNoCandidate for a breaker without
// candidates.
func (b *Breaker) Tune() (TuneReport, error) {
	cs := b.cands
	if cs == nil {
		return TuneReport{}, fmt.Errorf("breaker %q: %w: it has no candidates (add candidates to its configuration)", b.cfg.Name, ErrNoCandidate)
	}
	now := time.Now()
	mode := b.Mode()
	r := TuneReport{Name: b.cfg.Name, Mode: mode, Rejected: b.calls[OutcomeRejected].Load()}
	if mode == ModeEnforce {
		r.Sees = SeesCallsThatRan
		r.Note = "enforce mode: the settings saw only the calls that ran; the calls the breaker rejected did not run, so no setting saw them"
	} else {
		r.Sees = SeesAllCalls
		r.Note = mode.String() + " mode: every call ran, so every setting saw every call"
	}
	r.Settings = append(r.Settings, cs.current.Load().report(now))
	for _, s := range cs.candidates {
		r.Settings = append(r.Settings, s.report(now))
	}
	return r, nil
}

// Promotion is the result of Breaker.Promote.
type Promotion struct {
	Candidate string   `json:"candidate"`
	From      Settings `json:"from"`
	To        Settings `json:"to"`
}

// Promote applies the candidate's settings to the breaker, in this process
// only: like SetMode, it lasts until the process restarts (PromoteFrom with
// ModeSourceRuntime; ClearPromotion goes back to the configured settings).
// The breaker restarts its state machine with them (closed, a fresh window,
// like Reset; listeners see a change to closed if it was not closed) and
// cumulative counters keep counting. The current setting's shadow restarts
// too, with the new settings; the candidates keep theirs. It fails with
// ErrNoCandidate for a name the breaker has no candidate for.
func (b *Breaker) Promote(candidate string) (Promotion, error) {
	return b.PromoteFrom(candidate, ModeSourceRuntime)
}

func (b *Breaker) candidateList() string {
	if b.cands == nil {
		return "none"
	}
	names := make([]string, len(b.cands.candidates))
	for i, s := range b.cands.candidates {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// candidateInstruments are the registry's candidate metrics, read at
// collection from the shadows.
type candidateInstruments struct {
	state       metric.Int64ObservableGauge
	wouldReject metric.Int64ObservableCounter
	transitions metric.Int64ObservableCounter
	reg         metric.Registration
}

func (ci *candidateInstruments) init(r *Registry) error {
	m := r.meter()
	var err error
	errs := make([]error, 0, 4)
	ci.state, err = m.Int64ObservableGauge(MetricCandidateState,
		metric.WithDescription("State a candidate setting of the breaker would be in: 0 closed, 1 half-open, 2 open."))
	errs = append(errs, err)
	ci.wouldReject, err = m.Int64ObservableCounter(MetricCandidateWouldReject,
		metric.WithDescription("Calls a candidate setting of the breaker would have rejected (they ran)."))
	errs = append(errs, err)
	ci.transitions, err = m.Int64ObservableCounter(MetricCandidateTransitions,
		metric.WithDescription("State changes a candidate setting of the breaker would have made."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ci.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, b := range r.list() {
			if b.cands == nil {
				continue
			}
			for _, s := range b.cands.candidates {
				ci.observe(o, s)
			}
		}
		return nil
	}, ci.state, ci.wouldReject, ci.transitions)
	return err
}

func (ci *candidateInstruments) observe(o metric.Observer, s *shadow) {
	o.ObserveInt64(ci.state, int64(s.b.State()), s.attrs)
	o.ObserveInt64(ci.wouldReject, int64(s.b.wouldReject.Load()), s.attrs)
	for i, t := range canonicalTransitions {
		o.ObserveInt64(ci.transitions, int64(s.b.transitions[t[0]][t[1]].Load()), s.transitionAttrs[i])
	}
}

func (ci *candidateInstruments) close() error {
	if ci.reg == nil {
		return nil
	}
	return ci.reg.Unregister()
}
