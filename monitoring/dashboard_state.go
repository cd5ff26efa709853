package monitoring

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// stateSection answers "which breakers are open, and since when?".
func stateSection(p Params, s scope, y uint32) section {
	rw := promDuration(p.RateWindow)
	open := fmt.Sprintf("count(%s == 2) or vector(0)", sigState(s.inMode(breaker.ModeEnforceValue)))
	wouldOpen := fmt.Sprintf("count(%s == 2) or vector(0)", sigState(s.inMode(breaker.ModeMonitorValue)))
	return section{
		row: row(rowState, "Breaker state", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(panelStates, "Breaker states",
				"State of each breaker over time, the worst replica's: closed (green), half-open (yellow), open (red). "+
					"Monitor-mode breakers show the state they would be in; disabled ones always show closed. "+
					AlertOpen+" fires when an enforce-mode breaker is not closed; "+AlertWouldOpen+" when a monitor-mode one would not be.",
				gridPos(0, y+1, 12, sectionHeight), stateMappings()).
				WithTarget(prometheusQuery("A", sigState(s), "{{"+breaker.LabelName+"}} ["+"{{"+breaker.LabelMode+"}}]")),
			stateTimelinePanel(panelRejecting, "Not closed and rejecting",
				"Breakers that are not closed and rejected calls (monitor mode: would have) within the last "+rw+", "+
					"the worst replica's state. An idle breaker waiting half-open for a probe rejects nothing and is not shown. "+
					AlertOpen+" and "+AlertWouldOpen+" fire on this.",
				gridPos(12, y+1, 6, sectionHeight), stateMappings()).
				WithTarget(prometheusQuery("A", sigRejecting(s, rw), "{{"+breaker.LabelName+"}} ["+"{{"+breaker.LabelMode+"}}]")),
			statPanel(panelOpenCount, "Open breakers now",
				"Enforce-mode breakers open on at least one replica: their calls are rejected or served by a fallback.",
				gridPos(18, y+1, 6, sectionHeight/2), base(colorGreen), at(1, colorRed)).
				WithTarget(instantQuery("A", open, "open")),
			statPanel(panelWouldOpenCount, "Would be open now (monitor mode)",
				"Monitor-mode breakers that would be open on at least one replica. Nothing is rejected.",
				gridPos(18, y+1+sectionHeight/2, 6, sectionHeight/2), base(colorGreen), at(1, colorBlue)).
				WithTarget(instantQuery("A", wouldOpen, "would be open")),
		},
	}
}
