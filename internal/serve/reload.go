package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/gateway"
	"go.opentelemetry.io/otel/metric"
)

// live holds what a configuration reload replaces: the routes (a gateway
// behind an atomic pointer, so requests in flight finish on the old one),
// the health checks and the breakers' settings. The listeners and the
// admin token stay as they started.
type live struct {
	mu   sync.Mutex // serialises reloads and Close
	reg  *breaker.Registry
	log  *slog.Logger
	cfg  *config.Config
	path string // the file reloads read; "" for the demo (no reload)
	opts Options
	ctx  context.Context // health checks run until it is done
	mp   metric.MeterProvider

	gw   atomic.Pointer[gateway.Gateway]
	hc   atomic.Pointer[breaker.HealthChecker]
	cert *listenerCert // the proxy listener's certificate; nil: plain HTTP
}

// newLive registers cfg's breakers and builds its routes and health
// checker (not started).
func newLive(cfg *config.Config, reg *breaker.Registry, mp metric.MeterProvider, log *slog.Logger) (*live, error) {
	l := &live{reg: reg, log: log, cfg: cfg, mp: mp}
	var err error
	if l.cert, err = newListenerCert(cfg); err != nil {
		return nil, err
	}
	for _, bc := range cfg.Breakers {
		if _, err := reg.Register(bc); err != nil {
			return nil, err
		}
	}
	if err := l.build(cfg); err != nil {
		return nil, err
	}
	return l, nil
}

// build makes cfg's gateway and health checker current. The old health
// checker must be stopped already.
func (l *live) build(cfg *config.Config) error {
	gw, err := gateway.New(cfg.Routes, l.reg, gateway.Options{Logger: l.log, MaxReplayMemory: cfg.MaxReplayMemory, MeterProvider: l.mp, DisableFastPath: cfg.DisableUpstreamFastPath})
	if err != nil {
		return err
	}
	var hc *breaker.HealthChecker
	if len(cfg.HealthChecks) > 0 {
		hc, err = l.reg.NewHealthChecker(breaker.HealthOptions{Interval: cfg.HealthCheckInterval, Logger: l.log}, cfg.HealthChecks...)
		if err != nil {
			return err
		}
	}
	if old := l.gw.Swap(gw); old != nil {
		old.CloseIdleConnections()
	}
	l.hc.Store(hc)
	return nil
}

// ServeHTTP serves the current routes. The listener's mux has cleaned the
// path already, as the gateway expects.
func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.gw.Load().ServeHTTP(w, r)
}

// health returns the current health checks' results, for the admin API.
func (l *live) health() []exporter.HealthResult {
	hc := l.hc.Load()
	if hc == nil {
		return nil
	}
	return healthResults(hc)()
}

// start starts the health checks; they stop with ctx.
func (l *live) start(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx = ctx
	l.startChecks()
}

func (l *live) startChecks() {
	if hc := l.hc.Load(); hc != nil {
		if err := hc.Start(l.ctx); err != nil {
			l.log.Error("health checks did not start", slog.String("error", err.Error()))
		}
	}
}

// close stops the health checks and the idle upstream connections.
func (l *live) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if hc := l.hc.Load(); hc != nil {
		hc.Stop()
	}
	l.gw.Load().CloseIdleConnections()
}

// errNoReload is the answer to a reload of the embedded demo.
var errNoReload = errors.New("the embedded demo has no configuration file to reload")

