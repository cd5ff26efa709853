package breaker

// The metric contract. Every name, label key and label value that breakerwatch
// emits is defined here once; the exporter, the dashboard generator and the
// alert rules import these constants instead of typing names again.
//
// The names are the ones that appear on a Prometheus scrape. The OTel
// instruments carry exactly these names (counters already end in _total and
// the histogram in _seconds), so the Prometheus exporter's
// UnderscoreEscapingWithSuffixes strategy leaves them unchanged. Gauges have
// no unit, so no unit suffix is added to them.
const (
	// ScopeName is the instrumentation scope of every breakerwatch instrument.
	ScopeName = "github.com/breakerwatch/breakerwatch/breaker"

	// MetricState is a gauge: 0 closed, 1 half-open, 2 open (gobreaker's
	// numbering). In monitor mode it is the state the breaker would be in.
	// In disabled mode it is 0. Labels: name, mode.
	MetricState = "circuit_breaker_state"
	// MetricErrorRate is a gauge: failures / (successes + failures) over the
	// window, 0 with no calls. Label: name.
	MetricErrorRate = "circuit_breaker_error_rate"
	// MetricLatencyP50, MetricLatencyP95 and MetricLatencyP99 are gauges in
	// milliseconds over the window, 0 with no calls. Label: name.
	MetricLatencyP50 = "circuit_breaker_latency_p50"
	MetricLatencyP95 = "circuit_breaker_latency_p95"
	MetricLatencyP99 = "circuit_breaker_latency_p99"
	// MetricCalls counts calls by outcome. Labels: name, outcome.
	MetricCalls = "circuit_breaker_calls_total"
	// MetricWouldReject counts, in monitor mode, the calls that enforcement
	// would have rejected (they ran anyway). Label: name.
	MetricWouldReject = "circuit_breaker_would_reject_total"
	// MetricSlowCalls counts calls slower than the breaker's slow_call. Label: name.
	MetricSlowCalls = "circuit_breaker_slow_calls_total"
	// MetricCallDuration is a histogram of call durations in seconds.
	// Labels: name, outcome (success, failure, ignored: rejected calls do not run).
	MetricCallDuration = "circuit_breaker_call_duration_seconds"
	// MetricTransitions counts state changes. Labels: name, from, to.
	MetricTransitions = "circuit_breaker_transitions_total"
	// MetricFallbacks counts calls of a fallback chain served by a member other
	// than the primary. Labels: name (the primary), fallback (the member that served).
	MetricFallbacks = "circuit_breaker_fallback_total"
	// MetricReplaySkipped counts requests of a gateway route with fallbacks
	// sent without fallback replay because the replay buffers held
	// max_replay_memory already. Label: name (the route's breaker).
	MetricReplaySkipped = "circuit_breaker_replay_skipped_total"
	// MetricHealthUp is a gauge: 1 when the breaker's last health check
	// passed, 0 when it failed. Only breakers with a health check have it. Label: name.
	MetricHealthUp = "circuit_breaker_health_check_up"
	// MetricHealthDuration is a gauge: the duration in seconds of the last
	// health check. Label: name.
	MetricHealthDuration = "circuit_breaker_health_check_duration_seconds"
	// MetricRetryQueueDepth is a gauge: items waiting in a deferred-retry
	// queue. Label: queue.
	MetricRetryQueueDepth = "circuit_breaker_retry_queue_depth"
	// MetricRetryItems counts deferred-retry queue events. Labels: queue, result
	// (retried, succeeded, given_up, dropped).
	MetricRetryItems = "circuit_breaker_retry_items_total"
	// MetricCandidateState is a gauge: the state a candidate setting of the
	// breaker would be in (numbered like MetricState). Only breakers with
	// candidates have it. Labels: name, candidate.
	MetricCandidateState = "circuit_breaker_candidate_state"
	// MetricCandidateWouldReject counts the calls a candidate setting would
	// have rejected (they ran). Labels: name, candidate.
	MetricCandidateWouldReject = "circuit_breaker_candidate_would_reject_total"
	// MetricCandidateTransitions counts the state changes a candidate setting
	// would have made. Labels: name, candidate, from, to.
	MetricCandidateTransitions = "circuit_breaker_candidate_transitions_total"
	// MetricBuildInfo is a gauge, always 1, reported by the breakerwatch
	// binary (not by the package). Labels: version, revision, goversion.
	MetricBuildInfo = "breakerwatch_build_info"
)

// Units of the instruments, as OTel unit strings.
const (
	UnitSeconds = "s"
)

// Label keys.
const (
	LabelName     = "name"
	LabelMode     = "mode"
	LabelOutcome  = "outcome"
	LabelFrom     = "from"
	LabelTo       = "to"
	LabelFallback = "fallback"
	LabelQueue    = "queue"
	LabelResult   = "result"
	// LabelCandidate is the name of a candidate setting (Config.Candidates).
	LabelCandidate = "candidate"
	// Labels of MetricBuildInfo.
	LabelVersion   = "version"
	LabelRevision  = "revision"
	LabelGoVersion = "goversion"
)

// Values of the outcome label.
const (
	OutcomeSuccessValue  = "success"
	OutcomeFailureValue  = "failure"
	OutcomeRejectedValue = "rejected"
	OutcomeIgnoredValue  = "ignored"
)

// Values of the mode label (see Mode.String).
const (
	ModeEnforceValue  = "enforce"
	ModeMonitorValue  = "monitor"
	ModeDisabledValue = "disabled"
)

// Values of the from and to labels (see State.String); they match gobreaker's.
const (
	StateClosedValue   = "closed"
	StateHalfOpenValue = "half-open"
	StateOpenValue     = "open"
)

// Values of the result label of MetricRetryItems.
const (
	RetryRetriedValue   = "retried"
	RetrySucceededValue = "succeeded"
	RetryGivenUpValue   = "given_up"
	RetryDroppedValue   = "dropped"
)

// DurationBuckets are the upper bounds, in seconds, of MetricCallDuration's
// buckets: remote calls, from 5 ms to 60 s.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
