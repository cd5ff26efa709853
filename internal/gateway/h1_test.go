package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// h1Wait bounds every wait of these tests for something that must happen
// (a response, an error, a connection closing): long enough for a loaded
// machine, short enough to fail instead of hanging.
const h1Wait = 5 * time.Second

// h1Upstream is a loopback HTTP server that counts the connections opened
// to it and reports each one's end.
type h1Upstream struct {
	*httptest.Server
	addr    string
	opened  atomic.Int32
	nclosed atomic.Int32
	closed  chan struct{} // a value per connection closed
}

// newH1Upstream serves h on loopback until the test ends; set, if not nil,
// configures the server before it starts.
func newH1Upstream(t *testing.T, h http.Handler, set func(*http.Server)) *h1Upstream {
	t.Helper()
	u := &h1Upstream{closed: make(chan struct{}, 1024)}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			u.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.nclosed.Add(1)
			u.closed <- struct{}{}
		}
	}
	if set != nil {
		set(u.Config)
	}
	u.Start()
	u.addr = u.Listener.Addr().String()
	t.Cleanup(u.Close)
	return u
}

// waitClosed waits until n more connections to u have closed.
func (u *h1Upstream) waitClosed(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(h1Wait)
	for i := range n {
		select {
		case <-u.closed:
		case <-timeout:
			t.Fatalf("the upstream saw %d of %d connection(s) close within %v", i, n, h1Wait)
		}
	}
}

// rawUpstream accepts connections on loopback and serves each with serve,
// on a goroutine of its own, until the test ends: for upstreams that
// misbehave in ways net/http's server does not.
type rawUpstream struct {
	URL    string
	addr   string
	opened atomic.Int32
}

func newRawUpstream(t *testing.T, serve func(c net.Conn)) *rawUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: l.Addr().String()}
	u.URL = "http://" + u.addr
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open []net.Conn
		done bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			open = append(open, c)
			wg.Add(1)
			mu.Unlock()
			u.opened.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		done = true
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return u
}

// readRawRequest reads a request and its body from br.
func readRawRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(req.Body)
	return req, string(body), err
}

// newTestH1 returns the fast path over NewBaseTransport without a proxy,
// changed by set if not nil; its idle connections are closed when the test
// ends.
func newTestH1(t *testing.T, set func(*http.Transport)) *h1Transport {
	t.Helper()
	base := NewBaseTransport()
	base.Proxy = nil
	if set != nil {
		set(base)
	}
	tr := newH1Transport(base)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// referenceTransports make the fast path, and http.Transport with the
// same settings as the reference for what it must do alike.
var referenceTransports = map[string]func(t *testing.T) http.RoundTripper{
	"h1": func(t *testing.T) http.RoundTripper { return newTestH1(t, nil) },
	"http.Transport": func(t *testing.T) http.RoundTripper {
		tr := NewBaseTransport()
		tr.Proxy = nil
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	},
}

// h1Idle is the number of idle fast-path connections to addr.
func h1Idle(tr *h1Transport, addr string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.idle[addr])
}

// h1Do sends method url (with body, if not nil) through rt and returns
// the response with its body read and closed.
func h1Do(t *testing.T, rt http.RoundTripper, method, url string, body []byte) (*http.Response, string) {
	t.Helper()
	return h1Send(t, rt, h1Request(t, method, url, body))
}

// h1Request is a request for method url with body, if not nil, replayable
// as a route with fallbacks buffers it.
func h1Request(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// h1Send sends req through rt and returns the response with its body read
// and closed.
func h1Send(t *testing.T, rt http.RoundTripper, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := readWithin(t, resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// readWithin reads r to its end, failing the test if that takes longer
// than h1Wait.
func readWithin(t *testing.T, r io.Reader) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-time.After(h1Wait):
		t.Fatalf("reading the body did not end within %v", h1Wait)
		return nil, nil
	}
}

// recvWithin receives from c, failing the test if nothing comes within
// h1Wait.
func recvWithin[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(h1Wait):
		t.Fatalf("nothing came within %v", h1Wait)
		var zero T
		return zero
	}
}

// readPastFirst reads "first" from body, then starts a Read of what
// follows, for the test to end while it is blocked; its error comes on the
// channel returned.
func readPastFirst(t *testing.T, body io.Reader) <-chan error {
	t.Helper()
	buf := make([]byte, len("first"))
	if _, err := io.ReadFull(body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("the body starts %q, %v; want first", buf, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := body.Read(buf)
		errc <- err
	}()
	return errc
}

// h1Gateway serves one route /up/ to upstream through gateway.New with the
// default transport, and returns that transport's fast path.
func h1Gateway(t *testing.T, upstream string) (*httptest.Server, *h1Transport) {
	t.Helper()
	reg := newRegistry(t, breaker.Config{Name: "up"})
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.DiscardHandler)}, nil,
		config.Route{Prefix: "/up/", Upstream: u, Breaker: "up", Timeout: h1Wait})
	tr, ok := g.tr.base.(*h1Transport)
	if !ok {
		t.Fatalf("the gateway's default transport is a %T, want the fast path", g.tr.base)
	}
	return front, tr
}

func okHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
}

