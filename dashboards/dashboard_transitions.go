package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// transitionsSection answers "how often do the breakers change state, and
// does any of them flap?".
func transitionsSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	fw := mixin.PromDuration(p.FlapWindow)
	return section{
		row: row(mixin.RowTransitions, "State transitions", y),
		panels: []cog.Builder[dashboard.Panel]{
			timeseriesPanel(mixin.PanelTransitions, "State transitions",
				"State changes of each breaker in the last "+rw+", by from and to state, all replicas summed.",
				unitCount, gridPos(0, y+1, 12, sectionHeight)).
				DrawStyle(common.GraphDrawStyleBars).
				WithTarget(prometheusQuery("A", mixin.Transitions(s, rw),
					"{{"+breaker.LabelName+"}}: {{"+breaker.LabelFrom+"}} → {{"+breaker.LabelTo+"}}")),
			timeseriesPanel(mixin.PanelTrips, "Trips per replica (closed → open, "+fw+")",
				"Trips of each breaker within "+fw+" on the replica that tripped most. Open ↔ half-open cycles of a breaker "+
					"whose dependency stays down are not trips. The line is "+mixin.AlertFlapping+"'s threshold.",
				unitCount, gridPos(12, y+1, 12, sectionHeight), base(colorGreen), at(p.FlapTrips, colorRed)).
				WithTarget(prometheusQuery("A", mixin.Trips(s, fw), "{{"+breaker.LabelName+"}}")),
		},
	}
}
