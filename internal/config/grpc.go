package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
)

// Route protocols (a route's protocol key; the OTLP exporter's are ProtocolHTTP and ProtocolGRPC).
const (
	// RouteHTTP is a route of plain HTTP requests: the default.
	RouteHTTP = "http"
	// RouteGRPC is a route to a gRPC server: HTTP/2 to the upstream
	// (cleartext for http://), the path sent unchanged, and the outcome of
	// a call taken from its grpc-status.
	RouteGRPC = "grpc"
)

// DefaultFailureCodes are the gRPC status codes that count as failures on a
// gRPC route that lists no failure_codes: the codes that say the server or
// the path to it is in trouble (UNKNOWN, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE), not that the request was
// wrong (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED...).
var DefaultFailureCodes = []codes.Code{codes.Unknown, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Unavailable}

// GRPC reports whether r is a route to a gRPC server.
func (r Route) GRPC() bool { return r.Protocol == RouteGRPC }

// codeNames are the gRPC status codes' canonical names, by number.
var codeNames = [...]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL",
	codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// CodeName is c's canonical name (UNAVAILABLE), or its number for a code
// outside 0-16.
func CodeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return strconv.FormatUint(uint64(c), 10)
}

// parseCode reads a gRPC status code: its canonical name in any case
// (UNAVAILABLE, unavailable; CANCELED too) or its number (14).
func parseCode(s string) (codes.Code, bool) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return codes.Code(n), n < uint64(len(codeNames))
	}
	u := strings.ToUpper(s)
	if u == "CANCELED" {
		return codes.Canceled, true
	}
	for i, name := range codeNames {
		if name == u {
			return codes.Code(i), true
		}
	}
	return 0, false
}

// codes reads a route's failure_codes: a list of gRPC status codes, by
// name or number. Names are checked here; OK and duplicates in validate.
func (p *parser) codes(n *yaml.Node, path string) []codes.Code {
	if n.Kind != yaml.SequenceNode {
		p.problem(n, path, "want a list of gRPC status codes like [UNAVAILABLE, DEADLINE_EXCEEDED], not %s", describe(n))
		return nil
	}
	out := []codes.Code{}
	for _, s := range n.Content {
		s = deref(s)
		c, ok := parseCode(s.Value)
		if s.Kind != yaml.ScalarNode || !ok {
			p.problem(s, path, "want a gRPC status code, a name like UNAVAILABLE or a number from 1 to 16, not %s", describe(s))
			continue
		}
		out = append(out, c)
	}
	return out
}

// validateGRPC checks a route's protocol and, on a gRPC route, the keys
// that only an HTTP route has or only a gRPC one.
func (c *Config) validateGRPC(ps *problems, path string, r Route) {
	fc := path + ".failure_codes"
	switch r.Protocol {
	case "", RouteHTTP:
		if r.FailureCodes != nil {
			ps.at(c.at(fc), fc, "only a route with protocol: grpc has failure_codes (an HTTP route counts failure_status)")
		}
		return
	case RouteGRPC:
	default:
		pp := path + ".protocol"
		ps.at(c.at(pp), pp, "%q: want http or grpc", r.Protocol)
		return
	}
	if r.FailureStatus != nil {
		fs := path + ".failure_status"
		ps.at(c.at(fs), fs, "a gRPC route's outcome is its grpc-status, not the HTTP status: list failure_codes instead")
	}
	if len(r.Fallbacks) > 0 {
		fp := path + ".fallbacks"
		ps.at(c.at(fp), fp, "not supported on a gRPC route: a call's status arrives in its trailers, after the response has started, too late to try another upstream")
	}
	if u := r.Upstream; u != nil && strings.Trim(u.Path, "/") != "" {
		up := path + ".upstream"
		ps.at(c.at(up), up, "%q: a gRPC upstream has no base path (gRPC sends /package.Service/Method unchanged)", u.Redacted())
	}
	if r.FailureCodes != nil && len(r.FailureCodes) == 0 {
		ps.at(c.at(fc), fc, "empty (omit it for the default: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE)")
	}
	seen := map[codes.Code]bool{}
	for _, code := range r.FailureCodes {
		switch {
		case code == codes.OK:
			ps.at(c.at(fc), fc, "OK (0) is success: it cannot count as a failure")
		case seen[code]:
			ps.at(c.at(fc), fc, "%s is listed twice", CodeName(code))
		}
		seen[code] = true
	}
}
