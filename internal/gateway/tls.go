package gateway

import (
	"net/http"

	"github.com/breakerwatch/breakerwatch/internal/config"
)

// transports hands each member of a route the transport for its TLS
// settings: the shared base transport when it has none, otherwise one
// transport per distinct settings, shared by every member that has them.
type transports struct {
	base  http.RoundTripper
	byTLS map[config.UpstreamTLS]*http.Transport
}

// get returns the transport for t (nil: the base). A new one is the base's
// settings (NewBaseTransport's when the base is not an *http.Transport)
// with t's TLS client configuration, and HTTP/2 when the upstream offers
// it through ALPN: with a TLSClientConfig of its own, http.Transport would
// otherwise speak HTTP/1.1 only.
func (ts *transports) get(t *config.UpstreamTLS) (http.RoundTripper, error) {
	if t == nil {
		return ts.base, nil
	}
	if tr, ok := ts.byTLS[*t]; ok {
		return tr, nil
	}
	tc, err := t.ClientConfig()
	if err != nil {
		return nil, err
	}
	var tr *http.Transport
	if bt, ok := ts.base.(*http.Transport); ok {
		tr = bt.Clone()
	} else {
		tr = NewBaseTransport()
	}
	tr.TLSClientConfig = tc
	tr.ForceAttemptHTTP2 = true
	if ts.byTLS == nil {
		ts.byTLS = map[config.UpstreamTLS]*http.Transport{}
	}
	ts.byTLS[*t] = tr
	return tr, nil
}

// closeIdle closes the idle connections of every transport.
func (ts *transports) closeIdle() {
	if c, ok := ts.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	for _, tr := range ts.byTLS {
		tr.CloseIdleConnections()
	}
}
