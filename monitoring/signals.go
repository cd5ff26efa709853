package monitoring

import (
	"fmt"
	"slices"
	"strings"

	"github.com/breakerwatch/breakerwatch/breaker"
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
	labelJob      = "job"
	labelInstance = "instance"
	labelLE       = "le"
	metricUp      = "up"
	metricAlerts  = "ALERTS"
)

// reservedLabels are the labels the queries already use: Params.GroupBy
// cannot name them.
var reservedLabels = map[string]bool{
	labelJob: true, labelInstance: true, labelLE: true, "alertname": true, "alertstate": true, "severity": true,
	breaker.LabelName: true, breaker.LabelMode: true, breaker.LabelOutcome: true, breaker.LabelFrom: true,
	breaker.LabelTo: true, breaker.LabelFallback: true, breaker.LabelQueue: true, breaker.LabelResult: true,
}

// scope holds the label matchers a signal is evaluated with: the alert rules
// use one scope, the dashboard another (with its variables), and the same
// signal function turns either into PromQL.
type scope struct {
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

func ruleScope(p Params) scope {
	return scope{series: []string{p.Selector}, targets: []string{p.Selector}, groupBy: p.GroupBy}
}

func dashboardScope(p Params) scope {
	job := matchRegexp(labelJob, "$"+VarJob)
	name := matchRegexp(breaker.LabelName, "$"+VarBreaker)
	return scope{
		series:   []string{p.Selector, job, name},
		targets:  []string{p.Selector, job},
		recorded: []string{job, name},
		groupBy:  p.GroupBy,
	}
}

// inMode returns s restricted to breakers in mode (a breaker.Mode*Value).
func (s scope) inMode(mode string) scope {
	s.mode = matchEqual(breaker.LabelMode, mode)
	return s
}

func matchEqual(label, value string) string  { return fmt.Sprintf("%s=%q", label, value) }
func matchRegexp(label, value string) string { return fmt.Sprintf("%s=~%q", label, value) }

// sel returns metric{matchers...}, skipping empty matchers; metric alone
// without any.
func sel(metric string, matchers ...string) string {
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
func (s scope) recordedSel(metric string, extra ...string) string {
	return sel(metric, append(slices.Clone(s.recorded), extra...)...)
}

// series selects metric with the scope's matchers plus extra ones.
func (s scope) sel(metric string, extra ...string) string {
	return sel(metric, append(append([]string{}, s.series...), extra...)...)
}

// stateSel selects the state gauge restricted to the scope's mode.
func (s scope) stateSel() string { return s.sel(breaker.MetricState, s.mode) }

// perReplica restricts expr, whose series carry job, instance and name, to
// the replicas whose breaker is in the scope's mode (all replicas without a
// mode). The join is per replica, before any aggregation, so that a breaker
// enforced on some replicas and monitored on others is judged on the
// enforcing replicas only.
func (s scope) perReplica(expr string) string {
	return fmt.Sprintf("%s and on (%s) %s", expr, s.replicaLabels(), s.stateSel())
}

// withMode labels expr, whose series carry job, instance and name, with the
// mode of each replica's breaker (read from its state gauge), and keeps only
// the replicas in the scope's mode if it has one. Signals that are facts
// about the dependency (error rate, latency, success rate) use it: they hold
// in every mode, and the mode label lets routing tell rollout phases apart.
func (s scope) withMode(expr string) string {
	on := s.replicaLabels()
	return fmt.Sprintf("%s * on (%s) group_left (%s) group by (%s, %s) (%s)",
		expr, on, breaker.LabelMode, on, breaker.LabelMode, s.stateSel())
}

// replicaLabels identify one replica's breaker: job, instance, name and the
// grouping labels.
func (s scope) replicaLabels() string {
	return strings.Join(append([]string{labelJob, labelInstance, breaker.LabelName}, s.groupBy...), ", ")
}

// by aggregates expr with op per breaker of each job, keeping the extra
// labels and the grouping labels too: op by (job, name, extra..., groupBy...) (expr).
func (s scope) by(op, expr string, extra ...string) string {
	by := append(append([]string{labelJob, breaker.LabelName}, extra...), s.groupBy...)
	return fmt.Sprintf("%s by (%s) (%s)", op, strings.Join(by, ", "), expr)
}

// promFloat formats a threshold for PromQL.
func promFloat(v float64) string { return fmt.Sprintf("%g", v) }

func rate(selector string, window string) string {
	return fmt.Sprintf("rate(%s[%s])", selector, window)
}

// Signals. Each returns PromQL for a scope; an alert's expression is a signal
// followed by its condition, and a panel shows the same signal.

// sigState is the state of each breaker, the worst replica's (0 closed,
// 1 half-open, 2 open), labelled with its mode.
func sigState(s scope) string {
	return s.by("max", s.stateSel(), breaker.LabelMode)
}

// sigRejecting is the state of each breaker (1 half-open, 2 open) that is
// not closed and has rejected calls within window (would have, in monitor
// mode), the worst replica's, labelled with its mode. A breaker that waits,
// half-open and idle, for a probe rejects nothing and is absent here; one in
// front of a dependency that stays down alternates between open and
// half-open under traffic, rejecting all along, and stays present, so the
// alternation does not reset an alert's `for:`.
func sigRejecting(s scope, window string) string {
	rejected := fmt.Sprintf("increase(%s[%s]) > 0 or increase(%s[%s]) > 0",
		s.sel(breaker.MetricCalls, matchEqual(breaker.LabelOutcome, breaker.OutcomeRejectedValue)), window,
		s.sel(breaker.MetricWouldReject), window)
	return s.by("max", fmt.Sprintf("%s > 0 and on (%s) (%s)", s.stateSel(), s.replicaLabels(), rejected), breaker.LabelMode)
}

// sigErrorRate is the error rate over the breaker's own window, the worst
// replica's in each mode. Each replica has its own window, so the gauges
// cannot be summed into one ratio: the fleet-wide ratio is sigSuccessRate's.
func sigErrorRate(s scope) string {
	return s.by("max", s.withMode(s.sel(breaker.MetricErrorRate)), breaker.LabelMode)
}

// sigLatencyP95 is the P95 latency in milliseconds over the breaker's own
// window, the worst replica's in each mode.
func sigLatencyP95(s scope) string {
	return s.by("max", s.withMode(s.sel(breaker.MetricLatencyP95)), breaker.LabelMode)
}

// Names of the recording rules' series for a rate window ("5m"), in the
// level:metric:operations form: the labels kept, the metric, the operations.
func recordCallsRate(window string) string {
	return "job_name_mode_outcome:" + breaker.MetricCalls + ":rate" + window
}
func recordSuccessRatio(window string) string {
	return "job_name_mode:circuit_breaker_success:ratio_rate" + window
}
func recordErrorRatio(window string) string {
	return "job_name_mode:circuit_breaker_errors:ratio_rate" + window
}

// recording is one recording rule: the series record and how it is computed.
type recording struct{ record, expr string }

// recordings are the fleet-wide aggregations the alerts and the dashboard
// share, computed once per evaluation by recording rules: calls per second
// by outcome, the success ratio and the error ratio of each breaker in each
// mode, replicas summed before dividing.
func recordings(s scope, window string) []recording {
	calls := recordCallsRate(window)
	sum := func(outcomes ...string) string {
		m := matchEqual(breaker.LabelOutcome, outcomes[0])
		if len(outcomes) > 1 {
			m = matchRegexp(breaker.LabelOutcome, strings.Join(outcomes, "|"))
		}
		return s.by("sum", s.recordedSel(calls, m), breaker.LabelMode)
	}
	ok, failed, rejected := breaker.OutcomeSuccessValue, breaker.OutcomeFailureValue, breaker.OutcomeRejectedValue
	return []recording{
		{calls, s.by("sum", s.withMode(rate(s.sel(breaker.MetricCalls), window)), breaker.LabelMode, breaker.LabelOutcome)},
		// success / (success + failure + rejected). Ignored calls count
		// neither way; rejected calls count against it, since their callers
		// got no answer from the dependency.
		{recordSuccessRatio(window), sum(ok) + " / " + sum(ok, failed, rejected)},
		// failure / (success + failure), as the breakers' own error rate
		// counts, but over all replicas.
		{recordErrorRatio(window), sum(failed) + " / " + sum(ok, failed)},
	}
}

// sigSuccessRate is the share of calls that succeeded in each mode over
// window, all replicas summed before dividing (a recording rule's series).
func sigSuccessRate(s scope, window string) string {
	return s.recordedSel(recordSuccessRatio(window))
}

// sigErrorRatio is the share of calls that failed in each mode over window,
// all replicas summed before dividing (a recording rule's series).
func sigErrorRatio(s scope, window string) string {
	return s.recordedSel(recordErrorRatio(window))
}

// sigCallsByOutcome is the calls per second of each breaker by outcome, all
// replicas and modes summed.
func sigCallsByOutcome(s scope, window string) string {
	return s.by("sum", s.recordedSel(recordCallsRate(window)), breaker.LabelOutcome)
}

// sigTrips is the number of trips (closed -> open) of each breaker within
// window, the replica that tripped most. Open -> half-open -> open cycles of
// a breaker whose dependency stays down are not trips: that is an open
// breaker (CircuitBreakerOpen), not a flapping one.
func sigTrips(s scope, window string) string {
	trips := s.sel(breaker.MetricTransitions,
		matchEqual(breaker.LabelFrom, breaker.StateClosedValue),
		matchEqual(breaker.LabelTo, breaker.StateOpenValue))
	return s.by("max", s.perReplica(fmt.Sprintf("increase(%s[%s])", trips, window)))
}

// sigTargetsUp is Prometheus' up series of the selected targets.
func sigTargetsUp(s scope) string { return sel(metricUp, s.targets...) }

// sigMetricsAbsent is 1 when no breaker reports a state at all.
func sigMetricsAbsent(s scope) string {
	return fmt.Sprintf("absent(%s)", s.sel(breaker.MetricState))
}
