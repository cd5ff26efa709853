package fleet

import (
	"fmt"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// pooled is the fleet's pooled evidence for one breaker.
type pooled struct {
	Replicas  int    // live replicas with usable evidence
	Requests  uint64 // calls the replicas' state machines count
	Successes uint64
	Failures  uint64
	// Consecutive counts the failures since the last success seen anywhere
	// in the fleet: a replica's run of failures counts only if it began
	// after every other replica's last success.
	Consecutive uint64
	// Contradicted counts the failures left out because another replica
	// succeeded after they began (a replica whose own path is broken).
	Contradicted uint64
}

// pool sums the evidence of live replicas. Evidence from disabled breakers
// counts nothing.
func pool(evs []evidence) pooled {
	var p pooled
	var lastOK int64
	for _, e := range evs {
		if e.Mode == breaker.ModeDisabledValue {
			continue
		}
		lastOK = max(lastOK, e.LastOK)
	}
	for _, e := range evs {
		if e.Mode == breaker.ModeDisabledValue {
			continue
		}
		p.Replicas++
		p.Requests += uint64(e.Requests)
		p.Successes += uint64(e.OK)
		p.Failures += uint64(e.Fail)
		if e.Consec == 0 {
			continue
		}
		if e.Streak >= lastOK {
			p.Consecutive += uint64(e.Consec)
		} else {
			p.Contradicted += uint64(e.Consec)
		}
	}
	return p
}

// trip says whether the pooled evidence opens the fleet under cfg, with the
// reason; the same rules as one breaker's, with min_throughput fleet-wide.
func (p pooled) trip(cfg breaker.Config) (bool, string) {
	if p.Requests < uint64(cfg.MinThroughput) || p.Requests == 0 {
		return false, ""
	}
	if p.Consecutive >= uint64(cfg.FailureThreshold) {
		return true, fmt.Sprintf("%d consecutive failures across %d replica(s) reached failure_threshold %d",
			p.Consecutive, p.Replicas, cfg.FailureThreshold)
	}
	if cfg.FailureRate > 0 {
		if ran := p.Successes + p.Failures; ran > 0 {
			rate := float64(p.Failures) / float64(ran)
			if rate >= cfg.FailureRate {
				return true, fmt.Sprintf("failure rate %.3g over %d calls across %d replica(s) reached failure_rate %g",
					rate, ran, p.Replicas, cfg.FailureRate)
			}
		}
	}
	return false, ""
}

// live filters the evidence of replicas that heartbeat recently enough and
// published it recently enough. Evidence from further in the future than
// staleAfter (a clock far ahead, or a forged record) is not trusted either.
func live(evs map[string]evidence, members map[string]bool, now time.Time, staleAfter time.Duration) []evidence {
	out := make([]evidence, 0, len(evs))
	for id, e := range evs {
		if isLive(id, e, members, now, staleAfter) {
			out = append(out, e)
		}
	}
	return out
}

// isLive reports whether replica id's evidence e counts at now.
func isLive(id string, e evidence, members map[string]bool, now time.Time, staleAfter time.Duration) bool {
	at := time.UnixMilli(e.At)
	return members[id] && !at.Before(now.Add(-staleAfter)) && !at.After(now.Add(staleAfter))
}
