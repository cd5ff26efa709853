package monitoring

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/breakerwatch/breakerwatch/breaker"
	yaml "go.yaml.in/yaml/v3"
)

// Names of the rule groups of alerts/rules.yml: the recording rules, then
// the alerts.
const (
	RecordingGroupName = "circuit_breaker.rules"
	RuleGroupName      = "circuit_breaker"
)

// alertDef defines one alert: its expression is signal(ruleScope) followed by
// cond, and panel shows signal(dashboardScope).
type alertDef struct {
	name     string
	severity string
	// mode restricts the alert to breakers in that mode; empty for none.
	mode string
	// signal builds the PromQL the alert and its panel share.
	signal func(s scope) string
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

func alertDefs(p Params) []alertDef {
	rw := promDuration(p.RateWindow)
	fw := promDuration(p.FlapWindow)
	return []alertDef{
		{
			name: AlertOpen, severity: SeverityWarning, mode: breaker.ModeEnforceValue,
			signal: func(s scope) string { return sigRejecting(s, rw) }, panel: panelRejecting, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} is open",
			desc: "Circuit breaker {{ $labels.name }} of job {{ $labels.job }} (enforce mode) has not been closed " +
				"for " + promDuration(p.For[AlertOpen]) + " on at least one replica and rejected calls within the last " + rw +
				" (state {{ $value }}: 1 half-open, 2 open): its callers get ErrOpen or a fallback.",
		},
		{
			name: AlertWouldOpen, severity: SeverityInfo, mode: breaker.ModeMonitorValue,
			signal: func(s scope) string { return sigRejecting(s, rw) }, panel: panelRejecting, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} would be open (monitor mode)",
			desc: "Circuit breaker {{ $labels.name }} of job {{ $labels.job }} runs in monitor mode; it would have been " +
				"open for " + promDuration(p.For[AlertWouldOpen]) + " and would have rejected calls within the last " + rw +
				" (state {{ $value }}). Nothing is rejected; its would-reject count is the evidence for tuning it or moving it to enforce.",
		},
		{
			name: AlertHighErrorRate, severity: SeverityCritical,
			signal: sigErrorRate, cond: "> " + promFloat(p.ErrorRate), panel: panelErrorRate, perBreaker: true,
			summary: fmt.Sprintf("Error rate for {{ $labels.name }} exceeds %s", percent(p.ErrorRate)),
			desc: "The error rate of circuit breaker {{ $labels.name }} of job {{ $labels.job }} ({{ $labels.mode }} mode) " +
				"over its window is {{ $value | humanizePercentage }} on its worst replica, above " + percent(p.ErrorRate) +
				" for " + promDuration(p.For[AlertHighErrorRate]) + ".",
		},
		{
			name: AlertHighLatency, severity: SeverityWarning,
			signal: sigLatencyP95, cond: "> " + promFloat(p.LatencyAlertMs), panel: panelLatencyP95, perBreaker: true,
			summary: fmt.Sprintf("P95 latency for {{ $labels.name }} exceeds %s ms", promFloat(p.LatencyAlertMs)),
			desc: "The P95 latency of circuit breaker {{ $labels.name }} of job {{ $labels.job }} ({{ $labels.mode }} mode) " +
				`over its window is {{ $value | printf "%.0f" }} ms on its worst replica, above ` + promFloat(p.LatencyAlertMs) +
				" ms for " + promDuration(p.For[AlertHighLatency]) + ".",
		},
		{
			name: AlertLowSuccessRate, severity: SeverityWarning,
			signal: func(s scope) string { return sigSuccessRate(s, rw) }, cond: "< " + promFloat(p.SuccessRate),
			panel: panelSuccessRate, perBreaker: true,
			summary: fmt.Sprintf("Success rate for {{ $labels.name }} is below %s", percent(p.SuccessRate)),
			desc: "Only {{ $value | humanizePercentage }} of the calls through circuit breaker {{ $labels.name }} " +
				"of job {{ $labels.job }} ({{ $labels.mode }} mode) succeeded over " + rw + ", across all replicas (rejected calls count as " +
				"not succeeded), below " + percent(p.SuccessRate) + " for " + promDuration(p.For[AlertLowSuccessRate]) + ".",
		},
		{
			name: AlertFlapping, severity: SeverityWarning, mode: breaker.ModeEnforceValue,
			signal: func(s scope) string { return sigTrips(s, fw) }, cond: ">= " + promFloat(p.FlapTrips),
			panel: panelTrips, perBreaker: true,
			summary: "Circuit breaker {{ $labels.name }} is flapping",
			desc: `Circuit breaker {{ $labels.name }} of job {{ $labels.job }} tripped (closed to open) {{ $value | printf "%.0f" }} ` +
				"times within " + fw + " on one replica: it closes and trips again.",
		},
		{
			name: AlertTargetDown, severity: SeverityWarning,
			signal: sigTargetsUp, cond: "== 0", panel: panelTargetsUp,
			summary: "Target {{ $labels.instance }} of job {{ $labels.job }} is down: its circuit breakers are not watched",
			desc: "Prometheus has failed to scrape {{ $labels.instance }} of job {{ $labels.job }} for " +
				promDuration(p.For[AlertTargetDown]) + ". No breaker alert can fire for the breakers of that replica, " +
				"whatever their state.",
		},
		{
			name: AlertMetricsAbsent, severity: SeverityWarning,
			signal: sigMetricsAbsent, panel: panelSeries, noJob: true,
			summary: "No circuit breaker metrics from " + p.Selector,
			desc: "No target matching " + p.Selector + " has reported " + breaker.MetricState + " for " +
				promDuration(p.For[AlertMetricsAbsent]) + ": no breaker alert can fire. The targets are gone from " +
				"service discovery, or they no longer register breakers.",
		},
	}
}

