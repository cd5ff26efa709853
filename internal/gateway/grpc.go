package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"google.golang.org/grpc/codes"
)

// NewGRPCTransport returns base (nil: NewBaseTransport()) cloned to speak
// only HTTP/2: with prior knowledge over cleartext to http:// upstreams
// (h2c, as gRPC servers expect), negotiated by ALPN to https:// ones.
func NewGRPCTransport(base *http.Transport) *http.Transport {
	if base == nil {
		base = NewBaseTransport()
	}
	t := base.Clone()
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP2(true)
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

// grpcRoute is what a route with protocol: grpc adds.
type grpcRoute struct {
	failure [codes.Unauthenticated + 1]bool // by code; codes above 16 are never failures
}

// grpcCallKey is the context key of a gRPC request's *grpcCall.
type grpcCallKey struct{}

// grpcCall is what one gRPC request's round trip left: the upstream's
// response, or the transport's error.
type grpcCall struct {
	resp *http.Response
	err  error
}

// setGRPC turns r into a gRPC route: its path goes to the upstream
// unchanged (gRPC's is /package.Service/Method), the round trip is its own
// member's, and the gateway's own errors are gRPC statuses.
func (r *route) setGRPC(rc config.Route) {
	g := &grpcRoute{}
	list := rc.FailureCodes
	if list == nil {
		list = config.DefaultFailureCodes
	}
	for _, c := range list {
		if int(c) < len(g.failure) {
			g.failure[c] = true
		}
	}
	r.grpc = g
	r.proxy.Rewrite = func(pr *httputil.ProxyRequest) {
		pr.SetURL(rc.Upstream)
		pr.SetXForwarded()
	}
	r.proxy.Transport = grpcRoundTrip{r.members[0]}
	r.proxy.ErrorHandler = r.failGRPC
}

// grpcRoundTrip sends a gRPC request to m and keeps the response in the
// request's *grpcCall, for serveGRPC to read its status once the body and
// the trailers have been copied.
type grpcRoundTrip struct{ m *member }

func (t grpcRoundTrip) RoundTrip(out *http.Request) (*http.Response, error) {
	state := t.m.b.State() // as the request arrived, like route.RoundTrip's
	resp, err := t.m.rt.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if call, ok := out.Context().Value(grpcCallKey{}).(*grpcCall); ok {
		call.resp = resp
	}
	annotate(resp, t.m, state)
	return resp, nil
}

func (r *route) serveGRPC(w http.ResponseWriter, req *http.Request) {
	m := r.members[0]
	call := &grpcCall{}
	req = req.WithContext(context.WithValue(req.Context(), grpcCallKey{}, call))
	start := time.Now()
	aborted := false
	err := m.b.Execute(req.Context(), func(ctx context.Context) (err error) {
		defer func() {
			// ReverseProxy aborts the response with http.ErrAbortHandler
			// when the body breaks off mid-stream: an outcome like the
			// others (an upstream reset, or a client that went away),
			// then the abort goes on once the breaker has counted it.
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					panic(p)
				}
				aborted = true
				err = r.grpcOutcome(req, call, true)
			}
		}()
		r.proxy.ServeHTTP(w, req)
		return r.grpcOutcome(req, call, false)
	})
	var rej *breaker.RejectedError
	if errors.As(err, &rej) {
		writeGRPCRejection(w, rej)
	}
	if r.logger.Enabled(req.Context(), slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Duration("duration", time.Since(start))}
		if err != nil {
			attrs = append(attrs, slog.String("outcome", err.Error()))
		}
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "proxied gRPC", attrs...)
	}
	if aborted {
		panic(http.ErrAbortHandler)
	}
}

// grpcOutcome is the breaker's outcome of a gRPC call whose response has
// been copied (or broke off: aborted): nil for a status that is not in the
// route's failure codes, a *GRPCStatusError for one that is, the
// transport's error when there was no response, and the context's error
// (ignored by the breaker) when the client went away before the status.
func (r *route) grpcOutcome(req *http.Request, call *grpcCall, aborted bool) error {
	if call.resp == nil || aborted {
		if err := req.Context().Err(); err != nil {
			return err
		}
	}
	if call.resp == nil {
		if call.err != nil {
			return call.err
		}
		return errors.New("gateway: no response from the gRPC upstream")
	}
	code := grpcStatus(call.resp)
	if int(code) < len(r.grpc.failure) && r.grpc.failure[code] {
		return &GRPCStatusError{Code: code}
	}
	return nil
}

// GRPCStatusError is the outcome of a gRPC call whose status is one of its
// route's failure codes.
type GRPCStatusError struct{ Code codes.Code }

func (e *GRPCStatusError) Error() string {
	return "upstream answered grpc-status " + config.CodeName(e.Code)
}

// grpcStatus is the status of a gRPC response whose body has been read:
// grpc-status from its trailers, or from its headers (a trailers-only
// response); without one, what a gRPC client makes of the response (the
// HTTP status mapped as gRPC's http-grpc-status-mapping says, INTERNAL for
// a 200 that ended or broke off without a status).
func grpcStatus(resp *http.Response) codes.Code {
	v := resp.Trailer.Get("Grpc-Status")
	if v == "" {
		v = resp.Header.Get("Grpc-Status")
	}
	if v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return codes.Unknown
		}
		return codes.Code(n)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return codes.Internal
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// failGRPC is a gRPC route's ErrorHandler: the round trip failed before a
// response (unreachable, or no headers within the route's timeout). The
// client gets a gRPC status: DEADLINE_EXCEEDED for the timeout,
// UNAVAILABLE otherwise.
func (r *route) failGRPC(w http.ResponseWriter, req *http.Request, err error) {
	if call, ok := req.Context().Value(grpcCallKey{}).(*grpcCall); ok {
		call.err = err
	}
	attrs := []slog.Attr{slog.String("error", err.Error())}
	if req.Context().Err() != nil {
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "client went away", attrs...)
		return
	}
	code := codes.Unavailable
	var te *TimeoutError
	if errors.As(err, &te) {
		code = codes.DeadlineExceeded
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream timeout", attrs...)
	} else {
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream error", attrs...)
	}
	w.Header().Set(exporter.HeaderBreakerName, r.cfg.Breaker)
	writeGRPCStatus(w, code, "breakerwatch: "+err.Error())
}

// writeGRPCRejection answers a gRPC request that a breaker rejected:
// UNAVAILABLE, which gRPC clients treat as transient, with the breaker's
// name and state in headers as exporter.WriteRejection sets them.
func writeGRPCRejection(w http.ResponseWriter, rej *breaker.RejectedError) {
	h := w.Header()
	h.Set(exporter.HeaderBreakerName, rej.Name)
	h.Set(exporter.HeaderBreakerState, rej.State.String())
	writeGRPCStatus(w, codes.Unavailable, "breakerwatch: "+rej.Error())
}

// writeGRPCStatus writes a trailers-only gRPC response: HTTP 200 whose
// headers carry grpc-status and grpc-message, and no body.
func writeGRPCStatus(w http.ResponseWriter, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(code)))
	h.Set("Grpc-Message", encodeGRPCMessage(msg))
	w.WriteHeader(http.StatusOK)
}

// encodeGRPCMessage percent-encodes msg as grpc-message wants: every byte
// outside printable ASCII, and '%'.
func encodeGRPCMessage(msg string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
