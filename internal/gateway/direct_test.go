package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

// The differential test of serveDirect: each request goes through the same
// route twice, once by serveDirect and once by the route's ReverseProxy
// (r.direct cleared), and what the upstream receives (its request's raw
// bytes, parsed too) and what the client receives (interim responses,
// status, headers but Date, framing, body, trailers, how it ends) must be
// the same. A spy on the route's transport tells which of the two sent each
// request, from the httptrace.ClientTrace the request carries: each path
// installs its own Got1xxResponse.

// upstreamSaw is a request as the upstream received it.
type upstreamSaw struct {
	Method, RequestURI, Host, Proto string
	Header                          http.Header
	Raw                             string // head (fields sorted) and body, byte for byte
}

// respondFunc writes the response to req on c and reports whether the
// connection stays open for the next request.
type respondFunc func(c net.Conn, req *http.Request) (keep bool)

// diffUpstream is a raw loopback upstream that records each request.
type diffUpstream struct {
	*rawUpstream
	saw chan upstreamSaw
}

func newDiffUpstream(t *testing.T, respond respondFunc) *diffUpstream {
	t.Helper()
	u := &diffUpstream{saw: make(chan upstreamSaw, 16)}
	u.rawUpstream = newRawUpstream(t, func(c net.Conn) {
		rec := &recordingReader{r: c}
		br := bufio.NewReader(rec)
		for {
			rec.buf.Reset() // nothing is pipelined: br holds nothing yet
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			select {
			case u.saw <- upstreamSaw{Method: req.Method, RequestURI: req.RequestURI, Host: req.Host,
				Proto: req.Proto, Header: req.Header, Raw: sortedFields(rec.buf.String())}:
			default:
			}
			if !respond(c, req) {
				return
			}
		}
	})
	return u
}

// sortedFields is the request raw with its header fields sorted: HTTP
// leaves their order free, and the fast path's writeRequest does not sort
// them as Request.Write does. Everything else stays byte for byte.
func sortedFields(raw string) string {
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		return raw
	}
	lines := strings.Split(head, "\r\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

type recordingReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// respondRaw writes resp as it is; the connection stays open unless resp
// says Connection: close.
func respondRaw(resp string) respondFunc {
	return func(c net.Conn, _ *http.Request) bool {
		_, _ = io.WriteString(c, resp)
		return !strings.Contains(resp, "Connection: close")
	}
}

// respondOK answers "ok" (its headers only to HEAD).
func respondOK(c net.Conn, req *http.Request) bool {
	if req.Method == http.MethodHead {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
		return true
	}
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	return true
}

// respondCut sends resp and closes the connection: a response cut short.
func respondCut(resp string) respondFunc {
	return func(c net.Conn, _ *http.Request) bool {
		_, _ = io.WriteString(c, resp)
		return false
	}
}

// respondNever reads until the gateway hangs up, and answers nothing.
func respondNever(c net.Conn, _ *http.Request) bool {
	_, _ = io.Copy(io.Discard, c)
	return false
}

// clientSaw is a response as the client received it.
type clientSaw struct {
	Interim          []string // status line and headers of each 1xx
	Status           string
	Header           http.Header // without Date
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
	Err              string // reading the response (its end included)
	Trailer          http.Header
}

// pathSpy wraps a route's member transport and records, for each request,
// which of serveDirect and ReverseProxy sent it.
type pathSpy struct {
	next  http.RoundTripper
	mu    sync.Mutex
	paths []string
}

func (s *pathSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	path := "no trace"
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.Got1xxResponse != nil {
		name := runtime.FuncForPC(reflect.ValueOf(tr.Got1xxResponse).Pointer()).Name()
		switch {
		case strings.Contains(name, "(*directCall).got1xx"):
			path = "serveDirect"
		case strings.Contains(name, "httputil.(*ReverseProxy)"):
			path = "ReverseProxy"
		default:
			path = name
		}
	}
	s.mu.Lock()
	s.paths = append(s.paths, path)
	s.mu.Unlock()
	return s.next.RoundTrip(req)
}

// take returns the paths recorded since the last call.
func (s *pathSpy) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paths
	s.paths = nil
	return p
}

// spyOn puts a pathSpy on r's transport.
func spyOn(r *route) *pathSpy {
	spy := &pathSpy{next: r.members[0].rt}
	r.members[0].rt = spy
	return spy
}

// diffFront is a gateway of one route, /up/ to upstream's /base, with a
// spy on the route's transport.
type diffFront struct {
	front *httptest.Server
	r     *route
	spy   *pathSpy
}

