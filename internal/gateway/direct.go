package gateway

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// serveDirect proxies req exactly as the route's httputil.ReverseProxy
// would (same request to the upstream, same response to the client, same
// errors), for the requests directTakes: those without a body, upgrade or
// TE header, whose query ReverseProxy would pass on untouched. These are
// most of a gateway's traffic, and for them ReverseProxy's generality is
// most of the gateway's own cost after the system calls: a deep copy of
// the request, a header map rebuilt value by value for the response, a
// media type parsed per response (docs/benchmarks.md). Here the request's
// header values are shared with the client's request rather than copied,
// the response's header values are handed to the client's response as they
// are, and whether to flush each write is decided without a parse.
//
// The differential test (direct_test.go) sends the same requests through
// both and compares what the upstream and the client get.
func (r *route) serveDirect(w http.ResponseWriter, req *http.Request) {
	d := &directCall{w: w}
	d.trace.Got1xxResponse = d.got1xx
	out := req.WithContext(httptrace.WithClientTrace(req.Context(), &d.trace))
	out.Body = nil // ContentLength is 0 (as ReverseProxy does, for retries)
	out.Close = false
	out.URL = &url.URL{RawQuery: req.URL.RawQuery}
	setTarget(out, r.cfg.Upstream, r.cfg.Prefix, req.URL)
	out.Header = outboundHeader(req)

	res, err := r.RoundTrip(out)
	d.mu.Lock()
	d.done = true // interim responses that come late are dropped
	d.mu.Unlock()
	if err != nil {
		r.fail(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		_ = res.Body.Close()
		r.fail(w, out, unaskedSwitch(res.Header))
		return
	}
	removeHopByHop(res.Header)
	// ModifyResponse (answerEarly) has nothing to do: there is no request
	// body to answer early to.
	h := w.Header()
	for k, vv := range res.Header {
		if len(vv) == 0 {
			continue
		}
		if prev, ok := h[k]; ok {
			h[k] = append(prev, vv...)
		} else {
			// res is the gateway's own, and done with after this. Some
			// values are process-wide (annotate's): appending to them
			// copies (their capacity is their length), and nothing may
			// write into them in place.
			h[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	if err := copyBody(w, res.Body, streams(res.Header.Get("Content-Type"), res.ContentLength)); err != nil {
		_ = res.Body.Close()
		if req.Context().Value(http.ServerContextKey) != nil {
			// The response is cut short: the client must not take what
			// it got for all of it (ReverseProxy does the same).
			panic(http.ErrAbortHandler)
		}
		return
	}
	_ = res.Body.Close() // now, for res.Trailer

	if len(res.Trailer) > 0 {
		// Chunked, so that the trailers can follow.
		_ = http.NewResponseController(w).Flush()
	}
	prefix := "" // the announced trailers are set as themselves
	if len(res.Trailer) != announced {
		prefix = http.TrailerPrefix // all, when some were not announced
	}
	for k, vv := range res.Trailer {
		for _, v := range vv {
			h.Add(prefix+k, v)
		}
	}
}

// unaskedSwitch is ReverseProxy's error, its checks in its order, for a
// 101 to a request that asked for no upgrade (directTakes). The fast path
// refuses such a 101 itself, but http.Transport returns it: for an HTTP/2
// request that declares trailers without a body, which serveDirect takes
// and the fast path leaves to http.Transport.
func unaskedSwitch(h http.Header) error {
	up := upgradeType(h)
	switch {
	case !printableASCII(up):
		return fmt.Errorf("backend tried to switch to invalid protocol %q", up)
	case up != "":
		return fmt.Errorf("backend tried to switch protocol %q when %q was requested", up, "")
	}
	// Without an upgrade in its header, http.Transport gives the 101 a body
	// that cannot be written to.
	return errors.New("internal error: 101 switching protocols response with non-writable body")
}

// directCall is the state of one serveDirect call that interim responses
// reach: they are written to the client until the round trip has returned.
type directCall struct {
	w     http.ResponseWriter
	trace httptrace.ClientTrace
	mu    sync.Mutex
	done  bool
}

// got1xx forwards an interim response (103 Early Hints), as ReverseProxy
// does.
func (d *directCall) got1xx(code int, header textproto.MIMEHeader) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return nil
	}
	h := d.w.Header()
	for k, vv := range header {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	d.w.WriteHeader(code)
	clear(h) // WriteHeader does not, for 1xx
	return nil
}

// directTakes reports whether serveDirect proxies req: no body, no Upgrade,
// TE or Expect header (ReverseProxy's handling of those stays theirs), not
// CONNECT, and a query that ReverseProxy passes on as it is (see
// cleanQuery).
func directTakes(req *http.Request) bool {
	// No body: ContentLength 0, as ReverseProxy decides it (an HTTP/1
	// request's body is then http.NoBody; an HTTP/2 request's is not, but
	// it ended with its headers, or its Content-Length is 0).
	if req.ContentLength != 0 || req.Method == http.MethodConnect {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	if _, ok := req.Header["Te"]; ok {
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false // http.Transport's: the fast path does not take it
	}
	return req.URL.RawQuery == "" || cleanQuery(req.URL.RawQuery)
}

// queryReencoded reports whether the GODEBUG setting urlmaxqueryparams is
// set, in the environment (read each time: Go follows os.Setenv of
// GODEBUG) or in the binary: then ReverseProxy re-encodes every query.
func queryReencoded() bool {
	return builtQueryReencoded || strings.Contains(os.Getenv("GODEBUG"), "urlmaxqueryparams=")
}

// builtQueryReencoded is whether the binary's default GODEBUG sets
// urlmaxqueryparams.
var builtQueryReencoded = func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "DefaultGODEBUG" && strings.Contains(s.Value, "urlmaxqueryparams=") {
				return true
			}
		}
	}
	return false
}()

// maxQueryParams is net/url's default limit on a query's parameters; a
// query with more is re-encoded by ReverseProxy.
const maxQueryParams = 10000

// cleanQuery reports whether ReverseProxy (Rewrite set) sends the query q
// unchanged: no ';', only well-formed %-escapes, at most maxQueryParams
// parameters, and no GODEBUG setting that re-encodes them all.
func cleanQuery(q string) bool {
	if strings.Count(q, "&")+1 > maxQueryParams || queryReencoded() {
		return false
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hopHeaders are the hop-by-hop headers ReverseProxy removes from requests
// and responses, in canonical form.
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// outboundHeader is the header ReverseProxy sends upstream for in (with
// SetXForwarded): in's, without the hop-by-hop headers, those that its
// Connection header names and the client's forwarding headers, then
// X-Forwarded-For (the client's address), -Host and -Proto, and an empty
// User-Agent when the client sent none (no Go default). The values are
// in's own slices, not copies: nothing writes into them.
func outboundHeader(in *http.Request) http.Header {
	h := make(http.Header, len(in.Header)+3)
	for k, vv := range in.Header {
		switch k {
		case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		h[k] = vv
	}
	removeHopByHop(h)
	set := make([]string, 0, 4) // one allocation for the values set here
	put := func(k, v string) {
		set = append(set, v)
		h[k] = set[len(set)-1 : len(set) : len(set)]
	}
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		put("X-Forwarded-For", ip)
	}
	put("X-Forwarded-Host", in.Host)
	if in.TLS == nil {
		put("X-Forwarded-Proto", "http")
	} else {
		put("X-Forwarded-Proto", "https")
	}
	if _, ok := h["User-Agent"]; !ok {
		put("User-Agent", "")
	}
	return h
}

// removeHopByHop removes from h the headers its Connection header names,
// then the hop-by-hop ones, as ReverseProxy does.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType is the protocol h's Upgrade header asks for, when its
// Connection header lists "upgrade" (ReverseProxy's upgradeType).
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// streams reports whether a response body with the Content-Type ct and
// length n is written to the client as it comes, each read flushed:
// ReverseProxy's FlushInterval -1 for server-sent events (the media type
// that mime.ParseMediaType finds in ct is text/event-stream) and bodies of
// unknown length. The media type is parsed only when it can be that one.
func streams(ct string, n int64) bool {
	if n == -1 {
		return true
	}
	base, _, _ := strings.Cut(ct, ";")
	if base = strings.TrimSpace(base); len(base) != len(eventStream) {
		return false
	}
	for i := range len(base) { // ASCII case folding, as strings.ToLower gives for these letters
		c := base[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != eventStream[i] {
			return false
		}
	}
	mt, _, _ := mime.ParseMediaType(ct) // none for a duplicate parameter
	return mt == eventStream
}

const eventStream = "text/event-stream"

// copyBody copies body to w through a pooled buffer. With flush, each
// write is flushed, and the headers are too as soon as a timer's goroutine
// runs: as with ReverseProxy (its maxLatencyWriter, latency -1), a body
// that is there at once usually goes out with the headers (net/http sniffs
// its Content-Type, and an empty one gets Content-Length: 0), and one that
// is not does not hold the headers back. A read error other than the
// body's end is returned, as is a write error.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	var dst io.Writer = w
	if flush {
		fw := &flushWriter{w: w, rc: http.NewResponseController(w), pending: true}
		fw.t = time.AfterFunc(0, fw.delayed)
		defer fw.stop()
		dst = fw
	}
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			m, werr := dst.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if m != n {
				return io.ErrShortWrite
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}

// flushWriter writes and flushes under one lock, which the first flush,
// from a timer, takes too.
type flushWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	mu      sync.Mutex
	t       *time.Timer
	pending bool // the timer's flush is still to come
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	_ = f.rc.Flush()
	return n, err
}

func (f *flushWriter) delayed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending { // not stopped
		_ = f.rc.Flush()
		f.pending = false
	}
}

func (f *flushWriter) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = false
	f.t.Stop()
}

// printableASCII reports whether s is printable ASCII, as an upgrade's
// protocol name must be.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
