package config

import (
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func env(kv ...string) Env {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// testdata/example.yaml is the example, verbatim (docs/configuration.md shows it too).
func TestParseExample(t *testing.T) {
	c, err := Load("testdata/example.yaml", env())
	if err != nil {
		t.Fatal(err)
	}
	want := []breaker.Config{{
		Name: "openai_api", Mode: breaker.ModeEnforce, FailureThreshold: 3, MinThroughput: 1,
		Timeout: 60 * time.Second, HalfOpenRequests: 1, Window: 60 * time.Second,
	}}
	if !reflect.DeepEqual(c.Breakers, want) {
		t.Errorf("breakers = %+v\nwant %+v", c.Breakers, want)
	}
	wantRoutes := []Route{{
		Prefix: "/openai/", Upstream: &url.URL{Scheme: "https", Host: "api.openai.com"}, Breaker: "openai_api",
		Timeout: 120 * time.Second, BodyReadTimeout: DefaultBodyReadTimeout, FailureStatus: []int{500, 502, 503, 504},
	}}
	if !reflect.DeepEqual(c.Routes, wantRoutes) {
		t.Errorf("routes = %+v\nwant %+v", c.Routes, wantRoutes)
	}
	if c.Listen != "127.0.0.1:8000" || c.AdminToken != "" || c.HealthCheckInterval != 30*time.Second {
		t.Errorf("listen %q, token %q, health %v", c.Listen, c.AdminToken, c.HealthCheckInterval)
	}
}

func TestParseFallbacksAndHealthChecks(t *testing.T) {
	c, err := Load("testdata/fallbacks.yaml", env(EnvHealthCheckInterval, "10"))
	if err != nil {
		t.Fatal(err)
	}
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	wantRoutes := []Route{{
		Prefix: "/chat/", Upstream: u("https://api.openai.com"), Breaker: "openai_api", Timeout: 20 * time.Second, BodyReadTimeout: DefaultBodyReadTimeout,
		FailureStatus: []int{429, 500, 502, 503, 504},
		Fallbacks: []Fallback{
			{Upstream: u("https://anthropic-compatible.example/openai"), Breaker: "anthropic_api"},
			{Upstream: u("https://gemini-compatible.example"), Breaker: "gemini_api"},
		},
		MaxReplayBody: 512 << 10,
	}, {
		Prefix: "/gemini/", Upstream: u("https://gemini-compatible.example"), Breaker: "gemini_api", Timeout: DefaultRouteTimeout, BodyReadTimeout: DefaultBodyReadTimeout,
		Fallbacks:     []Fallback{{Upstream: u("https://api.openai.com"), Breaker: "openai_api"}},
		MaxReplayBody: DefaultMaxReplayBody,
	}}
	if !reflect.DeepEqual(c.Routes, wantRoutes) {
		t.Errorf("routes = %+v\nwant %+v", c.Routes, wantRoutes)
	}
	if got := c.Routes[0].Breakers(); !reflect.DeepEqual(got, []string{"openai_api", "anthropic_api", "gemini_api"}) {
		t.Errorf("Breakers() = %v", got)
	}
	wantChecks := []breaker.HealthCheck{
		{Breaker: "anthropic_api", URL: "https://anthropic-compatible.example/v1/models", Interval: time.Minute, OpenOnFail: true, OpenAfter: 3},
		{Breaker: "openai_api", URL: "https://status.example/openai", ExpectStatus: 200, Timeout: 2 * time.Second, HalfOpenOnPass: true},
	}
	if !reflect.DeepEqual(c.HealthChecks, wantChecks) {
		t.Errorf("health checks = %+v\nwant %+v", c.HealthChecks, wantChecks)
	}
	if c.HealthCheckInterval != 10*time.Second {
		t.Errorf("interval %v", c.HealthCheckInterval)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"1B": 1, "512KiB": 512 << 10, "1MiB": 1 << 20, "16MiB": 16 << 20, "1GiB": 1 << 30} {
		doc := "breakers: {a: {}, b: {}}\nroutes:\n  - {prefix: /a/, upstream: 'http://x', breaker: a, fallbacks: [{upstream: 'http://y', breaker: b}], max_replay_body: " + in + "}\n"
		c, err := Parse("c.yaml", []byte(doc), env())
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.Routes[0].MaxReplayBody; got != want {
			t.Errorf("%s = %d bytes, want %d", in, got, want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte(`
breakers:
  a: {}
  b:
routes:
  - {prefix: /a/, upstream: "http://127.0.0.1:9/base", breaker: a}
`), env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen {
		t.Errorf("listen = %q", c.Listen)
	}
	for _, b := range c.Breakers {
		if b.Mode != DefaultMode || b.FailureThreshold != 0 {
			t.Errorf("breaker %s = %+v, want mode monitor and library defaults (zero fields)", b.Name, b)
		}
	}
	if r := c.Routes[0]; r.Timeout != DefaultRouteTimeout || r.FailureStatus != nil || r.Upstream.Path != "/base" {
		t.Errorf("route = %+v", r)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "---\n"} {
		c, err := Parse("empty.yaml", []byte(doc), env())
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Listen != DefaultListen || len(c.Breakers) != 0 || len(c.Routes) != 0 {
			t.Errorf("%q: %+v", doc, c)
		}
	}
}

func TestProblems(t *testing.T) {
	tests := map[string]struct {
		yaml string
		env  Env
		want []string
	}{
		"malformed YAML": {
			yaml: "listen: [\nroutes: x\n",
			want: []string{"c.yaml:2: malformed YAML: did not find expected ',' or ']'"},
		},
		"tab indentation": {
			yaml: "defaults:\n\tmode: monitor\n",
			want: []string{"c.yaml:2: malformed YAML: found character that cannot start any token"},
		},
		"unknown keys everywhere": {
			yaml: `listen: 127.0.0.1:8000
lisen: x
defaults:
  failure_treshold: 3
breakers:
  a: {bucket: 1s}
routes:
  - {prefix: /a/, upstream: "http://x", breaker: a, retries: 3}
`,
			want: []string{
				"c.yaml:2: lisen: unknown key (known here: " + topKeys + ")",
				"c.yaml:4: defaults.failure_treshold: unknown key (known here: " + breakerKeys + ")",
				"c.yaml:6: breakers.a.bucket: unknown key (known here: " + breakerEntryKeys + ")",
				"c.yaml:8: routes[0].retries: unknown key (known here: " + routeKeys + ")",
			},
		},
		"bad values, all reported": {
			yaml: `listen: localhost
defaults:
  mode: enforcing
  timeout: 60
  window: soon
  failure_threshold: -1
  failure_rate: 1.5
breakers:
  a:
    slow_call: -1s
    half_open_requests: many
routes:
  - prefix: /a/
    upstream: "ftp://files"
    breaker: a
    timeout: 2x
    failure_status: [500, 5000, "503", 500]
`,
			want: []string{
				`c.yaml:1: listen: "localhost": want host:port, like 127.0.0.1:8000 or :8000`,
				`c.yaml:3: defaults.mode: unknown mode "enforcing" (want enforce, monitor or disabled)`,
				`c.yaml:4: defaults.timeout: "60" has no unit: want a duration like 60s`,
				`c.yaml:5: defaults.window: want a duration like 30s, 1m30s or 500ms, not "soon"`,
				`c.yaml:6: defaults.failure_threshold: want a whole number (0 for the default), not "-1"`,
				`c.yaml:7: defaults: failure_rate: 1.5 is outside (0, 1] (0 turns it off)`,
				`c.yaml:10: breakers.a: slow_call: -1s is negative (0 turns it off)`,
				`c.yaml:11: breakers.a.half_open_requests: want a whole number (0 for the default), not "many"`,
				`c.yaml:14: routes[0].upstream: "ftp://files": want an http:// or https:// URL`,
				`c.yaml:16: routes[0].timeout: want a duration like 30s, 1m30s or 500ms, not "2x"`,
				`c.yaml:17: routes[0].failure_status: want an HTTP status like 503, not "503"`,
				`c.yaml:17: routes[0].failure_status: 5000 is not an HTTP status (100-599)`,
				`c.yaml:17: routes[0].failure_status: 500 is listed twice`,
			},
		},
		"bad URLs": {
			yaml: `breakers: {a: {}}
routes:
  - {prefix: /a/, upstream: "http://[::1", breaker: a}
  - {prefix: /b/, upstream: "/relative", breaker: a}
  - {prefix: /c/, upstream: "https://user:secret@host", breaker: a}
  - {prefix: /d/, upstream: "https://host/?q=1", breaker: a}
`,
			want: []string{
				`c.yaml:3: routes[0].upstream: missing ']' in host`,
				`c.yaml:4: routes[1].upstream: "/relative": want an http:// or https:// URL`,
				`c.yaml:5: routes[2].upstream: "https://user:xxxxx@host": credentials in the URL are not forwarded; remove them`,
				`c.yaml:6: routes[3].upstream: "https://host/?q=1": a query or fragment is not allowed`,
			},
		},
		"duplicate and overlapping prefixes": {
			yaml: `breakers: {a: {}}
routes:
  - {prefix: /openai/, upstream: "http://x", breaker: a}
  - {prefix: /openai/, upstream: "http://y", breaker: a}
  - {prefix: /openai/v1/, upstream: "http://z", breaker: a}
  - {prefix: /api/, upstream: "http://z", breaker: a}
  - {prefix: /metrics/, upstream: "http://z", breaker: a}
  - {prefix: openai, upstream: "http://z", breaker: a}
  - {prefix: "/{x}/", upstream: "http://z", breaker: a}
  - {prefix: /../, upstream: "http://z", breaker: a}
  - {prefix: /v1/./, upstream: "http://z", breaker: a}
`,
			want: []string{
				`c.yaml:4: routes[1].prefix: "/openai/" is also the prefix of routes[0] (line 3)`,
				`c.yaml:5: routes[2].prefix: "/openai/v1/" overlaps "/openai/" of routes[0] (line 3)`,
				`c.yaml:6: routes[3].prefix: "/api/" overlaps /api/circuit-breaker/, which breakerwatch serves itself`,
				`c.yaml:7: routes[4].prefix: "/metrics/" overlaps /metrics, which breakerwatch serves itself`,
				`c.yaml:8: routes[5].prefix: "openai": want a path that starts and ends with / (like /openai/), of letters, digits and ._~-`,
				`c.yaml:9: routes[6].prefix: "/{x}/": want a path that starts and ends with / (like /openai/), of letters, digits and ._~-`,
				`c.yaml:10: routes[7].prefix: "/../": a . or .. segment is never requested (clients and the server clean it away)`,
				`c.yaml:11: routes[8].prefix: "/v1/./": a . or .. segment is never requested (clients and the server clean it away)`,
			},
		},
		"route naming an unknown breaker, missing fields": {
			yaml: `breakers:
  openai_api: {}
routes:
  - prefix: /openai/
    upstream: https://api.openai.com
    breaker: open_ai
  - timeout: 1s
`,
			want: []string{
				`c.yaml:6: routes[0].breaker: unknown breaker "open_ai" (define it under breakers:)`,
				`c.yaml:7: routes[1].prefix: required`,
				`c.yaml:7: routes[1].upstream: required`,
				`c.yaml:7: routes[1].breaker: required`,
			},
		},
		"fallback chains": {
			yaml: `breakers: {a: {}, b: {}, c: {}, d: {}}
routes:
  - prefix: /a/
    upstream: http://a
    breaker: a
    fallbacks:
      - {upstream: http://b, breaker: b}
      - {upstream: http://c, breaker: nope}
      - {upstream: http://a2, breaker: a}
      - {upstream: http://b2, breaker: b}
      - {upstream: "ftp://c", breaker: c, retries: 2}
      - {breaker: d}
      - {upstream: http://d}
  - {prefix: /b/, upstream: http://b, breaker: b, fallbacks: []}
  - {prefix: /c/, upstream: http://c, breaker: c, fallbacks: {upstream: http://a, breaker: a}}
  - {prefix: /d/, upstream: http://c, breaker: c, max_replay_body: 1MiB}
`,
			want: []string{
				`c.yaml:8: routes[0].fallbacks[1].breaker: unknown breaker "nope" (define it under breakers:)`,
				`c.yaml:9: routes[0].fallbacks[2].breaker: "a" is already in the chain as routes[0].breaker (line 5): a chain tries each breaker once (naming one twice would be a cycle)`,
				`c.yaml:10: routes[0].fallbacks[3].breaker: "b" is already in the chain as routes[0].fallbacks[0].breaker (line 7): a chain tries each breaker once (naming one twice would be a cycle)`,
				`c.yaml:11: routes[0].fallbacks[4].retries: unknown key (known here: ` + fallbackKeys + `)`,
				`c.yaml:11: routes[0].fallbacks[4].upstream: "ftp://c": want an http:// or https:// URL`,
				`c.yaml:12: routes[0].fallbacks[5].upstream: required`,
				`c.yaml:13: routes[0].fallbacks[6].breaker: required`,
				`c.yaml:14: routes[1].fallbacks: empty (omit it for no fallback)`,
				`c.yaml:15: routes[2].fallbacks: want a list like [{upstream: https://..., breaker: name}], not a mapping`,
				`c.yaml:16: routes[3].max_replay_body: set without fallbacks: only a route with fallbacks buffers request bodies`,
			},
		},
		"max_replay_body": {
			yaml: `breakers: {a: {}, b: {}}
routes:
  - {prefix: /a/, upstream: http://a, breaker: a, fallbacks: [{upstream: http://b, breaker: b}], max_replay_body: 1048576}
  - {prefix: /b/, upstream: http://a, breaker: a, fallbacks: [{upstream: http://b, breaker: b}], max_replay_body: 1MB}
  - {prefix: /c/, upstream: http://a, breaker: a, fallbacks: [{upstream: http://b, breaker: b}], max_replay_body: 0B}
  - {prefix: /d/, upstream: http://a, breaker: a, fallbacks: [{upstream: http://b, breaker: b}], max_replay_body: 2GiB}
  - {prefix: /e/, upstream: http://a, breaker: a, fallbacks: [{upstream: http://b, breaker: b}], max_replay_body: -1KiB}
`,
			want: []string{
				`c.yaml:3: routes[0].max_replay_body: "1048576" has no unit: want a size like 1048576B, 64KiB or 1MiB`,
				`c.yaml:4: routes[1].max_replay_body: want a size like 64KiB or 1MiB (units B, KiB, MiB, GiB), not "1MB"`,
				`c.yaml:5: routes[2].max_replay_body: 0B: want at least 1B (omit it for the default, 1MiB)`,
				`c.yaml:6: routes[3].max_replay_body: 2GiB is over the limit of 1GiB (the body is held in memory)`,
				`c.yaml:7: routes[4].max_replay_body: want a size like 64KiB or 1MiB (units B, KiB, MiB, GiB), not "-1KiB"`,
			},
		},
		"health checks": {
			yaml: `defaults:
  health_check: {url: http://x}
breakers:
  a:
    health_check: {url: "http://[::1", expect_status: 0, interval: 0s, timeout: 0s, open_after: 0}
  b:
    health_check: {url: "ftp://b", expect_status: 700, interval: -1s, timeout: -1s, half_open_on_pass: yes, probe: x}
  c:
    health_check: {url: "http:///path", interval: 10s, timeout: 10s, open_after: 2}
  d:
    health_check: {expect_status: 204}
  e:
    health_check: {url: ""}
  f:
    health_check: {url: "http://f", timeout: 45s}
`,
			want: []string{
				`c.yaml:2: defaults.health_check: a health check probes one breaker's upstream: set it under breakers:, not in defaults`,
				`c.yaml:5: breakers.a.health_check.expect_status: want an HTTP status like 200 (omit it to accept any 2xx), not "0"`,
				`c.yaml:5: breakers.a.health_check.interval: 0 is not an interval (omit it to probe every HEALTH_CHECK_INTERVAL)`,
				`c.yaml:5: breakers.a.health_check.timeout: 0 is not a timeout (omit it for the default: 5s, or half the interval if shorter)`,
				`c.yaml:5: breakers.a.health_check.open_after: want a whole number of probes, at least 1 (omit it for 1), not "0"`,
				`c.yaml:5: breakers.a.health_check.url: missing ']' in host`,
				`c.yaml:7: breakers.b.health_check.half_open_on_pass: want true or false, not "yes"`,
				`c.yaml:7: breakers.b.health_check.probe: unknown key (known here: ` + healthKeys + `)`,
				`c.yaml:7: breakers.b.health_check.url: "ftp://b": want an http:// or https:// URL`,
				`c.yaml:7: breakers.b.health_check.expect_status: 700 is not an HTTP status (100-599)`,
				`c.yaml:7: breakers.b.health_check.interval: -1s: want at least 1ms`,
				`c.yaml:7: breakers.b.health_check.timeout: -1s is negative`,
				`c.yaml:9: breakers.c.health_check.url: "http:///path": no host`,
				`c.yaml:9: breakers.c.health_check.timeout: 10s is not shorter than the interval 10s`,
				`c.yaml:9: breakers.c.health_check.open_after: set without open_on_fail: true (failing probes open nothing unless open_on_fail is set)`,
				`c.yaml:11: breakers.d.health_check.url: required: the http:// or https:// URL to GET`,
				`c.yaml:13: breakers.e.health_check.url: empty: want the http:// or https:// URL to GET`,
				`c.yaml:15: breakers.f.health_check.timeout: 45s is not shorter than the interval 30s (HEALTH_CHECK_INTERVAL: the check sets no interval)`,
			},
		},
		"structure": {
			yaml: `defaults: [1, 2]
breakers:
  "bad name!": {}
  a: {}
  a: {}
routes: {prefix: /a/}
`,
			want: []string{
				`c.yaml:1: defaults: want a mapping of settings, not a list`,
				`c.yaml:3: breakers.bad name!: name "bad name!": must match [A-Za-z0-9_.-]{1,64}`,
				`c.yaml:5: breakers.a: already set at line 4`,
				`c.yaml:6: routes: want a list of routes, not a mapping`,
			},
		},
		"routes to the gateway's own listener": {
			yaml: `listen: 127.0.0.1:8000
breakers: {a: {}, b: {}}
routes:
  - {prefix: /self/, upstream: "http://localhost:8000/", breaker: a}
  - {prefix: /ip/, upstream: "http://127.0.0.1:8000", breaker: a}
  - prefix: /chat/
    upstream: http://127.0.0.1:8001
    breaker: a
    fallbacks: [{upstream: "http://[::ffff:127.0.0.1]:8000", breaker: b}]
  - {prefix: /other-port/, upstream: "http://127.0.0.1:80", breaker: a}
  - {prefix: /other-host/, upstream: "http://127.0.0.2:8000", breaker: a}
`,
			want: []string{
				`c.yaml:4: routes[0].upstream: "http://localhost:8000/" is breakerwatch's own listener (listen 127.0.0.1:8000): a route to itself loops, and would hand its clients the admin API as loopback`,
				`c.yaml:5: routes[1].upstream: "http://127.0.0.1:8000" is breakerwatch's own listener (listen 127.0.0.1:8000): a route to itself loops, and would hand its clients the admin API as loopback`,
				`c.yaml:9: routes[2].fallbacks[0].upstream: "http://[::ffff:127.0.0.1]:8000" is breakerwatch's own listener (listen 127.0.0.1:8000): a route to itself loops, and would hand its clients the admin API as loopback`,
			},
		},
		"route to a listener on every interface": {
			yaml: "listen: :80\nbreakers: {a: {}}\nroutes:\n  - {prefix: /a/, upstream: 'http://localhost', breaker: a}\n  - {prefix: /b/, upstream: 'https://localhost', breaker: a}\n",
			want: []string{
				`c.yaml:4: routes[0].upstream: "http://localhost" is breakerwatch's own listener (listen :80): a route to itself loops, and would hand its clients the admin API as loopback`,
			},
		},
		"window under the minimum": {
			yaml: "defaults:\n  window: 1ns\nbreakers:\n  a: {window: 500ms}\n  b: {}\n",
			want: []string{
				`c.yaml:2: defaults: window: 1ns is shorter than the minimum 1s`,
				`c.yaml:4: breakers.a: window: 500ms is shorter than the minimum 1s`,
			},
		},
		"upstream ports": {
			yaml: `breakers:
  a:
    health_check: {url: "http://h:0/health"}
routes:
  - {prefix: /a/, upstream: "http://x:99999", breaker: a}
  - {prefix: /b/, upstream: "https://x:", breaker: a}
  - prefix: /c/
    upstream: "http://x:0"
    breaker: a
    fallbacks: [{upstream: "http://y:65536/v1", breaker: a}]
  - {prefix: /d/, upstream: "http://x:65535", breaker: a}
`,
			want: []string{
				`c.yaml:3: breakers.a.health_check.url: "http://h:0/health": port 0 is not from 1 to 65535`,
				`c.yaml:5: routes[0].upstream: "http://x:99999": port 99999 is not from 1 to 65535`,
				`c.yaml:6: routes[1].upstream: "https://x:": empty port after the colon (omit the colon for the scheme's default)`,
				`c.yaml:8: routes[2].upstream: "http://x:0": port 0 is not from 1 to 65535`,
				`c.yaml:10: routes[2].fallbacks[0].upstream: "http://y:65536/v1": port 65536 is not from 1 to 65535`,
				`c.yaml:10: routes[2].fallbacks[0].breaker: "a" is already in the chain as routes[2].breaker (line 9): a chain tries each breaker once (naming one twice would be a cycle)`,
			},
		},
		"separate listeners": {
			yaml: `listen: 127.0.0.1:8000
admin_listen: localhost:8000
metrics_listen: 9090
breakers: {a: {}}
routes:
  - {prefix: /a/, upstream: "http://127.0.0.1:9091", breaker: a}
  - {prefix: /healthz/, upstream: "http://x", breaker: a}
`,
			want: []string{
				`c.yaml:2: admin_listen: "localhost:8000" is also listen: a separate listener needs its own address`,
				`c.yaml:3: metrics_listen: "9090": want host:port, like 127.0.0.1:8000 or :8000`,
				`c.yaml:7: routes[1].prefix: "/healthz/" overlaps /healthz, which breakerwatch serves itself`,
			},
		},
		"the status page's prefix": {
			yaml: "breakers: {a: {}}\nroutes:\n  - {prefix: /ui/, upstream: 'http://127.0.0.1:9091', breaker: a}\n",
			want: []string{
				`c.yaml:3: routes[0].prefix: "/ui/" overlaps /ui/, which breakerwatch serves itself`,
			},
		},
		"route to the admin listener": {
			yaml: "admin_listen: 127.0.0.1:9000\nmetrics_listen: 127.0.0.1:0\nbreakers: {a: {}}\nroutes:\n  - {prefix: /a/, upstream: 'http://localhost:9000', breaker: a}\n",
			want: []string{
				`c.yaml:5: routes[0].upstream: "http://localhost:9000" is breakerwatch's own listener (admin_listen 127.0.0.1:9000): a route to itself loops, and would hand its clients the admin API as loopback`,
			},
		},
		"two documents": {
			yaml: "listen: :8000\n---\nlisten: :9000\n",
			want: []string{`c.yaml:2: a second YAML document; the file must hold one`},
		},
		"environment values that do not parse": {
			yaml: "breakers: {a: {}}\n",
			env: env(EnvEnabled, "yes please", EnvFailureThreshold, "0", EnvTimeoutSeconds, "soon",
				EnvHealthCheckInterval, "-5", EnvMode, "strict", EnvListen, "8000"),
			want: []string{
				`environment variable CB_FAILURE_THRESHOLD: "0": want a whole number of at least 1`,
				`environment variable CB_TIMEOUT_SECONDS: "soon": want a number of seconds (30) or a duration (30s)`,
				`environment variable HEALTH_CHECK_INTERVAL: "-5": must be positive`,
				`environment variable CIRCUIT_BREAKER_ENABLED: "yes please": want true or false`,
				`environment variable CB_MODE: unknown mode "strict" (want enforce, monitor or disabled)`,
				`environment variable BREAKERWATCH_LISTEN: listen: "8000": want host:port, like 127.0.0.1:8000 or :8000`,
			},
		},
		"file and environment problems together": {
			yaml: "listen: [\n",
			env:  env(EnvMode, "on"),
			want: []string{
				`c.yaml:1: malformed YAML: did not find expected node content`,
				`environment variable CB_MODE: unknown mode "on" (want enforce, monitor or disabled)`,
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = env()
			}
			wantProblems(t, tt.yaml, tt.env, tt.want)
		})
	}
}

// wantProblems parses yaml as c.yaml with e and fails the test unless the
// problems are exactly want, in order.
func wantProblems(t *testing.T, yaml string, e Env, want []string) {
	t.Helper()
	c, err := Parse("c.yaml", []byte(yaml), e)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %+v, %v; want an *Error", c, err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEnvOverrides(t *testing.T) {
	doc := `listen: 127.0.0.1:8000
admin_token: from-file
breakers:
  a: {mode: enforce, failure_threshold: 3, timeout: 5s}
  b: {}
`
	tests := map[string]struct {
		env     Env
		check   func(*Config) bool
		applied []string
	}{
		"none": {
			env: env(EnvMode, "", EnvListen, "  "), // empty counts as unset
			check: func(c *Config) bool {
				return c.Listen == "127.0.0.1:8000" && c.AdminToken == "from-file" &&
					c.Breakers[0].Mode == breaker.ModeEnforce && c.Breakers[1].Mode == breaker.ModeMonitor
			},
		},
		"seed variables": {
			env: env(EnvEnabled, "true", EnvFailureThreshold, "7", EnvTimeoutSeconds, "60", EnvHealthCheckInterval, "30"),
			check: func(c *Config) bool {
				return c.Breakers[0].FailureThreshold == 7 && c.Breakers[1].FailureThreshold == 7 &&
					c.Breakers[0].Timeout == time.Minute && c.Breakers[1].Timeout == time.Minute &&
					c.HealthCheckInterval == 30*time.Second && c.Breakers[0].Mode == breaker.ModeEnforce
			},
			applied: []string{EnvFailureThreshold, EnvTimeoutSeconds, EnvHealthCheckInterval},
		},
		"durations and fractions": {
			env: env(EnvTimeoutSeconds, "1.5", EnvHealthCheckInterval, "2m"),
			check: func(c *Config) bool {
				return c.Breakers[0].Timeout == 1500*time.Millisecond && c.HealthCheckInterval == 2*time.Minute
			},
			applied: []string{EnvTimeoutSeconds, EnvHealthCheckInterval},
		},
		"CB_MODE sets every breaker": {
			env: env(EnvMode, "monitor"),
			check: func(c *Config) bool {
				return c.Breakers[0].Mode == breaker.ModeMonitor && c.Breakers[1].Mode == breaker.ModeMonitor
			},
			applied: []string{EnvMode},
		},
		"disabled wins over CB_MODE": {
			env: env(EnvMode, "enforce", EnvEnabled, "false"),
			check: func(c *Config) bool {
				return c.Breakers[0].Mode == breaker.ModeDisabled && c.Breakers[1].Mode == breaker.ModeDisabled
			},
			applied: []string{EnvEnabled},
		},
		"listen and token": {
			env: env(EnvListen, ":9000", EnvAdminToken, "s3cret"),
			check: func(c *Config) bool {
				return c.Listen == ":9000" && c.AdminToken == "s3cret"
			},
			applied: []string{EnvListen, EnvAdminToken},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(doc), tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
			if !reflect.DeepEqual(c.EnvApplied, tt.applied) {
				t.Errorf("EnvApplied = %v, want %v", c.EnvApplied, tt.applied)
			}
		})
	}
}

// A bad value that the environment replaces is not a problem; one the
// environment sets is reported against the variable.
func TestEnvReplacesBadValue(t *testing.T) {
	doc := "defaults: {timeout: -1s}\nbreakers: {a: {}, b: {timeout: -2s}}\n"
	if _, err := Parse("c.yaml", []byte(doc), env(EnvTimeoutSeconds, "10")); err != nil {
		t.Errorf("with CB_TIMEOUT_SECONDS: %v", err)
	}
	_, err := Parse("c.yaml", []byte(doc), env())
	want := "c.yaml:1: defaults: timeout: -1s is negative\nc.yaml:2: breakers.b: timeout: -2s is negative"
	if err == nil || err.Error() != want {
		t.Errorf("without: %v\nwant:\n%s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), env())
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file or directory") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestApplyGoConfig(t *testing.T) {
	c := &Config{
		Listen:   "127.0.0.1:0",
		Breakers: []breaker.Config{{Name: "z", Mode: breaker.ModeEnforce}, {Name: "a"}},
		Routes:   []Route{{Prefix: "/z/", Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Breaker: "z"}},
	}
	if err := Apply(c, env(EnvFailureThreshold, "2")); err != nil {
		t.Fatal(err)
	}
	if c.Breakers[0].Name != "a" || c.Breakers[1].FailureThreshold != 2 || c.Routes[0].Timeout != DefaultRouteTimeout {
		t.Errorf("config = %+v", c)
	}
	bad := &Config{Routes: []Route{{Prefix: "/x/", Breaker: "nope"}}}
	err := Apply(bad, env())
	want := "config: routes[0].upstream: required\nconfig: routes[0].breaker: unknown breaker \"nope\" (define it under breakers:)"
	if err == nil || err.Error() != want {
		t.Errorf("Apply(bad) = %v\nwant:\n%s", err, want)
	}
}

// A configuration built in Go (the demo's) goes through the same checks.
func TestApplyGoFallbacksAndHealthChecks(t *testing.T) {
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	c := &Config{
		Breakers: []breaker.Config{{Name: "a"}, {Name: "b"}},
		Routes: []Route{{Prefix: "/a/", Upstream: u, Breaker: "a",
			Fallbacks: []Fallback{{Upstream: u, Breaker: "b"}, {Upstream: u, Breaker: "a"}, {Breaker: "c"}}}},
		HealthChecks:        []breaker.HealthCheck{{Breaker: "b", URL: "http://x", Timeout: time.Second}, {Breaker: "z", URL: "http://x"}},
		HealthCheckInterval: time.Second,
	}
	err := Apply(c, env())
	want := strings.Join([]string{
		`config: routes[0].fallbacks[1].breaker: "a" is already in the chain as routes[0].breaker: a chain tries each breaker once (naming one twice would be a cycle)`,
		`config: routes[0].fallbacks[2].upstream: required`,
		`config: routes[0].fallbacks[2].breaker: unknown breaker "c" (define it under breakers:)`,
		`config: breakers.b.health_check.timeout: 1s is not shorter than the interval 1s (HEALTH_CHECK_INTERVAL: the check sets no interval)`,
		`config: breakers.z.health_check: unknown breaker "z" (define it under breakers:)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Apply = %v\nwant:\n%s", err, want)
	}
	c = &Config{Breakers: []breaker.Config{{Name: "a"}}, HealthChecks: []breaker.HealthCheck{{Breaker: "a", URL: "http://x"}}}
	err = Apply(c, env(EnvHealthCheckInterval, "0.0000001"))
	if want := `environment variable HEALTH_CHECK_INTERVAL: "0.0000001": under the minimum of 1ms`; err == nil || err.Error() != want {
		t.Errorf("Apply = %v\nwant %s", err, want)
	}
}

// A listen address given on the command line is checked like the file's,
// and routes to it are refused.
func TestSetListen(t *testing.T) {
	c, err := Parse("c.yaml", []byte("breakers: {a: {}}\nroutes:\n  - {prefix: /a/, upstream: 'http://127.0.0.1:9000', breaker: a}\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetListen("127.0.0.1:9001", "--listen"); err != nil {
		t.Errorf("SetListen to another port: %v", err)
	}
	err = c.SetListen("127.0.0.1:9000", "--listen")
	want := `c.yaml:3: routes[0].upstream: "http://127.0.0.1:9000" is breakerwatch's own listener (listen 127.0.0.1:9000): a route to itself loops, and would hand its clients the admin API as loopback`
	if err == nil || err.Error() != want {
		t.Errorf("SetListen to the route's upstream = %v, want %s", err, want)
	}
	err = c.SetListen("9000", "--listen")
	want = `flag --listen: listen: "9000": want host:port, like 127.0.0.1:8000 or :8000`
	if err == nil || err.Error() != want {
		t.Errorf("SetListen(9000) = %v, want %s", err, want)
	}
}
