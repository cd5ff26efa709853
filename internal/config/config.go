package config

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
	"google.golang.org/grpc/codes"
)

// Built-in defaults.
const (
	// DefaultListen is the seed's port, on loopback only.
	DefaultListen = "127.0.0.1:8000"
	// DefaultMode is the mode of a breaker that sets none: monitor, the first
	// phase of a rollout (nothing is blocked; would-reject is counted).
	DefaultMode = breaker.ModeMonitor
	// DefaultRouteTimeout bounds how long a route waits for its upstream's
	// response headers.
	DefaultRouteTimeout = 60 * time.Second
	// DefaultHealthCheckInterval is the seed's HEALTH_CHECK_INTERVAL=30.
	DefaultHealthCheckInterval = 30 * time.Second
	// DefaultMaxReplayBody is the largest request body a route with
	// fallbacks buffers so that it can send it again to a fallback: 1 MiB.
	DefaultMaxReplayBody = 1 << 20
	// MaxMaxReplayBody bounds max_replay_body: a buffered body is held in
	// memory for the whole request.
	MaxMaxReplayBody = 1 << 30
	// DefaultMaxReplayMemory bounds the memory that all replay buffers hold
	// at once: 64 MiB.
	DefaultMaxReplayMemory = 64 << 20
)

// Config is a resolved configuration: defaults merged, environment applied,
// validated.
type Config struct {
	// Listen is the address of the proxy routes' listener, which also
	// serves /metrics and the admin API unless AdminListen or MetricsListen
	// move them. Default DefaultListen.
	Listen string
	// AdminListen, when set, is a separate listener for the admin API (and
	// /metrics, unless MetricsListen is set): the proxy listener then never
	// serves admin paths. Empty: the admin API is on Listen.
	AdminListen string
	// MetricsListen, when set, is a separate listener for /metrics. Empty:
	// /metrics is on AdminListen if set, else on Listen.
	MetricsListen string
	// TLSCertFile and TLSKeyFile, both or neither, make the proxy listener
	// (listen) serve HTTPS, with HTTP/2 offered through ALPN. The separate
	// admin and metrics listeners stay plain HTTP. Empty: plain HTTP.
	TLSCertFile string
	TLSKeyFile  string
	// DisableH2C turns off HTTP/2 without TLS on the listeners (h2c: false).
	// By default they serve it next to HTTP/1.1, with prior knowledge (a
	// connection that opens with HTTP/2's preface, as gRPC clients' do), so
	// that gRPC clients can call gRPC routes.
	DisableH2C bool
	// DisableUpstreamFastPath sends every request to the upstreams through
	// Go's http.Transport (upstream_fast_path: false), instead of the
	// gateway's own HTTP/1.1 client for the simple ones (gateway.Options).
	DisableUpstreamFastPath bool
	// MaxReplayMemory bounds the bytes the replay buffers of all routes
	// with fallbacks hold at once; requests beyond it go without fallback
	// replay. Default DefaultMaxReplayMemory.
	MaxReplayMemory int64
	// AdminToken, when set, is required (as a bearer token) by the admin
	// API's mutations. Empty: mutations are accepted from loopback only.
	AdminToken string
	// Breakers are the breakers to register, sorted by name, with the
	// defaults section merged in (zero fields take breaker's own defaults).
	Breakers []breaker.Config
	// Routes are the reverse-proxy routes, in file order.
	Routes []Route
	// HealthCheckInterval is how often each health check probes, unless the
	// check sets its own interval. HEALTH_CHECK_INTERVAL overrides it.
	// Default DefaultHealthCheckInterval.
	HealthCheckInterval time.Duration
	// HealthChecks are the breakers' health checks (a breaker's
	// health_check), sorted by breaker name. Interval 0 means
	// HealthCheckInterval; every other zero field takes breaker's default.
	HealthChecks []breaker.HealthCheck
	// HealthCheckTLS is the tls: block of a breaker's health_check, by
	// breaker name: the TLS client settings of an https:// health URL
	// (private CA, client certificate, ...). Validation loads each one and
	// sets the HealthCheck's TLS, one *tls.Config per distinct settings so
	// that checks with equal settings share a transport. A check without
	// an entry does not inherit a route's tls: (a breaker may guard several
	// routes, with different upstreams).
	HealthCheckTLS map[string]*UpstreamTLS
	// Fleet, when not nil, joins the breakers to a fleet of replicas through
	// Redis (the fleet: section, or BREAKERWATCH_REDIS_URL alone). Nil:
	// every replica decides alone.
	Fleet *fleet.Options
	// Telemetry says where the metrics go (/metrics, OTLP push); see
	// Telemetry.
	Telemetry Telemetry
	// EnvApplied names the environment variables that changed something,
	// for the start-up log.
	EnvApplied []string

	// origins says where values came from, by path (listen,
	// breakers.NAME, breakers.NAME.timeout, defaults.timeout, routes[0],
	// routes[0].upstream, ...), to locate problems.
	origins map[string]origin
	// defaults is the file's defaults section, validated on its own.
	defaults *breaker.Config
	// file is the name problems are reported under.
	file string
	// telemetryFile is the file's telemetry section (nil: none).
	telemetryFile *telemetryFile
}

