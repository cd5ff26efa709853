// Package bench compares breakerwatch's call path and collection with what
// users write today: sony/gobreaker alone, gobreaker with hand-written
// client_golang or OpenTelemetry metrics, and failsafe-go; the gateway
// against a bare httputil.ReverseProxy and nginx under wrk
// (BenchmarkGateway); and registration, validation and start-up with
// 10,000 breakers and routes.
//
// It is a separate module so that the peers it measures stay out of the main
// module's dependencies. Run it from this directory:
//
//	go test -run x -bench . -benchmem
//
// docs/benchmarks.md holds the figures, the commands and the machine.
package bench
