package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// gRPC through the process: a real gRPC client calls a real gRPC server
// through `breakerwatch serve`'s plaintext listener (h2c, next to
// HTTP/1.1). UNAVAILABLE opens the enforce breaker, whose rejection the
// client gets as a gRPC UNAVAILABLE without the upstream being called.
func TestGRPCThroughTheGateway(t *testing.T) {
	up := testutil.StartGRPCServer(t)
	cfg := writeConfig(t, "breakers:\n  health: {mode: enforce}\n  fail: {mode: enforce, failure_threshold: 2, timeout: 1m}\n"+
		"routes:\n"+
		"  - {prefix: /grpc.health.v1.Health/, upstream: 'http://"+up.Addr+"', breaker: health, protocol: grpc}\n"+
		"  - {prefix: /test.Fail/, upstream: 'http://"+up.Addr+"', breaker: fail, protocol: grpc, failure_codes: [UNAVAILABLE]}\n")
	p := serve(t, nil, "--config", cfg)
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(p.base, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check through the gateway = %v, %v", res, err)
	}
	// HTTP/1.1 on the same port.
	if r := get(t, p.base+"/healthz"); r.status != 200 {
		t.Errorf("GET /healthz over HTTP/1.1: %d", r.status)
	}

	call := func(method string) *status.Status {
		err := conn.Invoke(ctx, method, wrapperspb.String("in"), new(wrapperspb.StringValue))
		s, _ := status.FromError(err)
		return s
	}
	if s := call("/test.Fail/NOT_FOUND"); s.Code() != codes.NotFound {
		t.Fatalf("NOT_FOUND call: %v", s)
	}
	for range 2 {
		if s := call("/test.Fail/UNAVAILABLE"); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "upstream says") {
			t.Fatalf("UNAVAILABLE call: %v", s)
		}
	}
	before := up.Calls.Load()
	s := call("/test.Fail/NOT_FOUND")
	if s.Code() != codes.Unavailable || !strings.Contains(s.Message(), `circuit breaker "fail"`) {
		t.Errorf("call with the breaker open: %v, want UNAVAILABLE from the breaker", s)
	}
	if n := up.Calls.Load() - before; n != 0 {
		t.Errorf("%d call(s) reached the upstream through the open breaker", n)
	}
	b := p.breaker("fail")
	if b.State != "open" || b.Counts.Success != 1 || b.Counts.Failure != 2 || b.Counts.Rejected != 1 {
		t.Errorf("breaker fail: %s, counts %+v; want open, 1 success, 2 failures, 1 rejected", b.State, b.Counts)
	}
	if h := p.breaker("health"); h.Counts.Success != 1 {
		t.Errorf("breaker health: counts %+v, want 1 success", h.Counts)
	}
}

// h2c is on by default and h2c: false turns it off: an HTTP/2 client with
// prior knowledge gets /healthz, then cannot; HTTP/1.1 works either way.
func TestH2CSetting(t *testing.T) {
	h2c := &http.Client{Transport: func() *http.Transport {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		return tr
	}(), Timeout: 30 * time.Second}
	defer h2c.CloseIdleConnections()
	for _, tt := range []struct {
		config string
		h2c    bool
	}{{"breakers: {}\n", true}, {"h2c: false\nbreakers: {}\n", false}} {
		p := serve(t, nil, "--config", writeConfig(t, tt.config))
		resp, err := h2c.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		switch {
		case tt.h2c && (err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2):
			t.Errorf("%q: h2c GET /healthz: %v %v, want 200 over HTTP/2", tt.config, resp, err)
		case !tt.h2c && err == nil:
			t.Errorf("%q: h2c GET /healthz answered %s %d, want no HTTP/2 without TLS", tt.config, resp.Proto, resp.StatusCode)
		}
		if r := get(t, p.base+"/healthz"); r.status != 200 {
			t.Errorf("%q: GET /healthz over HTTP/1.1: %d", tt.config, r.status)
		}
		p.stop()
	}
}

// validate refuses a gRPC route's bad keys with exit 2, naming each.
func TestGRPCConfigProblems(t *testing.T) {
	path := writeConfig(t, "breakers: {a: {}, b: {}}\nroutes:\n"+
		"  - {prefix: /a.A/, upstream: 'http://127.0.0.1:1', breaker: a, protocol: grpc, failure_codes: [UNAVAILABLE, BROKEN, 0]}\n"+
		"  - {prefix: /b/, upstream: 'http://127.0.0.1:1', breaker: b, protocol: gRPC-web}\n")
	code, out, errOut := runCmd(t, nil, "validate", "--config", path)
	want := "breakerwatch: the configuration has 3 problem(s):\n" +
		"  " + path + `:3: routes[0].failure_codes: want a gRPC status code, a name like UNAVAILABLE or a number from 1 to 16, not "BROKEN"` + "\n" +
		"  " + path + `:3: routes[0].failure_codes: OK (0) is success: it cannot count as a failure` + "\n" +
		"  " + path + `:4: routes[1].protocol: "gRPC-web": want http or grpc` + "\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("validate: exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}

// The example configuration in examples/grpc is valid.
func TestGRPCExampleValidates(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "validate", "--config", "../../examples/grpc/breakerwatch.yaml")
	if code != 0 {
		t.Errorf("validate examples/grpc/breakerwatch.yaml: exit %d\n%s%s", code, out, errOut)
	}
}
