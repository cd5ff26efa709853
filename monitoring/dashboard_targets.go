package monitoring

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// targetsSection answers "is silence on this dashboard health, or blindness?".
func targetsSection(p Params, s scope, y uint32) section {
	series := fmt.Sprintf("count by (%s, %s) (%s)", labelJob, labelInstance, s.sel(breaker.MetricState))
	return section{
		row: row(rowTargets, "Scrape health", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(panelTargetsUp, "Targets up",
				"Whether Prometheus scrapes each target: a down target's breakers raise no alert. "+AlertTargetDown+" fires on down.",
				gridPos(0, y+1, 12, sectionHeight), valueMappings(
					valueText{"0", "down", colorRed},
					valueText{"1", "up", colorGreen},
				)).
				WithTarget(prometheusQuery("A", sigTargetsUp(s), "{{"+labelInstance+"}}")),
			timeseriesPanel(panelSeries, "Breakers reporting per target",
				"Breakers each target reports a state for; \"no breaker metrics\" is 1 when none does ("+AlertMetricsAbsent+").",
				unitCount, gridPos(12, y+1, 12, sectionHeight)).
				WithTarget(prometheusQuery("A", series, "{{"+labelInstance+"}}")).
				WithTarget(prometheusQuery("B", sigMetricsAbsent(s), "no breaker metrics")),
		},
	}
}
