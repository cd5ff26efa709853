package dashboards_test

import (
	"fmt"

	"github.com/breakerwatch/breakerwatch/dashboards"
	"github.com/breakerwatch/breakerwatch/mixin"
)

func ExampleExpand() {
	fmt.Println(dashboards.Expand(`circuit_breaker_state{job=~"$job", name=~"$breaker"}`,
		map[string][]string{mixin.VarBreaker: {"openai_api", "claude_api"}}))
	// Output: circuit_breaker_state{job=~".+", name=~"(openai_api|claude_api)"}
}
