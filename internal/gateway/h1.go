package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Transport is the base transport's fast path for plain HTTP/1.1 to
// http:// upstreams. The round trip runs on the caller's goroutine: it
// writes the request and reads the response on a kept-alive connection
// itself, where http.Transport hands each request to a writing and a reading
// goroutine per connection and back. Under load that hand-off, not the
// breaker, is the largest cost a proxied request adds after the system
// calls (docs/benchmarks.md).
//
// It takes only the requests it can carry as http.Transport would: no
// body, or a body of at most h1MaxBody bytes that it can send again
// (GetBody, as a route with fallbacks buffers it), no Expect or Upgrade,
// no trailers, and an upstream that the environment's proxy settings do
// not send through a proxy. Everything else (request bodies that stream,
// upgrades, https:// upstreams) goes to fallback, the http.Transport whose
// settings it shares: dialer, idle limits, header size limit.
type h1Transport struct {
	fallback    *http.Transport
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // idle connections kept per upstream
	maxIdleAll  int           // idle connections kept in all (0: no limit)
	idleTimeout time.Duration // an idle connection older than this is closed
	maxHeader   int64         // bytes of response headers read at most

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, the most recently used last
	lru  h1List               // every idle connection, the least recently used first
	// closeIdle: CloseIdleConnections was called and no request came
	// since, so a connection given back is closed (as http.Transport does).
	closeIdle bool
	sweep     *time.Timer // closes idle connections past idleTimeout

	// proxied is by host:port whether the environment names a proxy for
	// it (a bool), asked once per upstream and read without a lock.
	proxied sync.Map
}

// h1MaxBody is the largest request body the fast path sends: one that
// fits in the socket buffers, so that writing it before reading the
// response cannot wait on an upstream that answers early without reading.
const h1MaxBody = 64 << 10

// h1MaxRetries bounds the attempts on fresh connections after a kept-alive
// one turned out to be closed.
const h1MaxRetries = 3

// max1xx is the most interim responses read before the final one: an
// upstream that sends them without end gets an error, not a proxy that
// waits forever.
const max1xx = 5

func newH1Transport(fallback *http.Transport) *h1Transport {
	t := &h1Transport{
		fallback:    fallback,
		dial:        fallback.DialContext,
		maxIdle:     fallback.MaxIdleConnsPerHost,
		maxIdleAll:  fallback.MaxIdleConns,
		idleTimeout: fallback.IdleConnTimeout,
		maxHeader:   fallback.MaxResponseHeaderBytes,
		idle:        map[string][]*h1Conn{},
	}
	if t.dial == nil {
		var d net.Dialer
		t.dial = d.DialContext
	}
	if t.maxIdle <= 0 {
		t.maxIdle = http.DefaultMaxIdleConnsPerHost
	}
	if t.maxHeader <= 0 {
		t.maxHeader = 10 << 20 // http.Transport's default
	}
	return t
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	addr, ok := t.takes(req)
	if !ok {
		return t.fallback.RoundTrip(req)
	}
	return t.roundTrip(req, addr, time.Time{})
}

// takes reports whether req goes by the fast path, and to which host:port.
func (t *h1Transport) takes(req *http.Request) (addr string, ok bool) {
	if !fastPath(req) {
		return "", false
	}
	addr = upstreamAddr(req.URL)
	return addr, !t.viaProxy(addr, req)
}

// roundTrip carries a request that t takes. A non-zero headersBy bounds
// everything until the response headers have arrived (dialing, writing the
// request, the upstream's wait), through the connection's deadline: when
// it passes first, the error is errHeaderTimeout.
func (t *h1Transport) roundTrip(req *http.Request, addr string, headersBy time.Time) (*http.Response, error) {
	if err := validRequest(req); err != nil {
		return nil, err
	}
	ctx := req.Context()
	for try := 0; ; try++ {
		if ctx.Err() != nil {
			// Not sent: AfterFunc would interrupt the write only after it
			// has started.
			return nil, context.Cause(ctx)
		}
		pc, err := t.get(ctx, addr, headersBy)
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(req, headersBy)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if !headersBy.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errHeaderTimeout
		}
		var stale *staleConnError
		if !errors.As(err, &stale) || try == h1MaxRetries {
			return nil, err
		}
		if req.GetBody != nil { // the body went to the closed connection
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			again := *req // as http.Transport rewinds a body
			again.Body = body
			req = &again
		}
	}
}

