package breaker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// A state reads back from its JSON text, as in a decoded TuneReport.
func TestStateTextRoundTrip(t *testing.T) {
	for _, s := range []breaker.State{breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + s.String() + `"`; string(b) != want {
			t.Errorf("Marshal(%v) = %s, want %s", s, b, want)
		}
		got := breaker.State(-1)
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, got, err, s)
		}
	}
}

// Only the three names decode; the error names the bad value.
func TestStateUnmarshalTextRejects(t *testing.T) {
	for _, text := range []string{"", "Open", " open", "half_open", "halfopen", "2", "state(7)"} {
		s := breaker.StateOpen
		err := s.UnmarshalText([]byte(text))
		if err == nil {
			t.Errorf("UnmarshalText(%q) = nil, state %v; want an error", text, s)
			continue
		}
		if want := `unknown state "` + text + `" (want closed, half-open or open)`; err.Error() != want {
			t.Errorf("UnmarshalText(%q) = %q, want %q", text, err, want)
		}
		if s != breaker.StateOpen {
			t.Errorf("UnmarshalText(%q) changed the state to %v", text, s)
		}
	}
	var v struct{ State breaker.State }
	if err := json.Unmarshal([]byte(`{"State":"shut"}`), &v); err == nil || !strings.Contains(err.Error(), `"shut"`) {
		t.Errorf("json.Unmarshal of state shut = %v, want an error naming it", err)
	}
}
