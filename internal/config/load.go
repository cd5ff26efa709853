package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path, applies env and validates the result.
// The error, if any, is an *Error listing every problem.
func Load(path string, env Env) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: errors.Unwrap(err).Error()}}}
	}
	return Parse(path, data, env)
}

// Parse parses YAML configuration data (name is used in problems), applies
// env and validates the result. The error, if any, is an *Error listing
// every problem, each with its line or environment variable.
func Parse(name string, data []byte, env Env) (*Config, error) {
	ps := &problems{file: name}
	c := &Config{file: name}
	p := &parser{c: c, ps: ps}
	p.document(data)
	c.resolve(env, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

type parser struct {
	c  *Config
	ps *problems
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) document(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err != io.EOF { // io.EOF: an empty file is an empty configuration
			p.syntax(err)
		}
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.ps.at(origin{line: extra.Line}, "", "a second YAML document; the file must hold one")
	case err != io.EOF:
		p.syntax(err)
	}
	root := doc.Content[0]
	if isNull(root) {
		return
	}
	p.top(root)
}

func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.ps.at(origin{line: line}, "", "malformed YAML: %s", m[2])
		return
	}
	p.ps.at(origin{}, "", "malformed YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

func (p *parser) problem(n *yaml.Node, path, format string, args ...any) {
	p.ps.at(origin{line: n.Line}, path, format, args...)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// mapping calls fn for each key of the mapping n, in order, with the key's
// path (path.key), after recording the key's line as the origin of that
// path. It reports non-mappings, non-string keys and repeated keys. A null
// node is an empty mapping.
func (p *parser) mapping(n *yaml.Node, path string, fn func(key, kp string, k, v *yaml.Node)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.problem(n, path, "want a mapping of settings, not %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			p.problem(k, path, "a key must be a plain string")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.problem(k, kp, "already set at line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		p.c.setOrigin(kp, origin{line: k.Line})
		fn(k.Value, kp, k, deref(v))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "this"
}

func (p *parser) unknown(k *yaml.Node, path, key string, known string) {
	p.problem(k, join(path, key), "unknown key (known here: %s)", known)
}

const (
	topKeys     = "listen, admin_listen, metrics_listen, tls_cert_file, tls_key_file, h2c, upstream_fast_path, admin_token, max_replay_memory, defaults, breakers, routes, fleet, telemetry"
	breakerKeys = "mode, failure_threshold, min_throughput, failure_rate, slow_call, timeout, half_open_requests, window"
	// A breaker's own entry may also have a health check and candidates;
	// defaults may not.
	breakerEntryKeys = breakerKeys + ", health_check, candidates"
	healthKeys       = "url, expect_status, interval, timeout, half_open_on_pass, open_on_fail, open_after, tls"
	routeKeys        = "prefix, upstream, breaker, timeout, body_read_timeout, failure_status, fallbacks, max_replay_body, tls, protocol, failure_codes"
	fallbackKeys     = "upstream, breaker, tls"
	tlsKeys          = "ca_file, cert_file, key_file, server_name, insecure_skip_verify"
	fleetKeys        = "redis, key_prefix, instance, publish_interval, heartbeat"
)

func (p *parser) top(root *yaml.Node) {
	defaults := breaker.Config{Mode: DefaultMode}
	var breakers *yaml.Node // read after defaults, wherever they are
	p.mapping(root, "", func(key, _ string, k, v *yaml.Node) {
		switch key {
		case "listen":
			if s, ok := p.str(v, key); ok {
				p.c.Listen = s
			}
		case "admin_listen":
			if s, ok := p.str(v, key); ok {
				p.c.AdminListen = s
			}
		case "metrics_listen":
			if s, ok := p.str(v, key); ok {
				p.c.MetricsListen = s
			}
		case "max_replay_memory":
			p.size(v, key, &p.c.MaxReplayMemory, "64MiB")
		case "tls_cert_file":
			p.c.TLSCertFile = p.file(v, key)
		case "tls_key_file":
			p.c.TLSKeyFile = p.file(v, key)
		case "h2c":
			h2c := true
			p.bool(v, key, &h2c)
			p.c.DisableH2C = !h2c
		case "upstream_fast_path":
			on := true
			p.bool(v, key, &on)
			p.c.DisableUpstreamFastPath = !on
		case "admin_token":
			if s, ok := p.str(v, key); ok {
				p.c.AdminToken = s
			}
		case "defaults":
			p.breakerSettings(v, key, &defaults, nil)
		case "breakers":
			breakers = v
		case "routes":
			p.routes(v)
		case "fleet":
			p.fleet(v)
		case "telemetry":
			p.telemetry(v, key)
		default:
			p.unknown(k, "", key, topKeys)
		}
	})
	p.c.defaults = &defaults
	if breakers == nil {
		return
	}
	inherited := map[string]origin{}
	for field, o := range p.c.origins {
		if f, ok := strings.CutPrefix(field, "defaults."); ok {
			inherited[f] = o
		}
	}
	p.mapping(breakers, "breakers", func(name, path string, k, v *yaml.Node) {
		for f, o := range inherited {
			p.c.setOrigin(path+"."+f, o)
		}
		cfg := defaults
		cfg.Name = name
		var hc *healthEntry
		p.breakerSettings(v, path, &cfg, &hc)
		p.c.Breakers = append(p.c.Breakers, cfg)
		if hc != nil {
			hc.check.Breaker = name
			p.c.HealthChecks = append(p.c.HealthChecks, hc.check)
			if hc.tls != nil {
				if p.c.HealthCheckTLS == nil {
					p.c.HealthCheckTLS = map[string]*UpstreamTLS{}
				}
				p.c.HealthCheckTLS[name] = hc.tls
			}
		}
	})
}

// fleet reads the fleet section. Zero durations written in the file are
// problems (omit the key for the default).
func (p *parser) fleet(n *yaml.Node) {
	o := &fleet.Options{}
	p.c.Fleet = o
	p.mapping(n, "fleet", func(key, kp string, k, v *yaml.Node) {
		switch key {
		case "redis":
			if s, ok := p.str(v, kp); ok {
				o.URL = s
				if s == "" {
					p.problem(v, kp, "empty: want the redis:// URL of the fleet's Redis (or omit it and set %s)", EnvRedisURL)
				}
			}
		case "key_prefix":
			if s, ok := p.str(v, kp); ok {
				o.KeyPrefix = s
				if s == "" {
					p.problem(v, kp, "empty (omit it for the default %q)", fleet.DefaultKeyPrefix)
				}
			}
		case "instance":
			if s, ok := p.str(v, kp); ok {
				o.Instance = s
				if s == "" {
					p.problem(v, kp, "empty (omit it for the default: host name and pid)")
				}
			}
		case "publish_interval":
			if p.duration(v, kp, &o.PublishInterval) && o.PublishInterval == 0 {
				p.problem(v, kp, "0 is not an interval (omit it for the default %v)", fleet.DefaultPublishInterval)
			}
		case "heartbeat":
			if p.duration(v, kp, &o.Heartbeat) && o.Heartbeat == 0 {
				p.problem(v, kp, "0 is not an interval (omit it for the default %v)", fleet.DefaultHeartbeat)
			}
		default:
			p.unknown(k, "fleet", key, fleetKeys)
		}
	})
}

// breakerSettings reads a breaker's settings into cfg. hc is nil for the
// defaults section, which may not have a health check; otherwise *hc is
// set when the entry has one.
func (p *parser) breakerSettings(n *yaml.Node, path string, cfg *breaker.Config, hc **healthEntry) {
	known := breakerKeys
	if hc != nil {
		known = breakerEntryKeys
	}
	p.mapping(n, path, func(key, kp string, k, v *yaml.Node) {
		switch key {
		case "health_check":
			if hc == nil {
				p.problem(k, kp, "a health check probes one breaker's upstream: set it under breakers:, not in defaults")
				return
			}
			*hc = p.healthCheck(v, kp)
		case "candidates":
			if hc == nil {
				p.problem(k, kp, "candidates are evaluated against one breaker: set them under breakers:, not in defaults")
				return
			}
			cfg.Candidates = p.candidates(v, kp)
		case "mode":
			if s, ok := p.str(v, kp); ok {
				m, err := breaker.ParseMode(s)
				if err != nil {
					p.problem(v, kp, "%v", err)
					return
				}
				cfg.Mode = m
			}
		case "failure_threshold":
			p.uint32(v, kp, &cfg.FailureThreshold)
		case "min_throughput":
			p.uint32(v, kp, &cfg.MinThroughput)
		case "half_open_requests":
			p.uint32(v, kp, &cfg.HalfOpenRequests)
		case "failure_rate":
			if f, ok := p.rate(v, kp); ok {
				cfg.FailureRate = f
			}
		case "slow_call":
			p.duration(v, kp, &cfg.SlowCall)
		case "timeout":
			p.duration(v, kp, &cfg.Timeout)
		case "window":
			p.duration(v, kp, &cfg.Window)
		default:
			p.unknown(k, path, key, known)
		}
	})
}

// rate reads a number from 0 to 1 (failure_rate).
func (p *parser) rate(v *yaml.Node, path string) (float64, bool) {
	if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!float" || v.ShortTag() == "!!int") {
		if f, err := strconv.ParseFloat(v.Value, 64); err == nil {
			return f, true
		}
	}
	p.problem(v, path, "want a number from 0 to 1, not %s", describe(v))
	return 0, false
}

// healthEntry is a breaker's health_check as read: the check, and its
// tls: block if any.
type healthEntry struct {
	check breaker.HealthCheck
	tls   *UpstreamTLS
}

// healthCheck reads a breaker's health_check. A zero written in the file
// is a problem here (omitting the key gives the default); the checks that
// apply to a configuration built in Go too are in validate.
func (p *parser) healthCheck(n *yaml.Node, path string) *healthEntry {
	e := &healthEntry{}
	hc := &e.check
	p.mapping(n, path, func(key, kp string, k, v *yaml.Node) {
		switch key {
		case "tls":
			e.tls = p.upstreamTLS(v, kp)
		case "url":
			if s, ok := p.str(v, kp); ok {
				if s == "" {
					p.problem(v, kp, "empty: want the http:// or https:// URL to GET")
					return
				}
				hc.URL = s
			}
		case "expect_status":
			if s, ok := p.positive(v, kp, "want an HTTP status like 200 (omit it to accept any 2xx)"); ok {
				hc.ExpectStatus = int(s)
			}
		case "interval":
			if p.duration(v, kp, &hc.Interval) && hc.Interval == 0 {
				p.problem(v, kp, "0 is not an interval (omit it to probe every %s)", EnvHealthCheckInterval)
			}
		case "timeout":
			if p.duration(v, kp, &hc.Timeout) && hc.Timeout == 0 {
				p.problem(v, kp, "0 is not a timeout (omit it for the default: 5s, or half the interval if shorter)")
			}
		case "half_open_on_pass":
			p.bool(v, kp, &hc.HalfOpenOnPass)
		case "open_on_fail":
			p.bool(v, kp, &hc.OpenOnFail)
		case "open_after":
			if s, ok := p.positive(v, kp, "want a whole number of probes, at least 1 (omit it for 1)"); ok {
				hc.OpenAfter = s
			}
		default:
			p.unknown(k, path, key, healthKeys)
		}
	})
	return e
}

func (p *parser) routes(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.problem(n, "routes", "want a list of routes, not %s", describe(n))
		return
	}
	for i, item := range n.Content {
		path := fmt.Sprintf("routes[%d]", i)
		item = deref(item)
		p.c.setOrigin(path, origin{line: item.Line})
		var r Route
		p.mapping(item, path, func(key, kp string, k, v *yaml.Node) {
			if p.member(key, v, kp, &r.Upstream, &r.Breaker) {
				return
			}
			switch key {
			case "prefix":
				if s, ok := p.str(v, kp); ok {
					r.Prefix = s
				}
			case "timeout":
				p.duration(v, kp, &r.Timeout)
			case "failure_status":
				r.FailureStatus = p.statuses(v, kp)
			case "fallbacks":
				r.Fallbacks = p.fallbacks(v, kp)
			case "max_replay_body":
				p.size(v, kp, &r.MaxReplayBody, "1MiB")
			case "body_read_timeout":
				if p.duration(v, kp, &r.BodyReadTimeout) && r.BodyReadTimeout == 0 {
					p.problem(v, kp, "0 is not a timeout (omit it for the default %v)", DefaultBodyReadTimeout)
				}
			case "tls":
				r.TLS = p.upstreamTLS(v, kp)
			case "protocol":
				if s, ok := p.str(v, kp); ok {
					r.Protocol = s
				}
			case "failure_codes":
				r.FailureCodes = p.codes(v, kp)
			default:
				p.unknown(k, path, key, routeKeys)
			}
		})
		p.c.Routes = append(p.c.Routes, r)
	}
}

// fallbacks reads a route's list of {upstream, breaker}.
func (p *parser) fallbacks(n *yaml.Node, path string) []Fallback {
	if n.Kind != yaml.SequenceNode {
		p.problem(n, path, "want a list like [{upstream: https://..., breaker: name}], not %s", describe(n))
		return nil
	}
	out := []Fallback{}
	for i, item := range n.Content {
		fp := fmt.Sprintf("%s[%d]", path, i)
		item = deref(item)
		p.c.setOrigin(fp, origin{line: item.Line})
		var f Fallback
		p.mapping(item, fp, func(key, kp string, k, v *yaml.Node) {
			switch {
			case p.member(key, v, kp, &f.Upstream, &f.Breaker):
			case key == "tls":
				f.TLS = p.upstreamTLS(v, kp)
			default:
				p.unknown(k, fp, key, fallbackKeys)
			}
		})
		out = append(out, f)
	}
	return out
}

// upstreamTLS reads the tls: block of a route, a fallback or a health
// check. Files are
// relative to the configuration file's directory.
func (p *parser) upstreamTLS(n *yaml.Node, path string) *UpstreamTLS {
	t := &UpstreamTLS{}
	p.mapping(n, path, func(key, kp string, k, v *yaml.Node) {
		switch key {
		case "ca_file":
			t.CAFile = p.file(v, kp)
		case "cert_file":
			t.CertFile = p.file(v, kp)
		case "key_file":
			t.KeyFile = p.file(v, kp)
		case "server_name":
			if s, ok := p.str(v, kp); ok {
				t.ServerName = s
			}
		case "insecure_skip_verify":
			p.bool(v, kp, &t.InsecureSkipVerify)
		default:
			p.unknown(k, path, key, tlsKeys)
		}
	})
	return t
}

// file reads a file name, relative to the configuration file's directory.
func (p *parser) file(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if ok && s == "" {
		p.problem(n, path, "empty: want a file name (omit the key for none)")
	}
	return p.c.relPath(s)
}

// member reads the upstream or the breaker of a chain member (a route or a
// fallback) and reports whether key was one of them.
func (p *parser) member(key string, v *yaml.Node, path string, upstream **url.URL, name *string) bool {
	switch key {
	case "upstream":
		*upstream = p.url(v, path)
	case "breaker":
		if s, ok := p.str(v, path); ok {
			*name = s
		}
	default:
		return false
	}
	return true
}

func (p *parser) url(n *yaml.Node, path string) *url.URL {
	s, ok := p.str(n, path)
	if !ok {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		p.problem(n, path, "%v", errors.Unwrap(err))
		return nil
	}
	return u
}

func (p *parser) statuses(n *yaml.Node, path string) []int {
	if n.Kind != yaml.SequenceNode {
		p.problem(n, path, "want a list of HTTP statuses like [500, 502], not %s", describe(n))
		return nil
	}
	out := []int{}
	for _, s := range n.Content {
		s = deref(s)
		v, err := strconv.Atoi(s.Value)
		if s.Kind != yaml.ScalarNode || s.ShortTag() != "!!int" || err != nil {
			p.problem(s, path, "want an HTTP status like 503, not %s", describe(s))
			continue
		}
		out = append(out, v)
	}
	return out
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.problem(n, path, "want a string, not %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// uint32 reads a whole number into dst and reports whether it did.
func (p *parser) uint32(n *yaml.Node, path string, dst *uint32) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if v, err := strconv.ParseUint(n.Value, 10, 32); err == nil {
			*dst = uint32(v)
			return true
		}
	}
	p.problem(n, path, "want a whole number (0 for the default), not %s", describe(n))
	return false
}

// positive reads a whole number of at least 1; want describes it in the
// problem.
func (p *parser) positive(n *yaml.Node, path, want string) (uint32, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if v, err := strconv.ParseUint(n.Value, 10, 32); err == nil && v > 0 {
			return uint32(v), true
		}
	}
	p.problem(n, path, "%s, not %s", want, describe(n))
	return 0, false
}

