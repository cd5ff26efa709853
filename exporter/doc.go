// Package exporter puts breakerwatch's breakers on HTTP: the Prometheus
// /metrics endpoint, the admin API under /api/circuit-breaker/, a server
// middleware and a client RoundTripper.
//
// # Metrics
//
// NewMetrics builds a private pipeline: an OTel MeterProvider read by the OTel
// Prometheus exporter, registered with the Go runtime and process collectors
// on a private prometheus.Registry that Handler serves. Metrics.NewRegistry
// returns a breaker.Registry wired to it, so the scrape carries exactly the
// names of the breaker package's contract (breaker/names.go): gauges without
// unit suffixes, counters ending in _total, the call-duration histogram in
// seconds, no otel_scope_* labels and no target_info. The translation
// strategy is pinned, and a golden exposition file (testdata/) guards the
// names against dependency bumps.
//
//	m, err := exporter.NewMetrics()
//	reg, err := m.NewRegistry()
//	b, err := reg.Register(breaker.Config{Name: "openai_api", Mode: breaker.ModeMonitor})
//	mux := http.NewServeMux()
//	exporter.Mount(mux, m, reg, exporter.AdminOptions{Token: os.Getenv(exporter.TokenEnvVar)})
//
// # Admin API
//
// NewAdmin serves JSON reads (metrics, health, status) to anyone, and
// mutations (reset, reset-all, mode) only to holders of the admin token or,
// when no token is configured, to loopback clients. docs/api.md documents
// every path and shape.
//
// # Live status
//
// A Live keeps, in bounded memory, each breaker's recent transitions with
// their reasons and a short series of samples. Given to the registry as a
// state listener and to NewAdmin as AdminOptions.Live, it adds /history,
// /series and an /events server-sent events stream (one goroutine for all
// clients, coalesced updates, slow clients dropped) that feed the status
// page of package ui:
//
//	live := exporter.NewLive(exporter.LiveOptions{})
//	reg, err := m.NewRegistry(breaker.WithStateListener(live.Record))
//	go live.Run(ctx, reg)
//	srv.RegisterOnShutdown(live.Close)
//	mux.Handle(exporter.AdminPathPrefix, exporter.NewAdmin(reg, exporter.AdminOptions{Live: live}))
//	mux.Handle("GET "+ui.Path, ui.Handler())
//
// # Middleware and RoundTripper
//
// Middleware protects a handler: 5xx responses and panics are failures, a
// client hanging up is ignored, rejections get a 503 with Retry-After
// (WriteRejection). NewTransport protects a client: transport errors and 5xx
// responses are failures, the caller's cancellation is ignored, and a
// rejection returns the breaker's error without touching the network.
// Neither buffers bodies, so streaming works through both.
//
// Label values are breaker names fixed by configuration: no request input
// ever creates a breaker or a series.
package exporter
