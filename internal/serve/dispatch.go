package serve

import (
	"net/http"
	"strings"
)

// serveMux is an http.ServeMux that remembers where its patterns' paths
// begin, so that the proxy listener can send the gateway's requests past
// it (gatewayFirst). Every pattern goes through its Handle or HandleFunc.
type serveMux struct {
	*http.ServeMux
	// owned are the beginnings of the paths the mux may serve other than
	// through the catch-all "/" (registered by gateway), for each pattern:
	// its path without method and host, cut at the first wildcard and
	// without a trailing slash, so that a subtree's redirect from /tree to
	// /tree/ stays the mux's too.
	owned []string
	// wild: a pattern whose wildcards start at the root ("/{id}/x"); the
	// mux then keeps every request.
	wild bool
}

func newServeMux() *serveMux { return &serveMux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (m *serveMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h) // panics on a bad pattern, before it is recorded
	_, p, _ := strings.Cut(pattern, " ")
	if p == "" {
		p = pattern // no method
	}
	p = strings.TrimLeft(p, " \t")
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:] // a host pattern: its path counts, whatever the host
	}
	switch {
	case p == "/" || p == "/{$}":
		// The catch-all, and the root alone (not a path toGateway takes).
	case strings.HasPrefix(p, "/{"):
		m.wild = true
	default:
		p, _, _ = strings.Cut(p, "{")
		m.owned = append(m.owned, strings.TrimSuffix(p, "/"))
	}
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does.
func (m *serveMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// gatewayFirst serves the proxy listener: a request that mux would pass
// to the gateway's catch-all pattern as it is goes to gw directly,
// everything else to mux. Matching a path in a ServeMux costs more than
// the gateway's own lookup (five allocations a request, docs/benchmarks.md);
// the result is the same: the request is one the mux would neither clean
// and redirect (its path is clean), nor give to another of its patterns
// (its path starts with none of their paths, and is not "/"), nor treat
// apart (CONNECT, "*", an escaped path).
func gatewayFirst(mux *serveMux, gw http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mux.toGateway(r) {
			r.Pattern = "/" // as the mux sets it (unless GODEBUG=httpmuxgo121=1)
			gw.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// toGateway reports whether r goes to the gateway directly (gatewayFirst).
func (m *serveMux) toGateway(r *http.Request) bool {
	p := r.URL.Path
	if m.wild || r.Method == http.MethodConnect || r.URL.RawPath != "" || p == "/" || !cleanPath(p) {
		return false
	}
	for _, o := range m.owned {
		if strings.HasPrefix(p, o) {
			return false
		}
	}
	return true
}

// cleanPath reports whether p is its own cleaned form as ServeMux cleans
// it: rooted, no empty segment but a last one (a trailing slash), no "."
// or ".." segment.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for rest := p[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || seg == "" && more {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}
