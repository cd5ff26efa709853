package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Paths served by Mount.
const (
	// MetricsPath is where Mount serves the Prometheus exposition.
	MetricsPath = "/metrics"
	// AdminPathPrefix is the prefix of every admin API path; NewAdmin's
	// handler serves the paths below it.
	AdminPathPrefix = "/api/circuit-breaker/"
)

// TokenEnvVar is the environment variable from which the breakerwatch binary
// reads AdminOptions.Token. Error messages name it.
const TokenEnvVar = "BREAKERWATCH_ADMIN_TOKEN"

// MaxAdminBodyBytes bounds the body of an admin request; larger ones get 413.
const MaxAdminBodyBytes = 1 << 10

// AdminOptions configures NewAdmin. The zero value is usable: loopback-only
// mutations, slog.Default() and no health checks.
type AdminOptions struct {
	// Token, when not empty, is the bearer token that every mutation (POST)
	// must carry as "Authorization: Bearer <token>", from any client, loopback
	// included. When empty, only loopback clients may mutate: the request
	// must come from a loopback address and name a loopback host (localhost,
	// 127.0.0.1, [::1]) in its Host header, which defeats DNS rebinding,
	// and carry no forwarding header (Forwarded, X-Forwarded-For,
	// X-Forwarded-Host, X-Real-Ip, Via): a relayed request is not a loopback
	// client. A proxy on the same host that adds none of these makes every
	// client look local: set a token.
	// Reads (GET, HEAD) are always open.
	Token string
	// Logger receives one record per mutation attempt (who, what, result).
	// Default: slog.Default() at the time of the request.
	Logger *slog.Logger
	// Health, if set, is called on every /health and /status request; its
	// results are listed there, and any unhealthy one makes /health answer
	// 503, except the checks of breakers in monitor or disabled mode. It
	// must be safe for concurrent use and should return quickly (report the
	// latest results rather than run checks).
	Health func() []HealthResult
	// Live, if set, adds the status page's endpoints: /history, /series
	// and the /events stream (see live.go). Without it they answer 404.
	Live *Live
	// Fleet, if set, makes the mutations fleet-wide overrides (recorded in
	// the fleet's Redis with who and when) and adds the fleet's view to
	// /status and /health. Losing the fleet never makes /health fail: each
	// replica then decides alone, which is not an outage.
	Fleet Fleet
	// Reload, if set, serves POST /api/circuit-breaker/reload, with the
	// same authorisation as the other mutations: it re-reads the
	// configuration and returns a summary, or why it refused (422; the
	// running configuration is kept). Unset: 404.
	Reload func() (summary string, err error)
}

// Fleet is what the admin API needs from a fleet of replicas (package
// fleet). Every method must be safe for concurrent use; the mutations also
// apply to this replica when they cannot be recorded, and then return an
// error for which Unrecorded reports true.
type Fleet interface {
	// Connected reports whether the replica exchanges evidence with the fleet.
	Connected() bool
	// View is the fleet's view, encoded as "fleet" in /status and /health.
	View() any
	// Instance is this replica's name in the fleet.
	Instance() string
	// Breakers is the fleet's view per breaker, from what the fleet last
	// read (never a call to the shared store): the status page's
	// "fleet" field of each row.
	Breakers() map[string]FleetBreaker
	SetMode(ctx context.Context, name string, m breaker.Mode, who string) error
	ClearMode(ctx context.Context, name, who string) error
	// Promote and ClearPromotion are breaker.Breaker's PromoteFrom and
	// ClearPromotion recorded as a fleet override, like SetMode and
	// ClearMode.
	Promote(ctx context.Context, name, candidate, who string) (breaker.Promotion, error)
	ClearPromotion(ctx context.Context, name, who string) (breaker.Promotion, error)
	Reset(ctx context.Context, name, who string) error
	ResetAll(ctx context.Context, who string) error
	// Unrecorded reports whether err means that the change applied to this
	// replica only.
	Unrecorded(err error) bool
}

// FleetBreaker is the fleet's view of one breaker: which live replicas
// report it, which of them see it open, and whether a fleet-wide decision
// holds it open.
type FleetBreaker struct {
	// Replicas are the live replicas that report the breaker, by name.
	Replicas []string `json:"replicas"`
	// Open are those of them that report it open.
	Open []string `json:"open"`
	// FleetOpen is true while a fleet-wide decision holds it open;
	// DecidedBy names the replica that decided.
	FleetOpen bool   `json:"fleet_open"`
	DecidedBy string `json:"decided_by,omitempty"`
}

