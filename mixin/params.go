package mixin

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Alert names. AlertNames lists them in the order of alerts/rules.yml.
const (
	// AlertOpen: an enforce-mode breaker has not been closed for its `for:`
	// and has rejected calls within the rate window. An idle breaker that
	// waits, half-open, for a probe rejects nothing and does not fire. From
	// the seed.
	AlertOpen = "CircuitBreakerOpen"
	// AlertWouldOpen: a monitor-mode breaker would have been open, and would
	// have rejected calls; nothing is rejected. Severity info: evidence for
	// tuning and for moving to enforce.
	AlertWouldOpen = "CircuitBreakerWouldOpen"
	// AlertHighErrorRate: the error rate over the breaker's window is above
	// Params.ErrorRate, in every mode (labelled with it). From the seed.
	AlertHighErrorRate = "HighErrorRate"
	// AlertHighLatency: the P95 latency over the breaker's window is above
	// Params.LatencyAlertMs, in every mode (labelled with it). From the seed.
	AlertHighLatency = "HighLatency"
	// AlertLowSuccessRate: the share of calls that succeeded, fleet-wide, is
	// below Params.SuccessRate, in every mode (labelled with it).
	AlertLowSuccessRate = "CircuitBreakerLowSuccessRate"
	// AlertFlapping: a breaker keeps tripping, closing and tripping again.
	AlertFlapping = "CircuitBreakerFlapping"
	// AlertTargetDown: a scrape target that should report breakers is down.
	AlertTargetDown = "CircuitBreakerTargetDown"
	// AlertMetricsAbsent: no breaker metrics at all from the selected targets.
	AlertMetricsAbsent = "CircuitBreakerMetricsAbsent"
	// AlertFleetDisconnected: a replica in fleet mode has not exchanged
	// evidence with the fleet's Redis for its `for:`: its breakers decide on
	// its own evidence alone. Replicas without fleet mode have no
	// connectivity gauge and never raise it.
	AlertFleetDisconnected = "CircuitBreakerFleetDisconnected"
)

// Severities, the values of the severity label that alerts/alertmanager.yml routes on.
const (
	SeverityCritical = "critical" // pages
	SeverityWarning  = "warning"  // notifies
	SeverityInfo     = "info"     // never pages
)

// AlertNames returns the name of every alert of alerts/rules.yml, in order.
func AlertNames() []string {
	return []string{
		AlertOpen, AlertWouldOpen, AlertHighErrorRate, AlertHighLatency,
		AlertLowSuccessRate, AlertFlapping, AlertTargetDown, AlertMetricsAbsent,
		AlertFleetDisconnected,
	}
}

// Defaults of Params, applied to its zero fields.
const (
	DefaultSelector       = `job="breakerwatch"`
	DefaultEvalInterval   = 30 * time.Second
	DefaultRateWindow     = 5 * time.Minute
	DefaultErrorRate      = 0.2
	DefaultSuccessRate    = 0.95
	DefaultLatencyTarget  = 2000.0
	DefaultLatencyAlertMs = 3000.0
	DefaultFlapWindow     = 15 * time.Minute
	DefaultFlapTrips      = 3.0
	DefaultGrafanaURL     = "http://localhost:3000"
	DefaultRunbookURL     = "https://github.com/breakerwatch/breakerwatch/blob/main/alerts/runbook.md"
)

// DefaultFor returns the default `for:` duration of every alert.
func DefaultFor() map[string]time.Duration {
	return map[string]time.Duration{
		AlertOpen:           time.Minute,
		AlertWouldOpen:      time.Minute,
		AlertHighErrorRate:  5 * time.Minute,
		AlertHighLatency:    5 * time.Minute,
		AlertLowSuccessRate: 5 * time.Minute,
		AlertFlapping:       5 * time.Minute,
		AlertTargetDown:     5 * time.Minute,
		AlertMetricsAbsent:  10 * time.Minute,
		// Longer than a Redis restart or failover, which the replicas
		// ride out and resync after, without anyone to notify.
		AlertFleetDisconnected: 5 * time.Minute,
	}
}

