package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
)

// replayKey is the context key of a request's *replay on routes with
// fallbacks.
type replayKey struct{}

// replay is what a route with fallbacks needs to send a request again.
type replay struct {
	// in is the client's URL, from which each member's URL is built.
	in *url.URL
	// ok is true when the request can be sent again: it has no body, or
	// its body was read whole within the route's max_replay_body.
	ok bool
	// body is the buffered body (nil when there is none).
	body []byte
}

func (rp *replay) getBody() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(rp.body)), nil
}

// replayBudget bounds the memory that the replay buffers of all routes
// hold together (max_replay_memory). A request that would go over it is
// not buffered: it streams to the first member called, without replay.
type replayBudget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64 // the most ever reserved at once
}

// reserve takes n bytes of the budget, or reports that they are not there.
func (b *replayBudget) reserve(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			for p := b.peak.Load(); u+n > p && !b.peak.CompareAndSwap(p, u+n); p = b.peak.Load() {
			}
			return true
		}
	}
}

func (b *replayBudget) release(n int64) { b.used.Add(-n) }

// errOverBudget says a body was not buffered because the replay budget
// was spent; the request goes on without replay.
var errOverBudget = errors.New("max_replay_memory reached: sent without fallback replay")

// withReplay returns req, for a route with fallbacks, with its body read
// into memory when it fits in limit bytes and in budget, and a *replay in
// its context; release gives the budget back once the request is done. A
// body known (Content-Length) or found to be larger is not replayable: it
// streams to the first member called, after the part already read. So does
// one that the budget cannot hold (skipped is then errOverBudget). An error
// is a body that could not be read.
func withReplay(req *http.Request, limit int64, budget *replayBudget) (out *http.Request, release func(), skipped, err error) {
	rp := &replay{in: req.URL}
	out = req.WithContext(context.WithValue(req.Context(), replayKey{}, rp))
	release = func() {}
	switch {
	case req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0:
		rp.ok = true
		return out, release, nil, nil
	case req.ContentLength > limit:
		return out, release, nil, nil // streamed, not buffered
	}
	reserved := limit + 1 // what the read below may hold
	if req.ContentLength > 0 {
		reserved = req.ContentLength
	}
	if budget != nil {
		if !budget.reserve(reserved) {
			return out, release, errOverBudget, nil
		}
		release = func() { budget.release(reserved) }
	}
	out, err = bufferBody(out, rp, limit)
	if err != nil {
		release()
		return nil, func() {}, nil, err
	}
	return out, release, nil, nil
}

// bufferBody reads out's body into rp when it fits in limit bytes.
func bufferBody(out *http.Request, rp *replay, limit int64) (*http.Request, error) {
	var buf bytes.Buffer
	if out.ContentLength > 0 {
		buf.Grow(int(out.ContentLength))
	}
	body := out.Body
	n, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n > limit {
		// Too large: what was read, then the rest, to one member only.
		out.Body = &prefixedBody{Reader: io.MultiReader(&buf, body), Closer: body}
		return out, nil
	}
	rp.ok, rp.body = true, buf.Bytes()
	out.Body, _ = rp.getBody()
	out.ContentLength = n
	if n == 0 {
		out.Body = http.NoBody
	}
	out.TransferEncoding = nil
	return out, nil
}

// prefixedBody reads a body that has been partly read into memory.
type prefixedBody struct {
	io.Reader
	io.Closer
}
