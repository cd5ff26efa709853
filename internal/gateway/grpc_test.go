package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// grpcFront serves routes in front of a gRPC upstream on an h2c listener,
// each through its own breaker, and dials it with a real gRPC client.
type grpcFront struct {
	conn     *grpc.ClientConn
	front    *httptest.Server
	breakers map[string]*breaker.Breaker
}

func setupGRPC(t *testing.T, upstream string, routes []config.Route, cfgs ...breaker.Config) *grpcFront {
	t.Helper()
	return setupGRPCWith(t, "http://"+upstream, nil, routes, cfgs...)
}

// setupGRPCWith is setupGRPC with the upstream's URL and the gateway's
// base transport (nil for the default).
func setupGRPCWith(t *testing.T, upstream string, base http.RoundTripper, routes []config.Route, cfgs ...breaker.Config) *grpcFront {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	f := &grpcFront{breakers: map[string]*breaker.Breaker{}}
	for _, c := range cfgs {
		if f.breakers[c.Name], err = reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range routes {
		routes[i].Protocol = config.RouteGRPC
		routes[i].Upstream = u
		if routes[i].Timeout == 0 {
			routes[i].Timeout = 5 * time.Second
		}
	}
	g, err := New(routes, reg, Options{Logger: slog.New(slog.DiscardHandler), Transport: base})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	f.front = httptest.NewUnstartedServer(mux)
	f.front.Config.Protocols = new(http.Protocols)
	f.front.Config.Protocols.SetHTTP1(true)
	f.front.Config.Protocols.SetUnencryptedHTTP2(true)
	f.front.Start()
	t.Cleanup(f.front.Close)
	t.Cleanup(g.CloseIdleConnections)
	f.conn, err = grpc.NewClient("passthrough:///"+strings.TrimPrefix(f.front.URL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close() })
	return f
}

// setupOneGRPC serves one route, to a new testutil.GRPCServer, through a
// breaker with cfg (the route's breaker is cfg.Name).
func setupOneGRPC(t *testing.T, rc config.Route, cfg breaker.Config) (*testutil.GRPCServer, *grpcFront, *breaker.Breaker) {
	t.Helper()
	up := testutil.StartGRPCServer(t)
	rc.Breaker = cfg.Name
	f := setupGRPC(t, up.Addr, []config.Route{rc}, cfg)
	return up, f, f.breakers[cfg.Name]
}

func (f *grpcFront) invoke(t *testing.T, method string, opts ...grpc.CallOption) (*wrapperspb.StringValue, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	err := f.conn.Invoke(ctx, method, wrapperspb.String("in"), out, opts...)
	return out, err
}

// wantCode fails the test unless err is a gRPC status with code and a
// message containing msg.
func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	s, _ := grpcstatus.FromError(err)
	if s.Code() != code || !strings.Contains(s.Message(), msg) {
		t.Fatalf("status = %v %q (%v), want %v containing %q", s.Code(), s.Message(), err, code, msg)
	}
}

func grpcBreaker(name string, mode breaker.Mode, threshold uint32) breaker.Config {
	return breaker.Config{Name: name, Mode: mode, FailureThreshold: threshold, Timeout: time.Minute}
}

// OK calls pass, with their messages and trailers; the health service's
// own path (/grpc.health.v1.Health/Check) reaches the upstream unchanged.
func TestGRPCCallsPass(t *testing.T) {
	up := testutil.StartGRPCServer(t)
	f := setupGRPC(t, up.Addr, []config.Route{
		{Prefix: "/grpc.health.v1.Health/", Breaker: "health"},
		{Prefix: "/test.Echo/", Breaker: "echo"},
	}, grpcBreaker("health", breaker.ModeEnforce, 3), grpcBreaker("echo", breaker.ModeEnforce, 3))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var header metadata.MD
	res, err := healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v", res, err)
	}
	if got := header.Get("x-circuit-breaker-name"); len(got) != 1 || got[0] != "health" {
		t.Errorf("x-circuit-breaker-name = %v", got)
	}

	var trailer metadata.MD
	out, err := f.invoke(t, "/test.Echo/Trailer", grpc.Trailer(&trailer))
	if err != nil || out.GetValue() != "echo" {
		t.Fatalf("Echo = %v, %v", out, err)
	}
	if got := trailer.Get("x-upstream"); len(got) != 1 || got[0] != "trailer" {
		t.Errorf("trailer x-upstream = %v, want [trailer] (trailers: %v)", got, trailer)
	}
	for name, b := range f.breakers {
		if c := b.Snapshot().Counts; c != (breaker.Counts{Success: 1}) {
			t.Errorf("%s counts = %+v, want 1 success", name, c)
		}
	}
}

