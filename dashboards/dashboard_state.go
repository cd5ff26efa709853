package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// stateSection answers "which breakers are open, and since when?".
func stateSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	open := fmt.Sprintf("count(%s == 2) or vector(0)", mixin.State(s.InMode(breaker.ModeEnforceValue)))
	wouldOpen := fmt.Sprintf("count(%s == 2) or vector(0)", mixin.State(s.InMode(breaker.ModeMonitorValue)))
	return section{
		row: row(mixin.RowState, "Breaker state", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(mixin.PanelStates, "Breaker states",
				"State of each breaker over time, the worst replica's: closed (green), half-open (yellow), open (red). "+
					"Monitor-mode breakers show the state they would be in; disabled ones always show closed. "+
					mixin.AlertOpen+" fires when an enforce-mode breaker is not closed; "+mixin.AlertWouldOpen+" when a monitor-mode one would not be.",
				gridPos(0, y+1, 12, sectionHeight), stateMappings()).
				WithTarget(prometheusQuery("A", mixin.State(s), "{{"+breaker.LabelName+"}} ["+"{{"+breaker.LabelMode+"}}]")),
			stateTimelinePanel(mixin.PanelRejecting, "Not closed and rejecting",
				"Breakers that are not closed and rejected calls (monitor mode: would have) within the last "+rw+", "+
					"the worst replica's state. An idle breaker waiting half-open for a probe rejects nothing and is not shown. "+
					mixin.AlertOpen+" and "+mixin.AlertWouldOpen+" fire on this.",
				gridPos(12, y+1, 6, sectionHeight), stateMappings()).
				WithTarget(prometheusQuery("A", mixin.Rejecting(s, rw), "{{"+breaker.LabelName+"}} ["+"{{"+breaker.LabelMode+"}}]")),
			statPanel(mixin.PanelOpenCount, "Open breakers now",
				"Enforce-mode breakers open on at least one replica: their calls are rejected or served by a fallback.",
				gridPos(18, y+1, 6, sectionHeight/2), base(colorGreen), at(1, colorRed)).
				WithTarget(instantQuery("A", open, "open")),
			statPanel(mixin.PanelWouldOpenCount, "Would be open now (monitor mode)",
				"Monitor-mode breakers that would be open on at least one replica. Nothing is rejected.",
				gridPos(18, y+1+sectionHeight/2, 6, sectionHeight/2), base(colorGreen), at(1, colorBlue)).
				WithTarget(instantQuery("A", wouldOpen, "would be open")),
		},
	}
}
