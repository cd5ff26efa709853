package exporter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Headers that Middleware sets on every response of a protected handler and
// that WriteRejection sets on a rejection.
const (
	// HeaderBreakerName carries the breaker's name.
	HeaderBreakerName = "X-Circuit-Breaker-Name"
	// HeaderBreakerState carries the breaker's state when the request arrived
	// (closed, half-open or open; in monitor mode the state it would be in).
	HeaderBreakerState = "X-Circuit-Breaker-State"
	// HeaderBreakerMode carries the breaker's mode (enforce, monitor or
	// disabled), which tells whether the state is enforced.
	HeaderBreakerMode = "X-Circuit-Breaker-Mode"
)

// statusError is what a protected call returns to the breaker for a response
// whose status counts as a failure. It never reaches callers.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// Middleware protects a handler with b. Each request is one call through the
// breaker:
//
//   - a response whose status counts as a failure (by default every 5xx; see
//     WithFailureStatus and WithFailureStatusFunc) or a panic is a failure;
//     the panic is re-raised for net/http (or an outer middleware) to handle;
//   - when the client hung up (the request's context is canceled), a
//     failure status, no response at all, or an abort with
//     http.ErrAbortHandler is ignored: the hang-up caused it;
//   - anything else is a success, including a response that was sent before
//     the client went away. A handler that writes nothing answers 200; a
//     hijacked connection is a success.
//
// When b rejects the request the handler does not run and the client gets
// WriteRejection's 503. Every response carries HeaderBreakerName,
// HeaderBreakerState and HeaderBreakerMode.
//
// The ResponseWriter given to the handler passes http.Flusher, http.Hijacker,
// io.ReaderFrom and http.Pusher through and has an Unwrap method, so
// http.ResponseController and streaming (server-sent events) work. The call's
// duration is the handler's: for a streaming handler, until it returns.
// A custom breaker.Config.Classifier sees a nil error for a success, an error
// matching context.Canceled for a client that hung up, and another error for
// a failure status.
func Middleware(b *breaker.Breaker, opts ...Option) func(http.Handler) http.Handler {
	cfg := newConfig(opts)
	name := b.Name()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set(HeaderBreakerName, name)
			h.Set(HeaderBreakerState, b.State().String())
			h.Set(HeaderBreakerMode, b.Mode().String())
			rw := &responseWriter{ResponseWriter: w}
			ran, aborted := false, false
			err := b.Execute(r.Context(), func(ctx context.Context) (err error) {
				ran = true
				defer func() {
					if p := recover(); p != nil {
						if p == http.ErrAbortHandler && clientGone(ctx) {
							aborted = true
							err = context.Canceled
							return
						}
						// Re-raised here, while the original frames are still on
						// the stack, so the breaker counts a failure and the
						// stack trace net/http logs shows where it happened.
						panic(p)
					}
				}()
				next.ServeHTTP(rw, r)
				if rw.hijacked {
					return nil
				}
				code := rw.statusCode()
				failed := cfg.isFailure(code)
				// A failure status, or no response at all, from a handler whose
				// client is gone is the hang-up's doing, not the handler's. A
				// response the handler did send is judged on its status.
				if (failed || rw.status == 0) && clientGone(ctx) {
					return context.Canceled
				}
				if failed {
					return &statusError{code}
				}
				return nil
			})
			if aborted {
				panic(http.ErrAbortHandler)
			}
			if ran {
				return
			}
			var rej *breaker.RejectedError
			if errors.As(err, &rej) {
				WriteRejection(w, rej)
				return
			}
			// Not reachable with the breaker package's Execute: a call that
			// did not run was rejected.
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
		})
	}
}

// clientGone reports whether the request's context was canceled: the client
// hung up (or the server canceled the request). A deadline is not a hang-up.
func clientGone(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// rejectionBody is the JSON body of a rejection.
type rejectionBody struct {
	Error             string `json:"error"`
	Breaker           string `json:"breaker"`
	State             string `json:"state"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
}

// WriteRejection answers a request that breaker err.Name rejected: status 503,
// Retry-After with the seconds until the breaker lets a probe through (rounded
// up, at least 1), HeaderBreakerName and HeaderBreakerState, Cache-Control:
// no-store, and the JSON body
//
//	{"error": "...", "breaker": "openai_api", "state": "open", "retry_after_seconds": 42}
//
// Nothing must have been written to w yet. A nil err gets a generic 503.
func WriteRejection(w http.ResponseWriter, err *breaker.RejectedError) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if err == nil {
		h.Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "rejected by a circuit breaker"})
		return
	}
	secs := retryAfterSeconds(err.RetryAfter())
	h.Set(HeaderBreakerName, err.Name)
	h.Set(HeaderBreakerState, err.State.String())
	h.Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusServiceUnavailable, rejectionBody{
		Error:             err.Error(),
		Breaker:           err.Name,
		State:             err.State.String(),
		RetryAfterSeconds: secs,
	})
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := math.Ceil(d.Seconds())
	switch {
	case s < 1:
		return 1
	case s > math.MaxInt32:
		return math.MaxInt32
	}
	return int(s)
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"encoding the response failed"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// responseWriter records the final status a handler sends. It passes the
// optional interfaces through and unwraps for http.ResponseController.
type responseWriter struct {
	http.ResponseWriter
	status   int // final status, 0 until the header is written
	hijacked bool
}

func (w *responseWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// WriteHeader records the first final (non-1xx) status.
func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError flushes through http.ResponseController, reporting its error.
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker; it fails with an error matching
// http.ErrNotSupported when the underlying writer cannot hijack.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

// ReadFrom implements io.ReaderFrom, using the underlying writer's when it
// has one (sendfile for *os.File bodies).
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

// Push implements http.Pusher; http.ErrNotSupported when the underlying
// writer cannot push.
func (w *responseWriter) Push(target string, opts *http.PushOptions) error {
	if p, ok := w.ResponseWriter.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// ReadFrom.
type writerOnly struct{ io.Writer }
