package monitoring

import (
	"fmt"
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

// scope holds the label matchers a signal is evaluated with: the alert rules
// use one scope, the dashboard another (with its variables), and the same
// signal function turns either into PromQL.
type scope struct {
	// series are the matchers of every circuit_breaker_* selector.
	series []string
	// targets are the matchers of the up selector (no breaker label there).
	targets []string
	// mode, if not empty, restricts a signal to the breakers whose state
	// gauge carries it (e.g. mode="enforce"): only circuit_breaker_state has a
	// mode label, so the other metrics are joined on it per replica.
	mode string
}

func ruleScope(p Params) scope {
	return scope{series: []string{p.Selector}, targets: []string{p.Selector}}
}

func dashboardScope(p Params) scope {
	job := matchRegexp(labelJob, "$"+VarJob)
	return scope{
		series:  []string{p.Selector, job, matchRegexp(breaker.LabelName, "$"+VarBreaker)},
		targets: []string{p.Selector, job},
	}
}

// inMode returns s restricted to breakers in mode (a breaker.Mode*Value).
func (s scope) inMode(mode string) scope {
	s.mode = matchEqual(breaker.LabelMode, mode)
	return s
}

func matchEqual(label, value string) string  { return fmt.Sprintf("%s=%q", label, value) }
func matchRegexp(label, value string) string { return fmt.Sprintf("%s=~%q", label, value) }

// sel returns metric{matchers...}, skipping empty matchers.
func sel(metric string, matchers ...string) string {
	var ms []string
	for _, m := range matchers {
		if m != "" {
			ms = append(ms, m)
		}
	}
	return metric + "{" + strings.Join(ms, ", ") + "}"
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
	return fmt.Sprintf("%s and on (%s, %s, %s) %s", expr, labelJob, labelInstance, breaker.LabelName, s.stateSel())
}

// byBreaker aggregates expr with op per breaker of each job, keeping the
// extra labels too: op by (job, name, extra...) (expr).
func byBreaker(op, expr string, extra ...string) string {
	by := append([]string{labelJob, breaker.LabelName}, extra...)
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
	return byBreaker("max", s.stateSel(), breaker.LabelMode)
}

// sigErrorRate is the error rate over the breaker's own window, the worst
// replica's. Each replica has its own window, so the gauges cannot be summed
// into one ratio: the fleet-wide ratio is sigSuccessRate's.
func sigErrorRate(s scope) string {
	return byBreaker("max", s.perReplica(s.sel(breaker.MetricErrorRate)))
}

// sigLatencyP95 is the P95 latency in milliseconds over the breaker's own
// window, the worst replica's.
func sigLatencyP95(s scope) string {
	return byBreaker("max", s.perReplica(s.sel(breaker.MetricLatencyP95)))
}

// sigSuccessRate is the share of calls that succeeded, summed over replicas
// before dividing: success / (success + failure + rejected). Ignored calls
// count neither way; rejected calls count against it, since their callers got
// no answer from the dependency.
func sigSuccessRate(s scope, window string) string {
	calls := func(outcomes ...string) string {
		m := matchEqual(breaker.LabelOutcome, outcomes[0])
		if len(outcomes) > 1 {
			m = matchRegexp(breaker.LabelOutcome, strings.Join(outcomes, "|"))
		}
		return byBreaker("sum", s.perReplica(rate(s.sel(breaker.MetricCalls, m), window)))
	}
	return calls(breaker.OutcomeSuccessValue) + " / " +
		calls(breaker.OutcomeSuccessValue, breaker.OutcomeFailureValue, breaker.OutcomeRejectedValue)
}

// sigTrips is the number of trips (closed -> open) of each breaker within
// window, the replica that tripped most. Open -> half-open -> open cycles of
// a breaker whose dependency stays down are not trips: that is an open
// breaker (CircuitBreakerOpen), not a flapping one.
func sigTrips(s scope, window string) string {
	trips := s.sel(breaker.MetricTransitions,
		matchEqual(breaker.LabelFrom, breaker.StateClosedValue),
		matchEqual(breaker.LabelTo, breaker.StateOpenValue))
	return byBreaker("max", s.perReplica(fmt.Sprintf("increase(%s[%s])", trips, window)))
}

// sigTargetsUp is Prometheus' up series of the selected targets.
func sigTargetsUp(s scope) string { return sel(metricUp, s.targets...) }

// sigMetricsAbsent is 1 when no breaker reports a state at all.
func sigMetricsAbsent(s scope) string {
	return fmt.Sprintf("absent(%s)", s.sel(breaker.MetricState))
}
