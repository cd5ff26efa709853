package gateway

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// validRequest refuses what http.Transport refuses before it writes a
// request: a header or trailer field name that is not a token, a value
// with control bytes (a line break would start another field), a method
// that is not a token. The server validated the client's fields already;
// this guards those the gateway sets.
func validRequest(req *http.Request) error {
	if err := validFields(req.Header); err != "" {
		return fmt.Errorf("net/http: invalid header %s", err)
	}
	if err := validFields(req.Trailer); err != "" {
		return fmt.Errorf("net/http: invalid trailer %s", err)
	}
	if m := req.Method; m != "" && !validMethod(m) {
		return fmt.Errorf("net/http: invalid method %q", m)
	}
	return nil
}

func validFields(h http.Header) string {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Sprintf("field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Sprintf("field value for %q", k) // not the value: it may be a secret
			}
		}
	}
	return ""
}

// validMethod reports whether m is a token (RFC 9110's method).
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return m != ""
}

// writeRequest writes req to bw as req.Write does, or by req.Write itself:
// a request without a body (the commonest through a gateway) is written
// directly, without Request.Write's sorted copy of the header, formatted
// prints and transfer writer. The bytes differ only in the order of the
// header fields, which HTTP leaves free (Request.Write sorts them).
//
// Written directly: no body, no Close, no trailers or transfer encoding, not
// CONNECT, a host of plain ASCII without a zone, a request URI without
// control bytes, and no ClientTrace that watches the writing
// (httputil.ReverseProxy's only watches 1xx responses). Everything else
// goes to req.Write. Neither validates the fields (validRequest does).
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !writesDirectly(req, host) {
		return req.Write(bw)
	}
	ruri := req.URL.RequestURI()
	for i := 0; i < len(ruri); i++ {
		if b := ruri[i]; b < ' ' || b == 0x7f {
			return req.Write(bw) // which refuses it
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1" // Request.Write's default
	if vv, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vv) > 0 {
			ua = vv[0]
		}
	}
	if ua != "" { // before trimming, as Request.Write: "  " is sent empty
		writeField(bw, "User-Agent", sentValue(ua))
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n") // as Request.Write sends for these
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue // Request.Write drops it too
		}
		for _, v := range vv {
			writeField(bw, k, sentValue(v))
		}
	}
	_, err := bw.WriteString("\r\n")
	return err // a write error stays in bw, and is this one
}

// writesDirectly reports whether writeRequest writes req itself, to host.
func writesDirectly(req *http.Request, host string) bool {
	if req.ContentLength != 0 || req.Body != nil && req.Body != http.NoBody || req.Close || req.Method == http.MethodConnect ||
		len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 || req.URL.Opaque != "" || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false // Request.Write converts it (IDNA), or refuses or clears it
		}
	}
	if t := httptrace.ContextClientTrace(req.Context()); t != nil &&
		(t.WroteHeaderField != nil || t.WroteHeaders != nil || t.WroteRequest != nil || t.Wait100Continue != nil) {
		return false
	}
	return true
}

// sentValue is v as Request.Write sends it: line breaks made spaces,
// surrounding blanks trimmed.
func sentValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\n", " ", "\r", " ").Replace(v)
	}
	return textproto.TrimString(v)
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}
