package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
)

// Paths the gateway serves itself; no route may overlap them.
var reservedPaths = []string{"/metrics", "/api/circuit-breaker/", "/ui/", "/healthz", "/readyz"}

// A prefix is one or more path segments of unreserved characters, with a
// leading and a trailing slash. ServeMux wildcards ({...}) cannot appear.
var prefixPattern = regexp.MustCompile(`^/([A-Za-z0-9._~-]+/)+$`)

// dotSegment reports whether the prefix p has a "." or ".." segment.
func dotSegment(p string) bool {
	return strings.Contains(p, "/./") || strings.Contains(p, "/../")
}

// Apply applies the environment to c, fills in defaults and validates the
// result, as Load does after reading a file. A configuration built in Go
// (the embedded demo's) goes through it too, so the environment means the
// same everywhere. On error c may be partly updated.
func Apply(c *Config, env Env) error {
	ps := &problems{}
	c.resolve(env, ps)
	return ps.err()
}

func (c *Config) resolve(env Env, ps *problems) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	c.applyEnv(env, ps)
	c.resolveTelemetry(env, ps)
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.MaxReplayMemory == 0 {
		c.MaxReplayMemory = DefaultMaxReplayMemory
	}
	for i := range c.Routes {
		if c.Routes[i].Timeout == 0 {
			c.Routes[i].Timeout = DefaultRouteTimeout
		}
		if c.Routes[i].BodyReadTimeout == 0 {
			c.Routes[i].BodyReadTimeout = DefaultBodyReadTimeout
		}
		if c.Routes[i].MaxReplayBody == 0 && len(c.Routes[i].Fallbacks) > 0 {
			c.Routes[i].MaxReplayBody = DefaultMaxReplayBody
		}
	}
	sort.SliceStable(c.Breakers, func(i, j int) bool { return c.Breakers[i].Name < c.Breakers[j].Name })
	sort.SliceStable(c.HealthChecks, func(i, j int) bool { return c.HealthChecks[i].Breaker < c.HealthChecks[j].Breaker })
	c.validate(ps)
}

// SetListen replaces the listen address with one given on the command line
// (flag names the flag, e.g. --listen) and validates the configuration
// again: the address itself, and that no route points at it.
func (c *Config) SetListen(addr, flag string) error {
	c.Listen = addr
	c.setOrigin("listen", origin{flag: flag})
	ps := &problems{file: c.file}
	c.validate(ps)
	return ps.err()
}