func (f *FleetBreaker) equal(o *FleetBreaker) bool {
	if f == nil || o == nil {
		return f == o
	}
	return f.FleetOpen == o.FleetOpen && f.DecidedBy == o.DecidedBy &&
		slices.Equal(f.Replicas, o.Replicas) && slices.Equal(f.Open, o.Open)
}

// ActorHeader names the person or tool behind a mutation (breakerwatch ctl
// sends user@host); the fleet records it with overrides. Without it, the
// client's address is recorded.
const ActorHeader = "X-Breakerwatch-Actor"

// HealthResult is the latest result of one health check.
//
// In JSON it is
//
//	{"name": "openai_api", "healthy": false, "error": "...", "checked_at": "2026-01-02T15:04:05Z", "duration_ms": 12.5}
//
// with Duration in (fractional) milliseconds and error omitted when empty.
type HealthResult struct {
	// Name of the check, usually the name of the breaker it checks.
	Name string `json:"name"`
	// Healthy is true when the check passed.
	Healthy bool `json:"healthy"`
	// Error says why the check failed.
	Error string `json:"error,omitempty"`
	// CheckedAt is when the check ran.
	CheckedAt time.Time `json:"checked_at"`
	// Duration is how long the check took; "duration_ms" in JSON.
	Duration time.Duration `json:"-"`
}

type healthResultJSON struct {
	Name       string    `json:"name"`
	Healthy    bool      `json:"healthy"`
	Error      string    `json:"error,omitempty"`
	CheckedAt  time.Time `json:"checked_at"`
	DurationMS float64   `json:"duration_ms"`
}

