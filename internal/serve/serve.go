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
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/exporter/ui"
	"github.com/breakerwatch/breakerwatch/fleet"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/demo"
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
		if err := cfg.SetListen(o.Listen, "--listen"); err != nil {
			return err
		}
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
	// feed keeps the status page's history and series; Close ends its
	// event streams, which would otherwise hold Shutdown up.
	feed := exporter.NewLive(exporter.LiveOptions{Routes: liveRoutes(cfg)})
	defer feed.Close()
	regOpts := []breaker.Option{breaker.WithStateListener(stateLogger(log)), breaker.WithStateListener(feed.Record)}
	var fl *fleet.Fleet
	if cfg.Fleet != nil {
		fo := *cfg.Fleet
		fo.Logger, fo.MeterProvider = log, metrics.MeterProvider()
		if fl, err = fleet.New(fo); err != nil {
			return err
		}
		regOpts = append(regOpts, breaker.WithStateListener(fl.OnStateChange))
	}
	reg, err := metrics.NewRegistry(regOpts...)
	if err != nil {
		if fl != nil {
			_ = fl.Close()
		}
		_ = metrics.Shutdown(context.Background())
		return err
	}
	// release leaves the fleet, stops the breakers' timers and flushes the
	// metrics: the provider's shutdown makes an OTLP reader export a last
	// time (bounded by the export timeout).
	release := func() {
		if fl != nil {
			if err := fl.Close(); err != nil {
				log.Warn("leaving the fleet", slog.String("error", err.Error()))
			}
		}
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
	st := &readiness{}
	muxes, lv, err := handler(cfg, metrics, reg, feed, fl, log, st, o)
	if err != nil {
		release()
		return err
	}
	if fl != nil {
		// Before serving: overrides recorded in Redis apply from the first call.
		if err := fl.Start(ctx, reg); err != nil {
			release()
			return err
		}
		u, _ := url.Parse(cfg.Fleet.URL)
		log.Info("fleet mode", slog.String("instance", fl.Instance()), slog.String("redis", u.Redacted()),
			slog.Bool("connected", fl.Connected()))
	}
	// The proxy's listener first: its address is the base URL.
	lns, err := listenAll(cfg, muxes)
	if err != nil {
		release()
		return err
	}
	if lv.cert != nil {
		lns[0].base = httpsURL(lns[0].base)
	}
	ln, base := lns[0].ln, lns[0].base
	u := urls{proxy: base, admin: base, metrics: base}
	for _, l := range lns[1:] {
		if l.key == "admin_listen" {
			u.admin, u.metrics = l.base, l.base
		}
	}
	for _, l := range lns[1:] {
		if l.key == "metrics_listen" {
			u.metrics = l.base
		}
	}
	muxes.proxy.Handle("GET /{$}", index(cfg, reg, u))
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		feed.Run(ctx, reg)
	}()
	defer func() { feed.Close(); <-sampling }()
	serveErr := make(chan error, len(lns))
	for _, l := range lns {
		var h http.Handler = l.mux.ServeMux
		if l.key == "listen" {
			h = gatewayFirst(l.mux, lv)
		}
		l.srv = &http.Server{
			Handler:           withTraceContext(h),
			ReadHeaderTimeout: ReadHeaderTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    1 << 20,
			Protocols:         protocols(cfg),
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		l.srv.RegisterOnShutdown(feed.Close)
		if l.key == "listen" && lv.cert != nil { // HTTPS, with HTTP/2 through ALPN
			l.srv.TLSConfig = lv.cert.serverConfig()
			go func() { serveErr <- l.srv.ServeTLS(l.ln, "", "") }()
			continue
		}
		go func() { serveErr <- l.srv.Serve(l.ln) }()
	}
	st.set(stateReady)

	mode := "config " + o.ConfigPath
	if dm != nil {
		mode = "embedded demo"
	}
	log.Info("breakerwatch serving", slog.String("version", o.Version), slog.String("listen", ln.Addr().String()),
		slog.String("source", mode), slog.Int("breakers", len(cfg.Breakers)), slog.Int("routes", len(cfg.Routes)),
		slog.Any("env_overrides", cfg.EnvApplied), slog.Bool("admin_token", cfg.AdminToken != ""),
		slog.Int("health_checks", len(cfg.HealthChecks)), slog.Duration("health_check_interval", cfg.HealthCheckInterval),
		slog.Bool("prometheus_metrics", cfg.Telemetry.Prometheus), slog.Bool("https", lv.cert != nil))
	if t := cfg.Telemetry.OTLP; t != nil {
		log.Info("pushing metrics over OTLP", slog.String("endpoint", t.Endpoint.Redacted()), slog.String("protocol", t.Protocol),
			slog.Duration("interval", t.Interval), slog.String("temporality", t.Temporality), slog.Int("headers", len(t.Headers)))
	}
	for _, l := range lns[1:] {
		log.Info("separate listener", slog.String("setting", l.key), slog.String("listen", l.ln.Addr().String()))
	}
	for _, r := range cfg.Routes {
		bc, _ := cfg.Breaker(r.Breaker)
		attrs := []slog.Attr{slog.String("prefix", r.Prefix), slog.String("upstream", r.Upstream.Redacted()),
			slog.String("breaker", r.Breaker), slog.String("mode", bc.Mode.String()), slog.Duration("timeout", r.Timeout)}
		if len(r.Fallbacks) > 0 {
			attrs = append(attrs, slog.Any("fallbacks", r.Breakers()[1:]), slog.Int64("max_replay_body", r.MaxReplayBody))
		}
		if r.GRPC() {
			attrs = append(attrs, slog.String("protocol", r.Protocol))
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "route", attrs...)
	}
	adminLn := ln
	for _, l := range lns[1:] {
		if l.key == "admin_listen" {
			adminLn = l.ln
		}
	}
	if cfg.AdminToken == "" && !isLoopback(adminLn.Addr()) {
		log.Warn("the admin API listens beyond loopback with no admin token: breaker mutations are refused to remote clients "+
			"but accepted from any local process; set "+config.EnvAdminToken+" to require a token",
			slog.String("listen", adminLn.Addr().String()))
	}
	banner(o.Stdout, u, cfg, dm != nil)
	// Health probes stop with ctx (the process's signal context) and close.
	lv.start(ctx)
	if dm != nil {
		dm.Start(base)
	}
	var hup chan os.Signal
	if o.ConfigPath != "" {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}

	var runErr error
wait:
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading the configuration", slog.String("file", o.ConfigPath))
			_, _ = lv.reload() // logged either way
		case <-ctx.Done():
			log.Info("shutting down: draining in-flight requests", slog.Duration("within", o.ShutdownTimeout))
			break wait
		case err := <-serveErr:
			runErr = fmt.Errorf("serve: %w", err)
			log.Error("server stopped", slog.String("error", err.Error()))
			break wait
		}
	}

	// Shutdown: not ready any more, stop the demo's traffic, stop
	// accepting and drain the proxy, then the admin and metrics listeners
	// (which answer /readyz with 503 and serve the last scrapes meanwhile),
	// then release the upstreams and flush the metrics.
	st.set(stateStopping)
	if dm != nil {
		dm.StopTraffic()
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	for _, l := range lns {
		if err := l.srv.Shutdown(sctx); err != nil {
			log.Warn("in-flight requests did not finish in time; closing their connections",
				slog.String("listener", l.key), slog.Duration("shutdown_timeout", o.ShutdownTimeout), slog.String("error", err.Error()))
			_ = l.srv.Close()
		}
	}
	lv.close() // health checks stop before the last flush: their series go with it
	if dm != nil {
		dm.Close()
	}
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

// muxes are the handlers of the listeners: admin and metrics are proxy
// itself unless admin_listen or metrics_listen give them their own.
type muxes struct {
	proxy, admin, metrics *serveMux
}

// handler registers the breakers, builds the routes and the health checker
// (not started) and serves the routes on the proxy's mux, /metrics and the
// admin API (with the status page) on theirs, and /healthz and /readyz on
// each. The caller adds the index at / once it knows the listeners'
// addresses.
func handler(cfg *config.Config, metrics *exporter.Metrics, reg *breaker.Registry, feed *exporter.Live, fl *fleet.Fleet, log *slog.Logger, st *readiness, o Options) (*muxes, *live, error) {
	lv, err := newLive(cfg, reg, metrics.MeterProvider(), log)
	if err != nil {
		return nil, nil, err
	}
	lv.path, lv.opts = o.ConfigPath, o
	admin := exporter.AdminOptions{Token: cfg.AdminToken, Logger: log, Health: lv.health, Live: feed}
	if fl != nil {
		admin.Fleet = fleetAdmin{fl}
	}
	if o.ConfigPath != "" {
		admin.Reload = lv.reload
	}
	m := &muxes{proxy: newServeMux()}
	m.admin, m.metrics = m.proxy, m.proxy
	st.probes(m.proxy)
	if cfg.AdminListen != "" {
		m.admin = newServeMux()
		m.metrics = m.admin
		st.probes(m.admin)
	}
	if cfg.MetricsListen != "" {
		m.metrics = newServeMux()
		st.probes(m.metrics)
	}
	m.proxy.Handle("/", lv)
	if cfg.Telemetry.Prometheus {
		m.metrics.Handle(exporter.MetricsPath, withDeadline(metrics.Handler()))
	}
	m.admin.Handle(exporter.AdminPathPrefix, withDeadline(exporter.NewAdmin(reg, admin)))
	page := ui.Handler()
	m.admin.Handle("GET "+ui.Path, page)
	m.admin.Handle("GET "+strings.TrimSuffix(ui.Path, "/"), page) // redirects to ui.Path
	return m, lv, nil
}

// boundListener is one listener: its setting, its handler, and once
// listening, its socket, base URL and server.
type boundListener struct {
	key  string
	mux  *serveMux
	ln   net.Listener
	base string
	srv  *http.Server
}

// listenAll opens the listeners, the proxy's first; on error it closes
// those it opened.
func listenAll(cfg *config.Config, m *muxes) ([]*boundListener, error) {
	want := []*boundListener{{key: "listen", mux: m.proxy}}
	addrs := []string{cfg.Listen}
	if cfg.AdminListen != "" {
		want = append(want, &boundListener{key: "admin_listen", mux: m.admin})
		addrs = append(addrs, cfg.AdminListen)
	}
	if cfg.MetricsListen != "" {
		want = append(want, &boundListener{key: "metrics_listen", mux: m.metrics})
		addrs = append(addrs, cfg.MetricsListen)
	}
	for i, l := range want {
		ln, err := net.Listen("tcp", addrs[i])
		if err != nil {
			for _, prev := range want[:i] {
				_ = prev.ln.Close()
			}
			if i == 0 {
				return nil, fmt.Errorf("listen: %w", err)
			}
			return nil, fmt.Errorf("%s: %w", l.key, err)
		}
		l.ln, l.base = ln, baseURL(ln.Addr())
	}
	return want, nil
}

// Process states for /readyz.
const (
	stateStarting int32 = iota
	stateReady
	stateStopping
)

// readiness is the process's state, for the probes.
type readiness struct{ state atomic.Int32 }

func (r *readiness) set(s int32) { r.state.Store(s) }

// probes serves, on mux, /healthz (liveness: 200 while the process
// serves) and /readyz (200 once the configuration is loaded and every
// listener is up, 503 before and while shutting down). Neither depends on
// the breakers: /api/circuit-breaker/health is the one that answers 503
// during an outage, which must not get the gateway restarted or taken out
// of its load balancer.
func (r *readiness) probes(mux *serveMux) {
	text := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch r.state.Load() {
		case stateReady:
			text(w, http.StatusOK, "ready\n")
		case stateStopping:
			text(w, http.StatusServiceUnavailable, "shutting down\n")
		default:
			text(w, http.StatusServiceUnavailable, "starting\n")
		}
	})
}

