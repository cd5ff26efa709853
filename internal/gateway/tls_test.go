package gateway

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// tlsUpstream is a TLS server on loopback with cert, that answers with the
// protocol, SNI name and client certificate it saw. h2 offers HTTP/2 (only)
// through ALPN; clientCAs, when set, requires a client certificate they
// issued.
func tlsUpstream(t *testing.T, cert testutil.KeyPair, h2 bool, clientCAs *testutil.CA) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := ""
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "proto=%d sni=%s client=%s path=%s", r.ProtoMajor, r.TLS.ServerName, client, r.URL.Path)
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert.Cert}}
	if clientCAs != nil {
		ts.TLS.ClientAuth, ts.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs.Pool
	}
	ts.EnableHTTP2 = h2
	ts.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug) // failed handshakes are the point
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// tlsGateway serves routes (each with breaker "b"+index, threshold 10) and
// returns the front server, the gateway and the breakers.
func tlsGateway(t *testing.T, logger *slog.Logger, routes ...config.Route) (*httptest.Server, *Gateway, []*breaker.Breaker) {
	t.Helper()
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	var bs []*breaker.Breaker
	for i := range routes {
		routes[i].Breaker = fmt.Sprintf("b%d", i)
		routes[i].Timeout = 10 * time.Second
		b, err := reg.Register(breaker.Config{Name: routes[i].Breaker, FailureThreshold: 10})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	front, g := serveGateway(t, reg, Options{Logger: logger}, nil, routes...)
	return front, g, bs
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := testutil.NewCA(t, "upstream CA"), testutil.NewCA(t, "someone else's CA")
	caFile := testutil.WriteFile(t, dir, "ca.pem", ca.PEM)
	otherFile := testutil.WriteFile(t, dir, "other.pem", other.PEM)
	client := ca.Issue(t, true, "gateway")
	certFile := testutil.WriteFile(t, dir, "client.pem", client.CertPEM)
	keyFile := testutil.WriteFile(t, dir, "client.key", client.KeyPEM)

	h1 := tlsUpstream(t, ca.Issue(t, false, "127.0.0.1"), false, nil)
	h2 := tlsUpstream(t, ca.Issue(t, false, "127.0.0.1"), true, nil)
	mtls := tlsUpstream(t, ca.Issue(t, false, "127.0.0.1"), false, ca)
	named := tlsUpstream(t, ca.Issue(t, false, "upstream.internal"), false, nil)
	untrusted := tlsUpstream(t, other.Issue(t, false, "127.0.0.1"), false, nil)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	trusted := &config.UpstreamTLS{CAFile: caFile}
	cases := []struct {
		name   string
		route  config.Route
		status int
		want   string // in the body
	}{
		{"ca_file trusts the upstream", config.Route{Upstream: mustURL(h1.URL), TLS: trusted}, 200, "proto=1 sni= client= path=/x"},
		{"HTTP/2 where the upstream offers it", config.Route{Upstream: mustURL(h2.URL), TLS: trusted}, 200, "proto=2"},
		{"an untrusted CA", config.Route{Upstream: mustURL(untrusted.URL), TLS: trusted}, 502, "certificate signed by unknown authority"},
		{"the wrong ca_file", config.Route{Upstream: mustURL(h1.URL), TLS: &config.UpstreamTLS{CAFile: otherFile}}, 502, "certificate signed by unknown authority"},
		{"no tls: the system's roots", config.Route{Upstream: mustURL(h1.URL)}, 502, "certificate signed by unknown authority"},
		{"mTLS with a client certificate", config.Route{Upstream: mustURL(mtls.URL), TLS: &config.UpstreamTLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}}, 200, "client=gateway"},
		// Usually "remote error: tls: certificate required"; a loaded machine may
		// see the connection reset before it reads the alert.
		{"mTLS without one", config.Route{Upstream: mustURL(mtls.URL), TLS: trusted}, 502, "upstream unreachable: "},
		{"server_name", config.Route{Upstream: mustURL(named.URL), TLS: &config.UpstreamTLS{CAFile: caFile, ServerName: "upstream.internal"}}, 200, "sni=upstream.internal"},
		{"without server_name", config.Route{Upstream: mustURL(named.URL), TLS: trusted}, 502, "doesn't contain any IP SANs"},
		{"insecure_skip_verify", config.Route{Upstream: mustURL(untrusted.URL), TLS: &config.UpstreamTLS{InsecureSkipVerify: true}}, 200, "proto=1"},
	}
	var routes []config.Route
	for i, c := range cases {
		c.route.Prefix = fmt.Sprintf("/r%d/", i)
		routes = append(routes, c.route)
	}
	front, g, bs := tlsGateway(t, logger, routes...)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, front.URL+routes[i].Prefix+"x")
			if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("got %d %s; want %d with %q", resp.StatusCode, body, c.status, c.want)
			}
			counts := bs[i].Snapshot().Counts
			if c.status == 200 && counts.Success != 1 {
				t.Errorf("counts = %+v, want 1 success", counts)
			}
			if c.status == 502 {
				var eb errorBody
				if json.Unmarshal([]byte(body), &eb) != nil || eb.Breaker != routes[i].Breaker || !strings.HasPrefix(eb.Error, "upstream unreachable: ") {
					t.Errorf("body %s: want the gateway's JSON 502", body)
				}
				if counts.Failure != 1 {
					t.Errorf("counts = %+v: a TLS failure is the dependency's failure", counts)
				}
			}
		})
	}

	// Routes with the same settings share one transport; routes without
	// tls: keep the base one.
	rt := func(i int) http.RoundTripper { return g.routes[i].members[0].rt.(*headerTimeout).next }
	if rt(0) != rt(1) || rt(0) != rt(2) {
		t.Error("routes with equal tls: settings have transports of their own")
	}
	if rt(0) == rt(3) || rt(4) != g.tr.base {
		t.Error("want one transport per distinct settings, and the base one without tls:")
	}
	if n := len(g.tr.byKey); n != 5 {
		t.Errorf("%d TLS transports, want 5 (one per distinct tls: block)", n)
	}
	// The insecure route is named in a warning, once.
	if w := logs.String(); strings.Count(w, "insecure_skip_verify") != 1 || !strings.Contains(w, "route="+routes[9].Prefix) {
		t.Errorf("logs:\n%s\nwant one insecure_skip_verify warning naming route %s", w, routes[9].Prefix)
	}
}

