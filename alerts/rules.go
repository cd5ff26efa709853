package alerts

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
	yaml "go.yaml.in/yaml/v3"
)

// Names of the rule groups of alerts/rules.yml: the recording rules, then
// the alerts.
const (
	RecordingGroupName = "circuit_breaker.rules"
	RuleGroupName      = "circuit_breaker"
)

// alertDef defines one alert: its expression is signal(RuleScope) followed by
// cond, and panel shows signal(DashboardScope).
type alertDef struct {
	name     string
	severity string
	// mode restricts the alert to breakers in that mode; empty for none.
	mode string
	// signal builds the PromQL the alert and its panel share.
	signal func(s mixin.Scope) string
	// cond follows the signal in the alert ("> 0.2"); empty for absent().
	cond string
	// panel is the id of the dashboard panel that shows the signal.
	panel uint32
	// perBreaker: the alert's series carry a breaker name label.
	perBreaker bool
	// noJob: the alert's series may carry no job label (absent()).
	noJob   bool
	summary string
	desc    string
}

func alertDefs(p mixin.Params) []alertDef {
	rw := mixin.PromDuration(p.RateWindow)
	fw := mixin.PromDuration(p.FlapWindow)
	return []alertDef{
		{
			name: mixin.AlertOpen, severity: mixin.SeverityWarning, mode: breaker.ModeEnforceValue,
			signal: func(s mixin.Scope) string { return mixin.Rejecting(s, rw) }, panel: mixin.PanelRejecting, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} is open",
			desc: "Circuit breaker {{ $labels.name }} of job {{ $labels.job }} (enforce mode) has not been closed " +
				"for " + mixin.PromDuration(p.For[mixin.AlertOpen]) + " on at least one replica and rejected calls within the last " + rw +
				" (state {{ $value }}: 1 half-open, 2 open): its callers get ErrOpen or a fallback.",
		},
		{
			name: mixin.AlertWouldOpen, severity: mixin.SeverityInfo, mode: breaker.ModeMonitorValue,
			signal: func(s mixin.Scope) string { return mixin.Rejecting(s, rw) }, panel: mixin.PanelRejecting, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} would be open (monitor mode)",
			desc: "Circuit breaker {{ $labels.name }} of job {{ $labels.job }} runs in monitor mode; it would have been " +
				"open for " + mixin.PromDuration(p.For[mixin.AlertWouldOpen]) + " and would have rejected calls within the last " + rw +
				" (state {{ $value }}). Nothing is rejected; its would-reject count is the evidence for tuning it or moving it to enforce.",
		},
		{
			name: mixin.AlertHighErrorRate, severity: mixin.SeverityCritical,
			signal: mixin.ErrorRate, cond: "> " + mixin.PromFloat(p.ErrorRate), panel: mixin.PanelErrorRate, perBreaker: true,
			summary: fmt.Sprintf("Error rate for {{ $labels.name }} exceeds %s", percent(p.ErrorRate)),
			desc: "The error rate of circuit breaker {{ $labels.name }} of job {{ $labels.job }} ({{ $labels.mode }} mode) " +
				"over its window is {{ $value | humanizePercentage }} on its worst replica, above " + percent(p.ErrorRate) +
				" for " + mixin.PromDuration(p.For[mixin.AlertHighErrorRate]) + ".",
		},
		{
			name: mixin.AlertHighLatency, severity: mixin.SeverityWarning,
			signal: mixin.LatencyP95, cond: "> " + mixin.PromFloat(p.LatencyAlertMs), panel: mixin.PanelLatencyP95, perBreaker: true,
			summary: fmt.Sprintf("P95 latency for {{ $labels.name }} exceeds %s ms", mixin.PromFloat(p.LatencyAlertMs)),
			desc: "The P95 latency of circuit breaker {{ $labels.name }} of job {{ $labels.job }} ({{ $labels.mode }} mode) " +
				`over its window is {{ $value | printf "%.0f" }} ms on its worst replica, above ` + mixin.PromFloat(p.LatencyAlertMs) +
				" ms for " + mixin.PromDuration(p.For[mixin.AlertHighLatency]) + ".",
		},
		{
			name: mixin.AlertLowSuccessRate, severity: mixin.SeverityWarning,
			signal: func(s mixin.Scope) string { return mixin.SuccessRate(s, rw) }, cond: "< " + mixin.PromFloat(p.SuccessRate),
			panel: mixin.PanelSuccessRate, perBreaker: true,
			summary: fmt.Sprintf("Success rate for {{ $labels.name }} is below %s", percent(p.SuccessRate)),
			desc: "Only {{ $value | humanizePercentage }} of the calls through circuit breaker {{ $labels.name }} " +
				"of job {{ $labels.job }} ({{ $labels.mode }} mode) succeeded over " + rw + ", across all replicas (rejected calls count as " +
				"not succeeded), below " + percent(p.SuccessRate) + " for " + mixin.PromDuration(p.For[mixin.AlertLowSuccessRate]) + ".",
		},
		{
			name: mixin.AlertFlapping, severity: mixin.SeverityWarning, mode: breaker.ModeEnforceValue,
			signal: func(s mixin.Scope) string { return mixin.Trips(s, fw) }, cond: ">= " + mixin.PromFloat(p.FlapTrips),
			panel: mixin.PanelTrips, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} is flapping",
			desc: `Circuit breaker {{ $labels.name }} of job {{ $labels.job }} tripped (closed to open) {{ $value | printf "%.0f" }} ` +
				"times within " + fw + " on one replica: it closes and trips again.",
		},
		{
			name: mixin.AlertTargetDown, severity: mixin.SeverityWarning,
			signal: mixin.TargetsUp, cond: "== 0", panel: mixin.PanelTargetsUp,
			summary: "Target {{ $labels.instance }} of job {{ $labels.job }} is down: its circuit breakers are not watched",
			desc: "Prometheus has failed to scrape {{ $labels.instance }} of job {{ $labels.job }} for " +
				mixin.PromDuration(p.For[mixin.AlertTargetDown]) + ". No breaker alert can fire for the breakers of that replica, " +
				"whatever their state.",
		},
		{
			name: mixin.AlertMetricsAbsent, severity: mixin.SeverityWarning,
			signal: mixin.MetricsAbsent, panel: mixin.PanelSeries, noJob: true,
			summary: "No circuit breaker metrics from " + p.Selector,
			desc: "No target matching " + p.Selector + " has reported " + breaker.MetricState + " for " +
				mixin.PromDuration(p.For[mixin.AlertMetricsAbsent]) + ": no breaker alert can fire. The targets are gone from " +
				"service discovery, or they no longer register breakers.",
		},
		{
			// No mode label: the replica's connectivity concerns all its
			// breakers, whatever their modes, and routes by severity alone.
			name: mixin.AlertFleetDisconnected, severity: mixin.SeverityWarning,
			signal: mixin.FleetConnected, cond: "== 0", panel: mixin.PanelFleetConnected,
			summary: "Replica {{ $labels.replica }} of job {{ $labels.job }} has lost the fleet: its breakers decide alone",
			desc: "Replica {{ $labels.replica }} ({{ $labels.instance }}) of job {{ $labels.job }} has not exchanged evidence with " +
				"the fleet's Redis for " + mixin.PromDuration(p.For[mixin.AlertFleetDisconnected]) + ". Its breakers decide on its " +
				"own evidence alone: they neither see the other replicas' failures nor share theirs, and overrides made " +
				"meanwhile reach it only when it reconnects. No call is blocked or slowed because of it.",
		},
	}
}

