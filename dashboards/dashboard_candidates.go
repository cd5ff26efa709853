package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// candidatesSection answers "would another setting of this breaker have
// opened during the incidents, and only then?": each breaker that has
// candidate settings, its own setting beside each candidate's.
func candidatesSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	name := "{{" + breaker.LabelName + "}}"
	candidate := name + ": {{" + breaker.LabelCandidate + "}}"
	current := name + ": current"
	fromTo := " {{" + breaker.LabelFrom + "}} → {{" + breaker.LabelTo + "}}"
	return section{
		row: row(mixin.RowCandidates, "Candidate settings", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(mixin.PanelCandidateStates, "Current setting and candidates: state",
				"For each breaker with candidates: the state of its own setting (current, in its mode) and the state each "+
					"candidate would be in, the worst replica's: closed (green), half-open (yellow), open (red). "+
					"In enforce mode, candidates see only the calls that ran.",
				gridPos(0, y+1, 8, sectionHeight), stateMappings()).
				WithTarget(prometheusQuery("A", mixin.StateWithCandidates(s), current+" [{{"+breaker.LabelMode+"}}]")).
				WithTarget(prometheusQuery("B", mixin.CandidateStates(s), candidate)),
			timeseriesPanel(mixin.PanelCandidateRejects, "Current setting and candidates: rejected calls",
				"Calls per second each breaker with candidates rejected (enforce mode) or would have rejected (monitor mode) "+
					"with its own setting (current), and that each candidate would have rejected, all replicas summed. "+
					"`breakerwatch ctl tune NAME` says how many of them failed or succeeded when they ran.",
				unitReqPerS, gridPos(8, y+1, 8, sectionHeight)).
				WithTarget(prometheusQuery("A", mixin.RejectsWithCandidates(s, rw), current)).
				WithTarget(prometheusQuery("B", mixin.CandidateWouldReject(s, rw), candidate)),
			timeseriesPanel(mixin.PanelCandidateTransitions, "Current setting and candidates: transitions",
				"State changes in the last "+rw+" of each breaker with candidates (current) and those each candidate "+
					"would have made, by from and to state, all replicas summed.",
				unitCount, gridPos(16, y+1, 8, sectionHeight)).
				DrawStyle(common.GraphDrawStyleBars).
				WithTarget(prometheusQuery("A", mixin.TransitionsWithCandidates(s, rw), current+fromTo)).
				WithTarget(prometheusQuery("B", mixin.CandidateTransitions(s, rw), candidate+fromTo)),
		},
	}
}
