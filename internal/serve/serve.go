// Package serve runs `breakerwatch serve`: the gateway's routes, /metrics and
// the admin API on one listener, the embedded demo when there is no
// configuration, and a graceful shutdown.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/demo"
	"github.com/breakerwatch/breakerwatch/internal/gateway"
	"github.com/breakerwatch/breakerwatch/internal/telemetry"
	"github.com/breakerwatch/breakerwatch/internal/version"
)

// Server timeouts. The listener carries long streams (server-sent events
// from LLM APIs) and uploads, so the server sets no whole-request read or
// write timeout: routes bound their upstream wait with their own timeout,
// and /metrics and the admin API get AdminTimeout per request.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 2 * time.Minute
	AdminTimeout      = 30 * time.Second
	// DefaultShutdownTimeout bounds the drain of in-flight requests; it stays
	// under the 30 seconds that Kubernetes and Docker wait by default.
	DefaultShutdownTimeout = 25 * time.Second
)

// Options configures Run.
type Options struct {
	// ConfigPath is the YAML file; empty runs the embedded demo.
	ConfigPath string
	// Listen, when set, overrides the configuration and BREAKERWATCH_LISTEN.
	Listen string
	// Env is the environment; nil: config.OSEnv.
	Env config.Env
	// Logger receives the structured logs. Default slog.Default().
	Logger *slog.Logger
	// Stdout receives the start-up banner (the URLs to open). Default io.Discard.
	Stdout io.Writer
	// ShutdownTimeout bounds the drain; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DemoSpeed speeds the demo up (see demo.Options.Speed); 0 means 1.
	DemoSpeed float64
	// Version is logged at start.
	Version string
}