// percent formats a ratio as a percentage for summaries ("20%", "95%").
func percent(v float64) string { return promFloat(v*100) + "%" }

func (a alertDef) expr(p Params) string {
	s := ruleScope(p)
	if a.mode != "" {
		s = s.inMode(a.mode)
	}
	e := a.signal(s)
	if a.cond != "" {
		e += " " + a.cond
	}
	return e
}

// dashboardLink links to the alert's panel, with the job and breaker
// variables set from the alert's labels.
func (a alertDef) dashboardLink(p Params) string {
	q := fmt.Sprintf("?orgId=1&viewPanel=%d", a.panel)
	if !a.noJob {
		q += fmt.Sprintf("&var-%s={{ $labels.job }}", VarJob)
	}
	if a.perBreaker {
		q += fmt.Sprintf("&var-%s={{ $labels.name }}", VarBreaker)
	}
	return p.GrafanaURL + "/d/" + DashboardUID + "/" + dashboardSlug + q
}

func (a alertDef) runbookLink(p Params) string {
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

const generatedHeader = "# Code generated by `breakerwatch generate` (package monitoring); DO NOT EDIT.\n"

// RulesYAML returns alerts/rules.yml for p: a group of recording rules, the
// fleet-wide aggregations the alerts and the dashboard share, then a group
// with every alert of AlertNames. Only For, EvalInterval, GrafanaURL and
// RunbookURL change when an environment changes them; the expressions depend
// on thresholds, windows, the selector and the grouping labels only.
func RulesYAML(p Params) ([]byte, error) {
	p, err := p.resolve()
	if err != nil {
		return nil, err
	}
	return encodeRules(ruleGroups(p))
}

// ruleGroups returns the rule groups of alerts/rules.yml for resolved p.
func ruleGroups(p Params) []ruleGroup {
	interval := promDuration(p.EvalInterval)
	rec := ruleGroup{Name: RecordingGroupName, Interval: interval}
	for _, r := range recordings(ruleScope(p), promDuration(p.RateWindow)) {
		rec.Rules = append(rec.Rules, rule{Record: r.record, Expr: r.expr})
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
			r.For = promDuration(d)
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
		return nil, fmt.Errorf("monitoring: encoding rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("monitoring: encoding rules: %w", err)
	}
	return buf.Bytes(), nil
}
