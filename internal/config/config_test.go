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
		Timeout: 120 * time.Second, FailureStatus: []int{500, 502, 503, 504},
	}}
	if !reflect.DeepEqual(c.Routes, wantRoutes) {
		t.Errorf("routes = %+v\nwant %+v", c.Routes, wantRoutes)
	}
	if c.Listen != "127.0.0.1:8000" || c.AdminToken != "" || c.HealthCheckInterval != 30*time.Second {
		t.Errorf("listen %q, token %q, health %v", c.Listen, c.AdminToken, c.HealthCheckInterval)
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
				"c.yaml:6: breakers.a.bucket: unknown key (known here: " + breakerKeys + ")",
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
`,
			want: []string{
				`c.yaml:4: routes[1].prefix: "/openai/" is also the prefix of routes[0] (line 3)`,
				`c.yaml:5: routes[2].prefix: "/openai/v1/" overlaps "/openai/" of routes[0] (line 3)`,
				`c.yaml:5: routes[2].prefix: "/openai/v1/" overlaps "/openai/" of routes[1] (line 4)`,
				`c.yaml:6: routes[3].prefix: "/api/" overlaps /api/circuit-breaker/, which breakerwatch serves itself`,
				`c.yaml:7: routes[4].prefix: "/metrics/" overlaps /metrics, which breakerwatch serves itself`,
				`c.yaml:8: routes[5].prefix: "openai": want a path that starts and ends with / (like /openai/), of letters, digits and ._~-`,
				`c.yaml:9: routes[6].prefix: "/{x}/": want a path that starts and ends with / (like /openai/), of letters, digits and ._~-`,
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
			c, err := Parse("c.yaml", []byte(tt.yaml), tt.env)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %+v, %v; want an *Error", c, err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
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
