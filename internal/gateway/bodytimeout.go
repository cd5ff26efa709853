package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// BodyTimeoutError is the error of a request whose client did not send its
// whole body within the route's body_read_timeout. It is the client's
// doing, not the upstream's: it matches context.Canceled, so that the
// breaker counts the call as ignored, as it does a client that hangs up.
type BodyTimeoutError struct {
	After time.Duration
}

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("request body not received within %v (body_read_timeout)", e.After)
}

// Timeout reports true, as net.Error's Timeout does.
func (e *BodyTimeoutError) Timeout() bool { return true }

// Unwrap returns context.Canceled.
func (e *BodyTimeoutError) Unwrap() error { return context.Canceled }

// bodyKey is the context key of a request's *timedBody.
type bodyKey struct{}

// timedBody is a request body read under a deadline on the client's
// connection (HTTP/1) or stream (HTTP/2): a read past it fails, and the
// request's context is canceled with a *BodyTimeoutError, which ends the
// upstream call in flight. The deadline need not be lifted at the body's
// end: net/http's HTTP/1 server clears the connection's read deadline
// itself when it starts reading ahead after a body, and an HTTP/2 stream's
// deadline only closes a body that has ended already.
//
// Once the body has ended, further reads return io.EOF without reaching the
// server's body: a half-duplex HTTP/1 server closes that body as soon as
// the response headers are written (after discarding what is left), and the
// transport reads once more after the Content-Length to see the end. Passed
// on, that read would fail ("invalid Read on closed Body"), and the
// transport would close the upstream connection in the middle of the
// response it is streaming.
type timedBody struct {
	io.ReadCloser
	cancel   context.CancelCauseFunc
	err      *BodyTimeoutError
	timedOut atomic.Bool
	// rc controls the response, and deadline is the read deadline set
	// through it.
	rc       *http.ResponseController
	deadline time.Time
	// duplex is set when the response starts before the body's end, in
	// full duplex (answerEarly). Handler goroutine only.
	duplex bool
	// eof is set at the body's end: its last byte of a known length, or
	// the end read; the handler checks it while the transport reads.
	eof atomic.Bool
	// left is what is still to come of a body of known length (-1: not
	// known). Read's only.
	left int64
	// mu is held by a read (of the transport's writer, or of the replay
	// buffer, one at a time), so that stop can wait for one in flight.
	mu sync.Mutex
	// stopping is set by stop before it interrupts a read in flight; a
	// body being stopped reads no more.
	stopping atomic.Bool
}

// withBodyTimeout puts req's body, if it has one, under the route's
// body_read_timeout d. done ends the reads of a body left unread by a
// response in full duplex (answerEarly, stop), and releases the request's
// context.
func withBodyTimeout(w http.ResponseWriter, req *http.Request, d time.Duration) (out *http.Request, done func()) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return req, func() {}
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(d)
	if err := rc.SetReadDeadline(deadline); err != nil {
		return req, func() {} // a writer without deadlines (not a net/http server's)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	tb := &timedBody{ReadCloser: req.Body, cancel: cancel, err: &BodyTimeoutError{After: d}, rc: rc, deadline: deadline, left: req.ContentLength}
	out = req.WithContext(context.WithValue(ctx, bodyKey{}, tb))
	out.Body = tb
	return out, func() {
		if tb.duplex && !tb.eof.Load() {
			tb.stop()
		}
		cancel(nil)
	}
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof.Load() {
		return 0, io.EOF
	}
	if b.stopping.Load() {
		return 0, errBodyStopped
	}
	n, err := b.ReadCloser.Read(p)
	if b.left >= 0 {
		// The transport sends a body of known length as soon as it has
		// its last byte, and reads its end only afterwards: the upstream
		// may answer in between, and that answer is not early.
		b.left -= int64(n)
	}
	if err == io.EOF || b.left == 0 {
		b.eof.Store(true)
	}
	if err != nil && err != io.EOF && isTimeout(err) && !b.stopping.Load() {
		b.timedOut.Store(true)
		b.cancel(b.err)
		return n, b.err
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bodyTimedOut returns the *BodyTimeoutError of a request (or of its
// context) whose body read timed out, or nil.
func bodyTimedOut(ctx context.Context) *BodyTimeoutError {
	if tb, ok := ctx.Value(bodyKey{}).(*timedBody); ok && tb.timedOut.Load() {
		return tb.err
	}
	return nil
}