func (c *Config) applyEnv(env Env, ps *problems) {
	lookup := func(name string) (string, bool) {
		v, ok := env(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	applied := func(name string) { c.EnvApplied = append(c.EnvApplied, name) }
	eachBreaker := func(field, name string, set func(*breaker.Config)) {
		for i := range c.Breakers {
			set(&c.Breakers[i])
			c.setOrigin("breakers."+c.Breakers[i].Name+"."+field, origin{env: name})
		}
		if c.defaults != nil {
			set(c.defaults)
			c.setOrigin("defaults."+field, origin{env: name})
		}
		applied(name)
	}

	if v, ok := lookup(EnvListen); ok {
		c.Listen = v
		c.setOrigin("listen", origin{env: EnvListen})
		applied(EnvListen)
	}
	if v, ok := lookup(EnvRedisURL); ok {
		if c.Fleet == nil {
			c.Fleet = &fleet.Options{}
		}
		c.Fleet.URL = v
		c.setOrigin("fleet.redis", origin{env: EnvRedisURL})
		applied(EnvRedisURL)
	}
	if v, ok := lookup(EnvAdminToken); ok {
		c.AdminToken = v
		applied(EnvAdminToken)
	}
	if v, ok := lookup(EnvFailureThreshold); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			ps.at(origin{env: EnvFailureThreshold}, "", "%q: want a whole number of at least 1", v)
		} else {
			eachBreaker("failure_threshold", EnvFailureThreshold, func(b *breaker.Config) { b.FailureThreshold = uint32(n) })
		}
	}
	if v, ok := lookup(EnvTimeoutSeconds); ok {
		d, err := parseSeconds(v)
		if err != nil {
			ps.at(origin{env: EnvTimeoutSeconds}, "", "%v", err)
		} else {
			eachBreaker("timeout", EnvTimeoutSeconds, func(b *breaker.Config) { b.Timeout = d })
		}
	}
	if v, ok := lookup(EnvHealthCheckInterval); ok {
		d, err := parseSeconds(v)
		switch {
		case err != nil:
			ps.at(origin{env: EnvHealthCheckInterval}, "", "%v", err)
		case d < breaker.MinHealthInterval:
			ps.at(origin{env: EnvHealthCheckInterval}, "", "%q: under the minimum of %v", v, breaker.MinHealthInterval)
		default:
			c.HealthCheckInterval = d
			applied(EnvHealthCheckInterval)
		}
	}
	enabled := true
	if v, ok := lookup(EnvEnabled); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			ps.at(origin{env: EnvEnabled}, "", "%q: want true or false", v)
		} else {
			enabled = b
		}
	}
	if v, ok := lookup(EnvMode); ok {
		m, err := breaker.ParseMode(v)
		if err != nil {
			ps.at(origin{env: EnvMode}, "", "%v", err)
		} else if enabled { // CIRCUIT_BREAKER_ENABLED=false wins
			eachBreaker("mode", EnvMode, func(b *breaker.Config) { b.Mode = m })
		}
	}
	if !enabled {
		eachBreaker("mode", EnvEnabled, func(b *breaker.Config) { b.Mode = breaker.ModeDisabled })
	}
}

// parseSeconds parses a number of seconds (the seed's "60", or "0.5") or a
// Go duration ("90s"); the result must be positive.
func parseSeconds(v string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f != f || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("%q: out of range", v)
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("%q: want a number of seconds (30) or a duration (30s)", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", v)
	}
	return d, nil
}

// at returns where path's value came from, or else where its parent's did
// (routes[0].timeout falls back to routes[0]).
func (c *Config) at(path string) origin {
	for {
		if o, ok := c.origins[path]; ok {
			return o
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return origin{}
		}
		path = path[:i]
	}
}