// Sequential requests share one kept-alive connection, concurrent ones at
// most one each, directly and through the gateway.
func TestH1KeepAlive(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		up := newH1Upstream(t, okHandler("ok"), nil)
		tr := newTestH1(t, nil)
		for i := range 50 {
			if _, body := h1Do(t, tr, "GET", up.URL+"/"+strconv.Itoa(i), nil); body != "ok" {
				t.Fatalf("request %d: body %q", i, body)
			}
		}
		if n := up.opened.Load(); n != 1 {
			t.Errorf("50 sequential GETs opened %d connections, want 1", n)
		}
		if n := h1Idle(tr, up.addr); n != 1 {
			t.Errorf("%d idle fast-path connections, want 1", n)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		const workers, each = 8, 25
		up := newH1Upstream(t, okHandler("ok"), nil)
		tr := newTestH1(t, nil)
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					req, _ := http.NewRequest("GET", up.URL+"/", nil)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						errs <- err
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || string(b) != "ok" {
						errs <- fmt.Errorf("body %q, %v", b, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := up.opened.Load(); n < 1 || n > workers {
			t.Errorf("%d concurrent workers opened %d connections, want 1 to %d", workers, n, workers)
		}
		if n := h1Idle(tr, up.addr); n != int(up.opened.Load()) {
			t.Errorf("%d idle fast-path connections, want all %d opened", n, up.opened.Load())
		}
	})
	t.Run("gateway", func(t *testing.T) {
		up := newH1Upstream(t, okHandler("ok"), nil)
		front, tr := h1Gateway(t, up.URL)
		for i := range 50 {
			if resp, body := get(t, front.URL+"/up/x"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
		if n := up.opened.Load(); n != 1 {
			t.Errorf("50 sequential GETs through the gateway opened %d upstream connections, want 1", n)
		}
		if n := h1Idle(tr, up.addr); n != 1 {
			t.Errorf("%d idle fast-path connections, want 1", n)
		}
	})
}

// oneShot is a raw upstream that answers one request per connection
// ("HTTP/1.1 200", Content-Length, no Connection: close) and then closes
// the connection, as one whose keep-alive timeout expired does. It records
// each request's method and body, and signals each close on closed.
type oneShot struct {
	*rawUpstream
	mu     sync.Mutex
	got    []string // "METHOD body"
	closed chan struct{}
}

func newOneShot(t *testing.T) *oneShot {
	u := &oneShot{closed: make(chan struct{}, 16)}
	u.rawUpstream = newRawUpstream(t, func(c net.Conn) {
		req, body, err := readRawRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		u.mu.Lock()
		u.got = append(u.got, req.Method+" "+body)
		u.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		u.closed <- struct{}{}
	})
	return u
}

func (u *oneShot) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

func (u *oneShot) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-u.closed:
	case <-time.After(h1Wait):
		t.Fatal("the upstream did not close its connection")
	}
}

// perConnUpstream is a raw upstream that records the requests it receives
// on each connection, in the order the connections were opened, and
// answers each ("HTTP/1.1 200", Content-Length, kept alive). It closes its
// first connection after the first response, once closeFirst is closed,
// and then closes firstClosed.
type perConnUpstream struct {
	*rawUpstream
	mu          sync.Mutex
	got         [][]string // per connection: "METHOD /path body"
	closeFirst  chan struct{}
	firstClosed chan struct{}
}

func newPerConnUpstream(t *testing.T) *perConnUpstream {
	u := &perConnUpstream{closeFirst: make(chan struct{}), firstClosed: make(chan struct{})}
	u.rawUpstream = newRawUpstream(t, func(c net.Conn) {
		u.mu.Lock()
		i := len(u.got) // the test opens one connection at a time
		u.got = append(u.got, []string{})
		u.mu.Unlock()
		br := bufio.NewReader(c)
		for {
			req, body, err := readRawRequest(br)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.got[i] = append(u.got[i], strings.TrimSpace(req.Method+" "+req.URL.Path+" "+body))
			u.mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			if i == 0 {
				<-u.closeFirst
				c.Close()
				close(u.firstClosed)
				return
			}
		}
	})
	return u
}

// received is what the upstream received, per connection.
func (u *perConnUpstream) received() [][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.got)
}

// writeLog is a dialer for the fast path that records what the transport
// writes on each connection it opens, in the order it opened them, and the
// read deadlines it sets on them, and can run a hook before each write. Its
// connections keep their socket (SyscallConn), so that the fast path checks
// an idle one as it does a plain one.
type writeLog struct {
	mu        sync.Mutex
	written   []*bytes.Buffer
	deadlines [][]time.Time // per connection, the read deadlines set, in order
	// beforeWrite, if not nil, runs before the w-th write (from 0) on the
	// conn-th connection (from 0), on the writing goroutine.
	beforeWrite func(conn, w int, c net.Conn)
}

func (l *writeLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written = append(l.written, new(bytes.Buffer))
	l.deadlines = append(l.deadlines, nil)
	return &loggedConn{Conn: c, log: l, i: len(l.written) - 1}, nil
}

// readDeadlines is the read deadlines set on each connection, in order.
func (l *writeLog) readDeadlines() [][]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([][]time.Time, len(l.deadlines))
	for i, d := range l.deadlines {
		all[i] = slices.Clone(d)
	}
	return all
}

// requests is what was written on each connection, as "METHOD /path body"
// per request.
func (l *writeLog) requests(t *testing.T) [][]string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([][]string, len(l.written))
	for i, buf := range l.written {
		all[i] = []string{}
		br := bufio.NewReader(bytes.NewReader(buf.Bytes()))
		for {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			req, body, err := readRawRequest(br)
			if err != nil {
				t.Fatalf("connection %d: what the transport wrote is not a sequence of requests: %v", i, err)
			}
			all[i] = append(all[i], strings.TrimSpace(req.Method+" "+req.URL.Path+" "+body))
		}
	}
	return all
}

type loggedConn struct {
	net.Conn
	log    *writeLog
	i      int
	writes int // the transport writes on one goroutine at a time
}

func (c *loggedConn) Write(p []byte) (int, error) {
	if hook := c.log.beforeWrite; hook != nil {
		hook(c.i, c.writes, c.Conn)
	}
	c.writes++
	n, err := c.Conn.Write(p)
	c.log.mu.Lock()
	c.log.written[c.i].Write(p[:n])
	c.log.mu.Unlock()
	return n, err
}

func (c *loggedConn) SetDeadline(t time.Time) error {
	c.readDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *loggedConn) SetReadDeadline(t time.Time) error {
	c.readDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *loggedConn) readDeadline(t time.Time) {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.deadlines[c.i] = append(c.log.deadlines[c.i], t)
}

