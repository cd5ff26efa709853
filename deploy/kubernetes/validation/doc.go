// Package validation checks the generated Kubernetes manifests of
// deploy/kubernetes against the upstream Go types: every manifest decodes
// strictly (an unknown or misspelt field is an error) into k8s.io/api's or
// prometheus-operator's monitoring/v1 types, the objects refer to each other
// consistently, and the PrometheusRule's groups pass promtool.
//
// It is a module of its own, like bench/, so that the library's go.mod does
// not carry the Kubernetes dependencies. Only its tests do anything; `make
// test` runs them.
package validation
