package exporter

import (
	"context"
	"errors"
	"net/http"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// NewTransport returns a RoundTripper that sends each request through b and
// then base (nil means http.DefaultTransport). Each round trip is one call:
//
//   - a transport error, or a response whose status counts as a failure (by
//     default every 5xx; see WithFailureStatus, e.g. to add 429), is a
//     failure; the failing response is still returned to the caller, body
//     untouched, with a nil error;
//   - a round trip that failed because the caller canceled the request's
//     context is ignored (a deadline that expired is a failure);
//   - anything else is a success.
//
// The call ends when the response headers arrive: the response body is never
// read or buffered, so streamed bodies (server-sent events) reach the caller
// as they are sent, and the breaker's durations are times to headers.
//
// When b rejects the request the network is not touched, the request body is
// closed and RoundTrip returns a nil response and the *breaker.RejectedError,
// which matches breaker.ErrOpen (or breaker.ErrTooManyRequests) with
// errors.Is, also through the *url.Error that http.Client wraps it in.
//
// A custom breaker.Config.Classifier sees the transport's error, nil for a
// successful response, or another error for a failure status.
func NewTransport(base http.RoundTripper, b *breaker.Breaker, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, b: b, cfg: newConfig(opts)}
}

type transport struct {
	base http.RoundTripper
	b    *breaker.Breaker
	cfg  config
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var (
		resp  *http.Response
		rtErr error
		ran   bool
	)
	err := t.b.Execute(req.Context(), func(context.Context) error {
		ran = true
		resp, rtErr = t.base.RoundTrip(req)
		if rtErr != nil {
			return rtErr
		}
		if t.cfg.isFailure(resp.StatusCode) {
			return &statusError{resp.StatusCode}
		}
		return nil
	})
	if ran {
		return resp, rtErr
	}
	// Rejected: RoundTrip must close the request body even on errors.
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if err == nil {
		err = errors.New("exporter: circuit breaker rejected the request")
	}
	return nil, err
}

// CloseIdleConnections closes the base transport's idle connections, if it
// has that method, so http.Client.CloseIdleConnections reaches it.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