// fastPath reports whether the h1Transport carries req itself.
func fastPath(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method == http.MethodConnect || len(req.Trailer) > 0 || len(req.TransferEncoding) > 0 || req.URL.User != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody &&
		(req.GetBody == nil || req.ContentLength <= 0 || req.ContentLength > h1MaxBody) {
		return false
	}
	h := req.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return true
}

// idempotent reports whether req may be sent again after a kept-alive
// connection closed before any response came, as http.Transport does:
// safe methods, or an Idempotency-Key header.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// upstreamAddr is u's host:port, with port 80 when u names none.
func upstreamAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// viaProxy reports whether the fallback's Proxy function (the environment's,
// by default) sends requests to addr through a proxy. It is asked once per
// upstream.
func (t *h1Transport) viaProxy(addr string, req *http.Request) bool {
	if t.fallback.Proxy == nil {
		return false
	}
	if p, ok := t.proxied.Load(addr); ok {
		return p.(bool)
	}
	u, err := t.fallback.Proxy(req)
	p := err != nil || u != nil // an error is the fallback's to report
	t.proxied.Store(addr, p)
	return p
}

// get returns an idle connection to addr, or a new one. An idle connection
// is first checked by its peeker (where the platform lets it look without
// reading; release kept none with bytes buffered): one that the upstream
// closed, or sent anything on while it was idle (http.Transport's
// "unsolicited response"), is closed instead.
func (t *h1Transport) get(ctx context.Context, addr string, dialBy time.Time) (*h1Conn, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		t.closeIdle = false
		pc := t.takeIdle(addr)
		t.mu.Unlock()
		if pc == nil {
			break
		}
		if t.idleTimeout > 0 && now.Sub(pc.idleAt) > t.idleTimeout || !pc.peek.alive() {
			pc.close()
			continue
		}
		pc.reused = true
		return pc, nil
	}
	dctx := ctx
	if !dialBy.IsZero() {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dialBy)
		defer cancel()
	}
	c, err := t.dial(dctx, "tcp", addr)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case dctx.Err() != nil:
			return nil, errHeaderTimeout
		}
		return nil, err
	}
	pc := &h1Conn{t: t, addr: addr, conn: c, peek: newPeeker(c)}
	pc.interrupt = func() { _ = c.SetDeadline(aLongTimeAgo) }
	pc.lr = io.LimitedReader{R: c, N: noLimit}
	pc.br = bufio.NewReader(&pc.lr)
	pc.bw = bufio.NewWriter(sentCounter{pc})
	return pc, nil
}

// put keeps pc for the next request to its upstream, or closes it when
// enough are kept for that upstream; when enough are kept in all, the
// least recently used one goes instead.
func (t *h1Transport) put(pc *h1Conn) {
	pc.idleAt = time.Now()
	pc.reused = false
	var evicted *h1Conn
	t.mu.Lock()
	list := t.idle[pc.addr]
	if t.closeIdle || len(list) >= t.maxIdle {
		t.mu.Unlock()
		pc.close()
		return
	}
	t.idle[pc.addr] = append(list, pc)
	t.lru.push(pc)
	if t.maxIdleAll > 0 && t.lru.n > t.maxIdleAll {
		evicted = t.lru.head
		t.removeIdle(evicted)
	}
	if t.sweep == nil && t.idleTimeout > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout, t.closeStale)
	}
	t.mu.Unlock()
	if evicted != nil {
		evicted.close()
	}
}

