package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// writeRequest sends what Request.Write sends, field for field (the order
// of the header fields aside), and is byte for byte Request.Write for the
// requests it leaves to it.
func TestWriteRequestAsRequestWrite(t *testing.T) {
	traced := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{WroteHeaders: func() {}})
	only1xx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{Got1xxResponse: nil})
	cases := []struct {
		name   string
		req    func() *http.Request
		direct bool
	}{
		{"plain GET", func() *http.Request { return newReq("GET", "http://up:8080/a/b?x=1&y=%20", nil) }, true},
		{"no method", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Method = ""; return r }, true},
		{"HEAD", func() *http.Request { return newReq("HEAD", "http://up/h", nil) }, true},
		{"DELETE", func() *http.Request { return newReq("DELETE", "http://up/d", nil) }, true},
		{"POST without body", func() *http.Request { return newReq("POST", "http://up/p", nil) }, true},
		{"PUT without body", func() *http.Request { return newReq("PUT", "http://up/p", nil) }, true},
		{"PATCH without body", func() *http.Request { return newReq("PATCH", "http://up/p", nil) }, true},
		{"no user agent key", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Header.Del("User-Agent"); return r }, true},
		{"empty user agent", func() *http.Request {
			r := newReq("GET", "http://up/", nil)
			r.Header["User-Agent"] = []string{""}
			return r
		}, true},
		{"user agent with a line break", func() *http.Request {
			r := newReq("GET", "http://up/", nil)
			r.Header["User-Agent"] = []string{" curl/8\r\n x "}
			return r
		}, true},
		{"headers", func() *http.Request {
			r := newReq("GET", "http://up/", nil)
			r.Header["X-Many"] = []string{"1", " 2 ", "a\nb"}
			r.Header["X-Empty"] = []string{""}
			r.Header["Bad Name"] = []string{"dropped"}
			r.Header["Content-Length"] = []string{"99"}
			r.Header["Transfer-Encoding"] = []string{"chunked"}
			r.Header["Trailer"] = []string{"X"}
			r.Header["Host"] = []string{"ignored"}
			r.Header["X-Forwarded-For"] = []string{"10.0.0.1"}
			return r
		}, true},
		{"Host field", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Host = "example.com:81"; return r }, true},
		{"IPv6 host", func() *http.Request { return newReq("GET", "http://[::1]:8080/", nil) }, true},
		{"escaped path", func() *http.Request { return newReq("GET", "http://up/a%2Fb/c%20d", nil) }, true},
		{"trace on 1xx only", func() *http.Request { return newReq("GET", "http://up/", nil).WithContext(only1xx) }, true},

		{"body", func() *http.Request { return newReq("POST", "http://up/p", strings.NewReader("hello")) }, false},
		{"Close", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Close = true; return r }, false},
		{"zone", func() *http.Request { return newReq("GET", "http://[fe80::1%25eth0]:80/", nil) }, false},
		{"non-ASCII host", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Host = "bücher.example"; return r }, false},
		{"invalid host", func() *http.Request { r := newReq("GET", "http://up/", nil); r.Host = "a b"; return r }, false},
		{"control byte in the URI", func() *http.Request {
			r := newReq("GET", "http://up/", nil)
			r.URL.RawQuery = "a=\x01"
			return r
		}, true /* refused by both */},
		{"opaque", func() *http.Request { r := newReq("GET", "http://up/", nil); r.URL.Opaque = "//up/o"; return r }, false},
		{"write trace", func() *http.Request { return newReq("GET", "http://up/", nil).WithContext(traced) }, false},
		{"CONNECT", func() *http.Request {
			return &http.Request{Method: "CONNECT", URL: &url.URL{Host: "up:443"}, Host: "up:443", Header: http.Header{}}
		}, false},
		{"blank user agent", func() *http.Request {
			r := newReq("GET", "http://up/", nil)
			r.Header["User-Agent"] = []string{"\t "}
			return r
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.req()
			if got := writesDirectly(r, hostOf(r)); got != c.direct && !strings.Contains(c.name, "control") {
				t.Errorf("writesDirectly = %v, want %v", got, c.direct)
			}
			var want, got bytes.Buffer
			werr := c.req().Write(&want)
			bw := bufio.NewWriter(&got)
			gerr := writeRequest(bw, c.req())
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("error %v, Request.Write's %v", gerr, werr)
			}
			if werr != nil {
				return
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if !c.direct {
				if got.String() != want.String() {
					t.Errorf("wrote\n%q\nRequest.Write wrote\n%q", got.String(), want.String())
				}
				return
			}
			if !strings.HasSuffix(got.String(), "\r\n\r\n") {
				t.Errorf("no end of the header: %q", got.String())
			}
			gr, wr := parse(t, got.Bytes()), parse(t, want.Bytes())
			if gr.Method != wr.Method || gr.RequestURI != wr.RequestURI || gr.Proto != wr.Proto || gr.Host != wr.Host || gr.ContentLength != wr.ContentLength {
				t.Errorf("request line or host %s %s %s %s %d, Request.Write's %s %s %s %s %d",
					gr.Method, gr.RequestURI, gr.Proto, gr.Host, gr.ContentLength, wr.Method, wr.RequestURI, wr.Proto, wr.Host, wr.ContentLength)
			}
			if !reflect.DeepEqual(gr.Header, wr.Header) {
				t.Errorf("header %v, Request.Write's %v", gr.Header, wr.Header)
			}
			if len(got.String()) != len(want.String()) {
				t.Errorf("%d bytes, Request.Write's %d:\n%q\n%q", got.Len(), want.Len(), got.String(), want.String())
			}
		})
	}
}

func newReq(method, url string, body *strings.Reader) *http.Request {
	var r *http.Request
	if body != nil {
		r, _ = http.NewRequest(method, url, body)
	} else {
		r, _ = http.NewRequest(method, url, nil)
	}
	return r
}

func hostOf(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

func parse(t *testing.T, b []byte) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("%v: %q", err, b)
	}
	return r
}

// The fast path refuses what http.Transport refuses before writing: a
// method, header or trailer field name that is not a token, a field value
// with control bytes; with the same errors, and without dialing.
func TestH1RefusesWhatTransportRefuses(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn) { c.Close() })
	cases := map[string]func(*http.Request){
		"method":            func(r *http.Request) { r.Method = "GET /x HTTP/1.1\r\nX:" },
		"field name":        func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} },
		"field value":       func(r *http.Request) { r.Header.Set("X-Smuggle", "a\r\nHost: evil") },
		"NUL in a value":    func(r *http.Request) { r.Header.Set("X-Nul", "a\x00b") },
		"trailer":           func(r *http.Request) { r.Trailer = http.Header{"X-T": {"a\nb"}} },
		"user agent CR":     func(r *http.Request) { r.Header.Set("User-Agent", "x\ry") },
		"empty field name?": func(r *http.Request) { r.Header[""] = []string{"v"} },
	}
	tr := newTestH1(t, nil)
	std := NewBaseTransport()
	std.Proxy = nil
	defer std.CloseIdleConnections()
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			want := newReq("GET", up.URL+"/x", nil)
			spoil(want)
			got := newReq("GET", up.URL+"/x", nil)
			spoil(got)
			_, werr := std.RoundTrip(want)
			_, gerr := tr.RoundTrip(got)
			if werr == nil || gerr == nil || werr.Error() != gerr.Error() {
				t.Errorf("error %v, http.Transport's %v", gerr, werr)
			}
		})
	}
	if n := up.opened.Load(); n != 0 {
		t.Errorf("%d connections opened for invalid requests", n)
	}
}
