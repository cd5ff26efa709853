package mixin

import (
	"fmt"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Signals of shadow candidates (breaker.Config.Candidates): each candidate's
// behaviour beside the breaker's own, for the breakers that have candidates.
// Only those breakers have circuit_breaker_candidate_* series.

// CandidateStates is the state each candidate setting of each breaker would
// be in, the worst replica's (numbered like State).
func CandidateStates(s Scope) string {
	return s.By("max", s.Sel(breaker.MetricCandidateState), breaker.LabelCandidate)
}

// withCandidates keeps the series of expr, aggregated per breaker by By,
// whose breaker has candidates.
func (s Scope) withCandidates(expr string) string {
	return fmt.Sprintf("%s and on (%s) %s", expr, s.breakerLabels(), CandidateStates(s))
}

// StateWithCandidates is State restricted to the breakers that have
// candidates: the breaker's own setting, to compare them with.
func StateWithCandidates(s Scope) string { return s.withCandidates(State(s)) }

// CandidateWouldReject is the calls per second each candidate would have
// rejected over window, all replicas summed.
func CandidateWouldReject(s Scope, window string) string {
	return s.By("sum", Rate(s.Sel(breaker.MetricCandidateWouldReject), window), breaker.LabelCandidate)
}

// RejectsWithCandidates is the calls per second each breaker that has
// candidates rejected (enforce mode) or would have rejected (monitor mode)
// over window with its own setting, all replicas summed: the number each
// candidate's would-reject rate compares with.
func RejectsWithCandidates(s Scope, window string) string {
	rejected := Rate(s.Sel(breaker.MetricCalls, MatchEqual(breaker.LabelOutcome, breaker.OutcomeRejectedValue)), window)
	wouldReject := Rate(s.Sel(breaker.MetricWouldReject), window)
	return s.withCandidates(s.By("sum", wouldReject+" or "+rejected))
}

// CandidateTransitions is the state changes each candidate would have made
// within window, by from and to state, all replicas summed.
func CandidateTransitions(s Scope, window string) string {
	return s.By("sum", fmt.Sprintf("increase(%s[%s])", s.Sel(breaker.MetricCandidateTransitions), window),
		breaker.LabelCandidate, breaker.LabelFrom, breaker.LabelTo)
}

// TransitionsWithCandidates is the state changes each breaker that has
// candidates made within window with its own setting, by from and to
// state, all replicas summed.
func TransitionsWithCandidates(s Scope, window string) string {
	return s.withCandidates(Transitions(s, window))
}
