package breaker_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// tlsHealthServer is an https server on loopback with a certificate of ca,
// speaking HTTP/2, that asks for a client certificate of ca when mtls is
// set. It counts the connections opened and closed.
func tlsHealthServer(t *testing.T, ca *testutil.CA, mtls bool) (url string, opened, closed *atomic.Int32) {
	t.Helper()
	opened, closed = new(atomic.Int32), new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, false, "127.0.0.1").Cert}, MinVersion: tls.VersionTLS12}
	if mtls {
		srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool
	}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/health", opened, closed
}

// A check's TLS configuration reaches its probe: a private CA's
// certificate verifies with the CA and not without, an upstream requiring
// a client certificate accepts the probe that sends one; checks given one
// *tls.Config share a transport, whose connections Stop closes.
func TestHealthCheckTLS(t *testing.T) {
	resNoLeaks(t)
	ca := testutil.NewCA(t, "health CA")
	plain, opened, closed := tlsHealthServer(t, ca, false)
	mtls, _, _ := tlsHealthServer(t, ca, true)
	trustCA := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	withCert := &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{ca.Issue(t, true, "prober").Cert}, MinVersion: tls.VersionTLS12}

	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg,
		breaker.Config{Name: "ca"}, breaker.Config{Name: "ca_shared"}, breaker.Config{Name: "no_ca"},
		breaker.Config{Name: "mtls"}, breaker.Config{Name: "mtls_no_cert"})
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: time.Hour, Timeout: 10 * time.Second, Logger: resQuiet},
		breaker.HealthCheck{Breaker: "ca", URL: plain, TLS: trustCA},
		breaker.HealthCheck{Breaker: "ca_shared", URL: plain, TLS: trustCA},
		breaker.HealthCheck{Breaker: "no_ca", URL: plain},
		breaker.HealthCheck{Breaker: "mtls", URL: mtls, TLS: withCert},
		breaker.HealthCheck{Breaker: "mtls_no_cert", URL: mtls, TLS: trustCA},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()

	for _, c := range []struct {
		name string
		err  string // "" when the probe passes
	}{
		{"ca", ""},
		{"ca_shared", ""},
		{"no_ca", "certificate signed by unknown authority"},
		{"mtls", ""},
		// The server refuses the handshake; what the client sees of it
		// depends on when the alert arrives (TLS 1.3), so any failure.
		{"mtls_no_cert", "Get"},
	} {
		st, err := h.Check(context.Background(), c.name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Up != (c.err == "") || !strings.Contains(st.Error, c.err) {
			t.Errorf("%s: %+v, want up=%v error containing %q", c.name, st, c.err == "", c.err)
		}
	}
	// ca and ca_shared went through one HTTP/2 connection; no_ca's
	// failed handshake opened the other.
	if n := opened.Load(); n != 2 {
		t.Errorf("%d connections to the private-CA server, want 2 (one shared by ca and ca_shared, one by no_ca)", n)
	}
	h.Stop()
	testutil.WaitFor(t, "Stop closes the TLS transports' idle connections", 10*time.Second, func() bool { return closed.Load() == opened.Load() })
}

// A check that skips verification is logged as a warning naming the
// breaker, when the checker is made (serve makes one at start-up and on
// each reload).
func TestHealthCheckInsecureWarns(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "a"}, breaker.Config{Name: "b"})
	var logs testutil.SyncBuffer
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		breaker.HealthCheck{Breaker: "a", URL: "https://127.0.0.1:1/", TLS: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // the setting under test
		breaker.HealthCheck{Breaker: "b", URL: "https://127.0.0.1:1/", TLS: &tls.Config{MinVersion: tls.VersionTLS12}},
	)
	if err != nil {
		t.Fatal(err)
	}
	h.Stop()
	if out := logs.String(); strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "breaker=a") || !strings.Contains(out, "insecure_skip_verify") {
		t.Errorf("log:\n%s\nwant one warning, naming breaker a", out)
	}
}
