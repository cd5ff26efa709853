package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

// Options configures New. The zero value runs DefaultSchedule at speed 1.
type Options struct {
	// Schedule is the fault script; zero: DefaultSchedule().
	Schedule *Schedule
	// Speed divides every duration of the demo (schedule, traffic interval,
	// breaker and route timeouts, windows, latencies): 10 runs it ten times
	// faster. 0 means 1.
	Speed float64
	// Logger receives the schedule's events. Default slog.Default().
	Logger *slog.Logger
}

// Demo is a running set of simulated upstreams with their schedule and traffic.
type Demo struct {
	logger    *slog.Logger
	schedule  Schedule
	speed     float64
	upstreams []*upstream // in providers() order
	byName    map[string]*upstream

	mu            sync.Mutex
	started       bool
	stopTraffic   context.CancelFunc
	stopSchedule  context.CancelFunc
	trafficWG     sync.WaitGroup
	scheduleWG    sync.WaitGroup
	serveWG       sync.WaitGroup
	client        *http.Client
	closeOnce     sync.Once
	trafficClosed bool
}

// provider is a simulated upstream and its breaker, of the same name.
type provider struct {
	name string
	cfg  breaker.Config
	// check: the breaker has a health check (GET /v1/models).
	check bool
}

// providers are the demo's four upstreams, named like the seed's breakers.
// The breakers use short timeouts so that the schedule shows every
// transition. meta_api, in monitor mode, has no health check: its outage
// must not fail /health.
func providers() []provider {
	s := time.Second
	return []provider{
		{name: OpenAI, check: true,
			cfg: breaker.Config{Mode: breaker.ModeEnforce, FailureThreshold: 5, Timeout: 15 * s, Window: 30 * s}},
		{name: Anthropic, check: true,
			cfg: breaker.Config{Mode: breaker.ModeEnforce, FailureThreshold: 20, MinThroughput: 10, FailureRate: 0.5,
				Timeout: 15 * s, Window: 20 * s}},
		{name: Gemini, check: true,
			cfg: breaker.Config{Mode: breaker.ModeEnforce, FailureThreshold: 3, SlowCall: 500 * time.Millisecond,
				Timeout: 10 * s, Window: 30 * s}},
		{name: Meta,
			cfg: breaker.Config{Mode: breaker.ModeMonitor, FailureThreshold: 5, Timeout: 15 * s, Window: 30 * s}},
	}
}

// route is a demo route: its prefix, its upstream (and breaker) and its
// fallbacks.
type route struct {
	prefix    string
	name      string
	fallbacks []string
	// timeout of the route (response headers).
	timeout time.Duration
	// path the traffic calls under the prefix.
	path string
}

// routes are the demo's routes: one per upstream, and /chat/, which falls
// back from openai_api to anthropic_api, then gemini_api (the three speak
// the same chat-completion API).
func routes() []route {
	s := time.Second
	return []route{
		{prefix: "/openai/", name: OpenAI, path: "v1/chat/completions", timeout: 10 * s},
		{prefix: "/anthropic/", name: Anthropic, path: "v1/messages", timeout: 10 * s},
		{prefix: "/gemini/", name: Gemini, path: "v1beta/models/gemini-pro:generateContent", timeout: 2 * s},
		{prefix: "/meta/", name: Meta, path: "v19.0/me/adaccounts", timeout: 10 * s},
		{prefix: "/chat/", name: OpenAI, fallbacks: []string{Anthropic, Gemini}, path: "v1/chat/completions", timeout: 10 * s},
	}
}

// HealthCheckInterval is the demo's interval between two health probes of
// an upstream (before Speed), unless HEALTH_CHECK_INTERVAL says otherwise.
const HealthCheckInterval = 5 * time.Second

