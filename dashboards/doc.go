// Package dashboards generates breakerwatch's Grafana dashboard,
// circuit-breakers.json in this directory (classic dashboard JSON, as
// Grafana's file provisioning loads it), from mixin.Params, with the types of
// grafana-foundation-sdk.
//
// `breakerwatch generate` and `go generate ./dashboards` write it. It is
// checked in, and TestGenerated fails when it differs from the output of
// mixin.DefaultParams (run `go test ./dashboards -run TestGenerated -update`
// to rewrite it). schemacheck/ type-checks it against Grafana's own
// @grafana/schema types with TypeScript's compiler.
package dashboards