// Route forwards every request under Prefix to Upstream through a breaker.
type Route struct {
	// Prefix is a path starting and ending with '/', e.g. /openai/. It is
	// stripped: /openai/v1/chat goes to Upstream's path + /v1/chat.
	Prefix string
	// Upstream is an absolute http or https URL, optionally with a base path.
	Upstream *url.URL
	// Breaker names the breaker the route's calls go through.
	Breaker string
	// Timeout bounds the wait for the upstream's response headers (dial,
	// TLS, request, upstream think time). A response body that has started
	// is never cut. Default DefaultRouteTimeout.
	Timeout time.Duration
	// FailureStatus lists the upstream statuses that count as failures, for
	// the upstream and its fallbacks. Nil: every 5xx.
	FailureStatus []int
	// Fallbacks are upstreams that speak the same API, tried in order, each
	// through its own breaker, when the upstream fails (a transport error,
	// a timeout or a failure status) or its breaker rejects the request. A
	// request is sent again only if its body could be buffered whole
	// (MaxReplayBody); a member whose breaker rejects it is skipped without
	// being sent anything.
	Fallbacks []Fallback
	// MaxReplayBody is the largest request body buffered, in bytes, so that
	// it can be sent again to a fallback. Used only with Fallbacks. Default
	// DefaultMaxReplayBody.
	MaxReplayBody int64
	// BodyReadTimeout bounds the reading of a request's whole body, from
	// the moment the route gets the request: a client that stalls or
	// trickles its body gets 408, and the breaker counts the call as
	// ignored. Default DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// TLS configures the connection to Upstream when it is https:// (nil:
	// the system's roots, the URL's host).
	TLS *UpstreamTLS
	// Protocol is RouteHTTP or RouteGRPC (see grpc.go). Empty means
	// RouteHTTP.
	Protocol string
	// FailureCodes, on a gRPC route, lists the grpc-status codes that count
	// as failures. Default DefaultFailureCodes.
	FailureCodes []codes.Code
}

// Fallback is one upstream of a route's fallback chain.
type Fallback struct {
	// Upstream is an absolute http or https URL, optionally with a base
	// path, like Route.Upstream; the route's prefix is stripped the same way.
	Upstream *url.URL
	// Breaker names the breaker the fallback's calls go through. A breaker
	// appears at most once in a route's chain, counting the route's own.
	Breaker string
	// TLS configures the connection to this fallback's upstream; the
	// route's TLS does not apply to it.
	TLS *UpstreamTLS
}

// Breakers returns the names of the route's chain: its breaker, then its
// fallbacks' breakers.
func (r Route) Breakers() []string {
	out := make([]string, 0, 1+len(r.Fallbacks))
	out = append(out, r.Breaker)
	for _, f := range r.Fallbacks {
		out = append(out, f.Breaker)
	}
	return out
}