// MarshalJSON encodes the result with Duration as duration_ms.
func (h HealthResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(healthResultJSON{
		Name: h.Name, Healthy: h.Healthy, Error: h.Error, CheckedAt: h.CheckedAt,
		DurationMS: float64(h.Duration) / float64(time.Millisecond),
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (h *HealthResult) UnmarshalJSON(b []byte) error {
	var v healthResultJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*h = HealthResult{
		Name: v.Name, Healthy: v.Healthy, Error: v.Error, CheckedAt: v.CheckedAt,
		Duration: time.Duration(v.DurationMS * float64(time.Millisecond)),
	}
	return nil
}

// NewAdmin returns the admin API over reg. It serves every path below
// AdminPathPrefix itself, with JSON bodies and {"error": "..."} errors:
//
//	GET  /api/circuit-breaker/metrics       per breaker: state, mode, counts, window stats, transitions
//	GET  /api/circuit-breaker/health        200 healthy, or 503 degraded listing what is open or failing
//	GET  /api/circuit-breaker/status        every breaker's state, mode, since and settings
//	GET  /api/circuit-breaker/history       recent transitions with reasons (needs Live)
//	GET  /api/circuit-breaker/series        recent error rate, p95 and calls/s (needs Live)
//	GET  /api/circuit-breaker/events        server-sent events for the status page (needs Live)
//	POST /api/circuit-breaker/reset/{name}  back to closed with a fresh window
//	POST /api/circuit-breaker/reset-all     every breaker
//	POST /api/circuit-breaker/mode/{name}   body {"mode": "enforce"|"monitor"|"disabled"} or {"clear": true}
//	GET  /api/circuit-breaker/tune/{name}   how the breaker's setting and its candidates would have behaved
//	POST /api/circuit-breaker/tune/{name}   body {"promote": "<candidate>"}: apply its settings
//	POST /api/circuit-breaker/reload        only with AdminOptions.Reload
//
// {"clear": true} returns the breaker to its configured mode. With
// AdminOptions.Fleet the mutations are fleet-wide overrides.
//
// Errors: 400 bad body or mode, 401 missing or wrong token, 403 non-loopback
// client without a configured token or a cross-origin browser request, 404
// unknown breaker or path, 405 wrong method (with Allow), 413 body over
// MaxAdminBodyBytes. Unknown names never create breakers or series. The
// shapes are documented with examples in docs/api.md. reg must not be nil.
func NewAdmin(reg *breaker.Registry, opts AdminOptions) http.Handler {
	if reg == nil {
		panic("exporter: NewAdmin needs a breaker registry")
	}
	a := &admin{
		reg:      reg,
		auth:     newAuthorizer(opts.Token),
		logger:   opts.Logger,
		health:   opts.Health,
		fleet:    opts.Fleet,
		reloadFn: opts.Reload,
		csrf:     http.NewCrossOriginProtection(),
		live:     opts.Live,
	}
	if a.live != nil {
		a.hub = newHub(a, a.live)
	}
	return a
}

type admin struct {
	reg      *breaker.Registry
	auth     authorizer
	logger   *slog.Logger
	health   func() []HealthResult
	fleet    Fleet
	reloadFn func() (string, error)
	csrf     *http.CrossOriginProtection
	live     *Live // nil: no live endpoints
	hub      *hub
}

// actor is who asked for a mutation, as the fleet records it.
func actor(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get(ActorHeader)); a != "" {
		return clip(strings.Map(func(c rune) rune {
			if c < 0x20 || c == 0x7f {
				return -1
			}
			return c
		}, a))
	}
	return r.RemoteAddr
}

// fleetView is the fleet's view for /status and /health: nil without a fleet.
func (a *admin) fleetView() any {
	if a.fleet == nil {
		return nil
	}
	return a.fleet.View()
}

// recorded describes, for a mutation's answer, whether the fleet recorded
// it: "" without a fleet.
func (a *admin) recorded(err error) string {
	switch {
	case a.fleet == nil:
		return ""
	case err == nil:
		return fleetRecorded
	}
	return fleetUnrecorded + ": " + err.Error()
}

// fleetAttr appends, with a fleet, whether it recorded the mutation.
func (a *admin) fleetAttr(err error, attrs ...slog.Attr) []slog.Attr {
	if a.fleet != nil {
		attrs = append(attrs, slog.String("fleet", a.recorded(err)))
	}
	return attrs
}

// Values of the fleet field of a mutation's answer.
const (
	fleetRecorded   = "recorded: every replica applies it"
	fleetUnrecorded = "not recorded (applied to this replica only)"
)

func (a *admin) log() *slog.Logger {
	if a.logger != nil {
		return a.logger
	}
	return slog.Default()
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, AdminPathPrefix)
	if !ok {
		a.notFound(w, r)
		return
	}
	switch {
	case rest == "metrics":
		a.read(w, r, a.metrics)
	case rest == "health":
		a.read(w, r, a.healthz)
	case rest == "status":
		a.read(w, r, a.status)
	case rest == "history" || rest == "series" || rest == "events":
		a.serveLive(w, r, rest)
	case rest == "reset-all":
		a.mutate(w, r, "reset-all", "", a.resetAll)
	case rest == "reload" && a.reloadFn != nil:
		a.mutate(w, r, "reload", "", a.reload)
	case strings.HasPrefix(rest, "reset/"):
		a.mutate(w, r, "reset", strings.TrimPrefix(rest, "reset/"), a.reset)
	case strings.HasPrefix(rest, "mode/"):
		a.mutate(w, r, "mode", strings.TrimPrefix(rest, "mode/"), a.setMode)
	case strings.HasPrefix(rest, "tune/"):
		a.tune(w, r, strings.TrimPrefix(rest, "tune/"))
	default:
		a.notFound(w, r)
	}
}

func (a *admin) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such path: %s %s", r.Method, clip(r.URL.Path)))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", clip(r.Method), allow))
}

// clip bounds user input echoed in messages and logs.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// read serves a GET (or HEAD) endpoint.
func (a *admin) read(w http.ResponseWriter, r *http.Request, fn func() (int, any)) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	status, body := fn()
	writeJSON(w, status, body)
}

// mutation is one admin action: it returns the status and body to send and,
// for the log, an error saying why it failed and extra attributes.
type mutation func(r *http.Request, name string) (status int, body any, attrs []slog.Attr)

