package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// What the fleet keeps in Redis, under Options.KeyPrefix (P):
//
//	P members             sorted set: replica -> last heartbeat (unix ms)
//	P ev:NAME             hash: replica -> evidence (JSON), every publish interval
//	P open:NAME           string: the fleet's open decision (JSON), expires
//	P epoch:NAME          counter: numbers the open decisions
//	P probe:NAME:EPOCH    string: the replica that owns the half-open probe (lease)
//	P mode:NAME           string: a mode override (JSON) until cleared
//	P reset:NAME          string: the last reset override (JSON), expires
//	P promote:NAME        string: a promotion override (JSON) until cleared
//	P events              pub/sub channel: "sync now"
//
// Every value is checked before use: a missing, expired, stale or garbled
// one is ignored (and counted), never trusted.

// recordVersion is the version of every JSON value the fleet writes.
const recordVersion = 1

// evidence is one replica's published evidence for one breaker.
type evidence struct {
	V        int    `json:"v"`
	At       int64  `json:"at"` // unix ms when published
	Mode     string `json:"mode"`
	State    string `json:"state"`
	Fleet    bool   `json:"fleet"` // the state was applied from a fleet decision
	Requests uint32 `json:"req"`
	OK       uint32 `json:"ok"`
	Fail     uint32 `json:"fail"`
	Consec   uint32 `json:"consec"`
	Streak   int64  `json:"streak,omitempty"`  // unix ms of the streak's first failure
	LastOK   int64  `json:"last_ok,omitempty"` // unix ms of the last success
	Until    int64  `json:"until,omitempty"`   // unix ms, while open
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func newEvidence(now time.Time, e breaker.Evidence, fromFleet bool) evidence {
	return evidence{
		V: recordVersion, At: now.UnixMilli(), Mode: e.Mode.String(), State: e.State.String(), Fleet: fromFleet,
		Requests: e.Requests, OK: e.Successes, Fail: e.Failures, Consec: e.ConsecutiveFailures,
		Streak: ms(e.StreakStart), LastOK: ms(e.LastSuccess), Until: ms(e.OpenUntil),
	}
}

var errGarbled = errors.New("garbled")

// parseEvidence decodes and checks one replica's evidence.
func parseEvidence(data string) (evidence, error) {
	var e evidence
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return e, fmt.Errorf("%w: %v", errGarbled, err)
	}
	if e.V != recordVersion || e.At <= 0 || e.Streak < 0 || e.LastOK < 0 || e.Until < 0 {
		return e, fmt.Errorf("%w: version or times out of range", errGarbled)
	}
	if _, err := breaker.ParseMode(e.Mode); err != nil {
		return e, fmt.Errorf("%w: %v", errGarbled, err)
	}
	// Every replica, old or new, writes State.String(), which is exactly
	// what UnmarshalText reads back (closed, half-open, open; case matters).
	var st breaker.State
	if err := st.UnmarshalText([]byte(e.State)); err != nil {
		return e, fmt.Errorf("%w: %v", errGarbled, err)
	}
	if e.OK > e.Requests || e.Fail > e.Requests || e.Consec > e.Fail {
		return e, fmt.Errorf("%w: counts do not add up", errGarbled)
	}
	return e, nil
}

// openRecord is the fleet's decision to open a breaker.
type openRecord struct {
	V      int    `json:"v"`
	Epoch  int64  `json:"epoch"`
	Until  int64  `json:"until"` // unix ms: the end of the open period
	By     string `json:"by"`    // the replica that decided
	Reason string `json:"reason"`
}

func parseOpen(data string) (openRecord, error) {
	var r openRecord
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("%w: %v", errGarbled, err)
	}
	if r.V != recordVersion || r.Epoch <= 0 || r.Until <= 0 || r.By == "" {
		return r, fmt.Errorf("%w: missing fields", errGarbled)
	}
	return r, nil
}

// override is a mode override, a promotion or a reset, with who asked and
// when.
type override struct {
	V         int       `json:"v"`
	Mode      string    `json:"mode,omitempty"`      // mode overrides only
	Candidate string    `json:"candidate,omitempty"` // promotions only
	By        string    `json:"by"`
	At        time.Time `json:"at"`
	ID        string    `json:"id,omitempty"` // resets only: tells resets apart
}

// parsePromotion decodes and checks a promotion override.
func parsePromotion(data string) (override, error) {
	var o override
	if err := json.Unmarshal([]byte(data), &o); err != nil {
		return o, fmt.Errorf("%w: %v", errGarbled, err)
	}
	if o.V != recordVersion || o.By == "" || o.At.IsZero() || o.Candidate == "" {
		return o, fmt.Errorf("%w: missing fields", errGarbled)
	}
	return o, nil
}

func parseOverride(data string, isMode bool) (override, breaker.Mode, error) {
	var o override
	if err := json.Unmarshal([]byte(data), &o); err != nil {
		return o, 0, fmt.Errorf("%w: %v", errGarbled, err)
	}
	if o.V != recordVersion || o.By == "" || o.At.IsZero() {
		return o, 0, fmt.Errorf("%w: missing fields", errGarbled)
	}
	if !isMode {
		if o.ID == "" {
			return o, 0, fmt.Errorf("%w: reset without id", errGarbled)
		}
		return o, 0, nil
	}
	m, err := breaker.ParseMode(o.Mode)
	if err != nil {
		return o, 0, fmt.Errorf("%w: %v", errGarbled, err)
	}
	return o, m, nil
}

// source is how ModeSource describes an override.
func (o override) source() string {
	return fmt.Sprintf("override by %s at %s", o.By, o.At.UTC().Format(time.RFC3339))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return string(b)
}
