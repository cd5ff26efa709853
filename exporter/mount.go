package exporter

import (
	"net/http"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Mount registers m's Handler at MetricsPath and NewAdmin(reg, opts) at
// AdminPathPrefix on mux. A nil m or reg skips its part. Like any
// ServeMux registration, it panics if a pattern is already registered.
func Mount(mux *http.ServeMux, m *Metrics, reg *breaker.Registry, opts AdminOptions) {
	if m != nil {
		mux.Handle(MetricsPath, m.Handler())
	}
	if reg != nil {
		mux.Handle(AdminPathPrefix, NewAdmin(reg, opts))
	}
}
