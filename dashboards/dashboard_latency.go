package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// latencySection answers "how slow are the calls through each breaker?".
func latencySection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	buckets := s.By("sum", mixin.Rate(s.Sel(breaker.MetricCallDuration+"_bucket"), rw), mixin.LabelLE)
	quantile := func(q float64) string {
		// The histogram is in seconds; the panel, like the gauges and the alert, in milliseconds.
		return fmt.Sprintf("histogram_quantile(%s, %s) * 1000", mixin.PromFloat(q), buckets)
	}
	slow := s.By("sum", mixin.Rate(s.Sel(breaker.MetricSlowCalls), rw))
	lines := []step{base(colorGreen), at(p.LatencyTargetMs, colorYellow), at(p.LatencyAlertMs, colorRed)}
	return section{
		row: row(mixin.RowLatency, "Latency", y),
		panels: []cog.Builder[dashboard.Panel]{
			timeseriesPanel(mixin.PanelLatency, "Latency P50 / P95 / P99",
				"Call duration percentiles over "+rw+" from the duration histogram, buckets of all replicas summed before the quantile. "+
					fmt.Sprintf("Lines: the %s ms target and %s's %s ms.", mixin.PromFloat(p.LatencyTargetMs), mixin.AlertHighLatency, mixin.PromFloat(p.LatencyAlertMs)),
				unitMillis, gridPos(0, y+1, 8, sectionHeight), lines...).
				WithTarget(prometheusQuery("A", quantile(0.5), "{{"+breaker.LabelName+"}} P50")).
				WithTarget(prometheusQuery("B", quantile(0.95), "{{"+breaker.LabelName+"}} P95")).
				WithTarget(prometheusQuery("C", quantile(0.99), "{{"+breaker.LabelName+"}} P99")),
			timeseriesPanel(mixin.PanelLatencyP95, "P95 latency (breaker window, worst replica)",
				"Each breaker's own P95 latency over its window, on its worst replica: what "+mixin.AlertHighLatency+" fires on. "+
					fmt.Sprintf("Lines: the %s ms target and the %s ms alert threshold.", mixin.PromFloat(p.LatencyTargetMs), mixin.PromFloat(p.LatencyAlertMs)),
				unitMillis, gridPos(8, y+1, 8, sectionHeight), lines...).
				WithTarget(prometheusQuery("A", mixin.LatencyP95(s), "{{"+breaker.LabelName+"}} [{{"+breaker.LabelMode+"}}]")),
			timeseriesPanel(mixin.PanelSlowCalls, "Slow calls",
				"Calls per second slower than the breaker's slow_call setting, all replicas summed. Only breakers with slow_call set count them.",
				unitReqPerS, gridPos(16, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", slow, "{{"+breaker.LabelName+"}}")),
		},
	}
}