func (c *loggedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// closeAfterCheck makes up close its first connection as the second
// request is written on it (its second write: the idle connection has been
// checked and found open), and that write wait for the upstream's FIN: the
// race that no check before reuse closes.
func closeAfterCheck(t *testing.T, up *perConnUpstream, wl *writeLog) {
	wl.beforeWrite = func(conn, w int, c net.Conn) {
		if conn != 0 || w != 1 {
			return
		}
		close(up.closeFirst)
		recvWithin(t, up.firstClosed)
		p := newPeeker(c)
		testutil.WaitFor(t, "the upstream's FIN on the first connection", h1Wait, func() bool { return !p.alive() })
	}
}

// A kept-alive connection that the upstream closed while it was idle. When
// the close shows before the request is sent (the idle connection is
// checked), the request goes on a new connection, and nothing of it on the
// closed one. When the upstream closes it just after that check, as the
// request is written (the race that no check closes, and the only case on
// platforms without one), the request has gone to the closed connection:
// a GET, or a POST with an Idempotency-Key, is sent again, whole, on a new
// connection; a POST without one is not, since the transport cannot know
// that the upstream did not act on it, and its error is returned.
//
// What the transport wrote is recorded per connection on its side, and
// what the upstream received per connection on its own: the request
// written on the closed connection never reaches the upstream, and a
// retry shows as the same request written on two connections.
func TestH1StaleConnection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		method, key string
		afterCheck  bool
		resent      bool // sent again on a new connection
	}{
		{"GET, closed before the check", "GET", "", false, false},
		{"POST, closed before the check", "POST", "", false, false},
		{"POST with Idempotency-Key, closed before the check", "POST", "k", false, false},
		{"GET, closed after the check", "GET", "", true, true},
		{"POST, closed after the check", "POST", "", true, false},
		{"POST with Idempotency-Key, closed after the check", "POST", "k", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newPerConnUpstream(t)
			wl := &writeLog{}
			tr := newTestH1(t, nil)
			tr.dial = wl.dial
			body := func(s string) []byte {
				if tc.method == "GET" {
					return nil
				}
				return []byte(s)
			}
			line := func(path, b string) string {
				return strings.TrimSpace(tc.method + " " + path + " " + string(body(b)))
			}
			first, second := line("/1", "one"), line("/2", "two")

			h1Do(t, tr, tc.method, up.URL+"/1", body("one"))
			if tc.afterCheck {
				// The second request's write on the first connection is
				// its first write: the idle connection has been checked
				// and found open. The upstream closes it then, and the
				// write waits for its FIN.
				closeAfterCheck(t, up, wl)
			} else {
				close(up.closeFirst)
				recvWithin(t, up.firstClosed)
				waitFIN(t, tr, up.addr)
			}

			req := h1Request(t, tc.method, up.URL+"/2", body("two"))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			resp, err := tr.RoundTrip(req)
			wantErr := tc.afterCheck && !tc.resent
			switch {
			case err == nil && wantErr:
				resp.Body.Close()
				t.Error("RoundTrip succeeded; want the error of the closed connection")
			case err == nil:
				b, rerr := readWithin(t, resp.Body)
				resp.Body.Close()
				if string(b) != "ok" || rerr != nil {
					t.Errorf("body %q, %v", b, rerr)
				}
			case !wantErr:
				t.Fatalf("RoundTrip: %v", err)
			}

			var wantWritten, wantReceived [][]string
			switch {
			case !tc.afterCheck:
				wantWritten = [][]string{{first}, {second}}
				wantReceived = [][]string{{first}, {second}}
			case tc.resent:
				wantWritten = [][]string{{first, second}, {second}}
				wantReceived = [][]string{{first}, {second}}
			default:
				wantWritten = [][]string{{first, second}}
				wantReceived = [][]string{{first}}
			}
			eq := func(a, b []string) bool { return slices.Equal(a, b) }
			if got := wl.requests(t); !slices.EqualFunc(got, wantWritten, eq) {
				t.Errorf("the transport wrote, per connection, %q; want %q", got, wantWritten)
			}
			if got := up.received(); !slices.EqualFunc(got, wantReceived, eq) {
				t.Errorf("the upstream received, per connection, %q; want %q", got, wantReceived)
			}
		})
	}
	t.Run("server IdleTimeout", func(t *testing.T) {
		up := newH1Upstream(t, okHandler("ok"), func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
		tr := newTestH1(t, nil)
		h1Do(t, tr, "GET", up.URL+"/", nil)
		up.waitClosed(t, 1)
		if _, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "ok" {
			t.Errorf("body %q", body)
		}
		if n := up.opened.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
}

// waitFIN waits until the one idle connection to addr shows that the
// upstream closed it: on loopback the FIN follows the close at once, but
// nothing orders it before the test's next request.
func waitFIN(t *testing.T, tr *h1Transport, addr string) {
	t.Helper()
	testutil.WaitFor(t, "the upstream's FIN on the idle connection", h1Wait, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		list := tr.idle[addr]
		return len(list) == 1 && !list[0].peek.alive()
	})
}

// Responses that end their connection: the body is whole, and the
// connection is not used again.
func TestH1ConnectionNotReused(t *testing.T) {
	t.Run("Connection: close", func(t *testing.T) {
		up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}), nil)
		tr := newTestH1(t, nil)
		for range 2 {
			if resp, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "bye" || !resp.Close {
				t.Errorf("body %q, Close %v", body, resp.Close)
			}
			if n := h1Idle(tr, up.addr); n != 0 {
				t.Errorf("%d idle connections, want 0", n)
			}
		}
		up.waitClosed(t, 2)
		if n := up.opened.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
	t.Run("close-delimited body", func(t *testing.T) {
		want := strings.Repeat("0123456789", 1000)
		up := newRawUpstream(t, func(c net.Conn) {
			if _, _, err := readRawRequest(bufio.NewReader(c)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"+want)
		})
		tr := newTestH1(t, nil)
		for range 2 {
			resp, body := h1Do(t, tr, "GET", up.URL+"/", nil)
			if body != want || resp.ContentLength != -1 {
				t.Errorf("body of %d bytes (Content-Length %d), want the %d sent", len(body), resp.ContentLength, len(want))
			}
			if n := h1Idle(tr, up.addr); n != 0 {
				t.Errorf("%d idle connections, want 0", n)
			}
		}
		if n := up.opened.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
	t.Run("HTTP/1.0 without keep-alive", func(t *testing.T) {
		up := newRawUpstream(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				if _, _, err := readRawRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		tr := newTestH1(t, nil)
		for range 2 {
			if _, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "ok" {
				t.Errorf("body %q", body)
			}
		}
		if n := up.opened.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
}

// A chunked response with trailers: the body and the trailers arrive, and
// the connection serves the next request.
func TestH1ChunkedTrailers(t *testing.T) {
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("X-Checksum", "c0ffee")
	}), nil)
	tr := newTestH1(t, nil)
	for i := range 3 {
		resp, body := h1Do(t, tr, "GET", up.URL+"/", nil)
		if body != "part1,part2" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" ||
			resp.Trailer.Get("X-Checksum") != "c0ffee" {
			t.Errorf("request %d: body %q, Transfer-Encoding %q, trailers %v", i, body, resp.TransferEncoding, resp.Trailer)
		}
	}
	if n := up.opened.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}

	front, _ := h1Gateway(t, up.URL)
	resp, body := get(t, front.URL+"/up/x")
	if body != "part1,part2" || resp.Trailer.Get("X-Checksum") != "c0ffee" {
		t.Errorf("through the gateway: body %q, trailers %v", body, resp.Trailer)
	}
}

// Responses without a body (HEAD, 204, 304) end at their headers: reading
// the body does not wait for one, and the connection serves the next
// request.
func TestH1NoBodyResponses(t *testing.T) {
	full := strings.Repeat("x", 1000)
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(full)))
			io.WriteString(w, full) // not sent for HEAD
		}
	}), nil)
	tr := newTestH1(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"HEAD", "/", 200, ""},
		{"GET", "/204", 204, ""},
		{"GET", "/304", 304, ""},
		{"HEAD", "/", 200, ""},
		{"GET", "/", 200, full}, // the connection is still in step
	} {
		resp, body := h1Do(t, tr, tc.method, up.URL+tc.path, nil)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s %s: %d with %d bytes, want %d with %d", tc.method, tc.path, resp.StatusCode, len(body), tc.status, len(tc.body))
		}
		if n := h1Idle(tr, up.addr); n != 1 {
			t.Errorf("%s %s: %d idle connections after it, want 1", tc.method, tc.path, n)
		}
	}
	if n := up.opened.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// A body closed before its end closes its connection, without reading the
// rest; the next request works on a new one; no goroutine is left.
func TestH1BodyClosedEarly(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	const large = 4 << 20
	stalled := make(chan struct{})
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("y"), 16<<10)
		switch r.URL.Path {
		case "/endless":
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/large":
			w.Header().Set("Content-Length", strconv.Itoa(large))
			for range large / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/stalled":
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-stalled:
			}
		default:
			io.WriteString(w, "ok")
		}
	}), nil)
	t.Cleanup(func() { close(stalled) }) // before up.Close, which waits for the handlers
	tr := newTestH1(t, nil)
	for _, path := range []string{"/endless", "/large"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", up.URL+path, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			up.waitClosed(t, 1)
			if _, err := resp.Body.Read(buf); !errors.Is(err, http.ErrBodyReadAfterClose) {
				t.Errorf("Read after Close: %v, want %v", err, http.ErrBodyReadAfterClose)
			}
			if _, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "ok" {
				t.Errorf("next request: body %q", body)
			}
		})
	}
	t.Run("Read blocked", func(t *testing.T) {
		req, _ := http.NewRequest("GET", up.URL+"/stalled", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readErr := readPastFirst(t, resp.Body)
		resp.Body.Close()
		if err := recvWithin(t, readErr); err == nil {
			t.Error("a Read blocked on a closed body returned no error")
		}
		up.waitClosed(t, 1)
		if n := h1Idle(tr, up.addr); n != 0 {
			t.Errorf("%d idle connections, want 0", n)
		}
	})
}

