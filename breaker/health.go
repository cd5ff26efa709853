package breaker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Health checks.
//
// A HealthChecker probes some of a registry's breakers' dependencies out of
// band, on a timer: an HTTP GET or a Go function per breaker. The probes do
// not run through the breaker (an open breaker would reject them) and do not
// feed its state machine, except as configured: HalfOpenOnPass lets a passing
// probe move an open breaker to half-open before its timeout, and OpenOnFail
// lets failing probes open it. Both are off by default: by default a health
// check only reports.
//
// The package makes HTTP requests here (as a client) and serves none.

// Defaults applied to zero fields of HealthOptions and HealthCheck.
const (
	// DefaultHealthInterval is the seed's HEALTH_CHECK_INTERVAL default.
	DefaultHealthInterval = 30 * time.Second
	// DefaultHealthJitter spreads each wait over ±10% of the interval.
	DefaultHealthJitter = 0.1
	// DefaultHealthTimeout bounds a probe, unless half the interval is shorter.
	DefaultHealthTimeout = 5 * time.Second
	// MinHealthInterval is the shortest interval accepted.
	MinHealthInterval = time.Millisecond
	// EnvHealthInterval is the environment variable the seed sets the
	// interval with; see ParseHealthInterval.
	EnvHealthInterval = "HEALTH_CHECK_INTERVAL"
)

// maxProbeBody is how much of an HTTP probe's response body is read (and
// discarded) so that the connection can be reused.
const maxProbeBody = 64 << 10

// ParseHealthInterval parses the value of HEALTH_CHECK_INTERVAL: a whole
// number of seconds as the seed writes it ("30") or a Go duration ("30s",
// "1m30s"). An empty value gives DefaultHealthInterval. Zero, negative and
// malformed values are errors naming the variable.
func ParseHealthInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultHealthInterval, nil
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, fmt.Errorf("%s: %q seconds is too long", EnvHealthInterval, s)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("%s: %q is neither a number of seconds nor a duration such as 30s", EnvHealthInterval, s)
	}
	if d < MinHealthInterval {
		return 0, fmt.Errorf("%s: %q is not a positive interval (at least %v)", EnvHealthInterval, s, MinHealthInterval)
	}
	return d, nil
}

// HealthOptions configures a HealthChecker. The zero value works; each
// default is written next to its field.
type HealthOptions struct {
	// Interval between two probes of a breaker, on average. Default 30s
	// (DefaultHealthInterval); at least 1ms. A check may override it.
	Interval time.Duration
	// Jitter, in [0, 1), randomises each wait over ±Jitter×Interval, and
	// the first probe of each check happens after a random delay of up to
	// Jitter×Interval, so that replicas do not probe in step. Default 0.1.
	Jitter float64
	// Timeout bounds one probe. Default 5s, or half the interval when that
	// is shorter; it must be shorter than the interval. A check may override it.
	Timeout time.Duration
	// Client makes the HTTP probes. Default: a client of the checker's own,
	// whose idle connections Stop closes. A check with TLS set uses a copy
	// of it whose transport carries that TLS configuration (see
	// HealthCheck.TLS).
	Client *http.Client
	// Logger gets a line when a check goes up or down and when a check
	// changes a breaker's state. Default slog.Default().
	Logger *slog.Logger
}

// HealthCheck is the health probe of one breaker's dependency: an HTTP GET
// of URL, or a call of Probe. Exactly one of them is set.
type HealthCheck struct {
	// Breaker is the name of a breaker in the registry. Required.
	Breaker string `json:"breaker"`
	// URL is an http or https URL to GET.
	URL string `json:"url,omitempty"`
	// ExpectStatus is the status code a passing HTTP probe returns.
	// Default 0: any 2xx.
	ExpectStatus int `json:"expect_status,omitempty"`
	// TLS is the TLS client configuration of an https URL's probe: the
	// certificate authorities trusted (RootCAs), a client certificate for
	// an upstream that requires one (Certificates), ServerName,
	// InsecureSkipVerify. Default nil: the client's (by default the
	// system's roots, no client certificate). The probe then goes through
	// a transport of the checker's own, a clone of the client's transport
	// (http.DefaultTransport's settings when it is not an *http.Transport)
	// with this configuration; checks given the same *tls.Config share one
	// such transport, whose idle connections Stop closes. The checker does
	// not modify it. It is an error with an http URL or with Probe.
	TLS *tls.Config `json:"-"`
	// Probe is a Go probe: it passes when it returns nil. It must return
	// when its context is done (the context carries the timeout, and is
	// canceled by Stop).
	Probe func(ctx context.Context) error `json:"-"`
	// Interval overrides HealthOptions.Interval for this check. Default 0:
	// the checker's.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout overrides HealthOptions.Timeout for this check. Default 0:
	// the checker's (computed from this check's interval).
	Timeout time.Duration `json:"timeout,omitempty"`
	// HalfOpenOnPass: a passing probe moves the breaker, if open, to
	// half-open now instead of at the end of its timeout (Breaker.ForceHalfOpen).
	// Real calls then decide whether it closes. Default false.
	HalfOpenOnPass bool `json:"half_open_on_pass,omitempty"`
	// OpenOnFail: OpenAfter consecutive failing probes open the breaker,
	// if it is not open (Breaker.ForceOpen). Default false: a failing probe
	// only reports.
	OpenOnFail bool `json:"open_on_fail,omitempty"`
	// OpenAfter is how many consecutive failing probes open the breaker
	// when OpenOnFail is set. Default 1.
	OpenAfter uint32 `json:"open_after,omitempty"`
}

