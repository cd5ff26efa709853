package breaker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// fieldErrors returns the fields of the problems Validate joined, failing
// the test for one that is not a *FieldError or whose text is not
// "field: msg".
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate = %v, want problems joined", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var fe *breaker.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v (%T) is not a *FieldError", e, e)
		}
		if fe.Error() != fe.Field+": "+fe.Msg {
			t.Errorf("Error() = %q, want %q", fe.Error(), fe.Field+": "+fe.Msg)
		}
		got = append(got, fe.Field)
	}
	return got
}

// Each problem Validate finds with a field is a *FieldError naming it,
// which config uses to locate it.
func TestConfigValidateFieldErrors(t *testing.T) {
	err := breaker.Config{Name: "a", Mode: 7, FailureRate: 2, SlowCall: -1, Timeout: -1, Window: time.Millisecond, Bucket: -1}.Validate()
	if got, want := fieldErrors(t, err), []string{"mode", "failure_rate", "slow_call", "timeout", "window", "bucket"}; !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	err = breaker.Config{Name: "a", Window: 10 * time.Second, Bucket: 20 * time.Second}.Validate()
	if got, want := fieldErrors(t, err), []string{"window"}; !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	err = breaker.Config{Name: "a", Bucket: time.Second}.Validate()
	if got, want := fieldErrors(t, err), []string{"bucket"}; !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
}

// A candidate's problems name its path, candidates.NAME[.KEY], even when
// NAME holds a colon; the text stays "path: msg".
func TestCandidateFieldErrors(t *testing.T) {
	err := breaker.Config{Name: "a", Candidates: map[string]breaker.Candidate{
		"x:y":     {Timeout: new(time.Second)},
		"current": {Timeout: new(time.Second)},
		"empty":   {},
		"zero":    {FailureThreshold: new(uint32(0))},
		"rate":    {FailureRate: new(1.5), SlowCall: new(-time.Second)},
	}}.Validate()
	want := []string{"candidates.current", "candidates.empty", "candidates.rate.failure_rate", "candidates.rate.slow_call",
		"candidates.x:y", "candidates.zero.failure_threshold"}
	if got := fieldErrors(t, err); !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	if want := "candidates.rate.failure_rate: 1.5 is outside (0, 1] (0 turns it off)"; !slices.ContainsFunc(splitJoined(err), func(e error) bool { return e.Error() == want }) {
		t.Errorf("Validate = %v, want a problem %q", err, want)
	}

	many := map[string]breaker.Candidate{}
	for i := range breaker.MaxCandidates + 1 {
		many[string(rune('a'+i))] = breaker.Candidate{Timeout: new(time.Second)}
	}
	err = breaker.Config{Name: "a", Candidates: many}.Validate()
	if got, want := fieldErrors(t, err), []string{"candidates"}; !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
}

// A bad name is ValidateName's error, not a *FieldError, with its text.
func TestConfigValidateBadName(t *testing.T) {
	err := breaker.Config{Name: "bad name", Timeout: -1}.Validate()
	errs := splitJoined(err)
	if len(errs) != 2 {
		t.Fatalf("Validate = %v, want two problems", err)
	}
	var fe *breaker.FieldError
	if errors.As(errs[0], &fe) || errs[0].Error() != breaker.ValidateName("bad name").Error() {
		t.Errorf("first problem %v (%T), want ValidateName's error", errs[0], errs[0])
	}
	if !errors.As(errs[1], &fe) || fe.Field != "timeout" {
		t.Errorf("second problem %v (%T), want a *FieldError for timeout", errs[1], errs[1])
	}
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
