package exporter

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// authorizer decides who may mutate breakers.
type authorizer struct {
	hasToken bool
	sum      [sha256.Size]byte // of the token; compared in constant time
}

func newAuthorizer(token string) authorizer {
	if token == "" {
		return authorizer{}
	}
	return authorizer{hasToken: true, sum: sha256.Sum256([]byte(token))}
}

// authorize returns how the client was admitted ("token" or "loopback") or,
// with a non-zero status, why not.
func (a authorizer) authorize(r *http.Request) (who string, status int, msg string) {
	if a.hasToken {
		tok, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			return "none", http.StatusUnauthorized, "this endpoint needs the admin token: send Authorization: Bearer <token>"
		}
		// Hashing first makes the comparison independent of the lengths too.
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], a.sum[:]) != 1 {
			return "bad-token", http.StatusUnauthorized, "invalid admin token"
		}
		return "token", 0, ""
	}
	if !isLoopbackAddr(r.RemoteAddr) {
		return "none", http.StatusForbidden, fmt.Sprintf(
			"no admin token is configured, so only loopback clients may change breakers; "+
				"set %s to a secret and send Authorization: Bearer <token>", TokenEnvVar)
	}
	if h := forwardedBy(r.Header); h != "" {
		return "none", http.StatusForbidden, fmt.Sprintf(
			"no admin token is configured and the request came through a proxy (it carries %s), "+
				"so it does not count as a loopback client; set %s and send Authorization: Bearer <token>", h, TokenEnvVar)
	}
	if !isLoopbackHost(r.Host) {
		return "none", http.StatusForbidden, fmt.Sprintf(
			"no admin token is configured and the Host header %q is not a loopback name (localhost, 127.0.0.1, [::1]); "+
				"use one, or set %s and send Authorization: Bearer <token>", clip(r.Host), TokenEnvVar)
	}
	return "loopback", 0, ""
}

// forwardingHeaders mark a request that a proxy forwarded: breakerwatch's
// own routes set X-Forwarded-For, and so do nginx, HAProxy and Envoy in
// their usual configurations.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Via"}

// forwardedBy returns the first forwarding header h carries, or "". A
// loopback peer that forwards someone else's request (the gateway's own
// route to itself, a proxy on the same host) is not a loopback client.
func forwardedBy(h http.Header) string {
	for _, k := range forwardingHeaders {
		if _, ok := h[k]; ok {
			return k
		}
	}
	return ""
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive.
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// isLoopbackAddr reports whether a RemoteAddr ("ip:port") is a loopback
// address. Forwarding headers are not trusted.
func isLoopbackAddr(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isLoopbackHost reports whether a Host header names the local machine:
// localhost (or a name under .localhost) or a loopback IP. An empty Host
// (HTTP/1.0) is accepted: browsers always send one.
func isLoopbackHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