// HealthStatus is the result of one breaker's latest health check.
type HealthStatus struct {
	// Name is the breaker's name.
	Name string `json:"name"`
	// Probe describes the probe: "GET <url>" (password redacted) or "func".
	Probe string `json:"probe"`
	// Checked is false until the first probe finishes.
	Checked bool `json:"checked"`
	// Up is true when the latest probe passed.
	Up bool `json:"up"`
	// CheckedAt is when the latest probe finished.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Duration is how long the latest probe took.
	Duration time.Duration `json:"duration_ns"`
	// Error is why the latest probe failed; empty when it passed.
	Error string `json:"error,omitempty"`
	// ConsecutiveFailures counts the failing probes since the last pass.
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
}

// HealthChecker probes breakers' dependencies on a timer. Create it with
// Registry.NewHealthChecker, start it with Start and stop it with Stop.
type HealthChecker struct {
	reg    *Registry
	opts   HealthOptions
	probes []*healthProbe // sorted by breaker name
	byName map[string]*healthProbe
	client *http.Client
	own    *http.Transport // the default client's transport, closed by Stop
	// tlsClients are the clients of the checks with TLS, one per
	// *tls.Config; their transports are the checker's own, closed by Stop.
	tlsClients map[*tls.Config]*http.Client
	log        *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type healthProbe struct {
	check  HealthCheck // defaults applied
	client *http.Client
	b      *Breaker
	desc   string
	m      *healthMetrics
	mu     sync.Mutex
	status HealthStatus
}

// NewHealthChecker validates opts and checks and returns a checker for them.
// Each check's breaker must be registered in r and have no other check (in
// this or in another checker not yet stopped). Errors name the field
// (interval, jitter, timeout, checks[i].url, ...) and are joined. The
// checker's metrics (circuit_breaker_health_check_up and
// circuit_breaker_health_check_duration_seconds) appear after each check's
// first probe and go when the checker stops.
func (r *Registry) NewHealthChecker(opts HealthOptions, checks ...HealthCheck) (*HealthChecker, error) {
	var errs []error
	if opts.Interval == 0 {
		opts.Interval = DefaultHealthInterval
	} else if opts.Interval < MinHealthInterval {
		errs = append(errs, fmt.Errorf("interval: %v is not a positive interval (at least %v; 0 means %v)", opts.Interval, MinHealthInterval, DefaultHealthInterval))
	}
	if opts.Jitter == 0 {
		opts.Jitter = DefaultHealthJitter
	} else if !(opts.Jitter > 0 && opts.Jitter < 1) {
		errs = append(errs, fmt.Errorf("jitter: %v is outside [0, 1) (0 means %v)", opts.Jitter, DefaultHealthJitter))
	}
	if opts.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %v is negative (0 means the default)", opts.Timeout))
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &HealthChecker{reg: r, opts: opts, byName: map[string]*healthProbe{}, log: opts.Logger, client: opts.Client, tlsClients: map[*tls.Config]*http.Client{}}
	if h.client == nil {
		h.own = http.DefaultTransport.(*http.Transport).Clone()
		h.client = &http.Client{Transport: h.own}
	}
	if len(checks) == 0 {
		errs = append(errs, errors.New("checks: none given"))
	}
	for i, c := range checks {
		p, err := h.newProbe(i, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := h.byName[c.Breaker]; dup {
			errs = append(errs, fmt.Errorf("checks[%d].breaker: %q has two checks", i, c.Breaker))
			continue
		}
		h.byName[c.Breaker] = p
		h.probes = append(h.probes, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("health checks: %w", err)
	}
	sort.Slice(h.probes, func(i, j int) bool { return h.probes[i].check.Breaker < h.probes[j].check.Breaker })
	if err := r.res.addHealth(h.metrics()); err != nil {
		return nil, fmt.Errorf("health checks: checks: %w", err)
	}
	return h, nil
}

// metrics returns the checks' metrics by breaker name.
func (h *HealthChecker) metrics() map[string]*healthMetrics {
	ms := make(map[string]*healthMetrics, len(h.probes))
	for _, p := range h.probes {
		ms[p.check.Breaker] = p.m
	}
	return ms
}

func (h *HealthChecker) newProbe(i int, c HealthCheck) (*healthProbe, error) {
	field := func(f string) string { return fmt.Sprintf("checks[%d].%s", i, f) }
	var errs []error
	b, ok := h.reg.Get(c.Breaker)
	if !ok {
		errs = append(errs, fmt.Errorf("%s: %w: %q", field("breaker"), ErrNotFound, c.Breaker))
	}
	desc, scheme := "func", ""
	switch {
	case c.URL != "" && c.Probe != nil:
		errs = append(errs, fmt.Errorf("checks[%d]: url and probe are both set (set one)", i))
	case c.URL == "" && c.Probe == nil:
		errs = append(errs, fmt.Errorf("checks[%d]: neither url nor probe is set (set one)", i))
	case c.URL != "":
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %v", field("url"), err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s: %q: scheme must be http or https", field("url"), u.Redacted()))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("%s: %q: no host", field("url"), u.Redacted()))
		default:
			desc, scheme = "GET "+u.Redacted(), u.Scheme
		}
	}
	if c.TLS != nil {
		switch {
		case c.Probe != nil && c.URL == "":
			errs = append(errs, fmt.Errorf("%s: set without url (a Go probe makes its own connections)", field("tls")))
		case scheme == "http":
			errs = append(errs, fmt.Errorf("%s: set for an http:// URL: TLS applies to https:// URLs only", field("tls")))
		}
	}
	if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
		errs = append(errs, fmt.Errorf("%s: %d is not an HTTP status (0 means any 2xx)", field("expect_status"), c.ExpectStatus))
	}
	if c.ExpectStatus != 0 && c.URL == "" {
		errs = append(errs, fmt.Errorf("%s: set without url", field("expect_status")))
	}
	interval := c.Interval
	if interval == 0 {
		interval = h.opts.Interval
	} else if interval < MinHealthInterval {
		errs = append(errs, fmt.Errorf("%s: %v is not a positive interval (at least %v; 0 means the checker's)", field("interval"), interval, MinHealthInterval))
	}
	timeout := c.Timeout
	switch {
	case timeout < 0:
		errs = append(errs, fmt.Errorf("%s: %v is negative (0 means the checker's)", field("timeout"), timeout))
	case timeout == 0 && h.opts.Timeout > 0:
		timeout = h.opts.Timeout
	case timeout == 0:
		timeout = min(DefaultHealthTimeout, interval/2)
	}
	if timeout >= interval && interval >= MinHealthInterval {
		name := field("timeout")
		if c.Timeout == 0 {
			name = "timeout"
		}
		errs = append(errs, fmt.Errorf("%s: %v is not shorter than the interval %v", name, timeout, interval))
	}
	if c.OpenAfter == 0 {
		c.OpenAfter = 1
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.Interval, c.Timeout = interval, timeout
	p := &healthProbe{check: c, client: h.clientFor(c.TLS), b: b, desc: desc, m: newHealthMetrics(c.Breaker)}
	p.status = HealthStatus{Name: c.Breaker, Probe: desc}
	if c.TLS != nil && c.TLS.InsecureSkipVerify {
		h.log.Warn("health check: the upstream's TLS certificate is not verified (insecure_skip_verify)", "breaker", c.Breaker, "probe", desc)
	}
	return p, nil
}