// With the default failure codes, UNAVAILABLE counts as a failure and
// opens the breaker, NOT_FOUND and INVALID_ARGUMENT do not; once open, the
// gateway answers UNAVAILABLE itself without calling the upstream.
func TestGRPCFailureCodesOpenTheBreaker(t *testing.T) {
	up, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Fail/"}, grpcBreaker("fail", breaker.ModeEnforce, 3))

	for range 4 {
		_, err := f.invoke(t, "/test.Fail/NOT_FOUND")
		wantCode(t, err, codes.NotFound, "upstream says NOT_FOUND")
		_, err = f.invoke(t, "/test.Fail/INVALID_ARGUMENT")
		wantCode(t, err, codes.InvalidArgument, "upstream says INVALID_ARGUMENT")
	}
	if c, s := b.Snapshot().Counts, b.State(); c != (breaker.Counts{Success: 8}) || s != breaker.StateClosed {
		t.Fatalf("after 8 client errors: counts %+v, state %v; want 8 successes, closed", c, s)
	}

	for range 3 {
		_, err := f.invoke(t, "/test.Fail/UNAVAILABLE")
		wantCode(t, err, codes.Unavailable, "upstream says UNAVAILABLE")
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("after 3 UNAVAILABLE: state %v, want open (counts %+v)", s, b.Snapshot().Counts)
	}
	before := up.Calls.Load()
	var trailer metadata.MD // a trailers-only response's headers are its trailers
	_, err := f.invoke(t, "/test.Fail/NOT_FOUND", grpc.Trailer(&trailer))
	wantCode(t, err, codes.Unavailable, `circuit breaker "fail": circuit breaker is open`)
	if n := up.Calls.Load() - before; n != 0 {
		t.Errorf("the open breaker let %d call(s) reach the upstream", n)
	}
	if got := trailer.Get("x-circuit-breaker-state"); len(got) != 1 || got[0] != "open" {
		t.Errorf("x-circuit-breaker-state = %v", got)
	}
	if c := b.Snapshot().Counts; c != (breaker.Counts{Success: 8, Failure: 3, Rejected: 1}) {
		t.Errorf("counts = %+v, want 8 successes, 3 failures, 1 rejected", c)
	}
}

// failure_codes replaces the default list: NOT_FOUND counts, UNAVAILABLE
// does not.
func TestGRPCFailureCodesConfigured(t *testing.T) {
	_, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Fail/", FailureCodes: []codes.Code{codes.NotFound}},
		grpcBreaker("fail", breaker.ModeEnforce, 100))
	for range 2 {
		_, err := f.invoke(t, "/test.Fail/UNAVAILABLE")
		wantCode(t, err, codes.Unavailable, "upstream says")
		_, err = f.invoke(t, "/test.Fail/NOT_FOUND")
		wantCode(t, err, codes.NotFound, "upstream says")
	}
	if c := b.Snapshot().Counts; c != (breaker.Counts{Success: 2, Failure: 2}) {
		t.Errorf("counts = %+v, want 2 successes (UNAVAILABLE) and 2 failures (NOT_FOUND)", c)
	}
}

// In monitor mode an open breaker blocks nothing: every call reaches the
// upstream and its own status comes back; the rejections are counted as
// would-reject.
func TestGRPCMonitorModeDoesNotBlock(t *testing.T) {
	up, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Fail/"}, grpcBreaker("fail", breaker.ModeMonitor, 2))
	for range 5 {
		_, err := f.invoke(t, "/test.Fail/UNAVAILABLE")
		wantCode(t, err, codes.Unavailable, "upstream says UNAVAILABLE")
	}
	if n := up.Calls.Load(); n != 5 {
		t.Errorf("upstream got %d calls, want 5", n)
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("state %v, want open (monitor mode's state machine still runs)", s)
	}
	if c := b.Snapshot().Counts; c.WouldReject != 3 || c.Rejected != 0 || c.Failure != 5 {
		t.Errorf("counts = %+v, want 5 failures, 3 would-reject, none rejected", c)
	}
}