// Params holds every threshold, selector and duration of the dashboard and the
// alert rules, in one place. Its zero value works: each zero field takes the
// default written next to it. DefaultParams returns the defaults filled in;
// the checked-in files are generated from it.
//
// Only For, EvalInterval, GrafanaURL and RunbookURL may differ between
// environments without changing a single query: the end-to-end test shortens
// the durations and points the links elsewhere, and evaluates the very
// expressions that are checked in.
type Params struct {
	// Selector is a comma-separated list of PromQL label matchers, without
	// braces, that selects the scrape targets of services using breakerwatch.
	// Every query of the alerts and of the dashboard carries it, so that the
	// target-down and metrics-absent alerts know which targets to expect.
	// Default `job="breakerwatch"`; e.g. `job=~"checkout|search"`.
	Selector string
	// GroupBy lists extra labels every aggregation and join keeps, besides
	// job and name: the labels that tell one deployment of a service from
	// another, e.g. cluster and namespace. Default none.
	GroupBy []string

	// EvalInterval is the evaluation interval of the rule group. Default 30s (the seed's).
	EvalInterval time.Duration
	// For maps an alert name to its `for:` duration. Alerts missing from
	// the map keep DefaultFor's: 1m for CircuitBreakerOpen and
	// CircuitBreakerWouldOpen, 10m for CircuitBreakerMetricsAbsent, 5m for
	// the others. A zero duration writes no `for:`: the alert fires at the
	// first evaluation that sees its condition.
	For map[string]time.Duration
	// RateWindow is the range of every rate() and increase() over calls,
	// rejections, fallbacks and histogram buckets, in the rules and on the
	// dashboard alike. Default 5m.
	RateWindow time.Duration

	// ErrorRate is HighErrorRate's threshold on circuit_breaker_error_rate
	// (0..1) and the line on the error-rate panel. Default 0.2 (the seed's).
	ErrorRate float64
	// SuccessRate is CircuitBreakerLowSuccessRate's threshold and the line on
	// the success-rate panel. Default 0.95 (the seed's dashboard).
	SuccessRate float64
	// LatencyTargetMs is the latency target drawn on the latency panels, in
	// milliseconds. No alert uses it. Default 2000 (the seed's dashboard).
	LatencyTargetMs float64
	// LatencyAlertMs is HighLatency's threshold on circuit_breaker_latency_p95,
	// in milliseconds, also drawn on the latency panels. Default 3000 (the
	// seed's alert).
	LatencyAlertMs float64
	// FlapWindow and FlapTrips: CircuitBreakerFlapping fires when one replica's
	// breaker tripped (closed -> open) at least FlapTrips times within
	// FlapWindow. Defaults 15m and 3.
	FlapWindow time.Duration
	FlapTrips  float64

	// GrafanaURL is the base URL of Grafana, for the dashboard links of the
	// alerts: an absolute http(s) URL. Default http://localhost:3000.
	GrafanaURL string
	// RunbookURL is the URL of alerts/runbook.md, an absolute http(s) URL
	// without a fragment; each alert links to its heading. Default the file
	// on the main branch of the repository.
	RunbookURL string
}

// DefaultParams returns Params with every default filled in.
func DefaultParams() Params {
	return Params{}.withDefaults()
}

// withDefaults returns p with its zero fields set to their defaults and For
// completed with DefaultFor (a copy: p.For is not modified).
func (p Params) withDefaults() Params {
	p.Selector = cmp.Or(p.Selector, DefaultSelector)
	p.EvalInterval = cmp.Or(p.EvalInterval, DefaultEvalInterval)
	forDurations := DefaultFor()
	maps.Copy(forDurations, p.For)
	p.For = forDurations
	p.RateWindow = cmp.Or(p.RateWindow, DefaultRateWindow)
	p.ErrorRate = cmp.Or(p.ErrorRate, DefaultErrorRate)
	p.SuccessRate = cmp.Or(p.SuccessRate, DefaultSuccessRate)
	p.LatencyTargetMs = cmp.Or(p.LatencyTargetMs, DefaultLatencyTarget)
	p.LatencyAlertMs = cmp.Or(p.LatencyAlertMs, DefaultLatencyAlertMs)
	p.FlapWindow = cmp.Or(p.FlapWindow, DefaultFlapWindow)
	p.FlapTrips = cmp.Or(p.FlapTrips, DefaultFlapTrips)
	p.GroupBy = slices.Clone(p.GroupBy)
	p.GrafanaURL = strings.TrimSuffix(cmp.Or(p.GrafanaURL, DefaultGrafanaURL), "/")
	p.RunbookURL = cmp.Or(p.RunbookURL, DefaultRunbookURL)
	return p
}

