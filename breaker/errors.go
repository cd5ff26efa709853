package breaker

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrOpen is matched (errors.Is) by the error of a call rejected because
	// its breaker is open.
	ErrOpen = errors.New("circuit breaker is open")
	// ErrTooManyRequests is matched by the error of a call rejected because
	// the half-open breaker already has its probes in flight.
	ErrTooManyRequests = errors.New("circuit breaker is half-open and its probes are in flight")
	// ErrNotFound is returned for a breaker name the registry does not hold.
	ErrNotFound = errors.New("no such circuit breaker")
)

// RejectedError is the error of a call that a breaker rejected without
// running it. errors.Is matches it against ErrOpen or ErrTooManyRequests.
type RejectedError struct {
	// Name of the breaker.
	Name string
	// State of the breaker when it rejected the call (open or half-open).
	State State
	// RetryAt is when the breaker will next let a call through: the end of
	// the open timeout, or now for a half-open breaker whose probes are busy.
	RetryAt time.Time
	err     error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("circuit breaker %q: %v (retry at %s)", e.Name, e.err, e.RetryAt.UTC().Format(time.RFC3339Nano))
}

// Unwrap returns ErrOpen or ErrTooManyRequests.
func (e *RejectedError) Unwrap() error { return e.err }

// RetryAfter is how long from now until RetryAt, never negative.
func (e *RejectedError) RetryAfter() time.Duration {
	d := time.Until(e.RetryAt)
	if d < 0 {
		return 0
	}
	return d
}

// IsRejected reports whether err is (or wraps) a breaker's rejection.
func IsRejected(err error) bool {
	return errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyRequests)
}