// A streaming response streams: the client gets the first message while
// the upstream holds the stream open, and the breaker records nothing
// until the stream ends; then the status in the trailers (UNAVAILABLE)
// is the call's outcome, and its duration covers the whole stream.
func TestGRPCStreamOutcomeAtTrailers(t *testing.T) {
	// A call longer than slow_call is counted slow: that the stream's is
	// shows that its duration runs to the trailers.
	const held = 100 * time.Millisecond
	cfg := grpcBreaker("stream", breaker.ModeEnforce, 10)
	cfg.SlowCall = held / 2
	up, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Stream/"}, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, msg := f.openTick(t, ctx)
	if c := b.Snapshot().Counts; c != (breaker.Counts{}) {
		t.Errorf("counts while the stream is open = %+v, want none yet", c)
	}
	time.Sleep(held) // a lower bound for the duration below, not a wait for an event
	close(up.Release)
	if err := stream.RecvMsg(msg); err != nil || msg.GetValue() != "second" {
		t.Fatalf("second message = %v, %v", msg, err)
	}
	wantCode(t, stream.RecvMsg(msg), codes.Unavailable, "stream broke")
	waitCounts(t, b, breaker.Counts{Failure: 1, Slow: 1}) // slow: held open longer than slow_call
}

// An upstream that cannot be reached: the client gets UNAVAILABLE from the
// gateway (a gRPC status, not an HTTP 502), and the breaker a failure.
func TestGRPCUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := setupGRPC(t, addr, []config.Route{{Prefix: "/test.Fail/", Breaker: "fail"}},
		grpcBreaker("fail", breaker.ModeEnforce, 10))
	_, err = f.invoke(t, "/test.Fail/OK")
	wantCode(t, err, codes.Unavailable, "breakerwatch: ")
	if c := f.breakers["fail"].Snapshot().Counts; c != (breaker.Counts{Failure: 1}) {
		t.Errorf("counts = %+v, want 1 failure", c)
	}
}

// An HTTP/1.1 client on the same h2c listener is still served.
func TestGRPCListenerKeepsHTTP1(t *testing.T) {
	_, f, _ := setupOneGRPC(t, config.Route{Prefix: "/test.Fail/"}, grpcBreaker("fail", breaker.ModeEnforce, 10))
	resp, err := http.Get(f.front.URL + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1 GET = %d over %s, want 404 over HTTP/1.1", resp.StatusCode, resp.Proto)
	}
}