// resolve returns p with its defaults filled in, or the validation error:
// what every generator starts from.
func (p Params) Resolve() (Params, error) {
	p = p.withDefaults()
	return p, p.validate()
}

// ParamError is the error of invalid Params: Field names the field.
type ParamError struct {
	Field string // "Selector", "GroupBy", "For[\"HighLatency\"]", ...
	Err   error
}

func (e *ParamError) Error() string { return fmt.Sprintf("mixin: Params.%s: %v", e.Field, e.Err) }
func (e *ParamError) Unwrap() error { return e.Err }

// Validate returns a *ParamError if p, with its defaults filled in, is
// invalid.
func (p Params) Validate() error {
	return p.withDefaults().validate()
}

// validate checks p after defaults; the error names the field.
func (p Params) validate() error {
	if err := validateSelector(p.Selector); err != nil {
		return &ParamError{"Selector", fmt.Errorf("%q: %w", p.Selector, err)}
	}
	if err := validateGroupBy(p.GroupBy); err != nil {
		return &ParamError{"GroupBy", err}
	}
	if err := validateBaseURL(p.GrafanaURL); err != nil {
		return &ParamError{"GrafanaURL", fmt.Errorf("%q: %w", p.GrafanaURL, err)}
	}
	if err := validateBaseURL(p.RunbookURL); err != nil {
		return &ParamError{"RunbookURL", fmt.Errorf("%q: %w", p.RunbookURL, err)}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"EvalInterval", p.EvalInterval},
		{"RateWindow", p.RateWindow},
		{"FlapWindow", p.FlapWindow},
	} {
		if d.v < time.Millisecond || d.v%time.Millisecond != 0 {
			return &ParamError{d.field, fmt.Errorf("%v: must be a positive whole number of milliseconds", d.v)}
		}
	}
	known := map[string]bool{}
	for _, name := range AlertNames() {
		known[name] = true
	}
	for name, d := range p.For {
		if !known[name] {
			return &ParamError{fmt.Sprintf("For[%q]", name), errors.New("no such alert (see AlertNames)")}
		}
		if d < 0 || d%time.Millisecond != 0 {
			return &ParamError{fmt.Sprintf("For[%q]", name), fmt.Errorf("%v: must be zero or a positive whole number of milliseconds", d)}
		}
	}
	if p.ErrorRate <= 0 || p.ErrorRate >= 1 {
		return &ParamError{"ErrorRate", fmt.Errorf("%g: must be in (0, 1)", p.ErrorRate)}
	}
	if p.SuccessRate <= 0 || p.SuccessRate >= 1 {
		return &ParamError{"SuccessRate", fmt.Errorf("%g: must be in (0, 1)", p.SuccessRate)}
	}
	if p.LatencyTargetMs < 0 {
		return &ParamError{"LatencyTargetMs", fmt.Errorf("%g: must be positive", p.LatencyTargetMs)}
	}
	if p.LatencyAlertMs < 0 {
		return &ParamError{"LatencyAlertMs", fmt.Errorf("%g: must be positive", p.LatencyAlertMs)}
	}
	if p.FlapTrips < 1 {
		return &ParamError{"FlapTrips", fmt.Errorf("%g: must be at least 1", p.FlapTrips)}
	}
	return nil
}

// PromDuration formats d as a Prometheus duration ("30s", "5m", "1h", "250ms").
// d must be a whole number of milliseconds (validate checks it).
func PromDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}