func (c *Config) validate(ps *problems) {
	if err := validateListen(c.Listen); err != nil {
		ps.at(c.at("listen"), "listen", "%v", err)
	}
	c.validateListeners(ps)
	c.checkListenerTLS(ps)
	tlsLoaded := map[UpstreamTLS]loadedTLS{}

	// Breakers: the library's own rules, each problem at its field's line
	// (a bad name, not a *breaker.FieldError, at the breaker's). A bad value
	// in the defaults section is reported once, at its line, not again for
	// each breaker inheriting it.
	check := func(cfg breaker.Config, path string) {
		for _, err := range unjoin(cfg.Validate()) {
			var fe *breaker.FieldError
			if !errors.As(err, &fe) {
				ps.at(c.at(path), path, "%v", err)
				continue
			}
			o := c.at(path + "." + fe.Field)
			if d, ok := c.origins["defaults."+fe.Field]; ok && d == o && path != "defaults" {
				continue
			}
			ps.at(o, path, "%v", fe)
		}
	}
	if c.defaults != nil {
		d := *c.defaults
		d.Name = "defaults"
		check(d, "defaults")
	}
	seen := map[string]bool{}
	for _, b := range c.Breakers {
		path := "breakers." + b.Name
		if seen[b.Name] {
			ps.at(c.at(path), path, "breaker %q is defined twice", b.Name)
			continue
		}
		seen[b.Name] = true
		check(b, path)
	}

	// Routes.
	prefixes := prefixIndex{}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		_, hasPrefix := c.origins[path+".prefix"]
		// A key present with a value that did not parse is reported already.
		switch {
		case r.Prefix == "" && hasPrefix:
		case r.Prefix == "":
			ps.at(c.at(path), path+".prefix", "required")
		case !prefixPattern.MatchString(r.Prefix):
			ps.at(c.at(path+".prefix"), path+".prefix", "%q: want a path that starts and ends with / (like /openai/), of letters, digits and ._~-", r.Prefix)
		case dotSegment(r.Prefix):
			// The listener redirects such a path to its cleaned form: no
			// request would ever reach the route.
			ps.at(c.at(path+".prefix"), path+".prefix", "%q: a . or .. segment is never requested (clients and the server clean it away)", r.Prefix)
		default:
			for _, res := range reservedPaths {
				if overlaps(r.Prefix, res) {
					ps.at(c.at(path+".prefix"), path+".prefix", "%q overlaps %s, which breakerwatch serves itself", r.Prefix, res)
				}
			}
			switch prev, ok := prefixes.conflict(r.Prefix); {
			case !ok:
			case prev.prefix == r.Prefix:
				ps.at(c.at(path+".prefix"), path+".prefix", "%q is also the prefix of %s%s", r.Prefix, prev.path, lineSuffix(c.at(prev.path)))
			default:
				ps.at(c.at(path+".prefix"), path+".prefix", "%q overlaps %q of %s%s", r.Prefix, prev.prefix, prev.path, lineSuffix(c.at(prev.path)))
			}
			prefixes.add(r.Prefix, path)
		}
		c.checkMember(ps, path, r.Upstream, r.Breaker, seen)
		c.checkFallbacks(ps, path, r, seen)
		c.checkUpstreamTLS(ps, path, r.TLS, scheme(r.Upstream), tlsForHTTPUpstream, tlsLoaded)
		for j, f := range r.Fallbacks {
			c.checkUpstreamTLS(ps, fmt.Sprintf("%s.fallbacks[%d]", path, j), f.TLS, scheme(f.Upstream), tlsForHTTPUpstream, tlsLoaded)
		}
		c.validateGRPC(ps, path, r)
		if r.Timeout < 0 {
			ps.at(c.at(path+".timeout"), path+".timeout", "%v is negative", r.Timeout)
		}
		if r.BodyReadTimeout < 0 {
			ps.at(c.at(path+".body_read_timeout"), path+".body_read_timeout", "%v is negative", r.BodyReadTimeout)
		}
		if r.FailureStatus != nil && len(r.FailureStatus) == 0 {
			ps.at(c.at(path+".failure_status"), path+".failure_status", "empty (omit it to count every 5xx)")
		}
		dup := map[int]bool{}
		for _, s := range r.FailureStatus {
			switch {
			case s < 100 || s > 599:
				ps.at(c.at(path+".failure_status"), path+".failure_status", "%d is not an HTTP status (100-599)", s)
			case dup[s]:
				ps.at(c.at(path+".failure_status"), path+".failure_status", "%d is listed twice", s)
			}
			dup[s] = true
		}
	}
	c.validateHealthChecks(ps, seen, tlsLoaded)
	c.validateFleet(ps)
}

// validateFleet checks the fleet section with fleet.Options.Validate's
// rules and locates each problem.
func (c *Config) validateFleet(ps *problems) {
	if c.Fleet == nil {
		return
	}
	for _, err := range unjoin(c.Fleet.Validate()) {
		var fe *fleet.FieldError
		if !errors.As(err, &fe) { // not one of Validate's; say it anyway
			ps.at(c.at("fleet"), "fleet", "%v", err)
			continue
		}
		path := "fleet." + fe.Field
		if fe.Field == "redis" && c.Fleet.URL == "" {
			if _, set := c.origins[path]; set {
				continue // the key is there with a value that did not parse
			}
			ps.at(c.at("fleet"), path, "required: the redis:// URL of the fleet's Redis (or set %s)", EnvRedisURL)
			continue
		}
		ps.at(c.at(path), path, "%s", fe.Msg)
	}
}