// takeIdle removes and returns the most recently used idle connection to
// addr, or nil. t.mu is held.
func (t *h1Transport) takeIdle(addr string) *h1Conn {
	list := t.idle[addr]
	n := len(list)
	if n == 0 {
		return nil
	}
	pc := list[n-1]
	list[n-1] = nil
	t.idle[addr] = list[:n-1] // the key and its capacity stay for the next put
	t.lru.remove(pc)
	return pc
}

// removeIdle removes the idle connection pc. t.mu is held.
func (t *h1Transport) removeIdle(pc *h1Conn) {
	list := t.idle[pc.addr]
	if i := slices.Index(list, pc); i >= 0 { // 0 for the least recently used
		t.idle[pc.addr] = slices.Delete(list, i, i+1)
	}
	t.lru.remove(pc)
}

// closeStale closes the connections idle for longer than idleTimeout, and
// runs again when the next one will be, while any are left.
func (t *h1Transport) closeStale() {
	var stale []*h1Conn
	now := time.Now()
	t.mu.Lock()
	for pc := t.lru.head; pc != nil && now.Sub(pc.idleAt) > t.idleTimeout; pc = t.lru.head {
		t.removeIdle(pc)
		stale = append(stale, pc)
	}
	if pc := t.lru.head; pc != nil {
		t.sweep.Reset(t.idleTimeout - now.Sub(pc.idleAt))
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, pc := range stale {
		pc.close()
	}
}

// CloseIdleConnections closes the idle connections of the fast path and of
// the fallback. Connections in use are closed when their response is done,
// unless a request came in between (as with http.Transport).
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.lru = h1List{}
	t.closeIdle = true
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// h1Conn is a connection to an upstream, used by one request at a time.
type h1Conn struct {
	t      *h1Transport
	addr   string
	conn   net.Conn
	lr     io.LimitedReader // N bounds the response headers, noLimit otherwise
	peek   *peeker          // checks the connection before it is reused
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	reused bool  // it served a request before this one
	sent   int64 // bytes written to conn, in all
	// interrupt ends a blocked read or write at once (a request's context
	// was canceled): made once per connection, not per request.
	interrupt func()
	// prev and next link the idle connections, least recently used first.
	prev, next *h1Conn
}

// h1List is a list of idle connections through their prev and next.
type h1List struct {
	head, tail *h1Conn
	n          int
}

func (l *h1List) push(pc *h1Conn) {
	pc.prev, pc.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = pc
	} else {
		l.head = pc
	}
	l.tail = pc
	l.n++
}

func (l *h1List) remove(pc *h1Conn) {
	if pc.prev != nil {
		pc.prev.next = pc.next
	} else {
		l.head = pc.next
	}
	if pc.next != nil {
		pc.next.prev = pc.prev
	} else {
		l.tail = pc.prev
	}
	pc.prev, pc.next = nil, nil
	l.n--
}

// sentCounter writes to its connection and counts the bytes that went.
type sentCounter struct{ pc *h1Conn }

func (w sentCounter) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	w.pc.sent += int64(n)
	return n, err
}

// staleConnError is the error of a request sent on a kept-alive connection
// that the upstream had closed: it did not get the request, so the request
// may be sent again on a new connection.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// noLimit is the limit of an h1Conn's reader outside the response headers.
const noLimit = math.MaxInt64

// aLongTimeAgo is a deadline in the past: it interrupts the blocked read or
// write of a connection at once.
var aLongTimeAgo = time.Unix(1, 0)

func (pc *h1Conn) close() { _ = pc.conn.Close() }