// New starts the simulated upstreams (not yet their schedule or traffic).
// Close releases them.
func New(opts Options) (*Demo, error) {
	speed := opts.Speed
	if speed <= 0 {
		speed = 1
	}
	sched := DefaultSchedule()
	if opts.Schedule != nil {
		sched = *opts.Schedule
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	d := &Demo{
		logger:   logger.With(slog.String("component", "demo")),
		schedule: sched.scaled(speed),
		speed:    speed,
		byName:   map[string]*upstream{},
	}
	for _, p := range providers() {
		u, err := newUpstream(p.name, scale(100*time.Millisecond, speed), d.logger)
		if err != nil {
			d.closeUpstreams()
			return nil, err
		}
		d.upstreams = append(d.upstreams, u)
		d.byName[p.name] = u
	}
	for _, e := range d.schedule.Events {
		if d.byName[e.Upstream] == nil {
			d.closeUpstreams()
			return nil, fmt.Errorf("demo: schedule names unknown upstream %q", e.Upstream)
		}
	}
	for _, u := range d.upstreams {
		d.serveWG.Add(1)
		go func() {
			defer d.serveWG.Done()
			if err := u.srv.Serve(u.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.logger.Error("simulated upstream stopped", slog.String("upstream", u.name), slog.String("error", err.Error()))
			}
		}()
	}
	return d, nil
}

// Config returns the gateway configuration for the demo: listen on
// config.DefaultListen, one breaker per simulated upstream, the routes, and
// health checks on the enforce-mode upstreams every HealthCheckInterval,
// with durations divided by the speed. It still needs config.Apply.
func (d *Demo) Config() *config.Config {
	c := &config.Config{Listen: config.DefaultListen, HealthCheckInterval: scale(HealthCheckInterval, d.speed)}
	for _, p := range providers() {
		b := p.cfg
		b.Name = p.name
		b.Timeout = scale(b.Timeout, d.speed)
		b.Window = max(scale(b.Window, d.speed), breaker.MinWindow)
		b.SlowCall = scale(b.SlowCall, d.speed)
		c.Breakers = append(c.Breakers, b)
		if p.check {
			c.HealthChecks = append(c.HealthChecks, breaker.HealthCheck{Breaker: p.name, URL: d.byName[p.name].url() + "/v1/models"})
		}
	}
	for _, r := range routes() {
		rc := config.Route{Prefix: r.prefix, Upstream: d.upstreamURL(r.name), Breaker: r.name, Timeout: scale(r.timeout, d.speed)}
		for _, f := range r.fallbacks {
			rc.Fallbacks = append(rc.Fallbacks, config.Fallback{Upstream: d.upstreamURL(f), Breaker: f})
		}
		c.Routes = append(c.Routes, rc)
	}
	return c
}

func (d *Demo) upstreamURL(name string) *url.URL {
	u, _ := url.Parse(d.byName[name].url())
	return u
}

// Paths returns, for each route, a path to try (e.g. /openai/v1/chat/completions).
func Paths() []string {
	var out []string
	for _, r := range routes() {
		out = append(out, r.prefix+r.path)
	}
	return out
}

// Start begins the fault schedule and the traffic through the gateway at
// base (e.g. http://127.0.0.1:8000). It returns at once.
func (d *Demo) Start(base string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	base = strings.TrimSuffix(base, "/")

	sctx, scancel := context.WithCancel(context.Background())
	d.stopSchedule = scancel
	d.scheduleWG.Add(1)
	go func() {
		defer d.scheduleWG.Done()
		d.runSchedule(sctx)
	}()

	tctx, tcancel := context.WithCancel(context.Background())
	d.stopTraffic = tcancel
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	d.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i, r := range routes() {
		d.trafficWG.Add(1)
		go func() {
			defer d.trafficWG.Done()
			d.traffic(tctx, base+r.prefix+r.path, i)
		}()
	}
}

// runSchedule applies the events, cycle after cycle, until ctx is done.
func (d *Demo) runSchedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop() // armed by Reset below
	defer timer.Stop()
	for cycle := 1; ; cycle++ {
		start := time.Now()
		for _, u := range d.upstreams {
			if *u.behavior.Load() != Healthy {
				d.apply(u, Healthy, "cycle starts")
			}
		}
		for _, e := range d.schedule.Events {
			timer.Reset(time.Until(start.Add(e.At)))
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			d.apply(d.byName[e.Upstream], e.Behavior, "")
		}
		if d.schedule.Cycle <= 0 {
			<-ctx.Done()
			return
		}
		timer.Reset(time.Until(start.Add(d.schedule.Cycle)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		d.logger.Info("demo: the fault schedule starts over", slog.Int("cycle", cycle+1))
	}
}

func (d *Demo) apply(u *upstream, b Behavior, why string) {
	u.set(b)
	attrs := []any{slog.String("upstream", u.name), slog.String("behavior", b.String())}
	if why != "" {
		attrs = append(attrs, slog.String("why", why))
	}
	d.logger.Info("demo: simulated upstream changes", attrs...)
}

// traffic sends requests to url every interval until ctx is done, at most
// four at a time; every fifth asks for a stream. i staggers the routes.
func (d *Demo) traffic(ctx context.Context, url string, i int) {
	interval := d.schedule.Interval
	if interval < time.Millisecond {
		interval = time.Millisecond
	}
	stagger := time.NewTimer(interval * time.Duration(i) / 4)
	select {
	case <-ctx.Done():
		stagger.Stop()
		return
	case <-stagger.C:
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	slots := make(chan struct{}, 4)
	var wg sync.WaitGroup
	defer wg.Wait()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			continue // four already in flight: skip this tick
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			d.call(ctx, url, n%5 == 4)
		}()
	}
}

func (d *Demo) call(ctx context.Context, url string, stream bool) {
	body := `{"model":"demo","messages":[{"role":"user","content":"hello"}]}`
	if stream {
		body = `{"model":"demo","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "breakerwatch-demo-traffic")
	resp, err := d.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// StopTraffic stops the traffic and waits for its requests to end. The
// schedule and the upstreams keep running.
func (d *Demo) StopTraffic() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.trafficClosed {
		return
	}
	d.trafficClosed = true
	d.stopTraffic()
	d.trafficWG.Wait()
	d.client.CloseIdleConnections()
}

// Close stops the traffic, the schedule and the upstreams, and waits for
// them. Safe to call more than once.
func (d *Demo) Close() {
	d.closeOnce.Do(func() {
		d.StopTraffic()
		d.mu.Lock()
		if d.started {
			d.stopSchedule()
		}
		d.mu.Unlock()
		d.scheduleWG.Wait()
		d.closeUpstreams()
		d.serveWG.Wait()
	})
}

func (d *Demo) closeUpstreams() {
	for _, u := range d.upstreams {
		_ = u.srv.Close()
		_ = u.ln.Close()
	}
}
