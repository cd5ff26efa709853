package mixin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet/fleetnames"
)

// Dashboard variable names. The dashboard's queries refer to them as $job and
// $breaker; Expand substitutes values the way Grafana does.
const (
	VarDatasource = "datasource"
	VarJob        = "job"
	VarBreaker    = "breaker"
)

// Labels Prometheus attaches to every scraped series.
const (
	LabelJob      = "job"
	LabelInstance = "instance"
	LabelLE       = "le"
	MetricUp      = "up"
	MetricAlerts  = "ALERTS"
)

// reservedLabels are the labels the queries already use: Params.GroupBy
// cannot name them.
var reservedLabels = map[string]bool{
	LabelJob: true, LabelInstance: true, LabelLE: true, "alertname": true, "alertstate": true, "severity": true,
	breaker.LabelName: true, breaker.LabelMode: true, breaker.LabelOutcome: true, breaker.LabelFrom: true,
	breaker.LabelTo: true, breaker.LabelFallback: true, breaker.LabelQueue: true, breaker.LabelResult: true,
	breaker.LabelCandidate: true, fleetnames.LabelReplica: true,
}

// scope holds the label matchers a signal is evaluated with: the alert rules
// use one scope, the dashboard another (with its variables), and the same
// signal function turns either into PromQL.
type Scope struct {
	// series are the matchers of every circuit_breaker_* selector.
	series []string
	// targets are the matchers of the up selector (no breaker label there).
	targets []string
	// recorded are the matchers of the series of the recording rules, which
	// carry the selector's effect already.
	recorded []string
	// groupBy are Params.GroupBy: every aggregation and join keeps them.
	groupBy []string
	// mode, if not empty, restricts a signal to the breakers whose state
	// gauge carries it (e.g. mode="enforce"): only circuit_breaker_state has a
	// mode label, so the other metrics are joined on it per replica.
	mode string
}

func RuleScope(p Params) Scope {
	return Scope{series: []string{p.Selector}, targets: []string{p.Selector}, groupBy: p.GroupBy}
}

func DashboardScope(p Params) Scope {
	job := MatchRegexp(LabelJob, "$"+VarJob)
	name := MatchRegexp(breaker.LabelName, "$"+VarBreaker)
	return Scope{
		series:   []string{p.Selector, job, name},
		targets:  []string{p.Selector, job},
		recorded: []string{job, name},
		groupBy:  p.GroupBy,
	}
}

// inMode returns s restricted to breakers in mode (a breaker.Mode*Value).
func (s Scope) InMode(mode string) Scope {
	s.mode = MatchEqual(breaker.LabelMode, mode)
	return s
}

func MatchEqual(label, value string) string  { return fmt.Sprintf("%s=%q", label, value) }
func MatchRegexp(label, value string) string { return fmt.Sprintf("%s=~%q", label, value) }

