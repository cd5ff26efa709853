// Package fleetnames is the fleet's metric contract, beside the breaker
// package's (breaker/names.go): the names package fleet emits and the
// dashboard and alert generators query. It imports nothing, so the
// generators do not pull in package fleet's Redis client.
package fleetnames

const (
	// MetricConnected is a gauge: 1 while this replica exchanges evidence
	// with the fleet's Redis, 0 while it decides alone. Label: replica.
	MetricConnected = "circuit_breaker_fleet_connected"
	// MetricMembers is a gauge: the live replicas this replica sees,
	// itself included (0 while disconnected). Label: replica.
	MetricMembers = "circuit_breaker_fleet_members"
	// MetricOpenReplicas is a gauge: how many live replicas report the
	// breaker open, as this replica last saw. Labels: name, replica.
	MetricOpenReplicas = "circuit_breaker_fleet_open_replicas"
	// MetricFleetOpen is a gauge: 1 while a fleet-wide open decision applies
	// to the breaker on this replica, 0 otherwise. Labels: name, replica.
	MetricFleetOpen = "circuit_breaker_fleet_open"
	// MetricGarbage counts values read from Redis that failed their checks
	// and were ignored. Label: replica.
	MetricGarbage = "circuit_breaker_fleet_ignored_values_total"

	// LabelReplica is the replica's instance name (fleet.Options.Instance). Not
	// "instance", which Prometheus sets to the scrape target.
	LabelReplica = "replica"
)
