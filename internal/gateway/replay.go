package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// withReplay returns req, for a route with fallbacks, with its body read
// into memory when it fits in limit bytes, and a *replay in its context. A
// body known (Content-Length) or found to be larger is not replayable: it
// streams to the first member called, after the part already read. An error
// is a body that could not be read.
func withReplay(req *http.Request, limit int64) (*http.Request, error) {
	rp := &replay{in: req.URL}
	out := req.WithContext(context.WithValue(req.Context(), replayKey{}, rp))
	switch {
	case req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0:
		rp.ok = true
		return out, nil
	case req.ContentLength > limit:
		return out, nil // streamed, not buffered
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n > limit {
		// Too large: what was read, then the rest, to one member only.
		out.Body = &prefixedBody{Reader: io.MultiReader(&buf, req.Body), Closer: req.Body}
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