// Canceling the request's context ends the wait for the response headers
// and a Read on a stalled body at once, with the context's error; the
// connection is closed. http.Transport is the reference.
func TestH1ContextCanceled(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	release := make(chan struct{})
	arrived := make(chan string, 1)
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
		}
		arrived <- r.URL.Path
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}), nil)
	t.Cleanup(func() { close(release) }) // before up.Close, which waits for the handlers
	errCause := errors.New("the test hung up")
	// ended cancels with cause and checks that what waited on the
	// connection (errc) returned with the context's error or the cause, and
	// that the connection was closed, not kept.
	ended := func(t *testing.T, rt http.RoundTripper, what string, cancel context.CancelCauseFunc, cause error, errc <-chan error) {
		t.Helper()
		cancel(cause)
		if err := recvWithin(t, errc); !errors.Is(err, context.Canceled) && (cause == nil || !errors.Is(err, cause)) {
			t.Errorf("%s: %v, want %v or its cause", what, err, context.Canceled)
		}
		up.waitClosed(t, 1)
		if tr, ok := rt.(*h1Transport); ok && h1Idle(tr, up.addr) != 0 {
			t.Error("the connection was kept")
		}
	}
	for _, name := range []string{"h1", "http.Transport"} {
		for _, cause := range []error{nil, errCause} {
			t.Run(fmt.Sprintf("%s/cause %v/headers", name, cause), func(t *testing.T) {
				rt := referenceTransports[name](t)
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				req, _ := http.NewRequestWithContext(ctx, "GET", up.URL+"/headers", nil)
				errc := make(chan error, 1)
				go func() {
					resp, err := rt.RoundTrip(req)
					if err == nil {
						resp.Body.Close()
					}
					errc <- err
				}()
				recvWithin(t, arrived)
				ended(t, rt, "RoundTrip", cancel, cause, errc)
			})
			t.Run(fmt.Sprintf("%s/cause %v/body", name, cause), func(t *testing.T) {
				rt := referenceTransports[name](t)
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				req, _ := http.NewRequestWithContext(ctx, "GET", up.URL+"/body", nil)
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				recvWithin(t, arrived)
				ended(t, rt, "the body's Read", cancel, cause, readPastFirst(t, resp.Body))
			})
		}
	}
}

// Response headers over MaxResponseHeaderBytes: an error after reading
// about that many bytes, not a wait for the rest; the request is not sent
// again.
func TestH1MaxResponseHeaderBytes(t *testing.T) {
	const limit = 1 << 10
	var big atomic.Int32
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			big.Add(1)
			w.Header().Set("X-Big", strings.Repeat("b", 8*limit))
		}
		io.WriteString(w, "ok")
	}), nil)
	tr := newTestH1(t, func(base *http.Transport) { base.MaxResponseHeaderBytes = limit })
	check := func(t *testing.T, url string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: %d, want an error", url, resp.StatusCode)
			return
		}
		if !strings.Contains(err.Error(), "exceeded") {
			t.Errorf("%s: %v, want the header limit exceeded", url, err)
		}
	}
	t.Run("new connection", func(t *testing.T) {
		big.Store(0)
		check(t, up.URL+"/big")
		if n := big.Load(); n != 1 {
			t.Errorf("the upstream got the request %d times, want 1", n)
		}
	})
	t.Run("kept-alive connection", func(t *testing.T) {
		big.Store(0)
		h1Do(t, tr, "GET", up.URL+"/small", nil)
		check(t, up.URL+"/big")
		if n := big.Load(); n != 1 {
			t.Errorf("the upstream got the request %d times, want 1", n)
		}
	})
	t.Run("endless header", func(t *testing.T) {
		up := newRawUpstream(t, func(c net.Conn) {
			if _, _, err := readRawRequest(bufio.NewReader(c)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Endless: ")
			chunk := bytes.Repeat([]byte("e"), 16<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		})
		// The round trip runs on its own goroutine, the checks on the
		// test's: a goroutine must not report after the test has ended.
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("GET", up.URL+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		if err := recvWithin(t, errc); err == nil || !strings.Contains(err.Error(), "exceeded") {
			t.Errorf("an endless header: %v, want the header limit exceeded", err)
		}
	})
}

// 1xx interim responses: told to the request's trace (which ReverseProxy
// forwards to the client), up to max1xx of them.
func TestH1InterimResponses(t *testing.T) {
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Link", "</style.css>; rel=preload")
		for range n {
			w.WriteHeader(http.StatusEarlyHints)
		}
		w.Header().Del("Link")
		io.WriteString(w, "final")
	}), nil)
	do := func(t *testing.T, rt http.RoundTripper, url string) (codes []int, links []string, resp *http.Response, body string, err error) {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				codes = append(codes, code)
				links = append(links, h.Get("Link"))
				return nil
			},
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err = rt.RoundTrip(req)
		if err != nil {
			return codes, links, nil, "", err
		}
		defer resp.Body.Close()
		b, err := readWithin(t, resp.Body)
		return codes, links, resp, string(b), err
	}
	t.Run("through the gateway", func(t *testing.T) {
		front, tr := h1Gateway(t, up.URL)
		codes, links, resp, body, err := do(t, http.DefaultTransport, front.URL+"/up/x?n=1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(codes, []int{103}) || links[0] != "</style.css>; rel=preload" || resp.StatusCode != 200 || body != "final" {
			t.Errorf("interim %v %q, then %d %q; want one 103 with its Link, then 200 final", codes, links, resp.StatusCode, body)
		}
		if n := h1Idle(tr, up.addr); n != 1 {
			t.Errorf("%d idle fast-path connections, want 1", n)
		}
	})
	tr := newTestH1(t, nil)
	t.Run("max1xx", func(t *testing.T) {
		codes, _, resp, body, err := do(t, tr, up.URL+"/?n="+strconv.Itoa(max1xx))
		if err != nil || len(codes) != max1xx || resp.StatusCode != 200 || body != "final" {
			t.Fatalf("%d interim, then %v %q", len(codes), err, body)
		}
	})
	t.Run("too many", func(t *testing.T) {
		_, _, _, _, err := do(t, tr, up.URL+"/?n="+strconv.Itoa(max1xx+1))
		if err == nil || !strings.Contains(err.Error(), "too many 1xx") {
			t.Errorf("err = %v, want too many 1xx", err)
		}
		if n := h1Idle(tr, up.addr); n != 0 {
			t.Errorf("%d idle connections, want 0", n)
		}
	})
}