// liveRoutes lists the routes and their fallback chains for the status page.
func liveRoutes(cfg *config.Config) []exporter.Route {
	out := make([]exporter.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		out = append(out, exporter.Route{Prefix: r.Prefix, Breakers: r.Breakers()})
	}
	return out
}

// fleetAdmin adapts the fleet to the admin API.
type fleetAdmin struct{ *fleet.Fleet }

func (f fleetAdmin) View() any               { return f.Status() }
func (fleetAdmin) Unrecorded(err error) bool { return errors.Is(err, fleet.ErrUnavailable) }

// Breakers is the fleet's last view (fleet.Fleet.Status reads no Redis)
// per breaker, for the status page.
func (f fleetAdmin) Breakers() map[string]exporter.FleetBreaker {
	st := f.Status()
	out := make(map[string]exporter.FleetBreaker, len(st.Breakers))
	for _, b := range st.Breakers {
		fb := exporter.FleetBreaker{Replicas: make([]string, len(b.Replicas)), Open: b.OpenReplicas,
			FleetOpen: b.FleetOpen, DecidedBy: b.DecidedBy}
		for i, r := range b.Replicas {
			fb.Replicas[i] = r.Instance
		}
		out[b.Name] = fb
	}
	return out
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

// isLoopback reports whether a listener accepts loopback connections only.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
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

// urls are the base URLs of the proxy, the admin API and /metrics.
type urls struct{ proxy, admin, metrics string }

// banner prints the URLs to open.
func banner(w io.Writer, u urls, cfg *config.Config, isDemo bool) {
	var b strings.Builder
	base := u.proxy
	fmt.Fprintf(&b, "breakerwatch is serving on %s\n", base)
	if u.admin != base {
		fmt.Fprintf(&b, "admin API on %s\n", u.admin)
	}
	if u.metrics != u.admin {
		fmt.Fprintf(&b, "metrics on %s\n", u.metrics)
	}
	if isDemo {
		b.WriteString("\nNo --config given: running the embedded demo. Simulated upstreams on loopback\n" +
			"(openai_api, anthropic_api, gemini_api, meta_api) follow a fault schedule, and built-in\n" +
			"traffic goes through the routes below. Breakers open and close within two minutes;\n" +
			"meta_api is in monitor mode (it counts would-reject and blocks nothing); /chat/ falls\n" +
			"back to anthropic_api, then gemini_api, while openai_api fails.\n")
	}
	b.WriteString("\nOpen:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s%s\tlive status page: every breaker, its state, trend and transitions\n", u.admin, ui.Path)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/status\tbreaker states and settings (JSON)\n", u.admin)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/metrics\tcounts, error rates, latencies (JSON)\n", u.admin)
	fmt.Fprintf(tw, "  %s/api/circuit-breaker/health\t200 healthy, 503 while an enforced breaker is open or a health check fails\n", u.admin)
	if cfg.Telemetry.Prometheus {
		fmt.Fprintf(tw, "  %s/metrics\tPrometheus metrics (circuit_breaker_*)\n", u.metrics)
	}
	fmt.Fprintf(tw, "  %s/healthz, /readyz\tliveness and readiness probes (on every listener)\n", base)
	_ = tw.Flush()
	fmt.Fprintf(&b, "\nOr: breakerwatch ctl --addr %s status\n", u.admin)
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
func index(cfg *config.Config, reg *breaker.Registry, listeners urls) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		u := listeners
		here := "http://" + r.Host
		if r.TLS != nil {
			here = "https://" + r.Host
		}
		if u.admin == u.proxy {
			u.admin = here
		}
		if u.metrics == u.proxy {
			u.metrics = here
		}
		u.proxy = here
		banner(&b, u, cfg, false)
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
