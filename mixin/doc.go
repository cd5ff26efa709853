// Package mixin holds what breakerwatch's Prometheus rules (package alerts)
// and Grafana dashboard (package dashboards) share: their parameters, the
// names of the alerts, the dashboard's identity and panel ids, and the PromQL
// signals both are built from.
//
// Thresholds, selectors, grouping labels, rate windows and `for:` durations
// live in Params (params.go). Every query is built in signals.go from the
// metric names of package breaker: an alert's expression is a signal
// evaluated in RuleScope followed by its threshold, and the dashboard panel
// that belongs to the alert shows the same signal evaluated in
// DashboardScope (the dashboard's variables), with the same threshold drawn
// as a line. The fleet-wide aggregations both read are recording rules
// (Recordings).
//
// Queries are correct across replicas: counters and histogram buckets are
// summed by (job, name) before any ratio or quantile; per-replica gauges
// (error rate, latency percentiles over the breaker's own window) cannot be
// combined into one ratio and are reduced with max, the worst replica.
package mixin