// sel returns metric{matchers...}, skipping empty matchers; metric alone
// without any.
func Sel(metric string, matchers ...string) string {
	var ms []string
	for _, m := range matchers {
		if m != "" {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(ms, ", ") + "}"
}

// recordedSel selects a series of the recording rules with the scope's
// recorded matchers plus extra ones.
func (s Scope) RecordedSel(metric string, extra ...string) string {
	return Sel(metric, append(slices.Clone(s.recorded), extra...)...)
}

// series selects metric with the scope's matchers plus extra ones.
func (s Scope) Sel(metric string, extra ...string) string {
	return Sel(metric, append(append([]string{}, s.series...), extra...)...)
}

// TargetSel selects metric with the scope's target matchers only, for the
// series of a replica rather than of one of its breakers (they have no name
// label for the breaker variable to match).
func (s Scope) TargetSel(metric string) string { return Sel(metric, s.targets...) }

// stateSel selects the state gauge restricted to the scope's mode.
func (s Scope) StateSel() string { return s.Sel(breaker.MetricState, s.mode) }

// perReplica restricts expr, whose series carry job, instance and name, to
// the replicas whose breaker is in the scope's mode (all replicas without a
// mode). The join is per replica, before any aggregation, so that a breaker
// enforced on some replicas and monitored on others is judged on the
// enforcing replicas only.
func (s Scope) perReplica(expr string) string {
	return fmt.Sprintf("%s and on (%s) %s", expr, s.replicaLabels(), s.StateSel())
}

// withMode labels expr, whose series carry job, instance and name, with the
// mode of each replica's breaker (read from its state gauge), and keeps only
// the replicas in the scope's mode if it has one. Signals that are facts
// about the dependency (error rate, latency, success rate) use it: they hold
// in every mode, and the mode label lets routing tell rollout phases apart.
func (s Scope) withMode(expr string) string {
	on := s.replicaLabels()
	return fmt.Sprintf("%s * on (%s) group_left (%s) group by (%s, %s) (%s)",
		expr, on, breaker.LabelMode, on, breaker.LabelMode, s.StateSel())
}

// replicaLabels identify one replica's breaker: job, instance, name and the
// grouping labels.
func (s Scope) replicaLabels() string {
	return strings.Join(append([]string{LabelJob, LabelInstance, breaker.LabelName}, s.groupBy...), ", ")
}

// breakerLabels identify one breaker of a job: job, name and the grouping
// labels, the labels By keeps besides its extra ones.
func (s Scope) breakerLabels() string {
	return strings.Join(append([]string{LabelJob, breaker.LabelName}, s.groupBy...), ", ")
}

// by aggregates expr with op per breaker of each job, keeping the extra
// labels and the grouping labels too: op by (job, name, extra..., groupBy...) (expr).
func (s Scope) By(op, expr string, extra ...string) string {
	by := append(append([]string{LabelJob, breaker.LabelName}, extra...), s.groupBy...)
	return fmt.Sprintf("%s by (%s) (%s)", op, strings.Join(by, ", "), expr)
}

// PromFloat formats a threshold for PromQL.
func PromFloat(v float64) string { return fmt.Sprintf("%g", v) }

func Rate(selector string, window string) string {
	return fmt.Sprintf("rate(%s[%s])", selector, window)
}

// Signals. Each returns PromQL for a scope; an alert's expression is a signal
// followed by its condition, and a panel shows the same signal.

// State is the state of each breaker, the worst replica's (0 closed,
// 1 half-open, 2 open), labelled with its mode.
func State(s Scope) string {
	return s.By("max", s.StateSel(), breaker.LabelMode)
}

// Rejecting is the state of each breaker (1 half-open, 2 open) that is
// not closed and has rejected calls within window (would have, in monitor
// mode), the worst replica's, labelled with its mode. A breaker that waits,
// half-open and idle, for a probe rejects nothing and is absent here; one in
// front of a dependency that stays down alternates between open and
// half-open under traffic, rejecting all along, and stays present, so the
// alternation does not reset an alert's `for:`.
func Rejecting(s Scope, window string) string {
	rejected := fmt.Sprintf("increase(%s[%s]) > 0 or increase(%s[%s]) > 0",
		s.Sel(breaker.MetricCalls, MatchEqual(breaker.LabelOutcome, breaker.OutcomeRejectedValue)), window,
		s.Sel(breaker.MetricWouldReject), window)
	return s.By("max", fmt.Sprintf("%s > 0 and on (%s) (%s)", s.StateSel(), s.replicaLabels(), rejected), breaker.LabelMode)
}

// ErrorRate is the error rate over the breaker's own window, the worst
// replica's in each mode. Each replica has its own window, so the gauges
// cannot be summed into one ratio: the fleet-wide ratio is SuccessRate's.
func ErrorRate(s Scope) string {
	return s.By("max", s.withMode(s.Sel(breaker.MetricErrorRate)), breaker.LabelMode)
}

// LatencyP95 is the P95 latency in milliseconds over the breaker's own
// window, the worst replica's in each mode.
func LatencyP95(s Scope) string {
	return s.By("max", s.withMode(s.Sel(breaker.MetricLatencyP95)), breaker.LabelMode)
}

// Names of the recording rules' series for a rate window ("5m"), in the
// level:metric:operations form: the labels kept, the metric, the operations.
func RecordCallsRate(window string) string {
	return "job_name_mode_outcome:" + breaker.MetricCalls + ":rate" + window
}
func RecordSuccessRatio(window string) string {
	return "job_name_mode:circuit_breaker_success:ratio_rate" + window
}
func RecordErrorRatio(window string) string {
	return "job_name_mode:circuit_breaker_errors:ratio_rate" + window
}

// recording is one recording rule: the series record and how it is computed.
type Recording struct{ Record, Expr string }

// Recordings are the fleet-wide aggregations the alerts and the dashboard
// share, computed once per evaluation by recording rules: calls per second
// by outcome, the success ratio and the error ratio of each breaker in each
// mode, replicas summed before dividing.
func Recordings(s Scope, window string) []Recording {
	calls := RecordCallsRate(window)
	sum := func(outcomes ...string) string {
		m := MatchEqual(breaker.LabelOutcome, outcomes[0])
		if len(outcomes) > 1 {
			m = MatchRegexp(breaker.LabelOutcome, strings.Join(outcomes, "|"))
		}
		return s.By("sum", s.RecordedSel(calls, m), breaker.LabelMode)
	}
	ok, failed, rejected := breaker.OutcomeSuccessValue, breaker.OutcomeFailureValue, breaker.OutcomeRejectedValue
	return []Recording{
		{calls, s.By("sum", s.withMode(Rate(s.Sel(breaker.MetricCalls), window)), breaker.LabelMode, breaker.LabelOutcome)},
		// success / (success + failure + rejected). Ignored calls count
		// neither way; rejected calls count against it, since their callers
		// got no answer from the dependency.
		{RecordSuccessRatio(window), sum(ok) + " / " + sum(ok, failed, rejected)},
		// failure / (success + failure), as the breakers' own error rate
		// counts, but over all replicas.
		{RecordErrorRatio(window), sum(failed) + " / " + sum(ok, failed)},
	}
}

// SuccessRate is the share of calls that succeeded in each mode over
// window, all replicas summed before dividing (a recording rule's series).
func SuccessRate(s Scope, window string) string {
	return s.RecordedSel(RecordSuccessRatio(window))
}

// ErrorRatio is the share of calls that failed in each mode over window,
// all replicas summed before dividing (a recording rule's series).
func ErrorRatio(s Scope, window string) string {
	return s.RecordedSel(RecordErrorRatio(window))
}

// CallsByOutcome is the calls per second of each breaker by outcome, all
// replicas and modes summed.
func CallsByOutcome(s Scope, window string) string {
	return s.By("sum", s.RecordedSel(RecordCallsRate(window)), breaker.LabelOutcome)
}

// Trips is the number of trips (closed -> open) of each breaker within
// window, the replica that tripped most. Open -> half-open -> open cycles of
// a breaker whose dependency stays down are not trips: that is an open
// breaker (CircuitBreakerOpen), not a flapping one.
func Trips(s Scope, window string) string {
	trips := s.Sel(breaker.MetricTransitions,
		MatchEqual(breaker.LabelFrom, breaker.StateClosedValue),
		MatchEqual(breaker.LabelTo, breaker.StateOpenValue))
	return s.By("max", s.perReplica(fmt.Sprintf("increase(%s[%s])", trips, window)))
}

// Transitions is the state changes of each breaker within window, by from
// and to state, all replicas summed.
func Transitions(s Scope, window string) string {
	return s.By("sum", fmt.Sprintf("increase(%s[%s])", s.Sel(breaker.MetricTransitions), window),
		breaker.LabelFrom, breaker.LabelTo)
}

// TargetsUp is Prometheus' up series of the selected targets.
func TargetsUp(s Scope) string { return Sel(MetricUp, s.targets...) }

// MetricsAbsent is 1 when no breaker reports a state at all.
func MetricsAbsent(s Scope) string {
	return fmt.Sprintf("absent(%s)", s.Sel(breaker.MetricState))
}
