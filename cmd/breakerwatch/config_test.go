package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every bad-configuration case: serve exits 2 with every problem and its
// line or variable, and starts nothing; validate exits 2 with the same list.
func TestBadConfig(t *testing.T) {
	tests := map[string]struct {
		yaml string
		env  []string
		want []string // lines of stderr after the header, without the file name
	}{
		"malformed YAML": {
			yaml: "listen: 127.0.0.1:8000\nbreakers:\n  a: {mode: enforce\n",
			want: []string{`:2: malformed YAML: did not find expected ',' or '}'`}, // yaml.v3 gives the line where the enclosing block starts
		},
		"unknown keys": {
			yaml: "listen: :0\nbreakers:\n  a: {failure_treshold: 3}\nroutez: []\n",
			want: []string{
				`:3: breakers.a.failure_treshold: unknown key (known here: mode, failure_threshold, min_throughput, failure_rate, slow_call, timeout, half_open_requests, window, health_check, candidates)`,
				`:4: routez: unknown key (known here: listen, admin_listen, metrics_listen, tls_cert_file, tls_key_file, h2c, upstream_fast_path, admin_token, max_replay_memory, defaults, breakers, routes, fleet, telemetry)`,
			},
		},
		"bad durations": {
			yaml: "defaults:\n  timeout: 60\nbreakers:\n  a: {window: 1 minute}\n",
			want: []string{
				`:2: defaults.timeout: "60" has no unit: want a duration like 60s`,
				`:4: breakers.a.window: want a duration like 30s, 1m30s or 500ms, not "1 minute"`,
			},
		},
		"bad URLs": {
			yaml: "breakers: {a: {}}\nroutes:\n  - {prefix: /a/, upstream: 'api.openai.com', breaker: a}\n  - {prefix: /b/, upstream: 'http://[::1', breaker: a}\n",
			want: []string{
				`:3: routes[0].upstream: "api.openai.com": want an http:// or https:// URL`,
				`:4: routes[1].upstream: missing ']' in host`,
			},
		},
		"duplicate and overlapping prefixes": {
			yaml: "breakers: {a: {}}\nroutes:\n  - {prefix: /openai/, upstream: 'http://x', breaker: a}\n" +
				"  - {prefix: /openai/, upstream: 'http://y', breaker: a}\n  - {prefix: /openai/v1/, upstream: 'http://z', breaker: a}\n",
			want: []string{
				`:4: routes[1].prefix: "/openai/" is also the prefix of routes[0] (line 3)`,
				`:5: routes[2].prefix: "/openai/v1/" overlaps "/openai/" of routes[0] (line 3)`,
			},
		},
		"health check tls": {
			yaml: "breakers:\n  a:\n    health_check:\n      url: https://h/health\n      tls: {ca_file: /nonexistent/ca.pem}\n" +
				"  b:\n    health_check:\n      url: http://h/health\n      tls: {server_name: h}\n",
			want: []string{
				`:5: breakers.a.health_check.tls.ca_file: "/nonexistent/ca.pem": no such file or directory`,
				`:9: breakers.b.health_check.tls: set for an http:// health check URL: TLS applies to https:// URLs only`,
			},
		},
		"route naming an unknown breaker": {
			yaml: "breakers:\n  openai_api: {}\nroutes:\n  - prefix: /openai/\n    upstream: https://api.openai.com\n    breaker: openai\n",
			want: []string{`:6: routes[0].breaker: unknown breaker "openai" (define it under breakers:)`},
		},
		"fallback chains": {
			yaml: "breakers: {a: {}, b: {}}\nroutes:\n  - prefix: /chat/\n    upstream: http://a\n    breaker: a\n" +
				"    fallbacks:\n      - {upstream: http://b, breaker: b}\n      - {upstream: 'b.example', breaker: c}\n      - {upstream: http://a2, breaker: a}\n" +
				"    max_replay_body: 1048576\n",
			want: []string{
				`:8: routes[0].fallbacks[1].upstream: "b.example": want an http:// or https:// URL`,
				`:8: routes[0].fallbacks[1].breaker: unknown breaker "c" (define it under breakers:)`,
				`:9: routes[0].fallbacks[2].breaker: "a" is already in the chain as routes[0].breaker (line 5): a chain tries each breaker once (naming one twice would be a cycle)`,
				`:10: routes[0].max_replay_body: "1048576" has no unit: want a size like 1048576B, 64KiB or 1MiB`,
			},
		},
		"health checks": {
			yaml: "breakers:\n  a:\n    health_check: {url: 'localhost:8080/health', interval: 0s}\n  b:\n    health_check: {url: 'http://b/health', timeout: 1m}\n",
			env:  []string{"HEALTH_CHECK_INTERVAL=10"},
			want: []string{
				`:3: breakers.a.health_check.interval: 0 is not an interval (omit it to probe every HEALTH_CHECK_INTERVAL)`,
				`:3: breakers.a.health_check.url: "localhost:8080/health": want an http:// or https:// URL`,
				`:5: breakers.b.health_check.timeout: 1m0s is not shorter than the interval 10s (HEALTH_CHECK_INTERVAL: the check sets no interval)`,
			},
		},
		"environment values that do not parse": {
			yaml: "breakers: {a: {}}\n",
			env:  []string{"CB_TIMEOUT_SECONDS=soon", "CIRCUIT_BREAKER_ENABLED=maybe", "BREAKERWATCH_LISTEN=localhost"},
			want: []string{
				`environment variable CB_TIMEOUT_SECONDS: "soon": want a number of seconds (30) or a duration (30s)`,
				`environment variable CIRCUIT_BREAKER_ENABLED: "maybe": want true or false`,
				`environment variable BREAKERWATCH_LISTEN: listen: "localhost": want host:port, like 127.0.0.1:8000 or :8000`,
			},
		},
		"TLS files": {
			yaml: "tls_cert_file: /nonexistent/gw.pem\nbreakers: {a: {}}\nroutes:\n" +
				"  - {prefix: /a/, upstream: 'https://a', breaker: a, body_read_timeout: 0s, tls: {ca_file: /nonexistent/ca.pem, key_file: /nonexistent/c.key}}\n",
			want: []string{
				`:1: tls_cert_file: set without tls_key_file: serving HTTPS needs both`,
				`:4: routes[0].body_read_timeout: 0 is not a timeout (omit it for the default 1m0s)`,
				`:4: routes[0].tls.ca_file: "/nonexistent/ca.pem": no such file or directory`,
				`:4: routes[0].tls.key_file: "/nonexistent/c.key": set without cert_file (a client certificate needs both)`,
			},
		},
		"OpenTelemetry settings": {
			yaml: "breakers: {a: {}}\ntelemetry:\n  otlp:\n    protocol: thrift\n",
			env:  []string{"OTEL_METRIC_EXPORT_INTERVAL=1m", "OTEL_EXPORTER_OTLP_HEADERS=token"},
			want: []string{
				`:4: telemetry.otlp.protocol: unsupported protocol "thrift" (want http/protobuf or grpc)`,
				`environment variable OTEL_EXPORTER_OTLP_HEADERS: "token" is not key=value (want key=value,key=value)`,
				`environment variable OTEL_METRIC_EXPORT_INTERVAL: "1m": want a whole, positive number of milliseconds like 60000`,
			},
		},
		"everything at once": {
			yaml: "listen: 127.0.0.1:99999\ndefaults: {mode: strict, failure_rate: 2}\nbreakers: {a: {}}\nroutes:\n" +
				"  - {prefix: openai, upstream: 'ftp://x', breaker: b, timeout: 2 minutes, failure_status: [700]}\n",
			env: []string{"CB_FAILURE_THRESHOLD=-1"},
			want: []string{
				`:1: listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`,
				`:2: defaults.mode: unknown mode "strict" (want enforce, monitor or disabled)`,
				`:2: defaults: failure_rate: 2 is outside (0, 1] (0 turns it off)`,
				`:5: routes[0].timeout: want a duration like 30s, 1m30s or 500ms, not "2 minutes"`,
				`:5: routes[0].prefix: "openai": want a path that starts and ends with / (like /openai/), of letters, digits and ._~-`,
				`:5: routes[0].upstream: "ftp://x": want an http:// or https:// URL`,
				`:5: routes[0].breaker: unknown breaker "b" (define it under breakers:)`,
				`:5: routes[0].failure_status: 700 is not an HTTP status (100-599)`,
				`environment variable CB_FAILURE_THRESHOLD: "-1": want a whole number of at least 1`,
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.yaml)
			var want strings.Builder
			for _, w := range tt.want {
				if strings.HasPrefix(w, ":") {
					w = path + w
				}
				want.WriteString("  " + w + "\n")
			}
			// A free port: nothing may listen on it, even for a moment.
			l, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := l.Addr().String()
			l.Close()
			start := time.Now()
			code, out, errOut := runCmd(t, tt.env, "serve", "--config", path, "--listen", addr)
			header := "breakerwatch: the configuration has " + strconv.Itoa(len(tt.want)) + " problem(s):\n"
			if code != 2 || out != "" || errOut != header+want.String() {
				t.Errorf("serve: exit %d after %v\nstdout: %q\nstderr:\n%s\nwant stderr:\n%s%s", code, time.Since(start), out, errOut, header, want.String())
			}
			code, out, errOut = runCmd(t, tt.env, "validate", "--config", path)
			if code != 2 || out != "" || errOut != header+want.String() {
				t.Errorf("validate: exit %d, want 2 as serve\nstdout: %q\nstderr:\n%s", code, out, errOut)
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "serve", "--config", "/nonexistent/breakerwatch.yaml")
	if code != 2 || out != "" || errOut != "breakerwatch: the configuration has 1 problem(s):\n  /nonexistent/breakerwatch.yaml: no such file or directory\n" {
		t.Errorf("exit %d %q %q", code, out, errOut)
	}
}

func TestValidateGood(t *testing.T) {
	path := "../../internal/config/testdata/example.yaml" // the example
	code, out, errOut := runCmd(t, []string{"CB_MODE=monitor", "HEALTH_CHECK_INTERVAL=30"}, "validate", "--config", path)
	want := path + ": OK: 1 breaker(s), 1 route(s), listen 127.0.0.1:8000, environment overrides: HEALTH_CHECK_INTERVAL, CB_MODE\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, out, want, errOut)
	}
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "breakerwatch ") {
		t.Errorf("version: exit %d %q", code, out)
	}
	code, _, errOut := runCmd(t, nil, "launch")
	if code != 2 || !strings.Contains(errOut, `unknown command "launch"`) || !strings.Contains(errOut, "Usage:") {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
}
