package breaker

import (
	"fmt"

	"github.com/sony/gobreaker/v2"
)

// State is a breaker's state. The numbering is gobreaker's and is what the
// circuit_breaker_state gauge reports.
type State int

const (
	StateClosed   State = State(gobreaker.StateClosed)   // 0
	StateHalfOpen State = State(gobreaker.StateHalfOpen) // 1
	StateOpen     State = State(gobreaker.StateOpen)     // 2
)

// String returns closed, half-open or open.
func (s State) String() string {
	switch s {
	case StateClosed:
		return StateClosedValue
	case StateHalfOpen:
		return StateHalfOpenValue
	case StateOpen:
		return StateOpenValue
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name: closed, half-open or open.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case StateClosedValue:
		*s = StateClosed
	case StateHalfOpenValue:
		*s = StateHalfOpen
	case StateOpenValue:
		*s = StateOpen
	default:
		return fmt.Errorf("unknown state %q (want closed, half-open or open)", b)
	}
	return nil
}

// Mode says what a breaker does with the calls its state machine would reject.
type Mode int32

const (
	// ModeEnforce is a normal breaker: an open breaker rejects calls.
	ModeEnforce Mode = iota
	// ModeMonitor runs the state machine exactly as if enforcing, but blocks
	// nothing: calls that enforcement would have rejected run anyway, are
	// counted as would-reject, and their outcomes do not feed the state machine.
	ModeMonitor
	// ModeDisabled passes every call through and measures it; no state machine.
	ModeDisabled
)

// String returns enforce, monitor or disabled.
func (m Mode) String() string {
	switch m {
	case ModeEnforce:
		return ModeEnforceValue
	case ModeMonitor:
		return ModeMonitorValue
	case ModeDisabled:
		return ModeDisabledValue
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode parses enforce, monitor or disabled.
func ParseMode(s string) (Mode, error) {
	switch s {
	case ModeEnforceValue:
		return ModeEnforce, nil
	case ModeMonitorValue:
		return ModeMonitor, nil
	case ModeDisabledValue:
		return ModeDisabled, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want enforce, monitor or disabled)", s)
}

// MarshalText encodes the mode as its name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes a mode name.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Outcome classifies a finished call.
type Outcome int

const (
	// OutcomeSuccess: the dependency did its job.
	OutcomeSuccess Outcome = iota
	// OutcomeFailure: the dependency failed; feeds the state machine.
	OutcomeFailure
	// OutcomeIgnored: neither success nor failure (by default, the caller's
	// own cancellation); does not feed the state machine.
	OutcomeIgnored
	// OutcomeRejected: the breaker rejected the call; it never ran.
	OutcomeRejected
	numOutcomes
)

// String returns success, failure, ignored or rejected.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return OutcomeSuccessValue
	case OutcomeFailure:
		return OutcomeFailureValue
	case OutcomeIgnored:
		return OutcomeIgnoredValue
	case OutcomeRejected:
		return OutcomeRejectedValue
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}
