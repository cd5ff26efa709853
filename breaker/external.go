package breaker

import (
	"time"
)

// Hooks for decisions made outside the process (package fleet pools the
// evidence of several replicas in Redis). They are small on purpose: the
// call path is unchanged except for keeping the current run of failures and
// the time of the last success in atomics, and everything here is meant to
// be called from a background loop, not per call.

// Where a breaker's mode comes from (ModeSource). A fleet override uses its
// own description ("override by ... at ...").
const (
	// ModeSourceConfig: the mode the breaker was registered with.
	ModeSourceConfig = "config"
	// ModeSourceRuntime: SetMode was called (e.g. by the admin API) and
	// nothing records it beyond this process.
	ModeSourceRuntime = "runtime"
)

// ModeSource says where the current mode comes from: ModeSourceConfig until
// the mode is changed, then the source given to SetModeFrom
// (ModeSourceRuntime for SetMode).
func (b *Breaker) ModeSource() string {
	if s := b.modeSource.Load(); s != nil {
		return *s
	}
	return ModeSourceConfig
}

// Evidence is what a breaker's state machine currently counts, for pooling
// with other processes' evidence.
type Evidence struct {
	// Mode and State are the breaker's (State as State returns it).
	Mode  Mode
	State State
	// OpenUntil is when the open period ends while State is open.
	OpenUntil time.Time
	// Requests, Successes and Failures are the state machine's counts: the
	// calls since its last state change, within the rolling window. In
	// monitor mode, calls that enforcement would have rejected are not
	// counted (exactly as the state machine does not count them). Slow
	// calls count as failures.
	Requests, Successes, Failures uint32
	// ConsecutiveFailures is the state machine's current run of failures;
	// StreakStart is when its first failure finished (zero without one).
	ConsecutiveFailures uint32
	StreakStart         time.Time
	// LastSuccess is when the last success the state machine counted
	// finished, in any generation (zero: none since registration).
	LastSuccess time.Time
}

// Evidence returns the state machine's current counts. It takes the state
// machine's lock briefly, like State: call it from a background loop.
func (b *Breaker) Evidence() Evidence {
	e := Evidence{Mode: b.Mode(), State: b.State()}
	if e.Mode != ModeDisabled {
		g := b.gen.Load()
		c := g.cb.Counts()
		e.Requests, e.Successes, e.Failures = c.Requests, c.TotalSuccesses, c.TotalFailures
		e.ConsecutiveFailures = g.streak.Load()
		if e.ConsecutiveFailures > 0 {
			if ns := g.streakStart.Load(); ns != 0 {
				e.StreakStart = time.Unix(0, ns)
			}
		}
	}
	if ns := b.lastSuccess.Load(); ns != 0 {
		e.LastSuccess = time.Unix(0, ns)
	}
	if e.State == StateOpen {
		e.OpenUntil = b.openUntil()
	}
	return e
}

// Apply puts the breaker in a state decided elsewhere: open until the given
// time (then half-open, as after its own timeout), half-open (until is
// ignored), or closed (until is ignored). The window is kept, like a forced
// change; the state machine's counts start afresh. Applying open to an open
// breaker moves its open-until without a state change. It reports whether
// anything changed: false for a disabled breaker, for closed on a closed
// breaker, for open with the same open-until, or when another change won a
// race with this one, or an open-until that is not in the future. Listeners see a state change with the given reason.
func (b *Breaker) Apply(to State, until time.Time, reason string) bool {
	if reason == "" {
		reason = "applied " + to.String()
	}
	switch to {
	case StateOpen:
		if !until.After(time.Now()) {
			return false
		}
		return b.force(to, reason, until, func(s State) bool {
			return s != StateOpen || !b.openUntil().Equal(until)
		})
	case StateHalfOpen:
		return b.force(to, reason, time.Time{}, func(s State) bool { return s != StateHalfOpen })
	case StateClosed:
		return b.force(to, reason, time.Time{}, func(s State) bool { return s != StateClosed })
	}
	return false
}
