package breaker

import (
	"fmt"
)

// Promotions, like modes, remember where they come from, so that a fleet
// can store them as overrides (package fleet) and the admin API can say
// why a breaker runs with other settings than its configuration's.

// promotion is the candidate whose settings a breaker runs with.
type promotion struct {
	candidate, source string
}

// Promoted returns the candidate whose settings the breaker runs with and
// where that promotion comes from (ModeSourceRuntime, or a fleet
// override's description); "" and ModeSourceConfig when it runs with its
// configured settings.
func (b *Breaker) Promoted() (candidate, source string) {
	if b.cands != nil {
		if p := b.cands.promoted.Load(); p != nil {
			return p.candidate, p.source
		}
	}
	return "", ModeSourceConfig
}

// PromoteFrom is Promote recording where the promotion comes from
// (Promoted). Promoting the candidate already promoted only records the
// new source: the state machine is not restarted.
func (b *Breaker) PromoteFrom(candidate, source string) (Promotion, error) {
	cs := b.cands
	var s *shadow
	if cs != nil {
		s = cs.find(candidate)
	}
	if s == nil {
		return Promotion{}, fmt.Errorf("breaker %q: %w %q (candidates: %s)", b.cfg.Name, ErrNoCandidate, candidate, b.candidateList())
	}
	b.restartMu.Lock()
	prev := b.tuned.Load()
	if p := cs.promoted.Load(); p != nil && p.candidate == candidate {
		cs.promoted.Store(&promotion{candidate: candidate, source: source})
		b.restartMu.Unlock()
		return Promotion{Candidate: candidate, From: settingsOf(prev), To: settingsOf(prev)}, nil
	}
	next := *prev
	sc := &s.b.cfg
	next.FailureThreshold, next.MinThroughput, next.FailureRate = sc.FailureThreshold, sc.MinThroughput, sc.FailureRate
	next.SlowCall, next.Timeout, next.HalfOpenRequests = sc.SlowCall, sc.Timeout, sc.HalfOpenRequests
	next.Window, next.Bucket = sc.Window, sc.Bucket
	b.tuned.Store(&next)
	cs.current.Store(newShadow(CurrentSetting, shadowConfig(next, Candidate{})))
	cs.promoted.Store(&promotion{candidate: candidate, source: source})
	b.restartMu.Unlock()
	b.restart("promoted candidate " + candidate)
	return Promotion{Candidate: candidate, From: settingsOf(prev), To: settingsOf(&next)}, nil
}

// ClearPromotion puts the breaker back on its configured settings, as
// Promote puts it on a candidate's (the state machine and the current
// setting's shadow restart), and returns the change with Candidate empty.
// Without a promotion it changes nothing and returns the configured
// settings as both From and To. It fails with ErrNoCandidate for a breaker
// without candidates.
func (b *Breaker) ClearPromotion() (Promotion, error) {
	cs := b.cands
	if cs == nil {
		return Promotion{}, fmt.Errorf("breaker %q: %w: it has no candidates (add candidates to its configuration)", b.cfg.Name, ErrNoCandidate)
	}
	b.restartMu.Lock()
	prev := b.tuned.Load()
	if cs.promoted.Load() == nil {
		b.restartMu.Unlock()
		return Promotion{From: settingsOf(prev), To: settingsOf(prev)}, nil
	}
	next := b.cfg
	b.tuned.Store(&next)
	cs.current.Store(newShadow(CurrentSetting, shadowConfig(next, Candidate{})))
	cs.promoted.Store(nil)
	b.restartMu.Unlock()
	b.restart("promotion cleared: back to the configured settings")
	return Promotion{From: settingsOf(prev), To: settingsOf(&next)}, nil
}

// HasCandidates reports whether the breaker has candidate settings (and so
// can be promoted).
func (b *Breaker) HasCandidates() bool { return b.cands != nil }
