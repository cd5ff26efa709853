// Package alerts generates breakerwatch's Prometheus rules, rules.yml in
// this directory: a group of recording rules (the fleet-wide aggregations the
// alerts and the dashboard share) and a group of alerts, from
// mixin.Params.
//
// `breakerwatch generate` and `go generate ./alerts` write it. It is checked
// in, and TestGenerated fails when it differs from the output of
// mixin.DefaultParams (run `go test ./alerts -run TestGenerated -update` to
// rewrite it). runbook.md, alertmanager.yml and the promtool unit tests under
// tests/ are written by hand and checked by this package's tests against the
// generated rules, with promtool, amtool and a real Alertmanager.
package alerts
