// Package monitoring generates breakerwatch's Grafana dashboard and its
// Prometheus alert rules from one set of parameters.
//
// Thresholds, selectors, rate windows and `for:` durations live in Params
// (params.go). Every query is built in signals.go from the metric names of
// package breaker: an alert's expression is a signal evaluated with the
// alerting selectors followed by its threshold, and the dashboard panel that
// belongs to the alert shows the same signal evaluated with the dashboard's
// variables, with the same threshold drawn as a line.
//
// WriteFiles writes dashboards/circuit-breakers.json and alerts/rules.yml;
// `breakerwatch generate` and `go generate ./monitoring` call it. Both files
// are checked in, and TestGenerated fails when they differ from the output of
// DefaultParams (run `go test ./monitoring -run TestGenerated -update` to
// rewrite them). alerts/runbook.md, alerts/alertmanager.yml and the promtool
// and amtool tests under alerts/tests are written by hand and checked by the
// tests of this package against the generated files.
//
// Queries are correct across replicas: counters and histogram buckets are
// summed by (job, name) before any ratio or quantile; per-replica gauges
// (error rate, latency percentiles over the breaker's own window) cannot be
// combined into one ratio and are reduced with max, the worst replica.
package monitoring
