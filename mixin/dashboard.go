package mixin

// The dashboard's identity. The uid is stable: alert links and Grafana's file
// provisioning refer to it.
const (
	DashboardUID   = "breakerwatch-circuit-breakers"
	DashboardTitle = "Circuit breakers"
	DashboardSlug  = "circuit-breakers"
)

// Panel ids, stable and unique (rows have ids too): alert links and the
// runbook refer to them, so a new panel takes the next free id wherever it
// sits in the layout.
const (
	RowState uint32 = iota + 1
	PanelStates
	PanelOpenCount
	PanelWouldOpenCount
	RowCalls
	PanelSuccessRate
	PanelErrorRate
	PanelCallsByOutcome
	RowLatency
	PanelLatency
	PanelLatencyP95
	PanelSlowCalls
	RowRejections
	PanelRejected
	PanelWouldReject
	PanelFallbacks
	RowTransitions
	PanelTransitions
	PanelTrips
	RowTargets
	PanelTargetsUp
	PanelSeries
	PanelRejecting
	RowFleet
	PanelFleetConnected
	PanelFleetMembers
	PanelFleetIgnored
	PanelFleetOpenReplicas
	PanelFleetOpen
	RowCandidates
	PanelCandidateStates
	PanelCandidateRejects
	PanelCandidateTransitions
)
