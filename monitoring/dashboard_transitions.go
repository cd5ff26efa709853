package monitoring

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// transitionsSection answers "how often do the breakers change state, and
// does any of them flap?".
func transitionsSection(p Params, s scope, y uint32) section {
	rw := promDuration(p.RateWindow)
	fw := promDuration(p.FlapWindow)
	transitions := s.by("sum", fmt.Sprintf("increase(%s[%s])", s.sel(breaker.MetricTransitions), rw),
		breaker.LabelFrom, breaker.LabelTo)
	return section{
		row: row(rowTransitions, "State transitions", y),
		panels: []cog.Builder[dashboard.Panel]{
			timeseriesPanel(panelTransitions, "State transitions",
				"State changes of each breaker in the last "+rw+", by from and to state, all replicas summed.",
				unitCount, gridPos(0, y+1, 12, sectionHeight)).
				DrawStyle(common.GraphDrawStyleBars).
				WithTarget(prometheusQuery("A", transitions,
					"{{"+breaker.LabelName+"}}: {{"+breaker.LabelFrom+"}} → {{"+breaker.LabelTo+"}}")),
			timeseriesPanel(panelTrips, "Trips per replica (closed → open, "+fw+")",
				"Trips of each breaker within "+fw+" on the replica that tripped most. Open ↔ half-open cycles of a breaker "+
					"whose dependency stays down are not trips. The line is "+AlertFlapping+"'s threshold.",
				unitCount, gridPos(12, y+1, 12, sectionHeight), base(colorGreen), at(p.FlapTrips, colorRed)).
				WithTarget(prometheusQuery("A", sigTrips(s, fw), "{{"+breaker.LabelName+"}}")),
		},
	}
}