// Requests the fast path cannot carry as http.Transport would go to the
// fallback.
func TestH1FallbackRouting(t *testing.T) {
	t.Run("fastPath", func(t *testing.T) {
		req := func(method, url string, body io.Reader, set func(*http.Request)) *http.Request {
			r, err := http.NewRequest(method, url, body)
			if err != nil {
				t.Fatal(err)
			}
			if set != nil {
				set(r)
			}
			return r
		}
		small := func() io.Reader { return strings.NewReader("small") }
		for name, tc := range map[string]struct {
			req  *http.Request
			fast bool
		}{
			"GET":                  {req("GET", "http://u/", nil, nil), true},
			"replayable body":      {req("POST", "http://u/", small(), nil), true},
			"64 KiB body":          {req("POST", "http://u/", bytes.NewReader(make([]byte, h1MaxBody)), nil), true},
			"empty body":           {req("POST", "http://u/", strings.NewReader(""), nil), true},
			"streaming body":       {req("POST", "http://u/", onlyReader{small()}, nil), false},
			"body over 64 KiB":     {req("POST", "http://u/", bytes.NewReader(make([]byte, h1MaxBody+1)), nil), false},
			"Expect":               {req("POST", "http://u/", small(), func(r *http.Request) { r.Header.Set("Expect", "100-continue") }), false},
			"Upgrade":              {req("GET", "http://u/", nil, func(r *http.Request) { r.Header.Set("Connection", "Upgrade"); r.Header.Set("Upgrade", "websocket") }), false},
			"trailers":             {req("POST", "http://u/", small(), func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} }), false},
			"chunked":              {req("POST", "http://u/", small(), func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }), false},
			"https":                {req("GET", "https://u/", nil, nil), false},
			"CONNECT":              {req("CONNECT", "http://u/", nil, nil), false},
			"user info in the URL": {req("GET", "http://a:b@u/", nil, nil), false},
		} {
			if got := fastPath(tc.req); got != tc.fast {
				t.Errorf("%s: fastPath = %v, want %v", name, got, tc.fast)
			}
		}
	})

	// Carried by the fallback: on a connection of its own, not the fast
	// path's idle one, which the next GET still uses.
	var chunked atomic.Int32
	var bodies sync.Map
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			chunked.Add(1)
		}
		b, _ := io.ReadAll(r.Body)
		bodies.Store(string(b), true)
		io.WriteString(w, "ok")
	}), nil)
	for name, set := range map[string]func(*http.Request){
		"streaming body": func(r *http.Request) {
			r.Body, r.GetBody, r.ContentLength = io.NopCloser(strings.NewReader("streamed")), nil, -1
		},
		"Expect": func(r *http.Request) { r.Header.Set("Expect", "100-continue") },
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTestH1(t, nil)
			h1Do(t, tr, "GET", up.URL+"/", nil)
			opened := up.opened.Load()
			req, _ := http.NewRequest("POST", up.URL+"/", strings.NewReader("small"))
			set(req)
			h1Send(t, tr, req)
			if n := up.opened.Load(); n != opened+1 {
				t.Errorf("%d connections opened for it, want 1 of the fallback's", n-opened)
			}
			if n := h1Idle(tr, up.addr); n != 1 {
				t.Errorf("%d idle fast-path connections, want 1", n)
			}
			h1Do(t, tr, "GET", up.URL+"/", nil)
			if n := up.opened.Load(); n != opened+1 {
				t.Errorf("the next GET opened a connection: the fast path's was taken")
			}
		})
	}

	t.Run("proxy", func(t *testing.T) {
		var proxied atomic.Int32
		proxy := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Host == up.addr { // an absolute URL, as to a proxy
				proxied.Add(1)
			}
			io.WriteString(w, "via proxy")
		}), nil)
		pu, _ := url.Parse(proxy.URL)
		tr := newTestH1(t, func(base *http.Transport) { base.Proxy = http.ProxyURL(pu) })
		opened := up.opened.Load()
		for range 2 {
			if _, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "via proxy" {
				t.Errorf("body %q, want the proxy's", body)
			}
		}
		if n := proxied.Load(); n != 2 {
			t.Errorf("the proxy got %d requests for the upstream, want 2", n)
		}
		if n := up.opened.Load(); n != opened {
			t.Errorf("%d connections to the upstream itself, want none", n-opened)
		}
	})
	t.Run("Proxy error", func(t *testing.T) {
		errProxy := errors.New("no proxy configuration")
		tr := newTestH1(t, func(base *http.Transport) {
			base.Proxy = func(*http.Request) (*url.URL, error) { return nil, errProxy }
		})
		opened := up.opened.Load()
		req, _ := http.NewRequest("GET", up.URL+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, errProxy) {
			t.Errorf("RoundTrip: %v, want the Proxy function's error (http.Transport's to report)", err)
		}
		if n := up.opened.Load(); n != opened {
			t.Errorf("%d connections to the upstream, want none", n-opened)
		}
	})
	t.Run("proxy not for this upstream", func(t *testing.T) {
		tr := newTestH1(t, func(base *http.Transport) {
			base.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
		})
		h1Do(t, tr, "GET", up.URL+"/", nil)
		if n := h1Idle(tr, up.addr); n != 1 {
			t.Errorf("%d idle fast-path connections, want 1", n)
		}
	})
	if n := chunked.Load(); n != 1 {
		t.Errorf("%d requests arrived chunked, want the streaming one", n)
	}
	for _, b := range []string{"streamed", "small"} {
		if _, ok := bodies.Load(b); !ok {
			t.Errorf("no request arrived with body %q", b)
		}
	}
}

// Idle connections are closed by the sweep after IdleConnTimeout, and by
// CloseIdleConnections at once.
func TestH1IdleConnections(t *testing.T) {
	t.Run("sweep", func(t *testing.T) {
		up := newH1Upstream(t, okHandler("ok"), nil)
		tr := newTestH1(t, func(base *http.Transport) { base.IdleConnTimeout = 50 * time.Millisecond })
		h1Do(t, tr, "GET", up.URL+"/", nil)
		up.waitClosed(t, 1)
		if n := h1Idle(tr, up.addr); n != 0 {
			t.Errorf("%d idle connections after the sweep, want 0", n)
		}
		testutil.WaitFor(t, "the sweep to stop with nothing left", h1Wait, func() bool {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			return tr.sweep == nil
		})
		if _, body := h1Do(t, tr, "GET", up.URL+"/", nil); body != "ok" {
			t.Errorf("body %q", body)
		}
		up.waitClosed(t, 1) // the sweep runs again
	})
	t.Run("CloseIdleConnections", func(t *testing.T) {
		up := newH1Upstream(t, okHandler("ok"), nil)
		tr := newTestH1(t, nil)
		h1Do(t, tr, "GET", up.URL+"/", nil)
		h1Do(t, tr, "GET", up.URL+"/", nil)
		if n := up.nclosed.Load(); n != 0 {
			t.Fatalf("%d connections closed before CloseIdleConnections", n)
		}
		tr.CloseIdleConnections()
		if n := h1Idle(tr, up.addr); n != 0 {
			t.Errorf("%d idle connections, want 0", n)
		}
		up.waitClosed(t, 1)
	})
	// As http.Transport's: a connection in use when CloseIdleConnections
	// is called is closed when its response is done, not kept (its
	// closeIdle: "close newly idle connections", until a request asks
	// for a connection again). A reloaded gateway's old transport is left
	// so, with its requests still running.
	for _, name := range []string{"h1", "http.Transport"} {
		t.Run("CloseIdleConnections while in use/"+name, func(t *testing.T) {
			release := make(chan struct{})
			up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first,")
				w.(http.Flusher).Flush()
				<-release
				io.WriteString(w, "last")
			}), nil)
			rt := referenceTransports[name](t)
			req, _ := http.NewRequest("GET", up.URL+"/", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			close(release)
			b, err := readWithin(t, resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "first,last" {
				t.Fatalf("body %q, %v", b, err)
			}
			up.waitClosed(t, 1)
		})
	}
}

