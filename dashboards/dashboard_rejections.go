package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// rejectionsSection answers "which calls are turned away (or would be), and
// where do they go instead?".
func rejectionsSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	rejected := s.By("sum",
		mixin.Rate(s.Sel(breaker.MetricCalls, mixin.MatchEqual(breaker.LabelOutcome, breaker.OutcomeRejectedValue)), rw))
	wouldReject := s.By("sum", mixin.Rate(s.Sel(breaker.MetricWouldReject), rw))
	fallbacks := s.By("sum", mixin.Rate(s.Sel(breaker.MetricFallbacks), rw), breaker.LabelFallback)
	return section{
		row: row(mixin.RowRejections, "Rejections and fallbacks", y),
		panels: []cog.Builder[dashboard.Panel]{
			timeseriesPanel(mixin.PanelRejected, "Rejected calls",
				"Calls per second that enforce-mode breakers rejected without running them, all replicas summed.",
				unitReqPerS, gridPos(0, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", rejected, "{{"+breaker.LabelName+"}}")),
			timeseriesPanel(mixin.PanelWouldReject, "Would-reject calls (monitor mode)",
				"Calls per second that monitor-mode breakers would have rejected (they ran anyway), all replicas summed: "+
					"the evidence for moving a breaker to enforce, or for tuning it first.",
				unitReqPerS, gridPos(8, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", wouldReject, "{{"+breaker.LabelName+"}}")),
			timeseriesPanel(mixin.PanelFallbacks, "Fallback usage",
				"Calls per second served by a fallback instead of the primary, by primary breaker and the fallback that served, all replicas summed.",
				unitReqPerS, gridPos(16, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", fallbacks, "{{"+breaker.LabelName+"}} → {{"+breaker.LabelFallback+"}}")),
		},
	}
}