// checkMember checks the upstream and the breaker of a route, or of one of
// its fallbacks, at path.
func (c *Config) checkMember(ps *problems, path string, u *url.URL, name string, known map[string]bool) {
	_, hasUpstream := c.origins[path+".upstream"]
	_, hasBreaker := c.origins[path+".breaker"]
	// A key present with a value that did not parse is reported already.
	switch up := path + ".upstream"; {
	case u == nil && hasUpstream:
	case u == nil:
		ps.at(c.at(path), up, "required")
	case u.Scheme != "http" && u.Scheme != "https":
		ps.at(c.at(up), up, "%q: want an http:// or https:// URL", u.Redacted())
	case u.Host == "":
		ps.at(c.at(up), up, "%q: no host", u.Redacted())
	case badPort(u) != "":
		ps.at(c.at(up), up, "%q: %s", u.Redacted(), badPort(u))
	case u.User != nil:
		ps.at(c.at(up), up, "%q: credentials in the URL are not forwarded; remove them", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		ps.at(c.at(up), up, "%q: a query or fragment is not allowed", u.Redacted())
	default:
		if key, addr := c.ownListener(u); key != "" {
			ps.at(c.at(up), up, "%q is breakerwatch's own listener (%s %s): a route to itself loops, and would hand its clients the admin API as loopback",
				u.Redacted(), key, addr)
		}
	}
	switch bp := path + ".breaker"; {
	case name == "" && hasBreaker:
	case name == "":
		ps.at(c.at(path), bp, "required")
	case !known[name]:
		ps.at(c.at(bp), bp, "unknown breaker %q (define it under breakers:)", name)
	}
}

// checkFallbacks checks a route's fallback chain: each fallback's upstream
// and breaker, no breaker twice in the chain, and max_replay_body.
func (c *Config) checkFallbacks(ps *problems, path string, r Route, known map[string]bool) {
	if r.Fallbacks != nil && len(r.Fallbacks) == 0 {
		ps.at(c.at(path+".fallbacks"), path+".fallbacks", "empty (omit it for no fallback)")
	}
	inChain := map[string]string{}
	if r.Breaker != "" {
		inChain[r.Breaker] = path + ".breaker"
	}
	for i, f := range r.Fallbacks {
		fp := fmt.Sprintf("%s.fallbacks[%d]", path, i)
		c.checkMember(ps, fp, f.Upstream, f.Breaker, known)
		if f.Breaker == "" {
			continue
		}
		if first, dup := inChain[f.Breaker]; dup {
			ps.at(c.at(fp+".breaker"), fp+".breaker", "%q is already in the chain as %s%s: a chain tries each breaker once (naming one twice would be a cycle)",
				f.Breaker, first, lineSuffix(c.at(first)))
			continue
		}
		inChain[f.Breaker] = fp + ".breaker"
	}
	mp := path + ".max_replay_body"
	switch {
	case r.MaxReplayBody < 0:
		ps.at(c.at(mp), mp, "%d is negative", r.MaxReplayBody)
	case r.MaxReplayBody > MaxMaxReplayBody:
		ps.at(c.at(mp), mp, "%d bytes is over the limit of 1GiB (the body is held in memory)", r.MaxReplayBody)
	case r.MaxReplayBody > 0 && len(r.Fallbacks) == 0:
		ps.at(c.at(mp), mp, "set without fallbacks: only a route with fallbacks buffers request bodies")
	}
}

// validateHealthChecks checks the breakers' health checks with the rules of
// breaker.NewHealthChecker, so that serve does not fail after validate
// passed, and locates each problem.
func (c *Config) validateHealthChecks(ps *problems, known map[string]bool, tlsLoaded map[UpstreamTLS]loadedTLS) {
	seen := map[string]bool{}
	for i, hc := range c.HealthChecks {
		path := "breakers." + hc.Breaker + ".health_check"
		if t := c.HealthCheckTLS[hc.Breaker]; t != nil {
			hs := ""
			if u, err := url.Parse(hc.URL); err == nil && hc.URL != "" {
				hs = u.Scheme
			}
			if hc.URL == "" && hc.Probe != nil {
				ps.at(c.at(path+".tls"), path+".tls", "set without url (a Go probe makes its own connections)")
			}
			c.HealthChecks[i].TLS = c.checkUpstreamTLS(ps, path, t, hs, tlsForHTTPHealthCheck, tlsLoaded)
		}
		at := func(field string) (origin, string) { return c.at(path + "." + field), path + "." + field }
		if !known[hc.Breaker] {
			ps.at(c.at(path), path, "unknown breaker %q (define it under breakers:)", hc.Breaker)
		}
		if seen[hc.Breaker] {
			ps.at(c.at(path), path, "breaker %q has a second health check", hc.Breaker)
		}
		seen[hc.Breaker] = true
		_, hasURL := c.origins[path+".url"]
		switch o, p := at("url"); {
		case hc.Probe != nil:
		case hc.URL == "" && hasURL:
		case hc.URL == "":
			ps.at(c.at(path), p, "required: the http:// or https:// URL to GET")
		default:
			u, err := url.Parse(hc.URL)
			switch {
			case err != nil:
				ps.at(o, p, "%v", errors.Unwrap(err))
			case u.Scheme != "http" && u.Scheme != "https":
				ps.at(o, p, "%q: want an http:// or https:// URL", u.Redacted())
			case u.Host == "":
				ps.at(o, p, "%q: no host", u.Redacted())
			case badPort(u) != "":
				ps.at(o, p, "%q: %s", u.Redacted(), badPort(u))
			}
		}
		if s := hc.ExpectStatus; s != 0 && (s < 100 || s > 599) {
			o, p := at("expect_status")
			ps.at(o, p, "%d is not an HTTP status (100-599)", s)
		}
		interval, from := hc.Interval, ""
		if interval == 0 {
			interval, from = c.HealthCheckInterval, " ("+EnvHealthCheckInterval+": the check sets no interval)"
		}
		if hc.Interval != 0 && hc.Interval < breaker.MinHealthInterval {
			o, p := at("interval")
			ps.at(o, p, "%v: want at least %v", hc.Interval, breaker.MinHealthInterval)
		}
		switch o, p := at("timeout"); {
		case hc.Timeout < 0:
			ps.at(o, p, "%v is negative", hc.Timeout)
		case hc.Timeout > 0 && hc.Timeout >= interval && interval > 0:
			ps.at(o, p, "%v is not shorter than the interval %v%s", hc.Timeout, interval, from)
		}
		if hc.OpenAfter > 0 && !hc.OpenOnFail {
			o, p := at("open_after")
			ps.at(o, p, "set without open_on_fail: true (failing probes open nothing unless open_on_fail is set)")
		}
	}
	for name, t := range c.HealthCheckTLS {
		if t != nil && !seen[name] {
			path := "breakers." + name + ".health_check.tls"
			ps.at(c.at(path), path, "set for breaker %q, which has no health check", name)
		}
	}
}

func scheme(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme
}

// badPort says what is wrong with the port of u ("" if nothing): a colon
// without a port, or a port outside 1-65535. url.Parse accepts both.
func badPort(u *url.URL) string {
	if strings.HasSuffix(u.Host, ":") {
		return "empty port after the colon (omit the colon for the scheme's default)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %s is not from 1 to 65535", p)
		}
	}
	return ""
}

