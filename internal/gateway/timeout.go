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
	if ft, ok := h.next.(*h1Transport); ok {
		if addr, ok := ft.takes(req); ok {
			// The fast path bounds the wait with its connection's
			// deadline: no context, timer or body wrapper of its own.
			resp, err := ft.roundTrip(req, addr, time.Now().Add(h.timeout))
			if err == errHeaderTimeout {
				return nil, &TimeoutError{Upstream: h.upstream, After: h.timeout}
			}
			return resp, err
		}
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := armHeaderTimer(h.timeout, cancel)
	resp, err := h.next.RoundTrip(req.WithContext(ctx))
	inTime := timer.disarm()
	if err == nil && inTime {
		resp.Body = wrapBody(resp.Body, cancel)
		return resp, nil
	}
	if err == nil { // the headers came just as the timer fired
		_ = resp.Body.Close()
	}
	// A timer that fired is a timeout even if its cancel has not run yet
	// (the cause is still nil then): returning err alone would hand the
	// caller a nil response with a nil error.
	timedOut := !inTime || context.Cause(ctx) == errHeaderTimeout
	cancel(nil)
	if timedOut {
		return nil, &TimeoutError{Upstream: h.upstream, After: h.timeout}
	}
	return nil, err
}

// headerTimer cancels a round trip whose headers are late. Timers are
// pooled: a round trip whose headers come in time allocates none.
type headerTimer struct {
	t      *time.Timer
	mu     sync.Mutex
	cancel context.CancelCauseFunc // of the round trip it is armed for
}

var headerTimers sync.Pool

// armHeaderTimer returns a timer that calls cancel(errHeaderTimeout) after d
// unless disarmed first.
func armHeaderTimer(d time.Duration, cancel context.CancelCauseFunc) *headerTimer {
	ht, _ := headerTimers.Get().(*headerTimer)
	if ht == nil {
		ht = &headerTimer{cancel: cancel}
		ht.t = time.AfterFunc(d, ht.fire)
		return ht
	}
	ht.mu.Lock()
	ht.cancel = cancel
	ht.mu.Unlock()
	ht.t.Reset(d)
	return ht
}

func (ht *headerTimer) fire() {
	ht.mu.Lock()
	cancel := ht.cancel
	ht.mu.Unlock()
	cancel(errHeaderTimeout)
}

// disarm stops the timer and reports whether it had not fired. Only a
// timer that had not fired goes back to the pool: one that fired may still
// be running fire.
func (ht *headerTimer) disarm() bool {
	if !ht.t.Stop() {
		return false
	}
	ht.mu.Lock()
	ht.cancel = nil
	ht.mu.Unlock()
	headerTimers.Put(ht)
	return true
}

// wrapBody cancels the round trip's context when the body is closed. A body
// that is also a writer (a 101 Switching Protocols connection) stays one,
// so ReverseProxy can pass upgrades through.
func wrapBody(body io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser {
	b := &releaseBody{ReadCloser: body, cancel: cancel}
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &releaseRWBody{releaseBody: b, w: rw}
	}
	return b
}

type releaseBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc // idempotent
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

type releaseRWBody struct {
	*releaseBody
	w io.Writer
}

func (b *releaseRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }
