package config

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
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
)

// Config is a resolved configuration: defaults merged, environment applied,
// validated.
type Config struct {
	// Listen is the address of the one listener (proxy routes, /metrics and
	// the admin API). Default DefaultListen.
	Listen string
	// AdminToken, when set, is required (as a bearer token) by the admin
	// API's mutations. Empty: mutations are accepted from loopback only.
	AdminToken string
	// Breakers are the breakers to register, sorted by name, with the
	// defaults section merged in (zero fields take breaker's own defaults).
	Breakers []breaker.Config
	// Routes are the reverse-proxy routes, in file order.
	Routes []Route
	// HealthCheckInterval comes from HEALTH_CHECK_INTERVAL only. It is parsed
	// and validated now; health checks use it. Default 30s.
	HealthCheckInterval time.Duration
	// EnvApplied names the environment variables that changed something,
	// for the start-up log.
	EnvApplied []string

	// origins says where values came from, by path (listen,
	// breakers.NAME, breakers.NAME.timeout, defaults.timeout, routes[0],
	// routes[0].upstream, ...), to locate problems.
	origins map[string]origin
	// defaults is the file's defaults section, validated on its own.
	defaults *breaker.Config
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
	// FailureStatus lists the upstream statuses that count as failures.
	// Nil: every 5xx.
	FailureStatus []int
}

// Breaker returns the configuration of the named breaker.
func (c *Config) Breaker(name string) (breaker.Config, bool) {
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
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// File and Line locate the problem in the file (Line 0: no line).
	File string
	Line int
	// Var is the environment variable the problem comes from, if any.
	Var string
	// Path names the setting, e.g. routes[1].upstream.
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Var != "":
		b.WriteString("environment variable " + p.Var)
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
}

// problems collects Problems for one configuration source.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) at(o origin, path, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: o.line, Var: o.env, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	// File problems by line, then environment problems; stable otherwise.
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if (a.Var == "") != (b.Var == "") {
			return a.Var == ""
		}
		return a.Var == "" && a.Line < b.Line
	})
	return &Error{Problems: ps.list}
}

func (c *Config) setOrigin(k string, o origin) {
	if c.origins == nil {
		c.origins = map[string]origin{}
	}
	c.origins[k] = o
}