// Breaker returns the configuration of the named breaker: a binary search,
// since Breakers are sorted by name once resolved, and a scan otherwise.
func (c *Config) Breaker(name string) (breaker.Config, bool) {
	i := sort.Search(len(c.Breakers), func(i int) bool { return c.Breakers[i].Name >= name })
	if i < len(c.Breakers) && c.Breakers[i].Name == name {
		return c.Breakers[i], true
	}
	for _, b := range c.Breakers {
		if b.Name == name {
			return b, true
		}
	}
	return breaker.Config{}, false
}

// Env looks up an environment variable, like os.LookupEnv.
type Env func(key string) (string, bool)

// OSEnv is the process environment.
var OSEnv Env = os.LookupEnv

// Environment variables read by Apply.
const (
	EnvEnabled             = "CIRCUIT_BREAKER_ENABLED"
	EnvFailureThreshold    = "CB_FAILURE_THRESHOLD"
	EnvTimeoutSeconds      = "CB_TIMEOUT_SECONDS"
	EnvHealthCheckInterval = "HEALTH_CHECK_INTERVAL"
	EnvMode                = "CB_MODE"
	EnvAdminToken          = "BREAKERWATCH_ADMIN_TOKEN"
	EnvListen              = "BREAKERWATCH_LISTEN"
	// EnvRedisURL sets fleet.redis; on its own it turns fleet mode on with
	// the fleet section's defaults.
	EnvRedisURL = "BREAKERWATCH_REDIS_URL"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// File and Line locate the problem in the file (Line 0: no line).
	File string
	Line int
	// Var is the environment variable the problem comes from, if any.
	Var string
	// Flag is the command-line flag the problem comes from, if any.
	Flag string
	// Path names the setting, e.g. routes[1].upstream.
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Var != "":
		b.WriteString("environment variable " + p.Var)
	case p.Flag != "":
		b.WriteString("flag " + p.Flag)
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File)
	default:
		b.WriteString("config")
	}
	if p.Path != "" {
		b.WriteString(": " + p.Path)
	}
	b.WriteString(": " + p.Msg)
	return b.String()
}

// Error lists every problem found in a configuration.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// origin is where a value came from: a file line or an environment variable.
type origin struct {
	line int
	env  string
	flag string
}

// MaxProblems bounds the problems an Error lists: a pathological file
// (thousands of duplicated routes) is reported in bounded memory, with a
// last problem that counts the ones left out.
const MaxProblems = 100

// problems collects Problems for one configuration source: the first
// MaxProblems found, and a count of the others.
type problems struct {
	file    string
	list    []Problem
	omitted int
}

func (ps *problems) at(o origin, path, format string, args ...any) {
	if len(ps.list) >= MaxProblems {
		ps.omitted++
		return
	}
	file := ps.file
	if o.env != "" || o.flag != "" {
		file = ""
	}
	ps.list = append(ps.list, Problem{File: file, Line: o.line, Var: o.env, Flag: o.flag, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}

	// File problems by line, then environment problems; stable otherwise.
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if ak, bk := a.kind(), b.kind(); ak != bk {
			return ak < bk
		}
		return a.Var == "" && a.Flag == "" && a.Line < b.Line
	})
	list := ps.list
	if ps.omitted > 0 {
		list = append(list[:len(list):len(list)], Problem{File: ps.file,
			Msg: fmt.Sprintf("%d more problems not listed (only the first %d found are)", ps.omitted, MaxProblems)})
	}
	return &Error{Problems: list}
}

// kind orders problems: the file's, the environment's, then the flags'.
func (p Problem) kind() int {
	switch {
	case p.Var != "":
		return 1
	case p.Flag != "":
		return 2
	}
	return 0
}

func (c *Config) setOrigin(k string, o origin) {
	if c.origins == nil {
		c.origins = map[string]origin{}
	}
	c.origins[k] = o
}
