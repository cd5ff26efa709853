package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/version"
)

// gatewayFirst answers every request exactly as the proxy listener's mux
// alone does: the same handler, status, headers and body, for the
// gateway's paths and for each of the mux's own (probes, /metrics, the
// admin API, the status page, the index, redirects of unclean paths and of
// /tree to /tree/, CONNECT, "*"); and it takes the gateway's own requests
// past the mux.
func TestGatewayFirstAnswersAsTheMux(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s %s", r.Method, r.URL.RequestURI())
	}))
	defer up.Close()
	yaml := fmt.Sprintf(`
breakers:
  up: {}
routes:
  - prefix: /up/
    upstream: %s
    breaker: up
`, up.URL)
	cfg, err := config.Parse("test.yaml", []byte(yaml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := newMetrics(cfg.Telemetry, version.Get())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = metrics.Shutdown(context.Background()) }()
	reg, err := metrics.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	feed := exporter.NewLive(exporter.LiveOptions{Routes: liveRoutes(cfg)})
	defer feed.Close()
	st := &readiness{}
	st.set(stateReady)
	m, lv, err := handler(cfg, metrics, reg, feed, nil, slog.New(slog.DiscardHandler), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lv.close()
	m.proxy.Handle("GET /{$}", index(cfg, reg, urls{proxy: "http://x", admin: "http://x", metrics: "http://x"}))

	// Each path the mux keeps for itself is one that config refuses as a
	// route's prefix (its reserved paths): a route there would never see a
	// request.
	if !slices.Contains(m.proxy.owned, "/readyz") {
		t.Fatalf("the proxy's mux owns %q, without /readyz", m.proxy.owned)
	}
	for _, o := range m.proxy.owned {
		for _, prefix := range []string{o + "/", o + "/x/"} {
			y := fmt.Sprintf("breakers:\n  up: {}\nroutes:\n  - {prefix: %s, upstream: %s, breaker: up}\n", prefix, up.URL)
			if _, err := config.Parse("r.yaml", []byte(y), noEnv); err == nil || !strings.Contains(err.Error(), "which breakerwatch serves itself") {
				t.Errorf("a route with prefix %s, under %s, which the proxy's mux serves: %v; want config to refuse it", prefix, o, err)
			}
		}
	}

	first := gatewayFirst(m.proxy, lv)
	// For most cases below, taking the other way changes the answer, which
	// the comparison catches. For five (POST /healthz, /healthzone/x,
	// /up/a%2Fb, /up/%68ealthz, CONNECT) the mux hands the request to the
	// gateway anyway, so only the toGateway check pins them: keeping them in
	// the mux is a cautious choice, not one the answers need.
	cases := []struct {
		method, target string
		direct         bool // gatewayFirst takes it past the mux
	}{
		{"GET", "/up/a", true},
		{"POST", "/up/a/b?q=1&r=%20", true},
		{"GET", "/up/", true},
		{"GET", "/healthzone/x", false}, // starts with /healthz: the mux's, which gives it to the gateway (404)
		{"GET", "/nowhere/x", true},     // the gateway's 404
		{"GET", "/up", true},            // the gateway's redirect to /up/
		{"GET", "/", false},
		{"GET", "/healthz", false},
		{"GET", "/readyz", false},
		{"POST", "/healthz", false},
		{"GET", "/metrics", false},
		{"GET", "/api/circuit-breaker/status", false},
		{"GET", "/api/circuit-breaker", false},
		{"GET", "/ui", false},
		{"GET", "/ui/", false},
		{"GET", "//up/a", false},
		{"GET", "/up//a", false},
		{"GET", "/up/./a", false},
		{"GET", "/up/../healthz", false},
		{"GET", "/up/a/..", false},
		{"GET", "/up/a%2Fb", false},
		{"GET", "/up/%68ealthz", false},      // escaped: the mux's
		{"GET", "/up/%2e%2e/healthz", false}, // escaped dots: the mux cleans the path and redirects
		{"OPTIONS", "*", false},
		{"CONNECT", "/up/a", false},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			req := func() *http.Request {
				r := httptest.NewRequest(c.method, "http://gw.test"+strings.TrimPrefix(c.target, "*"), nil)
				if c.target == "*" {
					r.RequestURI, r.URL.Path = "*", "*"
				}
				return r
			}
			if got := m.proxy.toGateway(req()); got != c.direct {
				t.Errorf("toGateway = %v, want %v", got, c.direct)
			}
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			m.proxy.ServeMux.ServeHTTP(want, req())
			first.ServeHTTP(got, req())
			if got.Code != want.Code {
				t.Errorf("status %d, the mux's %d", got.Code, want.Code)
			}
			for _, h := range []string{"Location", "Content-Type", "Allow", "X-Circuit-Breaker-Name"} {
				if got.Header().Get(h) != want.Header().Get(h) {
					t.Errorf("%s %q, the mux's %q", h, got.Header().Get(h), want.Header().Get(h))
				}
			}
			gb, _ := io.ReadAll(got.Body)
			wb, _ := io.ReadAll(want.Body)
			if c.target != "/metrics" && c.target != "/api/circuit-breaker/status" && string(gb) != string(wb) {
				t.Errorf("body %.200q, the mux's %.200q", gb, wb)
			}
		})
	}
}

// A pattern registered on the proxy's mux is the mux's to serve from then
// on: gatewayFirst learns of it as it is registered, not from a list kept
// by hand; a pattern with a wildcard at its root keeps every request in
// the mux.
func TestGatewayFirstLearnsPatterns(t *testing.T) {
	get := func(path string) *http.Request { return httptest.NewRequest("GET", "http://gw.test"+path, nil) }
	m := newServeMux()
	m.Handle("/", http.NotFoundHandler())
	m.Handle("GET /{$}", http.NotFoundHandler())
	if !m.toGateway(get("/version")) || !m.toGateway(get("/a/b")) {
		t.Fatal("with the catch-all and the root only, the gateway's paths go to it directly")
	}
	m.HandleFunc("GET /version", func(http.ResponseWriter, *http.Request) {})
	m.Handle("example.com/hosts/", http.NotFoundHandler())
	m.Handle("POST /items/{id}/tags", http.NotFoundHandler())
	for _, p := range []string{"/version", "/version/x", "/versions", "/hosts", "/hosts/a", "/items", "/items/1/tags"} {
		if m.toGateway(get(p)) {
			t.Errorf("%s goes past the mux, which has a pattern for it", p)
		}
	}
	if !m.toGateway(get("/a/b")) {
		t.Error("/a/b no longer goes to the gateway directly")
	}
	m.Handle("/{tenant}/admin", http.NotFoundHandler())
	if m.toGateway(get("/a/b")) {
		t.Error("with a wildcard at the root, /a/b still goes past the mux")
	}
}

// The gateway gets the request as the mux would hand it over, its Pattern
// included.
func TestGatewayFirstSetsPattern(t *testing.T) {
	var seen string
	gw := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.Pattern })
	m := newServeMux()
	m.Handle("/", gw)
	for name, h := range map[string]http.Handler{"the mux": m.ServeMux, "gatewayFirst": gatewayFirst(m, gw)} {
		seen = "unset"
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://gw.test/a/b", nil))
		if seen != "/" {
			t.Errorf("through %s, the gateway saw Pattern %q, want \"/\"", name, seen)
		}
	}
}
