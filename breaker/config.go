package breaker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults applied to zero fields of Config.
const (
	DefaultFailureThreshold = 5
	DefaultMinThroughput    = 1
	DefaultTimeout          = 60 * time.Second
	DefaultHalfOpenRequests = 1
	DefaultWindow           = 60 * time.Second
	// MaxWindowBuckets bounds how many buckets a window holds (memory per breaker).
	MaxWindowBuckets = 10
	// MinWindow is the shortest window: rates and percentiles over less
	// than a second describe a handful of calls and scheduling noise, and a
	// window of nanoseconds holds no call at all.
	MinWindow = time.Second
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidateName checks that name can be a breaker name: 1 to 64 characters
// from [A-Za-z0-9_.-]. Names become label values, so they are bounded.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("name %q: must match [A-Za-z0-9_.-]{1,64}", name)
	}
	return nil
}

// Classifier decides the outcome of a finished call from the caller's
// context and the call's error. It replaces the default classification: nil
// is a success, the caller's own cancellation is ignored, anything else is a
// failure.
type Classifier func(ctx context.Context, err error) Outcome

// Config configures one breaker. Its zero value, with a Name, is a working
// breaker in enforce mode; every default is applied by Validate-ing copies in
// Registry.Register and written next to its field.
type Config struct {
	// Name identifies the breaker and is the value of its name label. Required.
	Name string `json:"name"`
	// Mode is enforce (the zero value), monitor or disabled.
	Mode Mode `json:"mode"`
	// FailureThreshold opens the breaker when consecutive failures reach it,
	// however far apart in time they are (the window does not apply; slow
	// calls count as failures). Default 5 (gobreaker's own default trips on
	// the 6th; this trips on the 5th).
	FailureThreshold uint32 `json:"failure_threshold"`
	// MinThroughput: no trip, by failure_threshold or by failure_rate,
	// before this many calls in the current window. Default 1.
	MinThroughput uint32 `json:"min_throughput"`
	// FailureRate, in (0, 1], also opens the breaker when failures / calls over
	// the window reach it. 0 turns it off (the default).
	FailureRate float64 `json:"failure_rate"`
	// SlowCall: calls slower than this count toward tripping as failures and
	// are counted as slow. 0 turns it off (the default).
	SlowCall time.Duration `json:"slow_call"`
	// Timeout is how long the breaker stays open before it lets probes
	// through (half-open). Default 60s.
	Timeout time.Duration `json:"timeout"`
	// HalfOpenRequests is how many probes a half-open breaker lets through,
	// and how many consecutive successes close it. Default 1.
	HalfOpenRequests uint32 `json:"half_open_requests"`
	// Window is the rolling window for trip rates, the error rate and the
	// latency percentiles; consecutive failures are counted across windows.
	// At least MinWindow. Default 60s.
	Window time.Duration `json:"window"`
	// Bucket is the window's granularity: the window rolls one bucket at a
	// time. Default Window/10 (rounded up); a window holds at most 10 buckets.
	Bucket time.Duration `json:"bucket"`
	// Candidates are other settings evaluated in the breaker's shadow, by
	// name (a label value, like Name; "current" is reserved): each runs the
	// breaker's state machine on the breaker's calls without blocking
	// anything (see Candidate and Breaker.Tune). At most MaxCandidates.
	// With candidates, Classifier is called twice per call. Optional.
	Candidates map[string]Candidate `json:"candidates,omitempty"`
	// Classifier overrides the default outcome classification. Optional.
	Classifier Classifier `json:"-"`
	// OnStateChange, if set, is called after each state change of this
	// breaker, outside any lock. Optional.
	OnStateChange func(StateChange) `json:"-"`
}

// withDefaults returns c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.MinThroughput == 0 {
		c.MinThroughput = DefaultMinThroughput
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = DefaultHalfOpenRequests
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Bucket == 0 {
		// Rounded up, so the window never needs more than MaxWindowBuckets.
		c.Bucket = (c.Window + MaxWindowBuckets - 1) / MaxWindowBuckets
	}
	return c
}

// FieldError is one problem that Validate finds with a field of Config:
// Field is the field's key in a configuration file (mode, failure_rate,
// slow_call, timeout, window, bucket, candidates, or for a candidate
// candidates.NAME or candidates.NAME.KEY) and Msg what is wrong with it.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldError(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate returns every problem with c, joined; nil when c (with defaults
// applied to zero fields) is usable. A bad Name is ValidateName's error
// (whose text, name "x": ..., is not a FieldError's); every other problem
// is a *FieldError naming its field.
func (c Config) Validate() error {
	var errs []error
	if err := ValidateName(c.Name); err != nil {
		errs = append(errs, err)
	}
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldError(field, format, args...))
	}
	switch c.Mode {
	case ModeEnforce, ModeMonitor, ModeDisabled:
	default:
		add("mode", "unknown mode %d (want enforce, monitor or disabled)", int(c.Mode))
	}
	if c.FailureRate < 0 || c.FailureRate > 1 || c.FailureRate != c.FailureRate {
		add("failure_rate", "%v is outside (0, 1] (0 turns it off)", c.FailureRate)
	}
	if c.SlowCall < 0 {
		add("slow_call", "%v is negative (0 turns it off)", c.SlowCall)
	}
	if c.Timeout < 0 {
		add("timeout", "%v is negative", c.Timeout)
	}
	if c.Window < 0 {
		add("window", "%v is negative", c.Window)
	} else if c.Window > 0 && c.Window < MinWindow {
		add("window", "%v is shorter than the minimum %v", c.Window, MinWindow)
	}
	if c.Bucket < 0 {
		add("bucket", "%v is negative", c.Bucket)
	}
	if c.Window >= 0 && c.Bucket >= 0 {
		d := c.withDefaults()
		if d.Window < d.Bucket {
			add("window", "%v is shorter than its bucket %v", d.Window, d.Bucket)
		} else if n := (d.Window + d.Bucket - 1) / d.Bucket; n > MaxWindowBuckets {
			add("bucket", "%v makes %d buckets in window %v (at most %d)", d.Bucket, n, d.Window, MaxWindowBuckets)
		}
	}
	errs = append(errs, c.validateCandidates(len(errs) == 0)...)
	return errors.Join(errs...)
}

// buckets is how many buckets the window holds.
func (c Config) buckets() int {
	return int((c.Window + c.Bucket - 1) / c.Bucket)
}
