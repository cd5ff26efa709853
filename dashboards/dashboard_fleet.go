package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet/fleetnames"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// fleetSection answers "do the replicas of a fleet share their evidence,
// and which breakers does the fleet hold open?". Replicas without fleet
// mode have none of these series: the panels are empty for them.
func fleetSection(p mixin.Params, s mixin.Scope, y uint32) section {
	rw := mixin.PromDuration(p.RateWindow)
	replica := "{{" + fleetnames.LabelReplica + "}}"
	return section{
		row: row(mixin.RowFleet, "Fleet", y),
		panels: []cog.Builder[dashboard.Panel]{
			stateTimelinePanel(mixin.PanelFleetConnected, "Fleet connectivity per replica",
				"Whether each fleet-mode replica exchanges evidence with the fleet's Redis (connected, green) or decides "+
					"alone (red): its breakers then trip on its own evidence only, and no call is blocked because of it. "+
					mixin.AlertFleetDisconnected+" fires when a replica stays alone for "+
					mixin.PromDuration(p.For[mixin.AlertFleetDisconnected])+".",
				gridPos(0, y+1, 7, sectionHeight), valueMappings(
					valueText{"0", "alone", colorRed},
					valueText{"1", "connected", colorGreen},
				)).
				WithTarget(prometheusQuery("A", mixin.FleetConnected(s), replica)),
			timeseriesPanel(mixin.PanelFleetMembers, "Fleet members seen",
				"Live replicas each replica sees in its fleet, itself included; 0 while it is disconnected. "+
					"Replicas that disagree do not see the same fleet.",
				unitCount, gridPos(7, y+1, 5, sectionHeight/2)).
				WithTarget(prometheusQuery("A", mixin.FleetMembers(s), replica)),
			timeseriesPanel(mixin.PanelFleetIgnored, "Ignored fleet values",
				"Values per second each replica read from the fleet's Redis and ignored because they failed their checks "+
					"(garbled, wrong version, counts that do not add up, times out of range); each is logged once by the replica.",
				unitCount, gridPos(7, y+1+sectionHeight/2, 5, sectionHeight/2)).
				WithTarget(prometheusQuery("A", mixin.FleetIgnored(s, rw), replica)),
			timeseriesPanel(mixin.PanelFleetOpenReplicas, "Replicas seeing each breaker open",
				"Live replicas that report each breaker open, as the replica that sees most of them last saw. "+
					"One replica open alone (its own evidence) does not open the fleet.",
				unitCount, gridPos(12, y+1, 6, sectionHeight)).
				WithTarget(prometheusQuery("A", mixin.FleetOpenReplicas(s), "{{"+breaker.LabelName+"}}")),
			stateTimelinePanel(mixin.PanelFleetOpen, "Fleet-wide open decisions",
				"Breakers held open by a fleet-wide decision on at least one replica (red), or deciding on local "+
					"evidence (green): every replica of the fleet opens with the same open-until.",
				gridPos(18, y+1, 6, sectionHeight), valueMappings(
					valueText{"0", "local", colorGreen},
					valueText{"1", "fleet open", colorRed},
				)).
				WithTarget(prometheusQuery("A", mixin.FleetOpen(s), "{{"+breaker.LabelName+"}}")),
		},
	}
}