// percent formats a ratio as a percentage for summaries ("20%", "95%").
func percent(v float64) string { return mixin.PromFloat(v*100) + "%" }

func (a alertDef) expr(p mixin.Params) string {
	s := mixin.RuleScope(p)
	if a.mode != "" {
		s = s.InMode(a.mode)
	}
	e := a.signal(s)
	if a.cond != "" {
		e += " " + a.cond
	}
	return e
}

// dashboardLink links to the alert's panel, with the job and breaker
// variables set from the alert's labels.
func (a alertDef) dashboardLink(p mixin.Params) string {
	q := fmt.Sprintf("?orgId=1&viewPanel=%d", a.panel)
	if !a.noJob {
		q += fmt.Sprintf("&var-%s={{ $labels.job }}", mixin.VarJob)
	}
	if a.perBreaker {
		q += fmt.Sprintf("&var-%s={{ $labels.name }}", mixin.VarBreaker)
	}
	return p.GrafanaURL + "/d/" + mixin.DashboardUID + "/" + mixin.DashboardSlug + q
}

func (a alertDef) runbookLink(p mixin.Params) string {
	return p.RunbookURL + "#" + RunbookAnchor(a.name)
}

// RunbookAnchor returns the fragment of the runbook heading of alert name, as
// GitHub renders headings: lower case, spaces as dashes.
func RunbookAnchor(name string) string {
	return url.PathEscape(strings.ReplaceAll(strings.ToLower(name), " ", "-"))
}

