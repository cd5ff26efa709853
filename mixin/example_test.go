package mixin_test

import (
	"fmt"

	"github.com/breakerwatch/breakerwatch/mixin"
)

func ExampleAlertNames() {
	for _, name := range mixin.AlertNames() {
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
	// CircuitBreakerFleetDisconnected
}