// ownListener returns the setting and the address of the gateway's own
// listener that upstream u points at, or "" if none. Port 0 (an ephemeral
// port) matches nothing. A listener on every interface (":8000",
// "0.0.0.0:8000") is matched by loopback names; a name that only DNS maps
// to this machine is not: the admin API refuses forwarded requests anyway.
func (c *Config) ownListener(u *url.URL) (key, addr string) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, l := range c.listeners() {
		host, lport, err := net.SplitHostPort(l.addr)
		if err != nil || lport == "0" || lport != port {
			continue
		}
		if sameHost(u.Hostname(), host) {
			return l.key, l.addr
		}
	}
	return "", ""
}

// listener is one address the gateway listens on, and its setting.
type listener struct{ key, addr string }

func (c *Config) listeners() []listener {
	out := []listener{{"listen", c.Listen}}
	if c.AdminListen != "" {
		out = append(out, listener{"admin_listen", c.AdminListen})
	}
	if c.MetricsListen != "" {
		out = append(out, listener{"metrics_listen", c.MetricsListen})
	}
	return out
}

// validateListeners checks admin_listen and metrics_listen: addresses, and
// none the same as another listener (port 0 picks a free port each time).
func (c *Config) validateListeners(ps *problems) {
	ls := c.listeners()
	for i, l := range ls[1:] {
		if err := validateListen(l.addr); err != nil {
			ps.at(c.at(l.key), l.key, "%v", err)
			continue
		}
		for _, prev := range ls[:i+1] {
			_, port, _ := net.SplitHostPort(l.addr)
			if _, pport, err := net.SplitHostPort(prev.addr); err == nil && port != "0" && port == pport {
				ph, _, _ := net.SplitHostPort(prev.addr)
				lh, _, _ := net.SplitHostPort(l.addr)
				if sameHost(lh, ph) || sameHost(ph, lh) {
					ps.at(c.at(l.key), l.key, "%q is also %s: a separate listener needs its own address", l.addr, prev.key)
				}
			}
		}
	}
}

