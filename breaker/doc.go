// Package breaker provides instrumented circuit breakers built on
// github.com/sony/gobreaker/v2, with enforce, monitor-only and disabled modes,
// a registry per process, and OpenTelemetry metrics.
//
// A service wraps each remote dependency in a named breaker and calls through it:
//
//	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(mp))
//	b, _ := reg.Register(breaker.Config{Name: "openai_api", Mode: breaker.ModeMonitor})
//	resp, err := breaker.Of[*Response](b).Execute(ctx, func(ctx context.Context) (*Response, error) {
//		return client.Complete(ctx, req)
//	})
//
// # Outcomes
//
// A nil error is a success. The caller's own cancellation (context.Canceled
// while the caller's ctx is done) is ignored: it says nothing about the
// dependency. Any other error is a failure. Config.Classifier overrides this.
// A panic counts as a failure and is re-panicked. A call the breaker rejects
// does not run and returns a *RejectedError that matches ErrOpen (or
// ErrTooManyRequests while half-open probes are in flight).
//
// # Modes
//
// Enforce is a normal breaker. Monitor runs the same state machine but blocks
// nothing: a call that enforcement would have rejected runs anyway, is
// counted in circuit_breaker_would_reject_total, and its outcome does not
// feed the state machine, so the virtual breaker opens and recovers exactly as
// an enforced one would have. Disabled passes everything through and only
// measures. Modes switch at run time without losing counters.
//
// # Metrics
//
// The names, label keys and label values are constants in names.go. Every
// series reaches every reader of the MeterProvider given to NewRegistry (a
// Prometheus exporter, a periodic reader with an OTLP exporter, a
// ManualReader): nothing else needs wiring. The call path only performs
// atomic adds on the breaker's own state; observable instruments read it at
// collection, and the call-duration histogram, for which OTel has no
// observable instrument, is recorded at collection from the breaker's own
// buckets (so its min and max are bucket edges). A call whose context
// carries a sampled span leaves an exemplar (trace and span id, duration) on
// that histogram. The state gauge reads the state machine at
// collection, so gobreaker's lazy open -> half-open change shows when the
// timeout passes even without traffic; a timer also applies it and tells the
// listeners.
//
// # Candidates
//
// Config.Candidates names other settings to evaluate on the breaker's live
// calls before enforcing any of them. Each candidate, and the breaker's own
// setting, runs the breaker's state machine in its shadow: every call that
// runs goes through it too, admitted or not when it starts, its outcome
// learnt when it ends; it blocks nothing and counts what it would have
// rejected and how those calls ended. Breaker.Tune reports it,
// Breaker.Promote applies a candidate's settings at run time, and the
// circuit_breaker_candidate_* series chart it. In enforce mode the calls the
// breaker rejects never run, so the candidates see only the calls that ran.
// Breakers without candidates pay one nil check per call.
//
// # Fallbacks, health checks, deferred retries
//
// Registry.NewChain builds an ordered chain of breakers (primary, then
// fallbacks) that CallChain walks until one member serves; open members are
// skipped without a call, and circuit_breaker_fallback_total counts which
// member served. Registry.NewHealthChecker probes dependencies (HTTP or a Go
// function) on an interval with jitter. NewRetryQueue holds deferrable work
// while a breaker is open and retries it, in order, once calls go through.
// docs/fallbacks.md describes all three.
//
// State-change listeners (Config.OnStateChange, WithStateListener) are called
// after the change, outside gobreaker's lock, in order per breaker.
//
// # Decisions made elsewhere
//
// Package fleet pools the evidence of several replicas. It uses three hooks,
// all meant for a background loop (external.go): Breaker.Evidence returns
// what the state machine counts now (requests, successes, failures, the
// current run of consecutive failures and when it began, the last success);
// Breaker.Apply puts the breaker in a state decided elsewhere (open until a
// given time, half-open, closed) keeping its window; Breaker.SetModeFrom
// switches the mode recording its source, which Breaker.ModeSource and the
// snapshot's mode_source report. The call path only keeps the run of
// failures and the last success in atomics.
package breaker