// mutate serves a POST endpoint: method, authorization, cross-origin check,
// then the action; every attempt past the method check is logged.
func (a *admin) mutate(w http.ResponseWriter, r *http.Request, action, name string, fn mutation) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	who, status, msg := a.auth.authorize(r)
	if status == 0 {
		if err := a.csrf.Check(r); err != nil {
			status, msg = http.StatusForbidden, "cross-origin browser requests may not mutate breakers: "+err.Error()
		}
	}
	var (
		body  any
		attrs []slog.Attr
	)
	if status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="breakerwatch admin"`)
		}
		body = errorBody{Error: msg}
	} else {
		status, body, attrs = fn(r, name)
	}
	writeJSON(w, status, body)

	level := slog.LevelInfo
	result := "ok"
	if eb, ok := body.(errorBody); ok {
		level, result = slog.LevelWarn, eb.Error
	}
	all := []slog.Attr{
		slog.String("action", action),
		slog.String("remote_addr", r.RemoteAddr),
		slog.String("auth", who),
		slog.String("user_agent", clip(r.UserAgent())),
		slog.Int("status", status),
		slog.String("result", result),
	}
	if action != "reset-all" && action != "reload" {
		all = append(all, slog.String("breaker", clip(name)))
	}
	all = append(all, attrs...)
	a.log().LogAttrs(r.Context(), level, "circuit breaker admin mutation", all...)
}

// reload re-reads the configuration through AdminOptions.Reload.
func (a *admin) reload(*http.Request, string) (int, any, []slog.Attr) {
	summary, err := a.reloadFn()
	if err != nil {
		return http.StatusUnprocessableEntity, errorBody{Error: "reload refused, the running configuration is kept: " + err.Error()}, nil
	}
	return http.StatusOK, map[string]string{"action": "reload", "result": summary}, nil
}

// Responses of the read endpoints.
type (
	metricsBody struct {
		Breakers []breakerMetrics `json:"breakers"`
	}
	breakerMetrics struct {
		Name        string               `json:"name"`
		State       breaker.State        `json:"state"`
		Mode        breaker.Mode         `json:"mode"`
		Counts      breaker.Counts       `json:"counts"`
		Window      windowMetrics        `json:"window"`
		Transitions []breaker.Transition `json:"transitions"`
	}
	windowMetrics struct {
		// Duration is the window's length, e.g. "1m0s".
		Duration string `json:"duration"`
		breaker.WindowStats
	}
	healthBody struct {
		Status      string           `json:"status"`
		Open        []breakerSummary `json:"open"`
		MonitorOpen []breakerSummary `json:"monitor_open"`
		Checks      []HealthResult   `json:"checks"`
		Fleet       *fleetHealth     `json:"fleet,omitempty"`
	}
	// fleetHealth says, in /health, whether the replica is in the fleet.
	fleetHealth struct {
		Connected bool `json:"connected"`
	}
	// breakerSummary is a breaker in /health's open lists and, with its
	// settings, in /status.
	breakerSummary struct {
		Name  string        `json:"name"`
		State breaker.State `json:"state"`
		Mode  breaker.Mode  `json:"mode"`
		Since time.Time     `json:"since"`
	}
	statusBody struct {
		Status   string          `json:"status"`
		Breakers []breakerStatus `json:"breakers"`
		Checks   []HealthResult  `json:"checks"`
		Fleet    any             `json:"fleet,omitempty"`
	}
	breakerStatus struct {
		breakerSummary
		// ModeSource says where the mode comes from: config, runtime, or
		// a fleet override with who and when.
		ModeSource string           `json:"mode_source"`
		Settings   breaker.Settings `json:"settings"`
		// Promoted names the candidate whose settings the breaker runs
		// with (omitted: its configured settings); SettingsSource says
		// where they come from, like ModeSource.
		Promoted       string `json:"promoted,omitempty"`
		SettingsSource string `json:"settings_source"`
	}
)

// Values of the status field of /health and /status.
const (
	statusHealthy  = "healthy"
	statusDegraded = "degraded"
)

func (a *admin) metrics() (int, any) {
	snaps := a.reg.Snapshots()
	out := metricsBody{Breakers: make([]breakerMetrics, len(snaps))}
	for i, s := range snaps {
		out.Breakers[i] = breakerMetrics{
			Name: s.Name, State: s.State, Mode: s.Mode, Counts: s.Counts,
			Window:      windowMetrics{Duration: s.Settings.Window, WindowStats: s.Window},
			Transitions: s.Transitions,
		}
	}
	return http.StatusOK, out
}

func summarize(s breaker.Snapshot) breakerSummary {
	return breakerSummary{Name: s.Name, State: s.State, Mode: s.Mode, Since: s.Since}
}

func (a *admin) checks() []HealthResult {
	if a.health == nil {
		return []HealthResult{}
	}
	res := a.health()
	if res == nil {
		return []HealthResult{}
	}
	return res
}

// assess returns the overall status and the breakers that are not closed:
// enforced ones (which make it degraded) and monitored ones (which do not).
// A failing health check makes it degraded unless its breaker is in monitor
// or disabled mode.
func assess(snaps []breaker.Snapshot, checks []HealthResult) (status string, open, monitorOpen []breakerSummary) {
	open, monitorOpen = []breakerSummary{}, []breakerSummary{}
	modes := make(map[string]breaker.Mode, len(snaps))
	for _, s := range snaps {
		modes[s.Name] = s.Mode
		if s.State == breaker.StateClosed {
			continue
		}
		switch s.Mode {
		case breaker.ModeEnforce:
			open = append(open, summarize(s))
		case breaker.ModeMonitor:
			monitorOpen = append(monitorOpen, summarize(s))
		}
	}
	status = statusHealthy
	if len(open) > 0 {
		status = statusDegraded
	}
	for _, c := range checks {
		// Like their state, the checks of breakers that enforce nothing
		// (monitor, disabled) are listed but never make it degraded.
		if m, ok := modes[c.Name]; ok && m != breaker.ModeEnforce {
			continue
		}
		if !c.Healthy {
			status = statusDegraded
		}
	}
	return status, open, monitorOpen
}

func (a *admin) healthz() (int, any) {
	checks := a.checks()
	status, open, monitorOpen := assess(a.reg.Snapshots(), checks)
	code := http.StatusOK
	if status != statusHealthy {
		code = http.StatusServiceUnavailable
	}
	body := healthBody{Status: status, Open: open, MonitorOpen: monitorOpen, Checks: checks}
	if a.fleet != nil {
		body.Fleet = &fleetHealth{Connected: a.fleet.Connected()}
	}
	return code, body
}

func (a *admin) status() (int, any) {
	checks := a.checks()
	snaps := a.reg.Snapshots()
	status, _, _ := assess(snaps, checks)
	out := statusBody{Status: status, Breakers: make([]breakerStatus, len(snaps)), Checks: checks, Fleet: a.fleetView()}
	for i, s := range snaps {
		out.Breakers[i] = breakerStatus{breakerSummary: summarize(s), ModeSource: s.ModeSource, Settings: s.Settings,
			Promoted: s.Promoted, SettingsSource: s.SettingsSource}
	}
	return http.StatusOK, out
}

// Responses of the mutations.
type (
	resetBody struct {
		Action  string        `json:"action"`
		Breaker string        `json:"breaker"`
		State   breaker.State `json:"state"`
		Mode    breaker.Mode  `json:"mode"`
		Fleet   string        `json:"fleet,omitempty"`
	}
	resetAllBody struct {
		Action   string   `json:"action"`
		Breakers []string `json:"breakers"`
		Fleet    string   `json:"fleet,omitempty"`
	}
	modeBody struct {
		Action       string        `json:"action"`
		Breaker      string        `json:"breaker"`
		Mode         breaker.Mode  `json:"mode"`
		ModeSource   string        `json:"mode_source"`
		PreviousMode breaker.Mode  `json:"previous_mode"`
		State        breaker.State `json:"state"`
		Fleet        string        `json:"fleet,omitempty"`
	}
	modeRequest struct {
		Mode  *string `json:"mode"`
		Clear bool    `json:"clear"`
	}
)

func unknownBreaker(name string) (int, any, []slog.Attr) {
	return http.StatusNotFound, errorBody{Error: fmt.Sprintf("%v: %q", breaker.ErrNotFound, clip(name))}, nil
}

func (a *admin) reset(r *http.Request, name string) (int, any, []slog.Attr) {
	b, ok := a.reg.Get(name)
	if !ok {
		return unknownBreaker(name)
	}
	from := b.State()
	var ferr error
	if a.fleet != nil {
		if ferr = a.fleet.Reset(r.Context(), name, actor(r)); ferr != nil && !a.fleet.Unrecorded(ferr) {
			return http.StatusInternalServerError, errorBody{Error: ferr.Error()}, nil
		}
	} else if err := a.reg.Reset(name); err != nil {
		return unknownBreaker(name)
	}
	return http.StatusOK, resetBody{Action: "reset", Breaker: name, State: b.State(), Mode: b.Mode(), Fleet: a.recorded(ferr)},
		a.fleetAttr(ferr, slog.String("from_state", from.String()))
}

func (a *admin) resetAll(r *http.Request, _ string) (int, any, []slog.Attr) {
	var ferr error
	if a.fleet != nil {
		if ferr = a.fleet.ResetAll(r.Context(), actor(r)); ferr != nil && !a.fleet.Unrecorded(ferr) {
			return http.StatusInternalServerError, errorBody{Error: ferr.Error()}, nil
		}
	} else {
		a.reg.ResetAll()
	}
	names := []string{}
	for _, b := range a.reg.List() {
		names = append(names, b.Name())
	}
	return http.StatusOK, resetAllBody{Action: "reset-all", Breakers: names, Fleet: a.recorded(ferr)},
		a.fleetAttr(ferr, slog.Int("breakers", len(names)))
}

func (a *admin) setMode(r *http.Request, name string) (int, any, []slog.Attr) {
	b, ok := a.reg.Get(name)
	if !ok {
		return unknownBreaker(name)
	}
	mode, clear, status, msg := decodeMode(r)
	if status != 0 {
		return status, errorBody{Error: msg}, nil
	}
	prev := b.Mode()
	var err, ferr error
	switch {
	case a.fleet != nil && clear:
		ferr = a.fleet.ClearMode(r.Context(), name, actor(r))
	case a.fleet != nil:
		ferr = a.fleet.SetMode(r.Context(), name, mode, actor(r))
	case clear:
		b.ClearModeOverride()
	default:
		err = a.reg.SetMode(name, mode)
	}
	if ferr != nil && !a.fleet.Unrecorded(ferr) {
		err = ferr
	}
	if err != nil {
		if errors.Is(err, breaker.ErrNotFound) {
			return unknownBreaker(name)
		}
		return http.StatusBadRequest, errorBody{Error: err.Error()}, nil
	}
	mode = b.Mode()
	if a.live != nil && prev != mode {
		a.live.recordMode(name, prev, mode, modeReason(r, a.auth), b.Snapshot().Window.ErrorRate)
	}
	return http.StatusOK, modeBody{Action: "mode", Breaker: name, Mode: mode, ModeSource: b.ModeSource(), PreviousMode: prev,
			State: b.State(), Fleet: a.recorded(ferr)},
		a.fleetAttr(ferr, slog.String("from_mode", prev.String()), slog.String("to_mode", mode.String()),
			slog.String("mode_source", b.ModeSource()))
}

const modeBodyHelp = `body must be {"mode": "enforce"|"monitor"|"disabled"} or {"clear": true}`

// decodeMode reads {"mode": "..."} or {"clear": true}; a non-zero status
// means failure.
func decodeMode(r *http.Request) (breaker.Mode, bool, int, string) {
	var req modeRequest
	if status, msg := decodeBody(r, &req, modeBodyHelp); status != 0 {
		return 0, false, status, msg
	}
	switch {
	case req.Clear && req.Mode != nil:
		return 0, false, http.StatusBadRequest, "both mode and clear: " + modeBodyHelp
	case req.Clear:
		return 0, true, 0, ""
	case req.Mode == nil:
		return 0, false, http.StatusBadRequest, "missing mode: " + modeBodyHelp
	}
	m, err := breaker.ParseMode(*req.Mode)
	if err != nil {
		return 0, false, http.StatusBadRequest, err.Error()
	}
	return m, false, 0, ""
}

// decodeBody reads exactly one JSON object with only dst's fields into
// dst; a non-zero status means failure, and help says what the body must be.
func decodeBody(r *http.Request, dst any, help string) (int, string) {
	if r.ContentLength > MaxAdminBodyBytes {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxAdminBodyBytes)
	}
	body := http.MaxBytesReader(nil, r.Body, MaxAdminBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// Exactly one JSON value.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
			if terr != nil {
				err = terr
			}
		}
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxAdminBodyBytes)
		case errors.Is(err, io.EOF):
			return http.StatusBadRequest, "empty body: " + help
		}
		return http.StatusBadRequest, "invalid body: " + err.Error() + "; " + help
	}
	return 0, ""
}
