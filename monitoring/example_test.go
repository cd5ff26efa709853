package monitoring_test

import (
	"fmt"

	"github.com/breakerwatch/breakerwatch/monitoring"
)

func ExampleExpand() {
	fmt.Println(monitoring.Expand(`circuit_breaker_state{job=~"$job", name=~"$breaker"}`,
		map[string][]string{monitoring.VarBreaker: {"openai_api", "claude_api"}}))
	// Output: circuit_breaker_state{job=~".+", name=~"(openai_api|claude_api)"}
}

func ExampleAlertNames() {
	for _, name := range monitoring.AlertNames() {
		fmt.Println(name)
	}
	// Output:
	// CircuitBreakerOpen
	// CircuitBreakerWouldOpen
	// HighErrorRate
	// HighLatency
	// CircuitBreakerLowSuccessRate
	// CircuitBreakerFlapping
	// CircuitBreakerTargetDown
	// CircuitBreakerMetricsAbsent
}