func newDiffFront(t *testing.T, upstream string, timeout time.Duration, tlsFront bool) *diffFront {
	t.Helper()
	reg := newRegistry(t, breaker.Config{Name: "up"})
	u, err := url.Parse(upstream + "/base")
	if err != nil {
		t.Fatal(err)
	}
	if timeout == 0 {
		timeout = h1Wait
	}
	g, err := New([]config.Route{{Prefix: "/up/", Upstream: u, Breaker: "up", Timeout: timeout}}, reg,
		Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	r := g.byPrefix["/up/"]
	if !r.direct {
		t.Fatal("a route of one plain-HTTP upstream on the fast path does not go by serveDirect")
	}
	spy := spyOn(r)
	mux := http.NewServeMux()
	g.Register(mux)
	front := httptest.NewUnstartedServer(mux)
	if tlsFront {
		front.StartTLS()
	} else {
		front.Start()
	}
	t.Cleanup(front.Close)
	return &diffFront{front: front, r: r, spy: spy}
}

// do sends raw ("{addr}" replaced by the front's address) on a connection
// of its own and reads the response to its end.
func (f *diffFront) do(t *testing.T, raw string) clientSaw {
	t.Helper()
	addr := f.front.Listener.Addr().String()
	var (
		c   net.Conn
		err error
	)
	if f.front.TLS != nil {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(h1Wait))
	raw = strings.ReplaceAll(raw, "{addr}", addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readClientSaw(bufio.NewReader(c), strings.Fields(raw)[0])
}

// send sends GET /up/x by serveDirect if direct is set, else by the
// route's ReverseProxy, on a connection of its own that it returns, with a
// deadline within from now.
func (f *diffFront) send(t *testing.T, direct bool, within time.Duration) net.Conn {
	t.Helper()
	f.r.direct = direct
	c, err := net.Dial("tcp", f.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(c, "GET /up/x HTTP/1.1\r\nHost: front\r\n\r\n"); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// readClientSaw reads a response to a request of method from br: its
// interim responses, then the final one to its end.
func readClientSaw(br *bufio.Reader, method string) clientSaw {
	var saw clientSaw
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			saw.Err = "reading the response: " + err.Error()
			return saw
		}
		if resp.StatusCode >= 100 && resp.StatusCode <= 199 && resp.StatusCode != http.StatusSwitchingProtocols {
			saw.Interim = append(saw.Interim, resp.Status+" "+fmt.Sprint(resp.Header))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		saw.Status, saw.Header, saw.ContentLength = resp.Status, resp.Header, resp.ContentLength
		saw.TransferEncoding, saw.Close, saw.Body, saw.Trailer = resp.TransferEncoding, resp.Close, string(body), resp.Trailer
		if err != nil {
			saw.Err = "reading the body: " + err.Error()
		}
		return saw
	}
}

// diffRun is one request's outcome through one of the two paths.
type diffRun struct {
	path     []string // as the spy saw it
	upstream *upstreamSaw
	client   clientSaw
}

// run sends raw through the route, by serveDirect if direct is set (when
// directTakes the request), else by its ReverseProxy. r.direct is written
// between requests: the request before has been answered (its handler read
// r.direct before writing it), and the next one is not sent yet.
func (f *diffFront) run(t *testing.T, up *diffUpstream, raw string, direct bool) diffRun {
	t.Helper()
	f.r.direct = direct
	var run diffRun
	run.client = f.do(t, raw)
	run.path = f.spy.take()
	if up != nil && len(run.path) > 0 {
		saw := recvWithin(t, up.saw)
		run.upstream = &saw
	}
	return run
}

// diffCase is one request and the upstream's way to answer it.
type diffCase struct {
	name    string
	request string      // raw request; {addr} is the front's address
	respond respondFunc // default respondOK
	// notTaken: directTakes must refuse the request, so both runs go by
	// ReverseProxy (and must still agree).
	notTaken bool
	// upstream: the upstream's URL instead of a diffUpstream's
	// (unreachable).
	upstream string
	timeout  time.Duration
	tls      bool
	// check, if set, checks the outcome (the same for both paths) further.
	check func(t *testing.T, run diffRun)
}

// compareRuns runs c through both paths and reports how they differ.
func compareRuns(t *testing.T, c diffCase) (direct, proxy diffRun) {
	t.Helper()
	var up *diffUpstream
	target := c.upstream
	if target == "" {
		respond := c.respond
		if respond == nil {
			respond = respondOK
		}
		up = newDiffUpstream(t, respond)
		target = up.URL
	}
	f := newDiffFront(t, target, c.timeout, c.tls)
	direct = f.run(t, up, c.request, true)
	proxy = f.run(t, up, c.request, false)
	wantDirect := []string{"serveDirect"}
	if c.notTaken {
		wantDirect = []string{"ReverseProxy"}
	}
	if !slices.Equal(direct.path, wantDirect) {
		t.Errorf("the direct run was sent by %v, want %v", direct.path, wantDirect)
	}
	if !slices.Equal(proxy.path, []string{"ReverseProxy"}) {
		t.Errorf("the ReverseProxy run was sent by %v", proxy.path)
	}
	if !reflect.DeepEqual(direct.upstream, proxy.upstream) {
		t.Errorf("the upstream received different requests:\nserveDirect:  %s\nReverseProxy: %s", fmtUp(direct.upstream), fmtUp(proxy.upstream))
	}
	if !reflect.DeepEqual(direct.client, proxy.client) {
		t.Errorf("the client received different responses:\nserveDirect:  %+v\nReverseProxy: %+v", direct.client, proxy.client)
	}
	return direct, proxy
}

func fmtUp(s *upstreamSaw) string {
	if s == nil {
		return "nothing"
	}
	return fmt.Sprintf("%+v", *s)
}

// getWith is GET /up/x with the header fields fields (each ending in
// CRLF) after Host.
func getWith(fields string) string {
	return "GET /up/x HTTP/1.1\r\nHost: {addr}\r\n" + fields + "\r\n"
}

var okGet = getWith("User-Agent: diff/1\r\n")

// sent checks that the upstream got the request-target uri and, of the
// headers named in want, exactly those with a value there (nil: absent).
func sent(uri string, want map[string][]string) func(t *testing.T, run diffRun) {
	return func(t *testing.T, run diffRun) {
		t.Helper()
		if run.upstream == nil {
			t.Fatal("the upstream got nothing")
		}
		if run.upstream.RequestURI != uri {
			t.Errorf("upstream request-target %q, want %q", run.upstream.RequestURI, uri)
		}
		for k, v := range want {
			if got := run.upstream.Header[k]; !slices.Equal(got, v) {
				t.Errorf("upstream header %s = %q, want %q", k, got, v)
			}
		}
	}
}

// got checks the client's response: status, body, read error (substring,
// "" for none), and the headers named in want (nil: absent).
func got(status, body, err string, want map[string][]string) func(t *testing.T, run diffRun) {
	return func(t *testing.T, run diffRun) {
		t.Helper()
		c := run.client
		if !strings.HasPrefix(c.Status, status) || c.Body != body || (err == "") != (c.Err == "") || !strings.Contains(c.Err, err) {
			t.Errorf("client got %s %q (error %q), want %s %q (error %q)", c.Status, c.Body, c.Err, status, body, err)
		}
		for k, v := range want {
			if got := c.Header[k]; !slices.Equal(got, v) {
				t.Errorf("client header %s = %q, want %q", k, got, v)
			}
		}
	}
}

// requestCases vary the client's request.
var requestCases = []diffCase{
	{name: "GET", request: okGet, check: sent("/base/x", map[string][]string{"User-Agent": {"diff/1"}})},
	{name: "HEAD", request: "HEAD /up/x HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: diff/1\r\n\r\n"},
	{name: "DELETE", request: "DELETE /up/items/7 HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "OPTIONS", request: "OPTIONS /up/x HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "POST Content-Length 0", request: "POST /up/x HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"},
	{name: "GET Content-Length 0", request: getWith("Content-Length: 0\r\n")},
	{name: "custom method", request: "PURGE /up/x HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "query plain", request: "GET /up/x?a=1&b=2&b=3&c HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "query escaped", request: "GET /up/x?q=a%20b%2Fc&e=%C3%A9&plus=a+b HTTP/1.1\r\nHost: {addr}\r\n\r\n", check: sent("/base/x?q=a%20b%2Fc&e=%C3%A9&plus=a+b", nil)},
	{name: "query unordered", request: "GET /up/x?z=1&a=2&&=3 HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "query empty", request: "GET /up/x? HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "query semicolon", request: "GET /up/x?a=1;b=2&c=3 HTTP/1.1\r\nHost: {addr}\r\n\r\n", notTaken: true, check: sent("/base/x?c=3", nil)},
	{name: "query bad percent", request: "GET /up/x?a=%zz&b=2 HTTP/1.1\r\nHost: {addr}\r\n\r\n", notTaken: true, check: sent("/base/x?b=2", nil)},
	{name: "query percent at end", request: "GET /up/x?b=2&a=1% HTTP/1.1\r\nHost: {addr}\r\n\r\n", notTaken: true},
	{name: "query short escape", request: "GET /up/x?a=%4 HTTP/1.1\r\nHost: {addr}\r\n\r\n", notTaken: true},
	{name: "forwarding headers replaced", request: getWith("X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1, 10.0.0.1\r\nX-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-Proto: https\r\nForwarded: for=203.0.113.9;proto=https\r\nX-Forwarded: yes\r\nX-Real-Ip: 203.0.113.9\r\n"),
		check: sent("/base/x", map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"},
			"Forwarded": nil, "X-Forwarded": {"yes"}})},
	{name: "Connection names a header", request: getWith("Connection: keep-alive, X-Foo\r\nX-Foo: 1\r\nX-Bar: 2\r\n"),
		check: sent("/base/x", map[string][]string{"Connection": nil, "X-Foo": nil, "X-Bar": {"2"}})},
	{name: "Connection over several lines", request: getWith("Connection: x-foo\r\nConnection: , X-BAR ,x-baz\r\nX-Foo: 1\r\nX-Bar: 2\r\nX-Baz: 3\r\nX-Qux: 4\r\n")},
	{name: "Connection names forwarding headers and User-Agent", request: getWith("Connection: X-Forwarded-For, X-Forwarded-Host, User-Agent, Host, Accept\r\nUser-Agent: diff/1\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\nAccept: */*\r\n")},
	{name: "Connection close", request: getWith("Connection: close\r\n")},
	{name: "hop-by-hop request headers", request: getWith("Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic dTpw\r\n" +
		"Proxy-Authenticate: Basic\r\nTrailer: X-T\r\nAuthorization: Bearer t\r\n"),
		check: sent("/base/x", map[string][]string{"Keep-Alive": nil, "Proxy-Connection": nil, "Proxy-Authorization": nil,
			"Proxy-Authenticate": nil, "Trailer": nil, "Authorization": {"Bearer t"}})},
	{name: "TE trailers", request: getWith("TE: trailers\r\n"), notTaken: true},
	{name: "no User-Agent", request: getWith(""), check: sent("/base/x", map[string][]string{"User-Agent": nil})},
	{name: "empty User-Agent", request: getWith("User-Agent:\r\n")},
	{name: "two User-Agents", request: getWith("User-Agent: a\r\nUser-Agent: b\r\n")},
	{name: "multiple values", request: getWith("Accept: text/html\r\nAccept: application/json;q=0.9\r\nX-Multi: 1, 2\r\nX-Multi: 3\r\nCookie: a=1\r\nCookie: b=2\r\n"),
		check: sent("/base/x", map[string][]string{"Accept": {"text/html", "application/json;q=0.9"}, "X-Multi": {"1, 2", "3"}})},
	{name: "odd casing and empty values", request: getWith("x-lower-case: v\r\nACCEPT-LANGUAGE: en\r\nX-Empty:\r\nx_under_score: u\r\nX-Spaces:   padded value   \r\n")},
	{name: "Connection upgrade without Upgrade", request: getWith("Connection: Upgrade\r\n")},
	{name: "Expect on a request without body", request: getWith("Expect: 100-continue\r\n"), notTaken: true},
	{name: "Host other", request: "GET /up/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
	{name: "Host with port and upper case", request: "GET /up/x HTTP/1.1\r\nHost: API.Example.com:8443\r\n\r\n"},
	{name: "Host IPv6", request: "GET /up/x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
	{name: "absolute-form request target", request: "GET http://other.example/up/x?a=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "HTTP/1.0 without Host", request: "GET /up/x HTTP/1.0\r\n\r\n"},
	{name: "HTTP/1.0 keep-alive", request: "GET /up/x HTTP/1.0\r\nConnection: keep-alive\r\nHost: {addr}\r\n\r\n"},
	{name: "prefix only", request: "GET /up/ HTTP/1.1\r\nHost: {addr}\r\n\r\n", check: sent("/base/", nil)},
	{name: "deep path trailing slash", request: "GET /up/a/b/c/ HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "escaped slash", request: "GET /up/a%2Fb/c HTTP/1.1\r\nHost: {addr}\r\n\r\n", check: sent("/base/a%2Fb/c", nil)},
	{name: "escaped space and tilde", request: "GET /up/a%20b/%7Euser HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "escaped prefix", request: "GET /%75p/x HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "unicode path", request: "GET /up/%C3%A9t%C3%A9 HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "fragment-like", request: "GET /up/x%23frag HTTP/1.1\r\nHost: {addr}\r\n\r\n"},
	{name: "TLS front", request: okGet, tls: true, check: sent("/base/x", map[string][]string{"X-Forwarded-Proto": {"https"}})},
}

// responseCases vary the upstream's response.
var responseCases = []diffCase{
	{name: "several Set-Cookie", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\n" +
		"Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\nSet-Cookie: c=3\r\nVary: Accept\r\nVary: Origin\r\nContent-Length: 2\r\n\r\nok"),
		check: got("200", "ok", "", map[string][]string{"Set-Cookie": {"a=1; Path=/", "b=2; HttpOnly", "c=3"}})},
	{name: "hop-by-hop response headers", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\n" +
		"Connection: X-Resp, keep-alive\r\nConnection: x-other\r\nX-Resp: 1\r\nX-Other: 2\r\nX-Kept: 3\r\n" +
		"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: x\r\n" +
		"Upgrade: h2c\r\nTrailer: X-Nope\r\nTe: trailers\r\nContent-Length: 2\r\n\r\nok"),
		check: got("200", "ok", "", map[string][]string{"X-Resp": nil, "X-Other": nil, "X-Kept": {"3"}, "Keep-Alive": nil,
			"Proxy-Authenticate": nil, "Upgrade": nil, "Te": nil})},
	{name: "response Connection names breaker headers", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\n" +
		"Connection: X-Breakerwatch-Served-By, Content-Type\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")},
	{name: "upstream closes after", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")},
	{name: "odd header casing", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\n" +
		"x-lower: 1\r\nX-LOWER: 2\r\nCONTENT-TYPE: text/plain\r\nx_under: 3\r\nX-Empty:\r\nContent-Length: 2\r\n\r\nok")},
	{name: "chunked", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
		check: got("200", "hello world", "", nil)},
	{name: "HEAD chunked", request: "HEAD /up/x HTTP/1.1\r\nHost: {addr}\r\n\r\n",
		respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")},
	{name: "close-delimited body", request: okGet, respond: respondCut("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")},
	{name: "HTTP/1.0 response", request: okGet, respond: respondCut("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold")},
	{name: "no Content-Type", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>")},
	{name: "204", request: okGet, respond: respondRaw("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"), check: got("204", "", "", nil)},
	{name: "304", request: okGet, respond: respondRaw("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\n\r\n")},
	{name: "304 with length", request: okGet, respond: respondRaw("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 100\r\n\r\n")},
	{name: "HEAD with length", request: "HEAD /up/x HTTP/1.1\r\nHost: {addr}\r\n\r\n",
		respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n")},
	{name: "404 with body", request: okGet, respond: respondRaw("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found")},
	{name: "503 counted as failure", request: okGet, respond: respondRaw("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\nbusy")},
	{name: "odd status text", request: okGet, respond: respondRaw("HTTP/1.1 299 Whatever You Like\r\nContent-Length: 0\r\n\r\n")},
	{name: "breaker headers from the upstream", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\n" +
		"X-Breakerwatch-Served-By: liar\r\nX-Breakerwatch-State: open\r\nContent-Length: 2\r\n\r\nok")},
	{name: "trailers announced", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-Checksum, X-Count\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\r\nX-Count: 1\r\nX-Count: 2\r\n\r\n")},
	{name: "trailers unannounced", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"2\r\nok\r\n0\r\nX-Late: 1\r\n\r\n")},
	{name: "trailers announced and not", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\r\nX-Late: 1\r\n\r\n"),
		check: func(t *testing.T, run diffRun) {
			if want := (http.Header{"X-Checksum": {"abc"}, "X-Late": {"1"}}); !reflect.DeepEqual(run.client.Trailer, want) {
				t.Errorf("trailers %v, want %v", run.client.Trailer, want)
			}
		}},
	{name: "trailers announced never sent", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\n\r\n")},
	{name: "trailer also a header", request: okGet, respond: respondRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-Both\r\nX-Both: head\r\n\r\n2\r\nok\r\n0\r\nX-Both: tail\r\n\r\n")},
	{name: "103 Early Hints", request: okGet, respond: respondRaw("HTTP/1.1 103 Early Hints\r\n" +
		"Link: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nLink: </final>\r\n\r\nok"),
		check: func(t *testing.T, run diffRun) {
			want := []string{"103 Early Hints map[Link:[</style.css>; rel=preload; as=style </app.js>; rel=preload]]"}
			if !slices.Equal(run.client.Interim, want) {
				t.Errorf("interim responses %q, want %q", run.client.Interim, want)
			}
		}},
	{name: "100 then 103 twice", request: okGet, respond: respondRaw("HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b>\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
	{name: "too many 1xx", request: okGet, respond: respondRaw(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 7) +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
	{name: "101 without upgrade asked", request: okGet, respond: respondCut("HTTP/1.1 101 Switching Protocols\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")},
	{name: "cut mid-body with length", request: okGet, respond: respondCut("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"),
		// Buffered, not streamed: the connection closes before the headers.
		check: got("", "", "reading the response: unexpected EOF", nil)},
	{name: "cut mid-body chunked", request: okGet, respond: respondCut("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n"),
		check: got("200", "partial", "unexpected EOF", nil)},
	{name: "cut before trailers", request: okGet, respond: respondCut("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-T\r\n\r\n7\r\npartial\r\n0\r\n")},
	{name: "malformed response", request: okGet, respond: respondCut("HTTP/1.1 abc\r\n\r\n")},
	{name: "no response", request: okGet, respond: respondCut("")},
	{name: "header timeout", request: okGet, respond: respondNever, timeout: 150 * time.Millisecond,
		check: func(t *testing.T, run diffRun) {
			if !strings.HasPrefix(run.client.Status, "504") || !strings.Contains(run.client.Body, "within 150ms") {
				t.Errorf("got %s %q; want 504 naming the timeout", run.client.Status, run.client.Body)
			}
		}},
}

func TestDirectSameAsReverseProxy(t *testing.T) {
	for _, group := range []struct {
		name  string
		cases []diffCase
	}{{"request", requestCases}, {"response", responseCases}} {
		t.Run(group.name, func(t *testing.T) {
			for _, c := range group.cases {
				t.Run(c.name, func(t *testing.T) {
					direct, _ := compareRuns(t, c)
					if c.check != nil {
						c.check(t, direct)
					}
				})
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		direct, _ := compareRuns(t, diffCase{request: okGet, upstream: deadURL(t)})
		if !strings.HasPrefix(direct.client.Status, "502") || direct.client.Header.Get("Content-Type") != "application/json" ||
			!strings.Contains(direct.client.Body, `"error":"upstream unreachable`) {
			t.Errorf("got %s %v %q; want a 502 with a JSON body", direct.client.Status, direct.client.Header, direct.client.Body)
		}
	})
}

// TestDirectRequestDetails checks, beyond the two paths agreeing, what the
// upstream gets for a few of the cases above.
func TestDirectRequestDetails(t *testing.T) {
	up := newDiffUpstream(t, respondOK)
	f := newDiffFront(t, up.URL, 0, false)
	run := f.run(t, up, "GET /up/a%2Fb?x=1 HTTP/1.1\r\nHost: api.example\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\n"+
		"X-Forwarded-For: 203.0.113.9\r\nForwarded: for=x\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: x\r\n\r\n", true)
	if !slices.Equal(run.path, []string{"serveDirect"}) {
		t.Fatalf("sent by %v", run.path)
	}
	s := run.upstream
	want := http.Header{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"api.example"}, "X-Forwarded-Proto": {"http"}}
	if s.RequestURI != "/base/a%2Fb?x=1" || s.Host != up.addr || s.Proto != "HTTP/1.1" || !reflect.DeepEqual(s.Header, want) {
		t.Errorf("upstream got %+v; want /base/a%%2Fb?x=1 for Host %s with only %v", *s, up.addr, want)
	}
}

// TestDirectStreams: a response of unknown length, or server-sent events,
// reach the client part by part on both paths: the upstream sends the rest
// only once the client has the first part.
func TestDirectStreams(t *testing.T) {
	for _, tt := range []struct {
		name, head string
		noFirst    bool // the upstream sends the headers alone first
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"event-stream chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"event-stream with length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 27\r\n\r\n", false},
		{"event-stream charset with length", "HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream ; charset=utf-8\r\nContent-Length: 27\r\n\r\n", false},
		{"event-stream parameter without value", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset\r\nContent-Length: 27\r\n\r\n", false},
		{"close-delimited", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n", false},
		{"headers before the body", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"headers before the body, no Content-Type", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first, second := "data: first\n\n", "data: second\n\n" // 27 bytes
			if tt.noFirst {
				first = ""
			}
			direct := streamRun(t, tt.head, first, second, true, h1Wait)
			proxy := streamRun(t, tt.head, first, second, false, h1Wait)
			for _, run := range []streamResult{direct, proxy} {
				if !run.early {
					t.Errorf("%s: the first event did not reach the client while the upstream held the rest", run.path)
				}
			}
			if !reflect.DeepEqual(direct.client, proxy.client) {
				t.Errorf("the client received different responses:\nserveDirect:  %+v\nReverseProxy: %+v", direct.client, proxy.client)
			}
		})
	}
}

type streamResult struct {
	path   []string
	early  bool // the client had the first part before the upstream sent the rest
	client clientSaw
}

// streamRun sends GET /up/x by serveDirect or not; the upstream answers
// head and first, then second only once the client has first or wait has
// passed.
func streamRun(t *testing.T, head, first, second string, direct bool, wait time.Duration) streamResult {
	t.Helper()
	release := make(chan struct{})
	chunked := strings.Contains(head, "chunked")
	part := func(s string) string {
		if chunked && s != "" {
			return fmt.Sprintf("%x\r\n%s\r\n", len(s), s)
		}
		return s
	}
	up := newDiffUpstream(t, func(c net.Conn, _ *http.Request) bool {
		_, _ = io.WriteString(c, head+part(first))
		<-release
		_, _ = io.WriteString(c, part(second))
		if chunked {
			_, _ = io.WriteString(c, "0\r\n\r\n")
		}
		return !strings.Contains(head, "Connection: close")
	})
	f := newDiffFront(t, up.URL, 0, false)
	c := f.send(t, direct, h1Wait+wait)
	defer c.Close()
	// The headers too are held back when nothing flushes: the client waits
	// for them and the first part on a goroutine of its own.
	type firstPart struct {
		resp *http.Response
		part string
		err  error
	}
	got := make(chan firstPart, 1)
	br := bufio.NewReader(c)
	go func() {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			got <- firstPart{err: err}
			return
		}
		b := make([]byte, len(first))
		n, err := io.ReadFull(resp.Body, b)
		got <- firstPart{resp: resp, part: string(b[:n]), err: err}
	}()
	var (
		res streamResult
		fp  firstPart
	)
	select {
	case fp = <-got:
		res.early = true
	case <-time.After(wait):
	}
	close(release)
	if !res.early {
		fp = <-got
	}
	if fp.resp == nil {
		t.Fatalf("reading the response: %v", fp.err)
	}
	resp, head1 := fp.resp, fp.part
	rest, err := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	res.client = clientSaw{Status: resp.Status, Header: resp.Header, ContentLength: resp.ContentLength,
		TransferEncoding: resp.TransferEncoding, Close: resp.Close, Body: head1 + string(rest), Trailer: resp.Trailer}
	if err != nil {
		res.client.Err = err.Error()
	}
	res.path = f.spy.take()
	want := "serveDirect"
	if !direct {
		want = "ReverseProxy"
	}
	if !slices.Equal(res.path, []string{want}) {
		t.Errorf("sent by %v, want %s", res.path, want)
	}
	return res
}

// TestDirectTaken: routes of one plain-HTTP upstream on the fast path go
// by serveDirect (the spy of TestDirectSameAsReverseProxy checks each
// request); those with fallbacks or without the fast path do not, and
// neither does a route whose logger records debug.
func TestDirectTaken(t *testing.T) {
	up := newDiffUpstream(t, respondOK)
	u, _ := url.Parse(up.URL)
	rc := config.Route{Prefix: "/up/", Upstream: u, Breaker: "up", Timeout: h1Wait}
	for _, tt := range []struct {
		name   string
		opts   Options
		rc     config.Route
		direct bool
	}{
		{"fast path", Options{}, rc, true},
		{"fast path disabled", Options{DisableFastPath: true}, rc, false},
		{"own transport", Options{Transport: NewBaseTransport()}, rc, false},
		{"fallback", Options{}, func() config.Route {
			rc := rc
			rc.Fallbacks = []config.Fallback{{Breaker: "fb", Upstream: u}}
			return rc
		}(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t, breaker.Config{Name: "up"}, breaker.Config{Name: "fb"})
			tt.opts.Logger = slog.New(slog.DiscardHandler)
			g, err := New([]config.Route{tt.rc}, reg, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer g.CloseIdleConnections()
			if got := g.byPrefix["/up/"].direct; got != tt.direct {
				t.Errorf("direct = %v, want %v", got, tt.direct)
			}
		})
	}
	t.Run("debug logging", func(t *testing.T) {
		reg := newRegistry(t, breaker.Config{Name: "up"})
		logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
		front, g := serveGateway(t, reg, Options{Logger: logger}, nil, rc)
		spy := spyOn(g.byPrefix["/up/"])
		if resp, body := get(t, front.URL+"/up/x"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if p := spy.take(); !slices.Equal(p, []string{"ReverseProxy"}) {
			t.Errorf("with debug logging, sent by %v, want ReverseProxy", p)
		}
	})
}

func TestDirectTakes(t *testing.T) {
	// get is a GET of target with the header fields kv (name, value, ...).
	get := func(target string, kv ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest("GET", target, nil)
			for i := 0; i+1 < len(kv); i += 2 {
				r.Header.Set(kv[i], kv[i+1])
			}
			return r
		}
	}
	for _, tt := range []struct {
		name string
		req  func() *http.Request
		want bool
	}{
		{"GET", get("/up/x?a=1&b=%20"), true},
		{"body", func() *http.Request { return httptest.NewRequest("POST", "/up/x", strings.NewReader("x")) }, false},
		{"unknown length", func() *http.Request {
			r := httptest.NewRequest("POST", "/up/x", strings.NewReader("x"))
			r.ContentLength = -1
			return r
		}, false},
		{"CONNECT", func() *http.Request { return httptest.NewRequest("CONNECT", "/up/x", nil) }, false},
		{"Upgrade", get("/up/x", "Upgrade", "websocket"), false},
		{"TE", get("/up/x", "TE", "trailers"), false},
		{"Expect", get("/up/x", "Expect", "100-continue"), false},
		{"semicolon", get("/up/x?a=1;b"), false},
		{"bad escape", get("/up/x?a=%g1"), false},
		{"escape cut", get("/up/x?a=%1"), false},
		{"too many parameters", get("/up/x?" + strings.Repeat("a=1&", maxQueryParams)), false},
		{"as many parameters as allowed", get("/up/x?a=1" + strings.Repeat("&a=1", maxQueryParams-1)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := directTakes(tt.req()); got != tt.want {
				t.Errorf("directTakes = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDirectFirstFlush: a response of unknown length (streamed) whose
// body is there at once. ReverseProxy's first flush runs on a timer
// goroutine (maxLatencyWriter, FlushInterval -1), so the handler usually
// writes the first bytes, or ends, before it: net/http then sniffs a
// Content-Type from the body when the upstream sent none, and gives an
// empty body a Content-Length: 0 instead of chunking it. serveDirect
// flushes the same way. The outcome is a race on both paths (about 9 in
// 10 runs the write wins on an idle machine), so the outcome each gives
// most often is compared, when each gives it in at least 2 of 3 runs (on a
// loaded machine the race may even out; the test then says so and passes).
// A serveDirect that flushed the headers before its first read gave the
// other outcome every time.
func TestDirectFirstFlush(t *testing.T) {
	for _, tt := range []struct{ name, resp string }{
		{"no Content-Type, text", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"no Content-Type, html", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n<html>hi</html>\r\n0\r\n\r\n"},
		{"empty body", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newDiffUpstream(t, respondRaw(tt.resp))
			f := newDiffFront(t, up.URL, 0, false)
			const runs = 24
			usual := func(direct bool) (string, int, map[string]int) {
				outcomes := map[string]int{}
				var top string
				for range runs {
					o := fmt.Sprintf("%+v", f.run(t, up, okGet, direct).client)
					if outcomes[o]++; outcomes[o] > outcomes[top] {
						top = o
					}
				}
				return top, outcomes[top], outcomes
			}
			d, dn, dall := usual(true)
			p, pn, pall := usual(false)
			if dn < runs*2/3 || pn < runs*2/3 {
				t.Logf("inconclusive: no outcome in 2 of 3 runs (serveDirect %v, ReverseProxy %v)", dall, pall)
				return
			}
			if d != p {
				t.Errorf("the client usually received different responses:\nserveDirect:  %s (%d of %d)\nReverseProxy: %s (%d of %d)", d, dn, runs, p, pn, runs)
			}
		})
	}
}

// TestDirectEventStreamMediaType: ReverseProxy streams a response of
// known length only when mime.ParseMediaType of its Content-Type gives
// text/event-stream. ParseMediaType gives no media type for a duplicate
// parameter name (it does give one for other malformed parameters, see
// TestDirectStreams), nor for a name with a character outside tokens that
// Unicode folds to an ASCII letter (U+017F to 's'): both paths hold those
// events back until the body ends. (A serveDirect that compared the type
// with strings.EqualFold streamed them.)
func TestDirectEventStreamMediaType(t *testing.T) {
	for _, ct := range []string{
		"text/event-stream; a=1; a=2",
		"text/event-\u017ftream",
	} {
		t.Run(ct, func(t *testing.T) {
			head := "HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\nContent-Length: 27\r\n\r\n"
			first, second := "data: first\n\n", "data: second\n\n"
			const wait = time.Second // for a first event that does not come early
			direct := streamRun(t, head, first, second, true, wait)
			proxy := streamRun(t, head, first, second, false, wait)
			if direct.early != proxy.early {
				t.Errorf("Content-Type %q: the first event reached the client before the upstream sent the second: by serveDirect %v, by ReverseProxy %v",
					ct, direct.early, proxy.early)
			}
			if !reflect.DeepEqual(direct.client, proxy.client) {
				t.Errorf("the client received different responses:\nserveDirect:  %+v\nReverseProxy: %+v", direct.client, proxy.client)
			}
		})
	}
}

// TestDirectStreamsDecision: which responses serveDirect streams, decided
// without timing: those of unknown length, and those whose media type
// mime.ParseMediaType gives as text/event-stream (TestDirectStreams and
// TestDirectEventStreamMediaType check that the client sees the same
// through both paths; a first event that does not come early can only be
// told there by a wait).
func TestDirectStreamsDecision(t *testing.T) {
	for _, tt := range []struct {
		ct   string
		n    int64
		want bool
	}{
		{"text/plain", -1, true},
		{"", -1, true},
		{"text/plain", 27, false},
		{"", 27, false},
		{"text/event-stream", 27, true},
		{"Text/Event-Stream ; charset=utf-8", 27, true},
		{"text/event-stream; charset", 27, true},
		{"text/event-stream; a=1; a=2", 27, false},
		{"text/event-\u017ftream", 27, false},
		{"text/event-streams", 27, false},
	} {
		if got := streams(tt.ct, tt.n); got != tt.want {
			t.Errorf("streams(%q, %d) = %v, want %v", tt.ct, tt.n, got, tt.want)
		}
	}
}

// TestDirectSwitchingProtocols: a 101 to a request that asked for no
// upgrade. The fast path refuses it itself, but http.Transport hands it to
// the proxy, which checks it as an upgrade (an invalid protocol name first,
// then that it matches the request's: none, so a 101 without an Upgrade
// header passes that check and fails on its body). Both paths answer 502
// with the same error. serveDirect meets such a 101 for an HTTP/2 request
// that declares trailers but has no body (the fast path leaves requests
// with trailers to http.Transport); an HTTP/1 request with an Expect header
// goes by ReverseProxy (directTakes refuses it) and by http.Transport.
func TestDirectSwitchingProtocols(t *testing.T) {
	for _, tt := range []struct{ name, resp, err string }{
		{"no Upgrade header", "HTTP/1.1 101 Switching Protocols\r\n\r\n",
			"internal error: 101 switching protocols response with non-writable body"},
		{"invalid protocol", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: w\xe9bsocket\r\n\r\n",
			`backend tried to switch to invalid protocol`},
		{"websocket", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			`backend tried to switch protocol \"websocket\" when \"\" was requested`},
	} {
		t.Run(tt.name+"/HTTP/1 Expect", func(t *testing.T) {
			compareRuns(t, diffCase{request: getWith("Expect: 100-continue\r\n"),
				respond: respondCut(tt.resp), notTaken: true})
		})
		t.Run(tt.name+"/HTTP/2 declared trailers", func(t *testing.T) {
			direct, _ := newH2Diff(t, respondCut(tt.resp)).compare(t, http.Header{"Trailer": {"X-T"}})
			if direct.Status != http.StatusBadGateway || !strings.Contains(direct.Body, tt.err) {
				t.Errorf("got %d %q; want 502 with %q", direct.Status, direct.Body, tt.err)
			}
		})
	}
}

// TestDirectGODEBUGAtRuntime: ReverseProxy reads the GODEBUG
// setting urlmaxqueryparams on each request (internal/godebug follows
// os.Setenv("GODEBUG")), and re-encodes every query while it is set;
// directTakes then leaves every query to it. (serveDirect once read the
// setting at start only, and passed the query unchanged.)
func TestDirectGODEBUGAtRuntime(t *testing.T) {
	if builtQueryReencoded {
		t.Skip("urlmaxqueryparams is set at start")
	}
	godebug := "urlmaxqueryparams=100"
	if prev := os.Getenv("GODEBUG"); prev != "" {
		godebug = prev + "," + godebug
	}
	t.Setenv("GODEBUG", godebug)
	compareRuns(t, diffCase{request: "GET /up/x?b=2&a=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n", notTaken: true})
}

// TestDirectClientHangsUp: a client that hangs up before the response's
// headers, or in the middle of a streamed body, ends the upstream call on
// both paths: the gateway closes its connection to the upstream.
func TestDirectClientHangsUp(t *testing.T) {
	for _, tt := range []struct {
		name string
		head string // sent before the client hangs up ("": nothing)
	}{
		{"before the headers", ""},
		{"mid-body", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nd\r\ndata: first\n\n\r\n"},
	} {
		for _, direct := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/direct=%v", tt.name, direct), func(t *testing.T) {
				closed := make(chan struct{}, 1)
				up := newDiffUpstream(t, func(c net.Conn, _ *http.Request) bool {
					_, _ = io.WriteString(c, tt.head)
					_, _ = io.Copy(io.Discard, c) // until the gateway closes the connection
					closed <- struct{}{}
					return false
				})
				f := newDiffFront(t, up.URL, 0, false)
				c := f.send(t, direct, h1Wait)
				defer c.Close()
				recvWithin(t, up.saw)
				if tt.head != "" {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadFull(resp.Body, make([]byte, len("data: first\n\n"))); err != nil {
						t.Fatal(err)
					}
				}
				c.Close()
				recvWithin(t, closed)
				want := "serveDirect"
				if !direct {
					want = "ReverseProxy"
				}
				if p := f.spy.take(); !slices.Equal(p, []string{want}) {
					t.Errorf("sent by %v, want %s", p, want)
				}
			})
		}
	}
}

// h2Diff is a gateway of one route, /up/ to upstream, served over HTTP/2,
// with a spy on the route's transport.
type h2Diff struct {
	up     *diffUpstream
	url    string // the front's
	client *http.Client
	r      *route
	spy    *pathSpy
}

func newH2Diff(t *testing.T, respond respondFunc) *h2Diff {
	t.Helper()
	up := newDiffUpstream(t, respond)
	reg := newRegistry(t, breaker.Config{Name: "up"})
	frontURL, client, g := serveGatewayH2(t, reg, config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: h1Wait})
	r := g.byPrefix["/up/"]
	return &h2Diff{up: up, url: frontURL, client: client, r: r, spy: spyOn(r)}
}

// h2Saw is what the upstream and the client get for one HTTP/2 request.
type h2Saw struct {
	Status          int
	Header, Trailer http.Header
	Body, Interim   string
	Upstream        upstreamSaw
}

// run sends GET /up/x?q=1 with header over HTTP/2, by serveDirect if
// direct is set (when directTakes the request), else by ReverseProxy.
func (f *h2Diff) run(t *testing.T, direct bool, header http.Header) h2Saw {
	t.Helper()
	f.r.direct = direct
	var interim []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			interim = append(interim, fmt.Sprint(code, h))
			return nil
		}})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/up/x?q=1", nil)
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("User-Agent", "diff/2")
	resp, body := fetch(t, f.client, req)
	if resp.ProtoMajor != 2 {
		t.Fatalf("the client spoke %s", resp.Proto)
	}
	resp.Header.Del("Date")
	// A streamed body (unknown length) gets a Content-Length, or without a
	// Content-Type a sniffed one, when it ends before the first flush: a
	// race on both paths (TestDirectFirstFlush); the streamed cases here
	// have a Content-Type.
	resp.Header.Del("Content-Length")
	u := recvWithin(t, f.up.saw)
	u.Header.Del("X-Forwarded-For") // the client's port differs
	u.Raw = ""
	return h2Saw{resp.StatusCode, resp.Header, resp.Trailer, body, strings.Join(interim, "; "), u}
}

// compare sends the request both ways and reports how they differ.
func (f *h2Diff) compare(t *testing.T, header http.Header) (direct, proxy h2Saw) {
	t.Helper()
	direct, proxy = f.run(t, true, header), f.run(t, false, header)
	if p := f.spy.take(); !slices.Equal(p, []string{"serveDirect", "ReverseProxy"}) {
		t.Errorf("sent by %v, want serveDirect then ReverseProxy", p)
	}
	if !reflect.DeepEqual(direct, proxy) {
		t.Errorf("different:\nserveDirect:  %+v\nReverseProxy: %+v", direct, proxy)
	}
	return direct, proxy
}

// TestDirectHTTP2: an HTTP/2 request without a body (its body is not
// http.NoBody, but its ContentLength is 0, as ReverseProxy looks at) goes
// by serveDirect, and the upstream and the client get the same as through
// ReverseProxy: plain, streamed, with trailers, a 103 first, an upstream
// failure. An HTTP/2 request with a body goes by ReverseProxy.
func TestDirectHTTP2(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\nok"},
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"trailers", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: v\r\nX-U: w\r\n\r\n"},
		{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"503", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\nbusy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newH2Diff(t, respondRaw(tc.resp)).compare(t, nil)
		})
	}
	t.Run("with a body", func(t *testing.T) {
		f := newH2Diff(t, respondOK)
		resp, err := f.client.Post(f.url+"/up/x", "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != "ok" {
			t.Fatalf("got %s %q", resp.Proto, body)
		}
		if p := f.spy.take(); !slices.Equal(p, []string{"ReverseProxy"}) {
			t.Errorf("an HTTP/2 POST with a body was sent by %v, want ReverseProxy", p)
		}
	})
}
