package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

// upstream_fast_path: false (Options.DisableFastPath) sends the requests
// through httputil.ReverseProxy and http.Transport themselves; by default
// serveDirect and the fast path carry them.
// Both proxy the same request alike.
func TestDisableFastPath(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	for _, disable := range []bool{false, true} {
		reg := newRegistry(t, breaker.Config{Name: "up"})
		front, g := serveGateway(t, reg, Options{DisableFastPath: disable}, nil,
			config.Route{Prefix: "/up/", Upstream: mustURL(up.URL), Breaker: "up", Timeout: 5 * time.Second})
		if _, fast := g.tr.base.(*h1Transport); fast == disable {
			t.Errorf("DisableFastPath %v: the routes' transport is %T", disable, g.tr.base)
		}
		if _, ok := g.tr.base.(*http.Transport); ok != disable {
			t.Errorf("DisableFastPath %v: the routes' transport is %T, want an *http.Transport only when disabled", disable, g.tr.base)
		}
		if direct := g.byPrefix["/up/"].direct; direct == disable {
			t.Errorf("DisableFastPath %v: serveDirect on = %v", disable, direct)
		}
		resp, body := get(t, front.URL+"/up/x")
		if resp.StatusCode != http.StatusOK || body != "/x" {
			t.Errorf("DisableFastPath %v: %d %q, want 200 \"/x\"", disable, resp.StatusCode, body)
		}
		if h1, ok := g.tr.base.(*h1Transport); ok {
			// The fast path carried it: its connection is now idle there.
			if n := h1Idle(h1, mustURL(up.URL).Host); n != 1 {
				t.Errorf("the fast path keeps %d idle connections after the request, want 1", n)
			}
		}
	}
}