// Run serves until ctx is done, then stops accepting connections, lets
// in-flight requests finish (up to ShutdownTimeout), stops the demo and
// flushes the metrics. A configuration problem is returned as a
// *config.Error before anything listens.
func Run(ctx context.Context, o Options) error {
	if o.Env == nil {
		o.Env = config.OSEnv
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := o.Logger

	// Configuration: the file, or the demo's.
	var (
		cfg *config.Config
		dm  *demo.Demo
		err error
	)
	if o.ConfigPath != "" {
		if cfg, err = config.Load(o.ConfigPath, o.Env); err != nil {
			return err
		}
	} else {
		dm, err = demo.New(demo.Options{Speed: o.DemoSpeed, Logger: log})
		if err != nil {
			return err
		}
		defer dm.Close()
		cfg = dm.Config()
		if err := config.Apply(cfg, o.Env); err != nil {
			return err
		}
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}

	// Breakers, metrics (/metrics and/or an OTLP push), routes, admin API.
	info := version.Get()
	if o.Version != "" {
		info.Version = o.Version
	}
	metrics, err := newMetrics(cfg.Telemetry, info)
	if err != nil {
		return err
	}
	reg, err := metrics.NewRegistry(breaker.WithStateListener(stateLogger(log)))
	if err != nil {
		_ = metrics.Shutdown(context.Background())
		return err
	}
	// release stops the breakers' timers and flushes the metrics: the
	// provider's shutdown makes an OTLP reader export a last time (bounded
	// by the export timeout).
	release := func() {
		flush := 5 * time.Second
		if t := cfg.Telemetry.OTLP; t != nil && t.Timeout > flush {
			flush = t.Timeout
		}
		fctx, cancel := context.WithTimeout(context.Background(), flush)
		defer cancel()
		if err := metrics.Shutdown(fctx); err != nil {
			log.Warn("flushing metrics", slog.String("error", err.Error()))
		}
		_ = reg.Close()
	}
	mux, gw, hc, err := handler(cfg, metrics, reg, log)
	if err != nil {
		release()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		release()
		return fmt.Errorf("listen: %w", err)
	}
	base := baseURL(ln.Addr())
	srv := &http.Server{
		Handler:           withTraceContext(mux),
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	mode := "config " + o.ConfigPath
	if dm != nil {
		mode = "embedded demo"
	}
	log.Info("breakerwatch serving", slog.String("version", o.Version), slog.String("listen", ln.Addr().String()),
		slog.String("source", mode), slog.Int("breakers", len(cfg.Breakers)), slog.Int("routes", len(cfg.Routes)),
		slog.Any("env_overrides", cfg.EnvApplied), slog.Bool("admin_token", cfg.AdminToken != ""),
		slog.Int("health_checks", len(cfg.HealthChecks)), slog.Duration("health_check_interval", cfg.HealthCheckInterval),
		slog.Bool("prometheus_metrics", cfg.Telemetry.Prometheus))
	if t := cfg.Telemetry.OTLP; t != nil {
		log.Info("pushing metrics over OTLP", slog.String("endpoint", t.Endpoint.Redacted()), slog.String("protocol", t.Protocol),
			slog.Duration("interval", t.Interval), slog.String("temporality", t.Temporality), slog.Int("headers", len(t.Headers)))
	}
	for _, r := range cfg.Routes {
		bc, _ := cfg.Breaker(r.Breaker)
		attrs := []slog.Attr{slog.String("prefix", r.Prefix), slog.String("upstream", r.Upstream.Redacted()),
			slog.String("breaker", r.Breaker), slog.String("mode", bc.Mode.String()), slog.Duration("timeout", r.Timeout)}
		if len(r.Fallbacks) > 0 {
			attrs = append(attrs, slog.Any("fallbacks", r.Breakers()[1:]), slog.Int64("max_replay_body", r.MaxReplayBody))
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "route", attrs...)
	}
	banner(o.Stdout, base, cfg, dm != nil)
	if hc != nil {
		// Probes stop with ctx (the process's signal context) and Stop.
		if err := hc.Start(ctx); err != nil {
			log.Error("health checks did not start", slog.String("error", err.Error()))
		}
	}
	if dm != nil {
		dm.Start(base)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests", slog.Duration("within", o.ShutdownTimeout))
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
		log.Error("server stopped", slog.String("error", err.Error()))
	}

	// Shutdown: stop the demo's traffic, stop accepting and drain, then
	// release the upstreams and flush the metrics.
	if dm != nil {
		dm.StopTraffic()
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing their connections",
			slog.Duration("shutdown_timeout", o.ShutdownTimeout), slog.String("error", err.Error()))
		_ = srv.Close()
	}
	if hc != nil {
		hc.Stop() // before the last flush: its series go with it
	}
	if dm != nil {
		dm.Close()
	}
	gw.CloseIdleConnections()
	release()
	log.Info("stopped")
	return runErr
}

// newMetrics builds the metrics pipeline that t asks for, with the build
// information as breakerwatch_build_info and as resource attributes.
func newMetrics(t config.Telemetry, info version.Info) (*exporter.Metrics, error) {
	res, err := telemetry.Resource(t, info)
	if err != nil {
		return nil, err
	}
	opts := []exporter.MetricsOption{exporter.WithResource(res)}
	if t.OTLP != nil {
		rd, err := telemetry.NewOTLPReader(context.Background(), t.OTLP)
		if err != nil {
			return nil, err
		}
		opts = append(opts, exporter.WithReader(rd))
	}
	metrics, err := exporter.NewMetrics(opts...)
	if err != nil {
		return nil, err
	}
	// Unregistered by the provider's shutdown.
	if _, err := telemetry.RegisterBuildInfo(metrics.MeterProvider(), info); err != nil {
		return nil, errors.Join(err, metrics.Shutdown(context.Background()))
	}
	return metrics, nil
}

// handler registers the breakers, builds the health checker (nil without
// health checks; not started) and serves, on one mux, the routes, /metrics,
// the admin API and an index at /.
func handler(cfg *config.Config, metrics *exporter.Metrics, reg *breaker.Registry, log *slog.Logger) (*http.ServeMux, *gateway.Gateway, *breaker.HealthChecker, error) {
	for _, bc := range cfg.Breakers {
		if _, err := reg.Register(bc); err != nil {
			return nil, nil, nil, err
		}
	}
	gw, err := gateway.New(cfg.Routes, reg, gateway.Options{Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	admin := exporter.AdminOptions{Token: cfg.AdminToken, Logger: log}
	var hc *breaker.HealthChecker
	if len(cfg.HealthChecks) > 0 {
		hc, err = reg.NewHealthChecker(breaker.HealthOptions{Interval: cfg.HealthCheckInterval, Logger: log}, cfg.HealthChecks...)
		if err != nil {
			return nil, nil, nil, err
		}
		admin.Health = healthResults(hc)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	if cfg.Telemetry.Prometheus {
		mux.Handle(exporter.MetricsPath, withDeadline(metrics.Handler()))
	}
	mux.Handle(exporter.AdminPathPrefix, withDeadline(exporter.NewAdmin(reg, admin)))
	mux.Handle("GET /{$}", index(cfg, reg))
	return mux, gw, hc, nil
}

// healthResults adapts the checker's latest results to the admin API. A
// check not yet probed is left out: it is neither healthy nor unhealthy,
// and must not make /health fail at start-up.
func healthResults(hc *breaker.HealthChecker) func() []exporter.HealthResult {
	return func() []exporter.HealthResult {
		var out []exporter.HealthResult
		for _, st := range hc.Results() {
			if !st.Checked {
				continue
			}
			out = append(out, exporter.HealthResult{
				Name: st.Name, Healthy: st.Up, Error: st.Error, CheckedAt: st.CheckedAt, Duration: st.Duration,
			})
		}
		return out
	}
}

// stateLogger logs every state change with its reason: warn when a
// breaker opens, info otherwise.
func stateLogger(log *slog.Logger) func(breaker.StateChange) {
	return func(sc breaker.StateChange) {
		level := slog.LevelInfo
		if sc.To == breaker.StateOpen {
			level = slog.LevelWarn
		}
		log.LogAttrs(context.Background(), level, "circuit breaker state change",
			slog.String("breaker", sc.Name), slog.String("mode", sc.Mode.String()),
			slog.String("from", sc.From.String()), slog.String("to", sc.To.String()),
			slog.String("reason", sc.Reason),
			slog.Float64("error_rate", sc.Window.ErrorRate))
	}
}

// withDeadline bounds the reading and writing of one admin or metrics request.
func withDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(AdminTimeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		h.ServeHTTP(w, r)
	})
}

// baseURL is the URL clients on this machine use: an unspecified listen
// address (0.0.0.0, ::) is reached on loopback.
func baseURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// banner prints the URLs to open.
func banner(w io.Writer, base string, cfg *config.Config, isDemo bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "breakerwatch is serving on %s\n", base)
	if isDemo {
		b.WriteString("\nNo --config given: running the embedded demo. Simulated upstreams on loopback\n" +
			"(openai_api, anthropic_api, gemini_api, meta_api) follow a fault schedule, and built-in\n" +
			"traffic goes through the routes below. Breakers open and close within two minutes;\n" +
			"meta_api is in monitor mode (it counts would-reject and blocks nothing); /chat/ falls\n" +
			"back to anthropic_api, then gemini_api, while openai_api fails.\n")
	}
	b.WriteString("\nOpen:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/status\tbreaker states and settings (JSON)\n", base)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/metrics\tcounts, error rates, latencies (JSON)\n", base)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/health\t200 healthy, 503 while an enforced breaker is open or a health check fails\n", base)
	if cfg.Telemetry.Prometheus {
		fmt.Fprintf(tw, "  %s/metrics\tPrometheus metrics (circuit_breaker_*)\n", base)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\nOr: breakerwatch ctl --addr %s status\n", base)
	if len(cfg.Routes) > 0 {
		b.WriteString("\nRoutes:\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, r := range cfg.Routes {
			bc, _ := cfg.Breaker(r.Breaker)
			fmt.Fprintf(tw, "  %s%s\t-> %s\tbreaker %s (%s)", base, r.Prefix, r.Upstream.Redacted(), r.Breaker, bc.Mode)
			if len(r.Fallbacks) > 0 {
				fmt.Fprintf(tw, ", falls back to %s", strings.Join(r.Breakers()[1:], ", "))
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
	}
	if isDemo {
		b.WriteString("\nStop with Ctrl-C.\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// index answers GET / with the same pointers as the banner, for the host
// the client used, and the breakers' current states.
func index(cfg *config.Config, reg *breaker.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		banner(&b, "http://"+r.Host, cfg, false)
		b.WriteString("\nBreakers:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, s := range reg.Snapshots() {
			fmt.Fprintf(tw, "  %s\t%s\t%s\tsince %s\n", s.Name, s.State, s.Mode, s.Since.Format(time.RFC3339))
		}
		_ = tw.Flush()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, b.String())
	})
}

// withTraceContext puts the request's W3C trace context (traceparent) in
// its context, so that a call through a breaker made for a request of a
// sampled trace leaves an exemplar with the trace's id on the call-duration
// histogram. The header itself is forwarded upstream unchanged.
func withTraceContext(h http.Handler) http.Handler {
	var prop propagation.TraceContext
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}

// IsConfigError reports whether err is a configuration problem (exit code 2).
func IsConfigError(err error) bool {
	var ce *config.Error
	return errors.As(err, &ce)
}