// reload re-reads the configuration file. An invalid file is refused, its
// problems logged and returned (a *config.Error), and the running
// configuration kept. Otherwise breakers whose settings did not change keep
// their state and counts, a changed mode becomes the configured one and is
// switched in place (state kept) unless an override is in force,
// other changed settings get a fresh breaker, new breakers are registered,
// and the routes and health checks are rebuilt. Breakers no longer in the
// file stay registered (and on /metrics) until a restart.
func (l *live) reload() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return "", errNoReload
	}
	cfg, err := config.Load(l.path, l.opts.Env)
	if err == nil && l.opts.Listen != "" {
		err = cfg.SetListen(l.opts.Listen, "--listen")
	}
	if err != nil {
		var ce *config.Error
		attrs := []any{slog.String("file", l.path), slog.String("error", err.Error())}
		if errors.As(err, &ce) {
			attrs = append(attrs, slog.Int("problems", len(ce.Problems)))
		}
		l.log.Error("configuration reload refused: the running configuration is kept", attrs...)
		return "", err
	}
	old := l.cfg
	for key, pair := range map[string][2]string{
		"listen": {old.Listen, cfg.Listen}, "admin_listen": {old.AdminListen, cfg.AdminListen},
		"metrics_listen": {old.MetricsListen, cfg.MetricsListen}, "admin_token": {old.AdminToken, cfg.AdminToken},
		"tls_cert_file (HTTPS on or off)": {fmt.Sprint(old.TLSCertFile != ""), fmt.Sprint(cfg.TLSCertFile != "")},
		"h2c":                             {strconv.FormatBool(!old.DisableH2C), strconv.FormatBool(!cfg.DisableH2C)},
	} {
		if pair[0] != pair[1] {
			l.log.Warn("configuration reload: this setting changes only on a restart", slog.String("setting", key))
		}
	}
	// The fleet's Redis connection and the OTLP exporter are built once at
	// start-up: a changed section is logged, not half-applied.
	if !reflect.DeepEqual(old.Fleet, cfg.Fleet) {
		l.log.Warn("configuration reload: this setting changes only on a restart", slog.String("setting", "fleet"))
	}
	if !reflect.DeepEqual(old.Telemetry, cfg.Telemetry) {
		l.log.Warn("configuration reload: this setting changes only on a restart", slog.String("setting", "telemetry"))
	}

	var kept, switched, replaced, added []string
	for _, bc := range cfg.Breakers {
		prev, ok := old.Breaker(bc.Name)
		switch {
		case !ok:
			if _, exists := l.reg.Get(bc.Name); exists { // removed by an earlier reload, back now
				if _, err := l.reg.Replace(bc); err != nil {
					return "", err
				}
			} else if _, err := l.reg.Register(bc); err != nil {
				return "", err
			}
			added = append(added, bc.Name)
		case sameSettings(prev, bc) && prev.Mode == bc.Mode:
			kept = append(kept, bc.Name)
		case sameSettings(prev, bc):
			// The configured mode: an override (runtime or fleet) stays.
			if on, err := l.reg.SetConfiguredMode(bc.Name, bc.Mode); err != nil {
				return "", err
			} else if !on {
				l.log.Info("configuration reload: the configured mode changed; an override stays in force until cleared",
					slog.String("breaker", bc.Name), slog.String("mode", bc.Mode.String()))
			}
			switched = append(switched, bc.Name)
		default:
			if _, err := l.reg.Replace(bc); err != nil {
				return "", err
			}
			replaced = append(replaced, bc.Name)
		}
	}
	var removed []string
	for _, bc := range old.Breakers {
		if _, ok := cfg.Breaker(bc.Name); !ok {
			removed = append(removed, bc.Name)
		}
	}
	if hc := l.hc.Load(); hc != nil {
		hc.Stop()
	}
	if err := l.build(cfg); err != nil {
		// Validated like serve's start-up; still, keep serving something.
		l.log.Error("configuration reload failed half-way; routes and health checks are the old ones",
			slog.String("error", err.Error()))
		_ = l.build(old)
		l.startChecks()
		return "", err
	}
	l.startChecks()
	if l.cert != nil && cfg.TLSCertFile != "" {
		if err := l.cert.load(cfg); err != nil { // validated just now; the old certificate stays
			l.log.Error("configuration reload: the listener's certificate did not load; the old one is kept", slog.String("error", err.Error()))
		}
	}
	l.cfg = cfg
	summary := fmt.Sprintf("%d breaker(s) kept, %d mode switched, %d replaced, %d added, %d removed (registered until restart); %d route(s)",
		len(kept), len(switched), len(replaced), len(added), len(removed), len(cfg.Routes))
	l.log.Info("configuration reloaded", slog.String("file", l.path), slog.Any("kept", kept), slog.Any("mode_switched", switched),
		slog.Any("replaced", replaced), slog.Any("added", added), slog.Any("removed", removed), slog.Int("routes", len(cfg.Routes)))
	return summary, nil
}

// sameSettings reports whether two breaker configurations from files
// differ in nothing but their mode.
func sameSettings(a, b breaker.Config) bool {
	a.Mode, b.Mode = 0, 0
	return reflect.DeepEqual(a, b)
}