// A body read to its end goes on reporting io.EOF, as io.Reader's
// contract asks and http.Transport's bodies do: a bufio.Reader over it
// reads again after handing its caller the first io.EOF.
func TestH1ReadAfterEOF(t *testing.T) {
	up := newH1Upstream(t, okHandler("ok"), nil)
	for _, name := range []string{"h1", "http.Transport"} {
		t.Run(name, func(t *testing.T) {
			rt := referenceTransports[name](t)
			req, _ := http.NewRequest("GET", up.URL+"/", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if b, err := readWithin(t, resp.Body); err != nil || string(b) != "ok" {
				t.Fatalf("body %q, %v", b, err)
			}
			if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read after io.EOF: %d, %v; want 0, io.EOF", n, err)
			}
		})
	}
}

// The route's timeout on the fast path (the connection's deadline until
// the response headers): a late upstream is a 504 and its connection is
// closed, a body that lasts longer is not cut (the deadline is lifted once
// the headers came, and the body goes on past it), and the connection that
// carried it serves the next request.
//
// Three routes to the same upstream (the same fast path and idle
// connections, the same breaker) keep the bounds apart: the request meant
// to time out has a tight one; the requests meant to succeed have
// generous ones, so that a loaded machine does not turn them into 504s.
// The long body's route has the shortest generous one that the test waits
// out (the body must outlast it), the others h1Wait.
func TestH1RouteTimeout(t *testing.T) {
	const (
		tight       = 100 * time.Millisecond // /late: the headers never come
		longTimeout = time.Second            // /long: its headers come at once
	)
	release := make(chan struct{})
	var lateHits atomic.Int32
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/late":
			lateHits.Add(1)
			<-r.Context().Done()
		case "/long":
			twoEvents(release)(w, r)
		default:
			io.WriteString(w, "ok")
		}
	}), nil)
	reg := newRegistry(t, breaker.Config{Name: "up"})
	b, _ := reg.Get("up")
	u, _ := url.Parse(up.URL)
	front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.DiscardHandler)}, nil,
		config.Route{Prefix: "/ok/", Upstream: u, Breaker: "up", Timeout: h1Wait},
		config.Route{Prefix: "/tight/", Upstream: u, Breaker: "up", Timeout: tight},
		config.Route{Prefix: "/long/", Upstream: u, Breaker: "up", Timeout: longTimeout})
	tr := g.tr.base.(*h1Transport)
	wl := &writeLog{}
	tr.dial = wl.dial

	// A kept-alive connection for the next request.
	if resp, body := get(t, front.URL+"/ok/x"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body := get(t, front.URL+"/tight/late")
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "within "+tight.String()) {
		t.Errorf("late headers: %d %s, want 504 naming the timeout", resp.StatusCode, body)
	}
	if d := time.Since(start); d > h1Wait {
		t.Errorf("the 504 took %v", d)
	}
	up.waitClosed(t, 1)
	if n := lateHits.Load(); n != 1 {
		t.Errorf("the late request reached the upstream %d times, want 1 (a timeout is not retried)", n)
	}
	if c := b.Snapshot().Counts; c.Failure != 1 || c.Success != 1 {
		t.Errorf("counts = %+v, want 1 success, 1 failure", c)
	}

	resp, err := http.Get(front.URL + "/long/long")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("long body: %d, want 200", resp.StatusCode)
	}
	first := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// The body has started: on its connection (the latest, the late
	// request's was closed), the deadline set for the headers has been
	// lifted. The body then outlasts that deadline.
	all := wl.readDeadlines()
	dl := all[len(all)-1]
	if len(dl) != 2 || dl[0].IsZero() || !dl[1].IsZero() {
		t.Fatalf("read deadlines of the long body's connection: %v; want the headers' one, then none", dl)
	}
	testutil.WaitFor(t, "the long request's header deadline to pass", h1Wait, func() bool { return time.Now().After(dl[0]) })
	close(release)
	rest, err := readWithin(t, resp.Body)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Errorf("the rest of the body: %q, %v; want it uncut", rest, err)
	}
	opened := up.opened.Load()
	if _, body := get(t, front.URL+"/ok/x"); body != "ok" {
		t.Errorf("next request: %q", body)
	}
	if n := up.opened.Load(); n != opened {
		t.Errorf("the next request opened a connection: the one past its deadline was not kept")
	}
	if n := h1Idle(tr, up.addr); n != 1 {
		t.Errorf("%d idle fast-path connections, want 1", n)
	}
}

// A request whose context is canceled before it is sent is not sent, as
// with http.Transport, even on a kept-alive connection.
func TestH1CanceledBeforeSent(t *testing.T) {
	for _, name := range []string{"h1", "http.Transport"} {
		t.Run(name, func(t *testing.T) {
			var posts atomic.Int32
			up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "POST" {
					posts.Add(1)
				}
				io.WriteString(w, "ok")
			}), nil)
			rt := referenceTransports[name](t)
			// Whether a canceled request slips out is a race on the fast
			// path: tried often enough, it shows.
			for range 20 {
				h1Do(t, rt, "GET", up.URL+"/", nil) // a kept-alive connection
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				req, _ := http.NewRequestWithContext(ctx, "POST", up.URL+"/", strings.NewReader("do it"))
				resp, err := rt.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("RoundTrip: %v, want %v", err, context.Canceled)
				}
			}
			h1Do(t, rt, "GET", up.URL+"/", nil)
			if n := posts.Load(); n != 0 {
				t.Errorf("the upstream got %d of the 20 canceled POSTs", n)
			}
		})
	}
}

// Bytes that an upstream sends after a response's end, once the
// connection is idle (here the body of a HEAD response, sent late), are
// not taken for the next request's response: the connection is not used
// again, as http.Transport closes an idle connection that receives
// anything ("Unsolicited response received on idle HTTP channel").
func TestH1UnsolicitedBytes(t *testing.T) {
	late := make(chan struct{})
	up := newRawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, _, err := readRawRequest(br)
			if err != nil {
				return
			}
			if req.Method == "HEAD" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				select {
				case <-late:
				case <-time.After(h1Wait):
					return
				}
				io.WriteString(c, "hello") // a HEAD response has no body
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTestH1(t, nil)
	if resp, body := h1Do(t, tr, "HEAD", up.URL+"/", nil); resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	if n := h1Idle(tr, up.addr); n != 1 {
		t.Fatalf("%d idle connections after the HEAD, want its own kept (else the late bytes test nothing)", n)
	}
	close(late)
	testutil.WaitFor(t, "the late bytes on the idle connection", h1Wait, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		list := tr.idle[up.addr]
		return len(list) != 1 || !list[0].peek.alive()
	})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET after them: %v", err)
	}
	b, err := readWithin(t, resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "ok" {
		t.Errorf("GET after them: %q, %v; want the upstream's answer to it", b, err)
	}
}