// Prometheus rule file, in the order Prometheus documents its fields.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Rules    []rule `yaml:"rules"`
}

type rule struct {
	Record      string       `yaml:"record,omitempty"`
	Alert       string       `yaml:"alert,omitempty"`
	Expr        string       `yaml:"expr"`
	For         string       `yaml:"for,omitempty"`
	Labels      *labels      `yaml:"labels,omitempty"`
	Annotations *annotations `yaml:"annotations,omitempty"`
}

type labels struct {
	Severity string `yaml:"severity"`
}

type annotations struct {
	Summary      string `yaml:"summary"`
	Description  string `yaml:"description"`
	RunbookURL   string `yaml:"runbook_url"`
	DashboardURL string `yaml:"dashboard_url"`
}

const generatedHeader = "# Code generated by `breakerwatch generate` (package alerts); DO NOT EDIT.\n"

// RulesYAML returns alerts/rules.yml for p: a group of recording rules, the
// fleet-wide aggregations the alerts and the dashboard share, then a group
// with every alert of AlertNames. Only For, EvalInterval, GrafanaURL and
// RunbookURL change when an environment changes them; the expressions depend
// on thresholds, windows, the selector and the grouping labels only.
func RulesYAML(p mixin.Params) ([]byte, error) {
	p, err := p.Resolve()
	if err != nil {
		return nil, err
	}
	return encodeRules(ruleGroups(p))
}

// ruleGroups returns the rule groups of alerts/rules.yml for resolved p.
func ruleGroups(p mixin.Params) []ruleGroup {
	interval := mixin.PromDuration(p.EvalInterval)
	rec := ruleGroup{Name: RecordingGroupName, Interval: interval}
	for _, r := range mixin.Recordings(mixin.RuleScope(p), mixin.PromDuration(p.RateWindow)) {
		rec.Rules = append(rec.Rules, rule{Record: r.Record, Expr: r.Expr})
	}
	g := ruleGroup{Name: RuleGroupName, Interval: interval}
	for _, a := range alertDefs(p) {
		r := rule{
			Alert:  a.name,
			Expr:   a.expr(p),
			Labels: &labels{Severity: a.severity},
			Annotations: &annotations{
				Summary:      a.summary,
				Description:  a.desc,
				RunbookURL:   a.runbookLink(p),
				DashboardURL: a.dashboardLink(p),
			},
		}
		if d := p.For[a.name]; d > 0 {
			r.For = mixin.PromDuration(d)
		}
		g.Rules = append(g.Rules, r)
	}
	return []ruleGroup{rec, g}
}

func encodeRules(groups []ruleGroup) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(generatedHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(ruleFile{Groups: groups}); err != nil {
		return nil, fmt.Errorf("alerts: encoding rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("alerts: encoding rules: %w", err)
	}
	return buf.Bytes(), nil
}