// clientFor returns the client of the probes with TLS configuration tc:
// the checker's client when tc is nil, otherwise a copy of it with a
// transport of the checker's own for tc, shared by the checks given tc.
func (h *HealthChecker) clientFor(tc *tls.Config) *http.Client {
	if tc == nil {
		return h.client
	}
	if c, ok := h.tlsClients[tc]; ok {
		return c
	}
	var tr *http.Transport
	if base, ok := h.client.Transport.(*http.Transport); ok {
		tr = base.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	// A TLSClientConfig of its own would otherwise make the transport
	// speak HTTP/1.1 only.
	tr.TLSClientConfig = tc.Clone()
	tr.ForceAttemptHTTP2 = true
	c := *h.client
	c.Transport = tr
	h.tlsClients[tc] = &c
	return &c
}

// Start starts probing, one goroutine per check, until ctx is done or Stop
// is called. It fails if the checker was started or stopped before.
func (h *HealthChecker) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return errors.New("health checker: stopped")
	}
	if h.started {
		return errors.New("health checker: already started")
	}
	h.started = true
	ctx, h.cancel = context.WithCancel(ctx)
	for _, p := range h.probes {
		h.wg.Add(1)
		go h.loop(ctx, p)
	}
	return nil
}

// Stop stops probing, waits for the probes in flight to return (their
// context is canceled; they are not recorded), removes the checker's
// metrics and closes the idle connections of its own HTTP transports. It is safe
// to call more than once, and without Start.
func (h *HealthChecker) Stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		h.wg.Wait()
		return
	}
	h.stopped = true
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.reg.res.removeHealth(h.metrics())
	if h.own != nil {
		h.own.CloseIdleConnections()
	}
	for _, c := range h.tlsClients {
		c.CloseIdleConnections()
	}
}