func TestGRPCStatus(t *testing.T) {
	tests := map[string]struct {
		status          int
		header, trailer string
		want            codes.Code
	}{
		"trailer":                {200, "", "14", codes.Unavailable},
		"trailers-only":          {200, "5", "", codes.NotFound},
		"trailer wins":           {200, "0", "13", codes.Internal},
		"not a number":           {200, "", "x", codes.Unknown},
		"200 without a status":   {200, "", "", codes.Internal},
		"404 without a status":   {404, "", "", codes.Unimplemented},
		"503 without a status":   {503, "", "", codes.Unavailable},
		"500 without a status":   {500, "", "", codes.Unknown},
		"401 without a status":   {401, "", "", codes.Unauthenticated},
		"503 with a grpc-status": {503, "3", "", codes.InvalidArgument},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}, Trailer: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Grpc-Status", tt.header)
			}
			if tt.trailer != "" {
				resp.Trailer.Set("Grpc-Status", tt.trailer)
			}
			if got := grpcStatus(resp); got != tt.want {
				t.Errorf("grpcStatus = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEncodeGRPCMessage(t *testing.T) {
	if got, want := encodeGRPCMessage("open 100% \"x\"\n\u00e9"), `open 100%25 "x"%0A%C3%A9`; got != want {
		t.Errorf("encodeGRPCMessage = %q, want %q", got, want)
	}
}

// A client that cancels a stream midway is neither a success nor a
// failure of the upstream: the call is ignored.
func TestGRPCClientCancelsStream(t *testing.T) {
	_, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Stream/"}, grpcBreaker("stream", breaker.ModeEnforce, 10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.openTick(t, ctx)
	cancel()
	waitCounts(t, b, breaker.Counts{Ignored: 1})
}

// A bidirectional stream is full duplex through the gateway: each message
// comes back before the client sends the next.
func TestGRPCBidiStream(t *testing.T) {
	_, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Echo/"}, grpcBreaker("echo", breaker.ModeEnforce, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if err := stream.SendMsg(wrapperspb.String(m)); err != nil {
			t.Fatal(err)
		}
		got := new(wrapperspb.StringValue)
		if err := stream.RecvMsg(got); err != nil || got.GetValue() != m {
			t.Fatalf("echo of %q = %v, %v", m, got, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := stream.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Fatalf("end of stream = %v, want io.EOF (status OK)", err)
	}
	waitCounts(t, b, breaker.Counts{Success: 1})
}

// An upstream that goes away mid-stream: the client gets an error, the
// breaker a failure.
func TestGRPCStreamBreaksOff(t *testing.T) {
	up, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Stream/"}, grpcBreaker("stream", breaker.ModeEnforce, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, msg := f.openTick(t, ctx)
	up.Stop()
	if err := stream.RecvMsg(msg); err == nil || err == io.EOF {
		t.Fatalf("after the upstream stopped: %v, want an error", err)
	}
	waitCounts(t, b, breaker.Counts{Failure: 1})
}

// An https:// upstream gets HTTP/2 negotiated by ALPN, with the base
// transport's TLS settings.
func TestGRPCOverTLSUpstream(t *testing.T) {
	up := testutil.StartGRPCServer(t)
	tlsUp := httptest.NewUnstartedServer(up.Server) // grpc.Server serves HTTP/2 requests as a handler
	tlsUp.EnableHTTP2 = true
	tlsUp.StartTLS()
	t.Cleanup(tlsUp.Close)
	base := NewBaseTransport()
	base.TLSClientConfig = tlsUp.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	f := setupGRPCWith(t, tlsUp.URL, base, []config.Route{{Prefix: "/test.Echo/", Breaker: "echo"}},
		grpcBreaker("echo", breaker.ModeEnforce, 10))
	out, err := f.invoke(t, "/test.Echo/Trailer")
	if err != nil || out.GetValue() != "echo" {
		t.Fatalf("Echo over TLS = %v, %v", out, err)
	}
	if c := f.breakers["echo"].Snapshot().Counts; c != (breaker.Counts{Success: 1}) {
		t.Errorf("counts = %+v, want 1 success", c)
	}
}

// The route's timeout bounds the wait for the response headers, which a
// gRPC server sends with its first message: a call whose first message is
// later gets DEADLINE_EXCEEDED from the gateway, and the breaker a failure.
func TestGRPCHeaderTimeout(t *testing.T) {
	up, f, b := setupOneGRPC(t, config.Route{Prefix: "/test.Stream/", Timeout: 100 * time.Millisecond},
		grpcBreaker("stream", breaker.ModeEnforce, 10))
	defer close(up.Release)
	_, err := f.invoke(t, "/test.Stream/Late")
	wantCode(t, err, codes.DeadlineExceeded, "breakerwatch: no response from")
	waitCounts(t, b, breaker.Counts{Failure: 1})
}

// openTick opens /test.Stream/Tick and reads its first message; msg is the
// message to read the next ones into.
func (f *grpcFront) openTick(t *testing.T, ctx context.Context) (stream grpc.ClientStream, msg *wrapperspb.StringValue) {
	t.Helper()
	stream, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.Stream/Tick")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(wrapperspb.String("in")); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	msg = new(wrapperspb.StringValue)
	if err := stream.RecvMsg(msg); err != nil || msg.GetValue() != "first" {
		t.Fatalf("first message = %v, %v", msg, err)
	}
	return stream, msg
}

// waitCounts waits until b has recorded a call (a stream's outcome is
// recorded after the client has read its end), then wants its counts.
func waitCounts(t *testing.T, b *breaker.Breaker, want breaker.Counts) {
	t.Helper()
	testutil.WaitFor(t, b.Name()+"'s call recorded", 10*time.Second, func() bool { return b.Snapshot().Counts != (breaker.Counts{}) })
	if c := b.Snapshot().Counts; c != want {
		t.Errorf("%s counts = %+v, want %+v", b.Name(), c, want)
	}
}