// duration reads a Go duration into dst and reports whether it did.
func (p *parser) duration(n *yaml.Node, path string, dst *time.Duration) bool {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		d, err := time.ParseDuration(n.Value)
		if err == nil {
			*dst = d
			return true
		}
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
			p.problem(n, path, "%q has no unit: want a duration like %ss", n.Value, n.Value)
			return false
		}
	}
	p.problem(n, path, "want a duration like 30s, 1m30s or 500ms, not %s", describe(n))
	return false
}

func (p *parser) bool(n *yaml.Node, path string, dst *bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if v, err := strconv.ParseBool(n.Value); err == nil {
			*dst = v
			return
		}
	}
	p.problem(n, path, "want true or false, not %s", describe(n))
}

// sizePattern is a size in bytes: a whole number and a binary unit.
var sizePattern = regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB)$`)

var sizeUnits = map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// size reads a size like 512KiB or 1MiB (B, KiB, MiB or GiB; no bare
// numbers, as for durations) into dst. It must be from 1B to
// MaxMaxReplayBody; def names the default in problems.
func (p *parser) size(n *yaml.Node, path string, dst *int64, def string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.problem(n, path, "want a size like 64KiB or 1MiB, not %s", describe(n))
		return
	}
	m := sizePattern.FindStringSubmatch(n.Value)
	if m == nil {
		if _, err := strconv.ParseUint(n.Value, 10, 64); err == nil {
			p.problem(n, path, "%q has no unit: want a size like %sB, 64KiB or 1MiB", n.Value, n.Value)
			return
		}
		p.problem(n, path, "want a size like 64KiB or 1MiB (units B, KiB, MiB, GiB), not %s", describe(n))
		return
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	unit := sizeUnits[m[2]]
	switch {
	case err != nil || v > MaxMaxReplayBody/unit:
		p.problem(n, path, "%s is over the limit of 1GiB (the body is held in memory)", n.Value)
	case v == 0:
		p.problem(n, path, "%s: want at least 1B (omit it for the default, %s)", n.Value, def)
	default:
		*dst = v * unit
	}
}
