package testutil

import (
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GRPCServer is a real gRPC server on loopback, for tests of gRPC routes:
// the standard health service, and test services (messages are
// wrapperspb.StringValue) served by an unknown-service handler:
//   - /test.Fail/<CODE> answers the status named (UNAVAILABLE, NOT_FOUND,
//     ...) without a message: a trailers-only response;
//   - /test.Echo/Trailer answers "echo" and a trailer x-upstream: trailer;
//   - /test.Echo/Bidi answers each message with itself until the client
//     closes its side;
//   - /test.Stream/Tick sends "first", waits for Release to be closed (or
//     the client to go away), sends "second" and ends with UNAVAILABLE
//     "stream broke" in the trailers;
//   - /test.Stream/Late waits for Release (or the client to go away), then
//     sends "late" and ends with OK: its response headers come only then.
type GRPCServer struct {
	// Addr is the server's host:port.
	Addr string
	// Calls counts the test services' calls that arrived.
	Calls atomic.Int64
	// Health is the health service, SERVING.
	Health *health.Server
	// Release lets /test.Stream/Tick go on once closed.
	Release chan struct{}
	// Server is the gRPC server, e.g. for ServeHTTP behind a TLS listener.
	Server *grpc.Server
	stop   func()
}

// Stop stops the server at once, closing its connections; the test's end
// stops it too.
func (s *GRPCServer) Stop() { s.stop() }

// StartGRPCServer starts a GRPCServer, stopped when the test ends.
func StartGRPCServer(t testing.TB) *GRPCServer {
	t.Helper()
	s := &GRPCServer{Health: health.NewServer(), Release: make(chan struct{})}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(s.handle))
	s.Server = srv
	healthpb.RegisterHealthServer(srv, s.Health)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	s.stop = func() { srv.Stop(); <-done }
	t.Cleanup(s.stop)
	return s
}

func (s *GRPCServer) handle(_ any, stream grpc.ServerStream) error {
	s.Calls.Add(1)
	method, _ := grpc.MethodFromServerStream(stream)
	if method == "/test.Echo/Bidi" {
		for {
			m := new(wrapperspb.StringValue)
			if err := stream.RecvMsg(m); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := stream.SendMsg(m); err != nil {
				return err
			}
		}
	}
	if err := stream.RecvMsg(new(wrapperspb.StringValue)); err != nil {
		return err
	}
	switch service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/"); service {
	case "test.Fail":
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(`"` + name + `"`)); err != nil {
			return status.Errorf(codes.InvalidArgument, "no code %s", name)
		}
		return status.Error(c, "upstream says "+name)
	case "test.Echo":
		stream.SetTrailer(metadata.Pairs("x-upstream", "trailer"))
		return stream.SendMsg(wrapperspb.String("echo"))
	case "test.Stream":
		if name == "Late" {
			select {
			case <-s.Release:
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
			return stream.SendMsg(wrapperspb.String("late"))
		}
		if err := stream.SendMsg(wrapperspb.String("first")); err != nil {
			return err
		}
		select {
		case <-s.Release:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		if err := stream.SendMsg(wrapperspb.String("second")); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "stream broke")
	}
	return status.Errorf(codes.Unimplemented, "no method %s", method)
}
