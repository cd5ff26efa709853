package breaker

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Forced state changes.
//
// gobreaker has no way to set a breaker's state. A Breaker already swaps its
// whole state machine (a generation) on Reset; ForceOpen and ForceHalfOpen do
// the same with a generation that starts in the wanted state. The window (the
// error rate and latency percentiles) is carried over: a forced change says
// nothing about the calls already made. Cumulative counters keep counting.
//
// To build a gobreaker state machine that starts open or half-open, the new
// generation's breaker is created through gobreaker's public
// DistributedCircuitBreaker API with a private in-memory SharedDataStore that
// holds the wanted state: DistributedCircuitBreaker.State loads the stored
// state into the embedded CircuitBreaker. After that one load the embedded
// *CircuitBreaker is used on its own, exactly like the one newGeneration
// builds; the store is never consulted again. TestForceOpen and
// TestForceHalfOpen check this against gobreaker, so an upgrade that changes
// it fails there.

// ForceOpen opens the breaker now, as if it had tripped: calls are rejected
// (in enforce mode) until the open timeout (Config.Timeout) ends, then the
// breaker lets probes through as usual. It reports whether the state changed:
// false when the breaker is already open, is disabled, or another change
// (Reset, SetMode, another forced change) won a race with this one.
// Listeners see the change with the given reason ("forced open" if empty).
func (b *Breaker) ForceOpen(reason string) bool {
	if reason == "" {
		reason = "forced open"
	}
	return b.force(StateOpen, reason, time.Time{}, func(s State) bool { return s != StateOpen })
}

// ForceHalfOpen moves an open breaker to half-open now, before its open
// timeout ends: the next Config.HalfOpenRequests calls run as probes and
// decide, as usual, whether it closes or opens again (for a full timeout). It
// reports whether the state changed: false when the breaker is not open, is
// disabled, or another change won a race with this one. Listeners see the
// change with the given reason ("forced half-open" if empty).
func (b *Breaker) ForceHalfOpen(reason string) bool {
	if reason == "" {
		reason = "forced half-open"
	}
	return b.force(StateHalfOpen, reason, time.Time{}, func(s State) bool { return s == StateOpen })
}

// force swaps in a generation that starts in state to, open until until
// (zero: for the configured timeout), if allowed says so for the current
// state.
func (b *Breaker) force(to State, reason string, until time.Time, allowed func(State) bool) bool {
	if Mode(b.mode.Load()) == ModeDisabled {
		return false
	}
	old := b.gen.Load()
	if !allowed(State(old.cb.State())) {
		b.deliver()
		return false
	}
	ng, err := b.forcedGeneration(time.Now(), old.win, to, until)
	if err != nil {
		return false // only on a gobreaker that no longer loads shared state
	}
	if !b.gen.CompareAndSwap(old, ng) {
		return false
	}
	// As in restart: the previous generation may have reported a change of
	// its own in the meantime; report from what the gauge last showed.
	from := State(b.state.Load())
	if from == to {
		b.deliver()
		return true
	}
	b.onStateChange(ng, from, to, reason)
	b.deliver()
	return true
}

// forcedGeneration returns a generation whose state machine starts in state
// (closed, open or half-open; open until until, or for the configured
// timeout when until is zero) and which shares win with the generation it
// replaces.
func (b *Breaker) forcedGeneration(now time.Time, win *window, state State, until time.Time) (*generation, error) {
	g := &generation{win: win, cfg: b.tuned.Load()}
	cfg := g.cfg
	settings := b.settings(g)
	if state == StateClosed {
		g.cb = gobreaker.NewCircuitBreaker[struct{}](settings)
		return g, nil
	}
	store := &stateStore{}
	dcb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](store, settings)
	if err != nil {
		return nil, err
	}
	var st gobreaker.SharedState
	if err := json.Unmarshal(store.get(), &st); err != nil {
		return nil, err
	}
	st.State = gobreaker.State(state)
	st.Start = now
	switch state {
	case StateOpen:
		st.Expiry = now.Add(cfg.Timeout)
		if !until.IsZero() {
			st.Expiry = until
			g.until.Store(until.UnixNano())
		}
	default:
		st.Expiry = time.Time{}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	store.set(data)
	got, err := dcb.State() // loads st into the embedded breaker
	if err != nil {
		return nil, err
	}
	if State(got) != state {
		return nil, errors.New("breaker: gobreaker did not load the forced state")
	}
	g.cb = dcb.CircuitBreaker
	return g, nil
}

// stateStore is a gobreaker.SharedDataStore for one state, in memory.
type stateStore struct {
	mu   sync.Mutex
	data []byte
}

func (s *stateStore) Lock(string) error   { return nil }
func (s *stateStore) Unlock(string) error { return nil }

func (s *stateStore) GetData(string) ([]byte, error) { return s.get(), nil }

func (s *stateStore) SetData(_ string, data []byte) error {
	s.set(data)
	return nil
}

func (s *stateStore) get() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

func (s *stateStore) set(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = append([]byte(nil), data...)
}