// A fallback's tls: applies to its own upstream, not the route's.
func TestFallbackTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "fallback CA")
	caFile := testutil.WriteFile(t, dir, "ca.pem", ca.PEM)
	fb := tlsUpstream(t, ca.Issue(t, false, "127.0.0.1"), true, nil)
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	t.Cleanup(func() { reg.Close() })
	reg.Register(breaker.Config{Name: "p"})
	reg.Register(breaker.Config{Name: "f"})
	front := serveRoute(t, config.Route{Prefix: "/c/", Upstream: mustURL(deadURL(t)), Breaker: "p",
		Fallbacks: []config.Fallback{{Upstream: mustURL(fb.URL), Breaker: "f", TLS: &config.UpstreamTLS{CAFile: caFile}}}}, reg)
	resp, body := get(t, front.URL+"/c/y")
	if resp.StatusCode != 200 || !strings.Contains(body, "proto=2") || resp.Header.Get(HeaderServedBy) != "f" {
		t.Fatalf("got %d %s %v", resp.StatusCode, body, resp.Header)
	}
}

// A route that needs a derived transport (tls:, or a gRPC route) refuses a
// base RoundTripper it cannot clone, instead of silently dropping it.
func TestDerivedTransportNeedsAnHTTPTransport(t *testing.T) {
	wrapped := roundTripperFunc(func(r *http.Request) (*http.Response, error) { return http.DefaultTransport.RoundTrip(r) })
	u, _ := url.Parse("https://127.0.0.1:1")
	for name, rc := range map[string]config.Route{
		"tls":  {Prefix: "/t/", Upstream: u, Breaker: "b", Timeout: time.Second, TLS: &config.UpstreamTLS{ServerName: "x"}},
		"grpc": {Prefix: "/g.S/", Upstream: u, Breaker: "b", Timeout: time.Second, Protocol: config.RouteGRPC},
	} {
		reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
		if _, err := reg.Register(breaker.Config{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		_, err := New([]config.Route{rc}, reg, Options{Logger: slog.New(slog.DiscardHandler), Transport: wrapped})
		if err == nil || !strings.Contains(err.Error(), "must then be an *http.Transport") {
			t.Errorf("%s: New with a wrapping RoundTripper: %v, want the refusal", name, err)
		}
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
