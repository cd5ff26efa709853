package config

import (
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestParseGRPCRoute(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`h2c: true
breakers: {health: {}}
routes:
  - prefix: /grpc.health.v1.Health/
    upstream: http://127.0.0.1:50051
    breaker: health
    protocol: grpc
    failure_codes: [UNAVAILABLE, deadline_exceeded, 13, Canceled]
  - prefix: /default.Codes/
    upstream: http://127.0.0.1:50051
    breaker: health
    protocol: grpc
`), env())
	if err != nil {
		t.Fatal(err)
	}
	if c.DisableH2C {
		t.Error("h2c: true disabled h2c")
	}
	r := c.Routes[0]
	if !r.GRPC() || r.Protocol != RouteGRPC {
		t.Errorf("protocol = %q", r.Protocol)
	}
	want := []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Canceled}
	if !reflect.DeepEqual(r.FailureCodes, want) {
		t.Errorf("failure_codes = %v, want %v", r.FailureCodes, want)
	}
	if c.Routes[1].FailureCodes != nil {
		t.Errorf("failure_codes without the key = %v, want nil (the default)", c.Routes[1].FailureCodes)
	}

	off, err := Parse("c.yaml", []byte("h2c: false\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if !off.DisableH2C {
		t.Error("h2c: false left h2c on")
	}
	def, err := Parse("c.yaml", []byte("{}\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if def.DisableH2C || def.Routes != nil {
		t.Errorf("default: DisableH2C %v", def.DisableH2C)
	}
	if def.DisableUpstreamFastPath {
		t.Error("the upstream fast path is off by default")
	}
	slow, err := Parse("c.yaml", []byte("upstream_fast_path: false\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if !slow.DisableUpstreamFastPath {
		t.Error("upstream_fast_path: false left the fast path on")
	}
}

func TestGRPCProblems(t *testing.T) {
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"bad codes": {
			yaml: `breakers: {a: {}}
routes:
  - prefix: /a.A/
    upstream: http://127.0.0.1:1
    breaker: a
    protocol: grpc
    failure_codes: [UNAVAILABLE, NOPE, 17, 0, 14, [1]]
`,
			want: []string{
				`c.yaml:7: routes[0].failure_codes: want a gRPC status code, a name like UNAVAILABLE or a number from 1 to 16, not "NOPE"`,
				`c.yaml:7: routes[0].failure_codes: want a gRPC status code, a name like UNAVAILABLE or a number from 1 to 16, not "17"`,
				`c.yaml:7: routes[0].failure_codes: want a gRPC status code, a name like UNAVAILABLE or a number from 1 to 16, not a list`,
				`c.yaml:7: routes[0].failure_codes: OK (0) is success: it cannot count as a failure`,
				`c.yaml:7: routes[0].failure_codes: UNAVAILABLE is listed twice`,
			},
		},
		"keys of the other protocol": {
			yaml: `breakers: {a: {}, b: {}}
routes:
  - prefix: /a.A/
    upstream: http://127.0.0.1:1/base
    breaker: a
    protocol: grpc
    failure_status: [503]
    failure_codes: []
    fallbacks: [{upstream: http://127.0.0.1:2, breaker: b}]
  - prefix: /b/
    upstream: http://127.0.0.1:1
    breaker: a
    failure_codes: [UNAVAILABLE]
  - prefix: /c/
    upstream: http://127.0.0.1:1
    breaker: a
    protocol: http2
  - prefix: /d/
    upstream: http://127.0.0.1:1
    breaker: a
    protocol: grpc
    failure_codes: UNAVAILABLE
`,
			want: []string{
				`c.yaml:4: routes[0].upstream: "http://127.0.0.1:1/base": a gRPC upstream has no base path (gRPC sends /package.Service/Method unchanged)`,
				`c.yaml:7: routes[0].failure_status: a gRPC route's outcome is its grpc-status, not the HTTP status: list failure_codes instead`,
				`c.yaml:8: routes[0].failure_codes: empty (omit it for the default: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE)`,
				`c.yaml:9: routes[0].fallbacks: not supported on a gRPC route: a call's status arrives in its trailers, after the response has started, too late to try another upstream`,
				`c.yaml:13: routes[1].failure_codes: only a route with protocol: grpc has failure_codes (an HTTP route counts failure_status)`,
				`c.yaml:17: routes[2].protocol: "http2": want http or grpc`,
				`c.yaml:22: routes[3].failure_codes: want a list of gRPC status codes like [UNAVAILABLE, DEADLINE_EXCEEDED], not "UNAVAILABLE"`,
			},
		},
		"h2c not a bool": {
			yaml: "h2c: sometimes\n",
			want: []string{`c.yaml:1: h2c: want true or false, not "sometimes"`},
		},
		"upstream_fast_path not a bool": {
			yaml: "upstream_fast_path: off-ish\n",
			want: []string{`c.yaml:1: upstream_fast_path: want true or false, not "off-ish"`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) { wantProblems(t, tt.yaml, env(), tt.want) })
	}
}

func TestCodeNames(t *testing.T) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		got, ok := parseCode(CodeName(c))
		if !ok || got != c {
			t.Errorf("parseCode(CodeName(%d)) = %v, %v", c, got, ok)
		}
	}
	if CodeName(99) != "99" {
		t.Errorf("CodeName(99) = %q", CodeName(99))
	}
}
