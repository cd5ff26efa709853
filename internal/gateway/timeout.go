package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// TimeoutError is the error of a round trip whose upstream sent no response
// headers within the route's timeout.
type TimeoutError struct {
	Upstream string
	After    time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no response from %s within %v", e.Upstream, e.After)
}

// Timeout reports true, as net.Error's Timeout does.
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

var errHeaderTimeout = errors.New("gateway: response header timeout")

// headerTimeout bounds a round trip until the response headers arrive. The
// request's context is canceled only when the timeout expires first or the
// response body is closed: a body that has started is never cut.
// (http.Transport.ResponseHeaderTimeout would not count dialing and writing
// the request; context.WithTimeout would also cut the body.)
type headerTimeout struct {
	next     http.RoundTripper
	timeout  time.Duration
	upstream string
}

func (h *headerTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(h.timeout, func() { cancel(errHeaderTimeout) })
	resp, err := h.next.RoundTrip(req.WithContext(ctx))
	inTime := timer.Stop()
	if err == nil && inTime {
		resp.Body = wrapBody(resp.Body, func() { cancel(nil) })
		return resp, nil
	}
	if err == nil { // the headers came just as the timer fired
		_ = resp.Body.Close()
	}
	timedOut := context.Cause(ctx) == errHeaderTimeout
	cancel(nil)
	if timedOut {
		return nil, &TimeoutError{Upstream: h.upstream, After: h.timeout}
	}
	return nil, err
}

// wrapBody calls release once when the body is closed. A body that is also
// a writer (a 101 Switching Protocols connection) stays one, so ReverseProxy
// can pass upgrades through.
func wrapBody(body io.ReadCloser, release func()) io.ReadCloser {
	b := &releaseBody{ReadCloser: body, release: release}
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &releaseRWBody{releaseBody: b, w: rw}
	}
	return b
}

type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

type releaseRWBody struct {
	*releaseBody
	w io.Writer
}

func (b *releaseRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }
