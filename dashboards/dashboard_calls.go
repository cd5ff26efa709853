package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// callsSection answers "are the calls through each breaker succeeding?".
func callsSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	return section{
		row: row(mixin.RowCalls, "Calls", y),
		panels: []cog.Builder[dashboard.Panel]{
			timeseriesPanel(mixin.PanelSuccessRate, "Success rate",
				"Share of calls that succeeded over "+rw+", all replicas summed before dividing: success / (success + failure + rejected). "+
					"Rejected calls count as not succeeded. The line is "+mixin.AlertLowSuccessRate+"'s threshold.",
				unitRatio, gridPos(0, y+1, 8, sectionHeight), base(colorRed), at(p.SuccessRate, colorGreen)).
				Min(0).Max(1).
				WithTarget(prometheusQuery("A", mixin.SuccessRate(s, rw), "{{"+breaker.LabelName+"}} [{{"+breaker.LabelMode+"}}]")),
			timeseriesPanel(mixin.PanelErrorRate, "Error rate",
				"Each breaker's own error rate over its window, as it decides to trip, on its worst replica, by mode; "+
					"and the share of failed calls over "+rw+", all replicas summed: failure / (success + failure). "+
					"The line is "+mixin.AlertHighErrorRate+"'s threshold.",
				unitRatio, gridPos(8, y+1, 8, sectionHeight), base(colorGreen), at(p.ErrorRate, colorRed)).
				Min(0).Max(1).
				WithTarget(prometheusQuery("A", mixin.ErrorRate(s), "{{"+breaker.LabelName+"}} [{{"+breaker.LabelMode+"}}]")).
				WithTarget(prometheusQuery("B", mixin.ErrorRatio(s, rw), "{{"+breaker.LabelName+"}} [{{"+breaker.LabelMode+"}}] all replicas, "+rw)),
			timeseriesPanel(mixin.PanelCallsByOutcome, "Calls by outcome",
				"Calls per second through each breaker by outcome (success, failure, rejected, ignored), all replicas summed.",
				unitReqPerS, gridPos(16, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", mixin.CallsByOutcome(s, rw), "{{"+breaker.LabelName+"}} {{"+breaker.LabelOutcome+"}}")),
		},
	}
}
