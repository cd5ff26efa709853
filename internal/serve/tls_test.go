package serve

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// h2Client trusts ca and speaks HTTP/2 where the server offers it.
func h2Client(t *testing.T, ca *testutil.CA) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func fetch(t *testing.T, c *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// With tls_cert_file and tls_key_file the proxy listener serves HTTPS and
// HTTP/2; server-sent events still arrive one by one through it; a reload
// serves a renewed certificate to new connections.
func TestListenerTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "listener CA")
	kp := ca.Issue(t, false, "127.0.0.1")
	testutil.WriteFile(t, dir, "server.pem", kp.CertPEM)
	testutil.WriteFile(t, dir, "server.key", kp.KeyPEM)

	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: two\n\n")
	}))
	defer up.Close()
	cfgPath := testutil.WriteFile(t, dir, "c.yaml", []byte("tls_cert_file: server.pem\ntls_key_file: server.key\n"+
		"breakers: {s: {}}\nroutes:\n  - {prefix: /sse/, upstream: '"+up.URL+"', breaker: s}\n"))
	base, stop := start(t, Options{ConfigPath: cfgPath})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("banner URL %s, want https://", base)
	}
	c := h2Client(t, ca)
	for _, path := range []string{"/healthz", "/api/circuit-breaker/status"} {
		if resp, body := fetch(t, c, "GET", base+path); resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Errorf("%s: %d over HTTP/%d: %s; want 200 over HTTP/2", path, resp.StatusCode, resp.ProtoMajor, body)
		}
	}

	resp, err := c.Get(base + "/sse/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("stream over HTTP/%d, want 2", resp.ProtoMajor)
	}
	rd := bufio.NewReader(resp.Body)
	// The first event arrives while the upstream holds the second back.
	if line, err := rd.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(rd)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest of the stream: %q", rest)
	}

	// A renewed certificate: served to new connections after a reload.
	renewed := ca.Issue(t, false, "127.0.0.1")
	testutil.WriteFile(t, dir, "server.pem", renewed.CertPEM)
	testutil.WriteFile(t, dir, "server.key", renewed.KeyPEM)
	if resp, body := fetch(t, c, "POST", base+"/api/circuit-breaker/reload"); resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	resp2, _ := fetch(t, h2Client(t, ca), "GET", base+"/healthz")
	if got, want := resp2.TLS.PeerCertificates[0].SerialNumber, renewed.Cert.Leaf.SerialNumber; got.Cmp(want) != 0 {
		t.Errorf("certificate serial %v after the reload, want the renewed one's %v", got, want)
	}
}

