package demo

import (
	"fmt"
	"time"
)

// Names of the simulated upstreams, which are also their breakers' names.
const (
	OpenAI    = "openai_api"
	Anthropic = "anthropic_api"
	Gemini    = "gemini_api"
	Meta      = "meta_api"
)

// Behavior is how a simulated upstream answers.
type Behavior struct {
	// ErrorRate is the fraction of requests answered with 503: 0 healthy,
	// 1 a full outage.
	ErrorRate float64
	// Latency is added before the response headers.
	Latency time.Duration
}

// Healthy answers every request at once.
var Healthy = Behavior{}

func (b Behavior) String() string {
	switch {
	case b == Healthy:
		return "healthy"
	case b.ErrorRate >= 1:
		return "outage: every request answers 503"
	case b.ErrorRate > 0 && b.Latency > 0:
		return fmt.Sprintf("degraded: %.0f%% answer 503, %v latency", b.ErrorRate*100, b.Latency)
	case b.ErrorRate > 0:
		return fmt.Sprintf("degraded: %.0f%% of requests answer 503", b.ErrorRate*100)
	}
	return fmt.Sprintf("latency spike: %v before every response", b.Latency)
}

// Event sets one upstream's behavior at a point of the cycle.
type Event struct {
	At       time.Duration
	Upstream string
	Behavior Behavior
}

// Schedule is the demo's script. Every upstream starts healthy at the start
// of each cycle; events apply in order of At.
type Schedule struct {
	// Cycle is how long one run of the script lasts; it then starts over.
	// 0: the script runs once and the last behaviors stay.
	Cycle time.Duration
	// Events, sorted by At.
	Events []Event
	// Interval is the time between two requests of one route's traffic.
	Interval time.Duration
}

// DefaultSchedule is the script `breakerwatch serve` runs without a config:
// a three-minute cycle in which the enforce-mode breakers open in the first
// minute and close again, while meta_api, in monitor mode, only counts the
// calls it would have rejected. openai_api and meta_api stay open for more
// than a minute, long enough for the stack's CircuitBreakerOpen and
// CircuitBreakerWouldOpen alerts (for: 1m) to fire. Each route gets four
// requests a second.
//
//	0:10 openai_api     outage            (opens at once; probes every 15s fail)
//	0:20 meta_api       outage            (monitor mode: would-reject, nothing blocked)
//	0:30 gemini_api     800ms latency     (slow calls, over slow_call 500ms: opens)
//	0:40 anthropic_api  60% errors        (failure rate over 50%: opens)
//	1:10 gemini_api     recovers
//	1:30 openai_api     recovers          (the next probe closes it)
//	1:30 anthropic_api  recovers
//	1:35 meta_api       recovers
//	2:00 openai_api     outage, 10 seconds
//	2:10 openai_api     recovers
func DefaultSchedule() Schedule {
	s := time.Second
	return Schedule{
		Cycle:    3 * time.Minute,
		Interval: 250 * time.Millisecond,
		Events: []Event{
			{At: 10 * s, Upstream: OpenAI, Behavior: Behavior{ErrorRate: 1}},
			{At: 20 * s, Upstream: Meta, Behavior: Behavior{ErrorRate: 1}},
			{At: 30 * s, Upstream: Gemini, Behavior: Behavior{Latency: 800 * time.Millisecond}},
			{At: 40 * s, Upstream: Anthropic, Behavior: Behavior{ErrorRate: 0.6}},
			{At: 70 * s, Upstream: Gemini, Behavior: Healthy},
			{At: 90 * s, Upstream: OpenAI, Behavior: Healthy},
			{At: 90 * s, Upstream: Anthropic, Behavior: Healthy},
			{At: 95 * s, Upstream: Meta, Behavior: Healthy},
			{At: 120 * s, Upstream: OpenAI, Behavior: Behavior{ErrorRate: 1}},
			{At: 130 * s, Upstream: OpenAI, Behavior: Healthy},
		},
	}
}

// scaled returns s with every duration divided by speed.
func (s Schedule) scaled(speed float64) Schedule {
	out := Schedule{Cycle: scale(s.Cycle, speed), Interval: scale(s.Interval, speed)}
	for _, e := range s.Events {
		e.At = scale(e.At, speed)
		e.Behavior.Latency = scale(e.Behavior.Latency, speed)
		out.Events = append(out.Events, e)
	}
	return out
}

// scale divides d by speed, rounded to the millisecond: a breaker window
// of whole milliseconds divides evenly into its default ten buckets.
func scale(d time.Duration, speed float64) time.Duration {
	if speed <= 0 || speed == 1 {
		return d
	}
	return time.Duration(float64(d) / speed).Round(time.Millisecond)
}
