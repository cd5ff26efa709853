package gateway

import (
	"fmt"
	"net/http"

	"github.com/breakerwatch/breakerwatch/internal/config"
)

// transports hands each member of a route the transport for its TLS
// settings and protocol: the shared base transport for an HTTP upstream
// without tls:, otherwise one transport per distinct settings and
// protocol, shared by every member that has them.
type transports struct {
	base     http.RoundTripper
	httpBase *http.Transport // what derived transports clone: base, or what base falls back to
	byKey    map[transportKey]*http.Transport
}

// transportKey is what distinguishes one derived transport from another.
type transportKey struct {
	tls    config.UpstreamTLS
	hasTLS bool
	grpc   bool // HTTP/2 only, cleartext or through ALPN (NewGRPCTransport)
}

// get returns the transport for t (nil: the base's TLS settings) and the
// protocol (grpc: HTTP/2 only, see NewGRPCTransport). A new one is a clone
// of httpBase (the fast path's fallback by default, or Options.Transport)
// with t's TLS client configuration, and HTTP/2 when the upstream offers
// it through ALPN: with a TLSClientConfig of its own, http.Transport would
// otherwise speak HTTP/1.1 only.
func (ts *transports) get(t *config.UpstreamTLS, grpc bool) (http.RoundTripper, error) {
	if t == nil && !grpc {
		return ts.base, nil
	}
	key := transportKey{hasTLS: t != nil, grpc: grpc}
	if t != nil {
		key.tls = *t
	}
	if tr, ok := ts.byKey[key]; ok {
		return tr, nil
	}
	bt := ts.httpBase
	if bt == nil {
		// A wrapping RoundTripper (tracing, say) would be silently lost.
		return nil, fmt.Errorf("routes with tls: settings or protocol: grpc derive their transport from Options.Transport, which must then be an *http.Transport (or nil), not %T", ts.base)
	}
	tr := bt.Clone()
	if t != nil {
		tc, err := t.ClientConfig()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
		tr.ForceAttemptHTTP2 = true
	}
	if grpc {
		tr = NewGRPCTransport(tr)
	}
	if ts.byKey == nil {
		ts.byKey = map[transportKey]*http.Transport{}
	}
	ts.byKey[key] = tr
	return tr, nil
}

// closeIdle closes the idle connections of every transport.
func (ts *transports) closeIdle() {
	if c, ok := ts.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	for _, tr := range ts.byKey {
		tr.CloseIdleConnections()
	}
}