// The idle connections kept per upstream are at most MaxIdleConnsPerHost;
// the others are closed when their response is done.
func TestH1MaxIdleConnsPerHost(t *testing.T) {
	const workers, maxIdle = 6, 2
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(workers)
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	}), nil)
	tr := newTestH1(t, func(base *http.Transport) { base.MaxIdleConnsPerHost = maxIdle })
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", up.URL+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	arrived.Wait() // all at once, each on a connection of its own
	close(release)
	wg.Wait()
	if n := up.opened.Load(); n != workers {
		t.Errorf("%d connections, want %d", n, workers)
	}
	if n := h1Idle(tr, up.addr); n != maxIdle {
		t.Errorf("%d idle connections, want %d", n, maxIdle)
	}
	up.waitClosed(t, workers-maxIdle)
}

// A request that says Connection: close ends its connection.
func TestH1RequestClose(t *testing.T) {
	var closeSeen atomic.Bool
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		closeSeen.Store(r.Close)
		io.WriteString(w, "ok")
	}), nil)
	tr := newTestH1(t, nil)
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	req.Close = true
	h1Send(t, tr, req)
	if !closeSeen.Load() {
		t.Error("the upstream did not see Connection: close")
	}
	up.waitClosed(t, 1)
	if n := h1Idle(tr, up.addr); n != 0 {
		t.Errorf("%d idle connections, want 0", n)
	}
}

// MaxIdleConns bounds the idle connections to all upstreams together, as
// in http.Transport, which closes the least recently used one to keep a
// new one: a gateway with many upstreams holds no more than that.
func TestH1MaxIdleConns(t *testing.T) {
	for _, name := range []string{"h1", "http.Transport"} {
		t.Run(name, func(t *testing.T) {
			a := newH1Upstream(t, okHandler("a"), nil)
			b := newH1Upstream(t, okHandler("b"), nil)
			base := NewBaseTransport()
			base.Proxy = nil
			base.MaxIdleConns = 1
			var rt http.RoundTripper = base
			if name == "h1" {
				rt = newH1Transport(base)
			}
			t.Cleanup(rt.(interface{ CloseIdleConnections() }).CloseIdleConnections)
			h1Do(t, rt, "GET", a.URL+"/", nil)
			h1Do(t, rt, "GET", b.URL+"/", nil)
			a.waitClosed(t, 1) // the least recently used
			if n := b.nclosed.Load(); n != 0 {
				t.Errorf("the connection to b, the one kept, was closed")
			}
		})
	}
}

// A request of which a part went out on a kept-alive connection before
// the connection failed (a body written in several pieces, the second
// failing) may have reached the upstream: as with http.Transport, it is
// sent again on a new connection only if that is safe (a POST with an
// Idempotency-Key), not a plain POST, whose error is returned.
func TestH1PartlyWrittenRequest(t *testing.T) {
	big := strings.Repeat("x", 10<<10) // three writes through a 4 KiB buffer
	for _, tc := range []struct {
		name   string
		key    string
		resent bool
	}{{"POST", "", false}, {"POST with Idempotency-Key", "k", true}} {
		t.Run(tc.name, func(t *testing.T) {
			up := newPerConnUpstream(t)
			defer close(up.closeFirst)
			wl := &writeLog{}
			tr := newTestH1(t, nil)
			tr.dial = wl.dial
			h1Do(t, tr, "POST", up.URL+"/1", []byte("one"))
			wl.beforeWrite = func(conn, w int, c net.Conn) {
				if conn == 0 && w == 2 { // the second request's first piece went
					c.Close()
				}
			}
			req := h1Request(t, "POST", up.URL+"/2", []byte(big))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			resp, err := tr.RoundTrip(req)
			switch {
			case tc.resent && err != nil:
				t.Fatalf("RoundTrip: %v", err)
			case tc.resent:
				if b, rerr := readWithin(t, resp.Body); string(b) != "ok" || rerr != nil {
					t.Errorf("body %q, %v", b, rerr)
				}
				resp.Body.Close()
			case err == nil:
				resp.Body.Close()
				t.Fatal("RoundTrip succeeded; want the error of the failed connection")
			}
			want := [][]string{{"POST /1 one"}}
			if tc.resent {
				want = append(want, []string{"POST /2 " + big})
			}
			if got := up.received(); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("the upstream received, per connection, %.200q; want %.200q", got, want)
			}
		})
	}
}

// Through the gateway, a kept-alive connection that the upstream closed
// after each answer (as one whose keep-alive timeout expired does) is found
// closed by the check before reuse and replaced, request after request.
func TestH1ClosedIdleConnectionGateway(t *testing.T) {
	up := newOneShot(t)
	front, _ := h1Gateway(t, up.URL)
	for i := range 3 {
		if resp, body := get(t, front.URL+"/up/x"); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
		}
		up.waitClosed(t)
	}
	if got := up.received(); len(got) != 3 {
		t.Errorf("the upstream received %q, want 3 GETs", got)
	}
}

// Through the gateway (the route's timeout armed on the connection), a GET
// written on a kept-alive connection that the upstream closed just after
// the check before reuse is sent again on a new connection, by serveDirect
// and by ReverseProxy (a TE header keeps it there) alike; the client gets
// the answer, and the breaker one success.
func TestH1StaleConnectionGateway(t *testing.T) {
	for _, tc := range []struct {
		name string
		te   bool
	}{{"serveDirect", false}, {"ReverseProxy", true}} {
		t.Run(tc.name, func(t *testing.T) {
			up := newPerConnUpstream(t)
			wl := &writeLog{}
			reg := newRegistry(t, breaker.Config{Name: "up"})
			front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.DiscardHandler)}, nil,
				config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: h1Wait})
			g.tr.base.(*h1Transport).dial = wl.dial
			send := func(path string) {
				t.Helper()
				req, _ := http.NewRequest("GET", front.URL+"/up"+path, nil)
				if tc.te {
					req.Header.Set("TE", "trailers")
				}
				if resp, b := fetch(t, http.DefaultClient, req); resp.StatusCode != 200 || b != "ok" {
					t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
				}
			}
			send("/1")
			closeAfterCheck(t, up, wl)
			send("/2")
			eq := func(a, b []string) bool { return slices.Equal(a, b) }
			if got, want := wl.requests(t), [][]string{{"GET /1", "GET /2"}, {"GET /2"}}; !slices.EqualFunc(got, want, eq) {
				t.Errorf("the gateway wrote, per connection, %q; want %q", got, want)
			}
			if got, want := up.received(), [][]string{{"GET /1"}, {"GET /2"}}; !slices.EqualFunc(got, want, eq) {
				t.Errorf("the upstream received, per connection, %q; want %q", got, want)
			}
			b, _ := reg.Get("up")
			if c := b.Snapshot().Counts; c.Success != 2 || c.Failure != 0 {
				t.Errorf("counts = %+v, want 2 successes", c)
			}
		})
	}
}

