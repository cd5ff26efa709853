package serve

import (
	"net/http"
	"strings"

	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/exporter/ui"
)

// muxPaths are the beginnings of the paths that the proxy listener's mux
// may serve itself rather than pass to the gateway's catch-all "/": every
// pattern handler registers on it (index's "GET /{$}" is "/" alone), with
// the subtree patterns' trailing slash cut so that the mux's redirect from
// /tree to /tree/ stays its own. A pattern added there must be added here.
var muxPaths = [...]string{
	"/healthz", "/readyz", exporter.MetricsPath,
	strings.TrimSuffix(exporter.AdminPathPrefix, "/"), strings.TrimSuffix(ui.Path, "/"),
}

// gatewayFirst serves the proxy listener: a request that the mux would
// pass to the gateway's catch-all pattern as it is goes to gw directly,
// everything else to mux. Matching a path in a ServeMux costs more than
// the gateway's own lookup (five allocations a request, docs/benchmarks.md);
// the result is the same: the request is one the mux would neither clean
// and redirect (its path is clean), nor give to another pattern (its path
// starts with none of muxPaths, and is not "/"), nor treat apart (CONNECT,
// "*", an escaped path).
func gatewayFirst(mux *http.ServeMux, gw http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if toGateway(r) {
			r.Pattern = "/" // as the mux would set it
			gw.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// toGateway reports whether r goes to the gateway directly (gatewayFirst).
func toGateway(r *http.Request) bool {
	p := r.URL.Path
	if r.Method == http.MethodConnect || r.URL.RawPath != "" || p == "/" || !cleanPath(p) {
		return false
	}
	for _, m := range muxPaths {
		if strings.HasPrefix(p, m) {
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
