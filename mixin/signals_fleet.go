package mixin

import "github.com/breakerwatch/breakerwatch/fleet/fleetnames"

// Signals of fleet mode (package fleet). Only replicas in fleet mode have
// these series: without it, every one of them is absent, and so is every
// alert on them.

// FleetConnected is each fleet-mode replica's connectivity gauge: 1 while it
// exchanges evidence with the fleet's Redis, 0 while its breakers decide on
// its own evidence alone.
func FleetConnected(s Scope) string { return s.TargetSel(fleetnames.MetricConnected) }

// FleetMembers is the number of live replicas each fleet-mode replica sees,
// itself included (0 while it is disconnected).
func FleetMembers(s Scope) string { return s.TargetSel(fleetnames.MetricMembers) }

// FleetIgnored is the values per second each replica read from the fleet's
// Redis and ignored because they failed their checks, over window.
func FleetIgnored(s Scope, window string) string {
	return Rate(s.TargetSel(fleetnames.MetricGarbage), window)
}

// FleetOpenReplicas is, for each breaker, the number of live replicas that
// report it open, as the replica that sees most of them last saw.
func FleetOpenReplicas(s Scope) string {
	return s.By("max", s.Sel(fleetnames.MetricOpenReplicas))
}

// FleetOpen is 1 for each breaker while a fleet-wide open decision applies
// to it on at least one replica, 0 otherwise.
func FleetOpen(s Scope) string {
	return s.By("max", s.Sel(fleetnames.MetricFleetOpen))
}