// sameHost reports whether an upstream host reaches a listener bound to
// host: the same name or address, loopback for a listener on every
// interface, or localhost for a loopback address.
func sameHost(upstream, host string) bool {
	if strings.EqualFold(upstream, host) {
		return true
	}
	uip, uerr := netip.ParseAddr(upstream)
	hip, herr := netip.ParseAddr(host)
	local := strings.EqualFold(upstream, "localhost") || (uerr == nil && (uip.Unmap().IsLoopback() || uip.IsUnspecified()))
	switch {
	case host == "" || (herr == nil && hip.IsUnspecified()):
		return local
	case uerr == nil && herr == nil:
		return uip.Unmap() == hip.Unmap()
	case strings.EqualFold(host, "localhost"):
		return local
	case strings.EqualFold(upstream, "localhost"):
		return herr == nil && (hip.Unmap() == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || hip == netip.IPv6Loopback())
	}
	return false
}

func lineSuffix(o origin) string {
	if o.line > 0 {
		return fmt.Sprintf(" (line %d)", o.line)
	}
	return ""
}

// placed is a route's prefix and the route's path (routes[3]).
type placed struct {
	prefix string
	path   string
}

// prefixIndex finds, for a route's prefix, an earlier route whose prefix
// overlaps it, in time linear in the prefix's length: the earlier route
// with the same prefix, else one whose prefix contains it, else one whose
// prefix it contains. Valid prefixes start and end with a slash, so one
// contains another exactly when it is the other cut after one of its
// slashes.
type prefixIndex struct {
	exact map[string]placed // each prefix, with its first route
	below map[string]placed // each proper ancestor of a prefix, with the first route under it
}

func (x *prefixIndex) conflict(prefix string) (placed, bool) {
	if p, ok := x.exact[prefix]; ok {
		return p, true
	}
	for i := 1; i < len(prefix)-1; i++ {
		if prefix[i] == '/' {
			if p, ok := x.exact[prefix[:i+1]]; ok {
				return p, true
			}
		}
	}
	p, ok := x.below[prefix]
	return p, ok
}

func (x *prefixIndex) add(prefix, path string) {
	if x.exact == nil {
		x.exact, x.below = map[string]placed{}, map[string]placed{}
	}
	if _, ok := x.exact[prefix]; ok {
		return
	}
	p := placed{prefix, path}
	x.exact[prefix] = p
	for i := 1; i < len(prefix)-1; i++ {
		if prefix[i] == '/' {
			if _, ok := x.below[prefix[:i+1]]; !ok {
				x.below[prefix[:i+1]] = p
			}
		}
	}
}

// overlaps reports whether one path prefix contains the other.
func overlaps(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }

func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, like 127.0.0.1:8000 or :8000", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host %q", addr, host)
	}
	return nil
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