// An upstream that reads the request on a kept-alive connection and
// closes it without a byte of answer (its keep-alive timeout raced with
// the request): an idempotent request is sent again on a new connection,
// a POST is not (the upstream may have acted on it), unless it carries an
// Idempotency-Key.
func TestH1StaleRetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		key      bool
		retried  bool
		received []string
	}{
		{"GET", "GET", false, true, []string{"GET", "GET", "GET"}},
		{"POST", "POST", false, false, []string{"POST first", "POST again"}},
		{"POST with Idempotency-Key", "POST", true, true, []string{"POST first", "POST again", "POST again"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got []string
			)
			up := newRawUpstream(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, body, err := readRawRequest(br)
					if err != nil {
						return
					}
					mu.Lock()
					got = append(got, strings.TrimSpace(req.Method+" "+body))
					mu.Unlock()
					if i == 1 {
						return // the second request on a connection: closed unanswered
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			tr := newTestH1(t, nil)
			body := func(s string) []byte {
				if tc.method == "GET" {
					return nil
				}
				return []byte(s)
			}
			h1Do(t, tr, tc.method, up.URL+"/", body("first"))
			req := h1Request(t, tc.method, up.URL+"/", body("again"))
			if tc.key {
				req.Header.Set("Idempotency-Key", "k")
			}
			resp, err := tr.RoundTrip(req)
			if tc.retried {
				if err != nil {
					t.Fatalf("not retried: %v", err)
				}
				if b, _ := readWithin(t, resp.Body); string(b) != "ok" {
					t.Errorf("body %q", b)
				}
				resp.Body.Close()
			} else if err == nil {
				resp.Body.Close()
				t.Fatal("a POST that the upstream may have acted on was sent again")
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tc.received) {
				t.Errorf("the upstream received %q, want %q", got, tc.received)
			}
		})
	}
}

// A body cut short by the upstream (fewer bytes than its Content-Length,
// then the connection closed) is an error, not a clean end, and its
// connection is not kept.
func TestH1TruncatedBody(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn) {
		if _, _, err := readRawRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!")
	})
	tr := newTestH1(t, nil)
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readWithin(t, resp.Body)
	resp.Body.Close()
	if string(b) != "half!" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body %q, %v; want the 5 bytes sent, then %v", b, err, io.ErrUnexpectedEOF)
	}
	if n := h1Idle(tr, up.addr); n != 0 {
		t.Errorf("%d idle connections, want 0", n)
	}
}

// Many requests at once, read to their end, closed early or canceled
// mid-body: each response that is read whole is the one for its own
// request (a connection given back while still in use, or not in step,
// would mix them up), and nothing is left running.
func TestH1NoCrossTalk(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	up := newH1Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		line := r.URL.Path + "\n"
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n*len(line)))
		}
		for range n {
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	}), nil)
	tr := newTestH1(t, nil)
	const workers, each = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				path := fmt.Sprintf("/w%d/r%d", w, i)
				n := 1 + (w*7+i*13)%3000 // up to about 36 KiB
				q := url.Values{"n": {strconv.Itoa(n)}}
				if i%2 == 1 {
					q.Set("chunked", "1")
				}
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, "GET", up.URL+path+"?"+q.Encode(), nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					cancel()
					t.Errorf("%s: %v", path, err)
					return
				}
				switch i % 5 {
				case 3: // closed early
					io.ReadFull(resp.Body, make([]byte, 3))
					resp.Body.Close()
				case 4: // canceled mid-body
					io.ReadFull(resp.Body, make([]byte, 3))
					cancel()
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				default:
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if want := strings.Repeat(path+"\n", n); err != nil || string(b) != want {
						t.Errorf("%s: %d bytes starting %q, %v; want its own %d", path, len(b), b[:min(len(b), 20)], err, len(want))
					}
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if n := up.opened.Load(); n > workers*each/5*2+workers {
		t.Errorf("%d connections for %d requests", n, workers*each)
	}
}

// Through the gateway, a route with fallbacks buffers a small request body
// for replay: the fast path carries it to the primary and, replayed, to
// the fallback. On a route without fallbacks the body streams from the
// client, and http.Transport carries it.
func TestH1GatewayBodies(t *testing.T) {
	var failed atomic.Bool
	primary := &recorder{name: "primary", handler: func(w http.ResponseWriter, r *http.Request) {
		if failed.CompareAndSwap(false, true) {
			status(503)(w, r) // the first time
			return
		}
		io.WriteString(w, "from primary")
	}}
	fb := &recorder{name: "fb"}
	upP := newH1Upstream(t, primary, nil)
	upF := newH1Upstream(t, fb, nil)
	reg := newRegistry(t, breaker.Config{Name: "primary"}, breaker.Config{Name: "fb"})
	uP, _ := url.Parse(upP.URL)
	uF, _ := url.Parse(upF.URL)
	front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.DiscardHandler)}, nil,
		config.Route{Prefix: "/chain/", Upstream: uP, Breaker: "primary", Timeout: h1Wait,
			Fallbacks: []config.Fallback{{Upstream: uF, Breaker: "fb"}}},
		config.Route{Prefix: "/single/", Upstream: uF, Breaker: "fb", Timeout: h1Wait})
	tr := g.tr.base.(*h1Transport)

	if r := send(t, "POST", front.URL+"/chain/x", strings.NewReader("hello")); r.status != 200 || r.body != "from fb" {
		t.Fatalf("chain: %d %q", r.status, r.body)
	}
	pb, _ := primary.received()
	fbb, _ := fb.received()
	if !slices.Equal(pb, []string{"hello"}) || !slices.Equal(fbb, []string{"hello"}) {
		t.Errorf("bodies received: primary %q, fallback %q; want hello once each", pb, fbb)
	}
	if n := h1Idle(tr, upF.addr); n != 1 {
		t.Errorf("%d idle fast-path connections to the fallback, want 1", n)
	}
	// The primary's failed response was closed unread, and its connection
	// with it; the next request is its.
	if r := send(t, "POST", front.URL+"/chain/x", strings.NewReader("again")); r.status != 200 || r.body != "from primary" {
		t.Fatalf("chain: %d %q", r.status, r.body)
	}
	if pb, _ := primary.received(); !slices.Equal(pb, []string{"hello", "again"}) {
		t.Errorf("bodies received by the primary: %q", pb)
	}
	if n := h1Idle(tr, upP.addr); n != 1 {
		t.Errorf("%d idle fast-path connections to the primary, want 1", n)
	}

	opened := upF.opened.Load()
	if r := send(t, "POST", front.URL+"/single/x", strings.NewReader("streamed")); r.status != 200 {
		t.Fatalf("single: %d %q", r.status, r.body)
	}
	if n := upF.opened.Load(); n != opened+1 {
		t.Errorf("%d connections opened for the streaming body, want 1 of http.Transport's", n-opened)
	}
	if n := h1Idle(tr, upF.addr); n != 1 {
		t.Errorf("%d idle fast-path connections to the fallback, want the 1 it had", n)
	}
}