// Results returns the latest result of every check, sorted by breaker name.
func (h *HealthChecker) Results() []HealthStatus {
	out := make([]HealthStatus, len(h.probes))
	for i, p := range h.probes {
		p.mu.Lock()
		out[i] = p.status
		p.mu.Unlock()
	}
	return out
}

// Check probes the named breaker's dependency now, records the result as
// the timer's probes are recorded (metrics, Results, state changes) and
// returns it. ErrNotFound if the breaker has no check here.
func (h *HealthChecker) Check(ctx context.Context, name string) (HealthStatus, error) {
	p, ok := h.byName[name]
	if !ok {
		return HealthStatus{}, fmt.Errorf("%w: %q has no health check", ErrNotFound, name)
	}
	st, _ := h.probe(ctx, p)
	return st, nil
}

func (h *HealthChecker) loop(ctx context.Context, p *healthProbe) {
	defer h.wg.Done()
	iv := float64(p.check.Interval)
	t := time.NewTimer(time.Duration(rand.Float64() * h.opts.Jitter * iv))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.probe(ctx, p)
		t.Reset(time.Duration(iv * (1 + h.opts.Jitter*(2*rand.Float64()-1))))
	}
}

// probe runs p once and records the result, unless ctx ended first.
func (h *HealthChecker) probe(ctx context.Context, p *healthProbe) (HealthStatus, bool) {
	pctx, cancel := context.WithTimeout(ctx, p.check.Timeout)
	start := time.Now()
	var err error
	if p.check.Probe != nil {
		err = p.check.Probe(pctx)
	} else {
		err = h.httpProbe(pctx, p)
	}
	end := time.Now()
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopped (or the caller of Check gave up): says nothing about
		// the dependency.
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.status, false
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && pctx.Err() != nil {
		err = fmt.Errorf("no answer within the %v timeout: %w", p.check.Timeout, err)
	}
	d := end.Sub(start)
	up := err == nil

	p.mu.Lock()
	was := p.status
	st := &p.status
	st.Checked, st.Up, st.CheckedAt, st.Duration = true, up, end, d
	if up {
		st.Error, st.ConsecutiveFailures = "", 0
	} else {
		st.Error = err.Error()
		st.ConsecutiveFailures++
	}
	now := *st
	// Metrics under p.mu so that they agree with Results.
	p.m.duration.Store(int64(d))
	if up {
		p.m.up.Store(1)
	} else {
		p.m.up.Store(0)
	}
	p.mu.Unlock()

	name := p.check.Breaker
	switch {
	case up && (!was.Checked || !was.Up):
		h.log.Info("health check up", "breaker", name, "probe", p.desc, "duration", d)
	case !up && (!was.Checked || was.Up):
		h.log.Warn("health check down", "breaker", name, "probe", p.desc, "duration", d, "err", err)
	}
	switch {
	case up && p.check.HalfOpenOnPass:
		if p.b.ForceHalfOpen("health check passed") {
			h.log.Info("health check moved breaker to half-open", "breaker", name)
		}
	case !up && p.check.OpenOnFail && now.ConsecutiveFailures >= p.check.OpenAfter:
		if p.b.ForceOpen(fmt.Sprintf("%d consecutive health check failure(s) reached open_after %d", now.ConsecutiveFailures, p.check.OpenAfter)) {
			h.log.Warn("health check opened breaker", "breaker", name, "consecutive_failures", now.ConsecutiveFailures, "err", err)
		}
	}
	return now, true
}

func (h *HealthChecker) httpProbe(ctx context.Context, p *healthProbe) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.check.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "breakerwatch-health-check/"+Version)
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				ue.URL = u.Redacted()
			}
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	_ = resp.Body.Close()
	if want := p.check.ExpectStatus; want != 0 {
		if resp.StatusCode != want {
			return fmt.Errorf("status %d, want %d", resp.StatusCode, want)
		}
	} else if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d, want 2xx", resp.StatusCode)
	}
	return nil
}
