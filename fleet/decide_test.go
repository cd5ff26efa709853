package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestPoolAndTrip(t *testing.T) {
	cfg := breaker.Config{FailureThreshold: 5, MinThroughput: 1, FailureRate: 0}
	ev := func(ok, fail, consec uint32, streak, lastOK int64) evidence {
		return evidence{V: 1, At: 1, Mode: "enforce", State: "closed", Requests: ok + fail, OK: ok, Fail: fail, Consec: consec, Streak: streak, LastOK: lastOK}
	}
	tests := map[string]struct {
		cfg    breaker.Config
		evs    []evidence
		trip   bool
		reason string
	}{
		"no evidence": {cfg: cfg},
		"five failures over three replicas after the last success": {
			cfg: cfg, evs: []evidence{ev(1, 2, 2, 200, 100), ev(1, 2, 2, 210, 90), ev(0, 1, 1, 220, 0)},
			trip: true, reason: "5 consecutive failures across 3 replica(s)",
		},
		"a replica's run began before another's success: contradicted": {
			cfg: cfg, evs: []evidence{ev(0, 4, 4, 100, 0), ev(5, 1, 1, 300, 200), ev(5, 0, 0, 0, 250)},
		},
		"disabled replicas count nothing": {
			cfg: cfg, evs: []evidence{{V: 1, At: 1, Mode: "disabled", State: "closed", Requests: 9, Fail: 9, Consec: 9, Streak: 5}, ev(0, 4, 4, 5, 0)},
		},
		"min_throughput counts fleet-wide": {
			cfg: breaker.Config{FailureThreshold: 100, MinThroughput: 10, FailureRate: 0.5},
			evs: []evidence{ev(2, 3, 0, 0, 100), ev(2, 3, 0, 0, 100)}, trip: true, reason: "failure rate 0.6 over 10 calls",
		},
		"min_throughput not reached": {
			cfg: breaker.Config{FailureThreshold: 100, MinThroughput: 11, FailureRate: 0.5},
			evs: []evidence{ev(2, 3, 0, 0, 100), ev(2, 3, 0, 0, 100)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			trip, reason := pool(tc.evs).trip(tc.cfg)
			if trip != tc.trip || !strings.Contains(reason, tc.reason) {
				t.Errorf("trip %v %q, want %v %q", trip, reason, tc.trip, tc.reason)
			}
		})
	}
}

func TestLiveDropsSilentReplicas(t *testing.T) {
	now := time.UnixMilli(10_000)
	evs := map[string]evidence{"a": {At: 9_900}, "b": {At: 5_000}, "c": {At: 9_950}, "d": {At: 60_000}}
	got := live(evs, map[string]bool{"a": true, "b": true, "d": true}, now, time.Second)
	if len(got) != 1 || got[0].At != 9_900 {
		t.Errorf("live %+v, want only a (b is stale, c left the members, d is from the future)", got)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, raw := range []string{``, `null`, `{}`, `{"v":2,"at":1,"mode":"enforce","state":"closed"}`,
		`{"v":1,"at":1,"mode":"sideways","state":"closed"}`, `{"v":1,"at":1,"mode":"enforce","state":"ajar"}`,
		`{"v":1,"at":1,"mode":"enforce","state":"closed","req":1,"fail":2}`} {
		if _, err := parseEvidence(raw); err == nil {
			t.Errorf("parseEvidence(%q) accepted it", raw)
		}
	}
	for _, raw := range []string{`{"v":1,"epoch":0,"until":5,"by":"a"}`, `{"v":1,"epoch":1,"until":5}`, `[]`} {
		if _, err := parseOpen(raw); err == nil {
			t.Errorf("parseOpen(%q) accepted it", raw)
		}
	}
	if _, _, err := parseOverride(`{"v":1,"mode":"enforce","by":"a"}`, true); err == nil {
		t.Error("an override without a time was accepted")
	}
}

// The state in a replica's evidence is exactly what State.String() writes,
// in any version: closed, half-open and open parse, nothing else does (no
// other case, no half_open), and the error names the bad value and the
// valid ones.
func TestParseEvidenceStates(t *testing.T) {
	for _, st := range []breaker.State{breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen} {
		raw := `{"v":1,"at":1,"mode":"enforce","state":"` + st.String() + `"}`
		if e, err := parseEvidence(raw); err != nil || e.State != st.String() {
			t.Errorf("parseEvidence(%q) = %q, %v; want it accepted", raw, e.State, err)
		}
	}
	for _, bad := range []string{"", "Closed", "OPEN", "half_open", "halfopen", "Half-Open", " open", "open ", "state(3)", "1"} {
		raw := `{"v":1,"at":1,"mode":"enforce","state":"` + bad + `"}`
		_, err := parseEvidence(raw)
		want := fmt.Sprintf("garbled: unknown state %q (want closed, half-open or open)", bad)
		if !errors.Is(err, errGarbled) || err.Error() != want {
			t.Errorf("parseEvidence(%q) = %v; want %q", raw, err, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"no url":            {Options{}, "redis: required"},
		"bad scheme":        {Options{URL: "http://x"}, "redis:"},
		"password redacted": {Options{URL: "redis://u:s3cret@host:notaport"}, "redis:"},
		"negative":          {Options{URL: "redis://h:1", PublishInterval: -1}, "publish_interval"},
		"heartbeat short":   {Options{URL: "redis://h:1", PublishInterval: time.Second, Heartbeat: time.Millisecond * 100}, "heartbeat"},
		"too fast":          {Options{URL: "redis://h:1", PublishInterval: time.Millisecond}, "publish_interval"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v, want an error naming %q (and no password)", name, err, tc.want)
		}
	}
	if err := (Options{URL: "redis://127.0.0.1:6379/0"}).Validate(); err != nil {
		t.Error(err)
	}
}

// Each problem Validate finds is a *FieldError naming its field, which
// config uses to locate it.
func TestOptionsValidateFieldErrors(t *testing.T) {
	err := Options{PublishInterval: -1, Heartbeat: -1, Instance: strings.Repeat("x", 129)}.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate = %v, want four problems joined", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v (%T) is not a *FieldError", e, e)
		}
		if fe.Error() != fe.Field+": "+fe.Msg {
			t.Errorf("Error() = %q, want %q", fe.Error(), fe.Field+": "+fe.Msg)
		}
		got = append(got, fe.Field)
	}
	if want := []string{"redis", "publish_interval", "heartbeat", "instance"}; !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
}