// A reload picks up changed upstream TLS settings, and re-reads the files
// of unchanged ones.
func TestReloadUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := testutil.NewCA(t, "upstream CA"), testutil.NewCA(t, "other CA")
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, false, "127.0.0.1").Cert}}
	up.Config.ErrorLog = discardLog()
	up.StartTLS()
	defer up.Close()
	route := "breakers: {u: {}}\nroutes:\n  - prefix: /u/\n    upstream: '" + up.URL + "'\n    breaker: u\n"
	cfgPath := testutil.WriteFile(t, dir, "c.yaml", []byte(route))
	base, stop := start(t, Options{ConfigPath: cfgPath})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	check := func(when string, want int) {
		t.Helper()
		if resp, body := fetch(t, c, "GET", base+"/u/"); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", when, resp.StatusCode, body, want)
		}
	}
	reload := func() {
		t.Helper()
		if resp, body := fetch(t, c, "POST", base+"/api/circuit-breaker/reload"); resp.StatusCode != 200 {
			t.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
	}
	check("without tls:", 502)
	testutil.WriteFile(t, dir, "ca.pem", ca.PEM)
	testutil.WriteFile(t, dir, "c.yaml", []byte(route+"    tls: {ca_file: ca.pem}\n"))
	reload()
	check("after a reload with ca_file", 200)
	testutil.WriteFile(t, dir, "ca.pem", other.PEM)
	reload()
	check("after a reload with another CA in ca_file", 502)
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// A reload that changes fleet: or telemetry: keeps the running ones and
// says that they change only on a restart; one that changes neither says
// nothing about them.
func TestReloadWarnsOfRestartOnlySections(t *testing.T) {
	dir := t.TempDir()
	base := "breakers: {u: {}}\nroutes:\n  - {prefix: /u/, upstream: 'http://127.0.0.1:9', breaker: u}\ntelemetry: {service_name: one}\n"
	cfgPath := testutil.WriteFile(t, dir, "c.yaml", []byte(base))
	var logs testutil.SyncBuffer
	addr, stop := start(t, Options{ConfigPath: cfgPath, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	reload := func() string {
		t.Helper()
		before := len(logs.String())
		if resp, body := fetch(t, c, "POST", addr+"/api/circuit-breaker/reload"); resp.StatusCode != 200 {
			t.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
		return logs.String()[before:]
	}
	if out := reload(); strings.Contains(out, "only on a restart") {
		t.Errorf("an unchanged file's reload warned:\n%s", out)
	}
	testutil.WriteFile(t, dir, "c.yaml", []byte(strings.Replace(base, "one", "two", 1)+"fleet: {redis: 'redis://127.0.0.1:9'}\n"))
	out := reload()
	for _, want := range []string{"setting=fleet", "setting=telemetry"} {
		if !strings.Contains(out, want) {
			t.Errorf("reload log lacks %q:\n%s", want, out)
		}
	}
}

// A health check of an https upstream that has a private CA and requires
// a client certificate fails without health_check.tls, passes with it,
// and a reload picks up changed settings and re-reads the files.
func TestHealthCheckTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	ca, other := testutil.NewCA(t, "upstream CA"), testutil.NewCA(t, "other CA")
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, false, "127.0.0.1").Cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	up.Config.ErrorLog = discardLog()
	up.StartTLS()
	defer up.Close()
	client := ca.Issue(t, true, "prober")
	testutil.WriteFile(t, dir, "client.pem", client.CertPEM)
	testutil.WriteFile(t, dir, "client.key", client.KeyPEM)
	check := "breakers:\n  u:\n    health_check:\n      url: '" + up.URL + "/health'\n"
	cfgPath := testutil.WriteFile(t, dir, "c.yaml", []byte(check))
	base, stop := start(t, Options{ConfigPath: cfgPath, Env: func(k string) (string, bool) {
		return "50ms", k == config.EnvHealthCheckInterval
	}})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	waitHealth := func(when string, want ...string) {
		t.Helper()
		var body string
		done := false
		defer func() { // WaitFor failed (it ends the test): show what /health said last
			if !done {
				t.Logf("%s: /health said %s", when, body)
			}
		}()
		testutil.WaitFor(t, fmt.Sprintf("%s: /health to say %q", when, want), 10*time.Second, func() bool {
			_, body = fetch(t, c, "GET", base+"/api/circuit-breaker/health")
			for _, w := range want {
				if !strings.Contains(body, w) {
					return false
				}
			}
			return true
		})
		done = true
	}
	reload := func() {
		t.Helper()
		if resp, body := fetch(t, c, "POST", base+"/api/circuit-breaker/reload"); resp.StatusCode != 200 {
			t.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
	}
	waitHealth("without tls:", `"healthy":false`, "certificate signed by unknown authority")
	testutil.WriteFile(t, dir, "ca.pem", ca.PEM)
	testutil.WriteFile(t, dir, "c.yaml", []byte(check+"      tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key}\n"))
	reload()
	waitHealth("after a reload with ca_file and a client certificate", `"healthy":true`)
	testutil.WriteFile(t, dir, "ca.pem", other.PEM)
	reload()
	waitHealth("after a reload with another CA in ca_file", `"healthy":false`, "certificate signed by unknown authority")
}