// roundTrip writes req and reads its response. The response's body gives
// the connection back (or closes it) when it is read to its end or closed.
// Canceling req's context interrupts the round trip or the body's reading.
func (pc *h1Conn) roundTrip(req *http.Request, headersBy time.Time) (*http.Response, error) {
	ctx := req.Context()
	if !headersBy.IsZero() {
		// Before the interruption is armed, so as not to undo it.
		_ = pc.conn.SetDeadline(headersBy)
	}
	stop := context.AfterFunc(ctx, pc.interrupt)
	resp, err := pc.exchange(req)
	if err == nil && !headersBy.IsZero() {
		// The body is never cut by the gateway; an interruption that came
		// in between is made again.
		_ = pc.conn.SetDeadline(time.Time{})
		if ctx.Err() != nil {
			_ = pc.conn.SetDeadline(aLongTimeAgo)
		}
	}
	if err != nil { // the caller turns it into the context's cause if that ended it
		stop()
		pc.close()
		return nil, err
	}
	reuse := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		pc.release(stop, reuse)
		return resp, nil
	}
	resp.Body = &h1Body{pc: pc, ctx: ctx, body: resp.Body, stop: stop, reuse: reuse}
	return resp, nil
}

// exchange writes req and reads the response headers, skipping interim
// (1xx) responses after telling the request's httptrace.ClientTrace of
// them, as http.Transport does (httputil.ReverseProxy forwards them so).
func (pc *h1Conn) exchange(req *http.Request) (*http.Response, error) {
	before := pc.sent
	err := writeRequest(pc.bw, req)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		// As http.Transport: a request of which the upstream may have
		// received a part is sent again only if that is safe.
		if pc.reused && (pc.sent == before || idempotent(req)) {
			return nil, &staleConnError{err}
		}
		return nil, err
	}
	pc.lr.N = pc.t.maxHeader
	defer func() { pc.lr.N = noLimit }()
	for n1xx := 0; ; n1xx++ {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			switch {
			case pc.lr.N == 0:
				return nil, fmt.Errorf("gateway: the upstream's response headers exceeded %d bytes", pc.t.maxHeader)
			case pc.reused && n1xx == 0 && pc.lr.N == pc.t.maxHeader && idempotent(req) &&
				(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)):
				// Not a byte of a response: the upstream had closed the
				// connection while it was idle.
				return nil, &staleConnError{err}
			}
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 {
			return resp, nil
		}
		if code == http.StatusSwitchingProtocols {
			return nil, errors.New("gateway: 101 Switching Protocols to a request that asked for no upgrade")
		}
		if n1xx == max1xx {
			return nil, errors.New("net/http: too many 1xx informational responses")
		}
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// release ends pc's use by a request: back to the idle connections when
// reuse holds, the request's context did not interrupt it and nothing was
// sent after the response, else closed.
func (pc *h1Conn) release(stop func() bool, reuse bool) {
	// Bytes after the response's end are not the start of the next one.
	if stop() && reuse && pc.br.Buffered() == 0 {
		pc.t.put(pc)
		return
	}
	pc.close()
}

// h1Body is a response body on the fast path: read to its end, it gives
// its connection back for the next request; closed before, it closes the
// connection (the rest of the body is not read).
type h1Body struct {
	pc    *h1Conn
	ctx   context.Context // the request's: its cancellation interrupts a read
	body  io.ReadCloser   // never closed: that would read the rest
	stop  func() bool     // ends the request context's hold on the connection
	reuse bool
	eof   atomic.Bool // read to its end (set before done)
	done  atomic.Bool // the connection was given back or closed
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done.Load() {
		if b.eof.Load() {
			return 0, io.EOF
		}
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.body.Read(p)
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		b.eof.Store(true)
	} else if b.ctx.Err() != nil {
		// The deadline that interrupted the read is the context's doing.
		err = context.Cause(b.ctx)
	}
	if b.done.CompareAndSwap(false, true) {
		b.pc.release(b.stop, b.reuse && err == io.EOF)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end; a Read
// blocked on it returns.
func (b *h1Body) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.pc.release(b.stop, false)
	}
	return nil
}
