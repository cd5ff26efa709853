package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// targetsSection answers "is silence on this dashboard health, or blindness?".
func targetsSection(p mixin.Params, s mixin.Scope, y uint32) section {
	series := fmt.Sprintf("count by (%s, %s) (%s)", mixin.LabelJob, mixin.LabelInstance, s.Sel(breaker.MetricState))
	return section{
		row: row(mixin.RowTargets, "Scrape health", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(mixin.PanelTargetsUp, "Targets up",
				"Whether Prometheus scrapes each target: a down target's breakers raise no alert. "+mixin.AlertTargetDown+" fires on down.",
				gridPos(0, y+1, 12, sectionHeight), valueMappings(
					valueText{"0", "down", colorRed},
					valueText{"1", "up", colorGreen},
				)).
				WithTarget(prometheusQuery("A", mixin.TargetsUp(s), "{{"+mixin.LabelInstance+"}}")),
			timeseriesPanel(mixin.PanelSeries, "Breakers reporting per target",
				"Breakers each target reports a state for; \"no breaker metrics\" is 1 when none does ("+mixin.AlertMetricsAbsent+").",
				unitCount, gridPos(12, y+1, 12, sectionHeight)).
				WithTarget(prometheusQuery("A", series, "{{"+mixin.LabelInstance+"}}")).
				WithTarget(prometheusQuery("B", mixin.MetricsAbsent(s), "no breaker metrics")),
		},
	}
}
