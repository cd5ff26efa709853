// Package fleet makes the breakers of several replicas of a service agree,
// through Redis, without putting Redis on the call path.
//
// Each replica's breakers run exactly as without a fleet. A background loop
// (every Options.PublishInterval, and at once on a state change or a
// message from another replica) publishes this replica's evidence for each
// breaker (breaker.Evidence: the state machine's counts, its run of
// failures and when it began, its last success), heartbeats, reads the
// other live replicas' evidence, and pools it: the fleet opens a breaker
// when the pooled evidence meets the breaker's own rules (failure_threshold
// consecutive failures counted across the fleet since the last success seen
// anywhere, or failure_rate over the pooled counts, with min_throughput
// fleet-wide). A replica's run of failures that began before another
// replica's last success is left out: a replica whose own path is broken
// opens alone, on its local evidence, and does not open the others.
//
// A fleet decision is a key in Redis with its open-until; every replica
// applies it (breaker.Apply) with the same open-until. One replica owns the
// half-open probe through an atomic claim with a lease (SET NX PX); the
// others keep rejecting until it publishes the outcome, and take the probe
// over if it goes silent. Mode overrides and resets are written to Redis
// with who and when and applied by every replica, and at every start-up
// until cleared.
//
// When Redis is down or answers garbage, calls are unaffected: the breakers
// decide locally, a log line and the circuit_breaker_fleet_connected gauge
// say so, and the replica resyncs when Redis answers. docs/fleet.md
// describes the design, its trade-offs and its failure modes.
package fleet
