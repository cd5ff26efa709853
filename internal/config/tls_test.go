package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// pki writes a CA, a server certificate and a client certificate (and a
// second, unrelated key) into dir, with relative names.
func pki(t *testing.T, dir string) {
	t.Helper()
	ca := testutil.NewCA(t, "test CA")
	srv := ca.Issue(t, false, "127.0.0.1")
	cl := ca.Issue(t, true, "client")
	other := ca.Issue(t, true, "other")
	testutil.WriteFile(t, dir, "ca.pem", ca.PEM)
	testutil.WriteFile(t, dir, "server.pem", srv.CertPEM)
	testutil.WriteFile(t, dir, "server.key", srv.KeyPEM)
	testutil.WriteFile(t, dir, "client.pem", cl.CertPEM)
	testutil.WriteFile(t, dir, "client.key", cl.KeyPEM)
	testutil.WriteFile(t, dir, "other.key", other.KeyPEM)
	testutil.WriteFile(t, dir, "garbage.pem", []byte("not PEM at all\n"))
}

const tlsBase = `breakers: {b: {}, f: {}}
routes:
  - prefix: /x/
    upstream: https://127.0.0.1:8443
    breaker: b
`

func TestTLSSettings(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir)
	path := testutil.WriteFile(t, dir, "c.yaml", []byte(`tls_cert_file: server.pem
tls_key_file: server.key
`+tlsBase+`    body_read_timeout: 5s
    tls:
      ca_file: ca.pem
      cert_file: client.pem
      key_file: client.key
      server_name: upstream.internal
    fallbacks:
      - upstream: https://127.0.0.2
        breaker: f
        tls: {insecure_skip_verify: true}
`))
	c, err := Load(path, env())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	want := UpstreamTLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
		KeyFile: filepath.Join(dir, "client.key"), ServerName: "upstream.internal"}
	if r.TLS == nil || *r.TLS != want {
		t.Errorf("tls = %+v, want %+v (files relative to the config's directory)", r.TLS, want)
	}
	if f := r.Fallbacks[0].TLS; f == nil || *f != (UpstreamTLS{InsecureSkipVerify: true}) {
		t.Errorf("fallback tls = %+v", f)
	}
	if r.BodyReadTimeout != 5*time.Second {
		t.Errorf("body_read_timeout = %v", r.BodyReadTimeout)
	}
	if c.TLSCertFile != filepath.Join(dir, "server.pem") || c.TLSKeyFile != filepath.Join(dir, "server.key") {
		t.Errorf("listener tls = %q, %q", c.TLSCertFile, c.TLSKeyFile)
	}
	tc, err := r.TLS.ClientConfig()
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "upstream.internal" {
		t.Errorf("ClientConfig = %+v, %v", tc, err)
	}
}

func TestTLSProblems(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir)
	ca := filepath.Join(dir, "ca.pem")
	loadProblems(t, dir, map[string]problemCase{
		"missing ca_file": {tlsBase + "    tls: {ca_file: nope.pem}\n",
			[]string{`c.yaml:6: routes[0].tls.ca_file: "` + filepath.Join(dir, "nope.pem") + `": no such file or directory`}},
		"ca_file not PEM": {tlsBase + "    tls: {ca_file: garbage.pem}\n",
			[]string{`routes[0].tls.ca_file: "` + filepath.Join(dir, "garbage.pem") + `": no PEM certificate in it`}},
		"key without cert": {tlsBase + "    tls: {key_file: client.key}\n",
			[]string{`routes[0].tls.key_file: "` + filepath.Join(dir, "client.key") + `": set without cert_file`}},
		"cert without key": {tlsBase + "    tls: {cert_file: client.pem}\n",
			[]string{`routes[0].tls.cert_file: "` + filepath.Join(dir, "client.pem") + `": set without key_file`}},
		"cert and key mismatch": {tlsBase + "    tls: {cert_file: client.pem, key_file: other.key}\n",
			[]string{`routes[0].tls.key_file: "` + filepath.Join(dir, "other.key") + `": not the key of cert_file "` + filepath.Join(dir, "client.pem") + `": private key does not match public key`}},
		"key file holds a certificate": {tlsBase + "    tls: {cert_file: client.pem, key_file: client.pem}\n",
			[]string{`routes[0].tls.key_file: "` + filepath.Join(dir, "client.pem") + `": no PEM PRIVATE KEY in it`}},
		"http upstream": {strings.Replace(tlsBase, "https://", "http://", 1) + "    tls: {server_name: x}\n",
			[]string{"routes[0].tls: set for an http:// upstream: TLS applies to https:// upstreams only"}},
		"insecure with ca": {tlsBase + "    tls: {ca_file: " + ca + ", insecure_skip_verify: true}\n",
			[]string{"routes[0].tls.ca_file: unused with insecure_skip_verify: true"}},
		"unknown key and bad bool": {tlsBase + "    tls: {ca: x, insecure_skip_verify: yes please}\n",
			[]string{"routes[0].tls.ca: unknown key (known here: " + tlsKeys + ")", "routes[0].tls.insecure_skip_verify: want true or false"}},
		"empty file name": {tlsBase + "    tls: {ca_file: \"\"}\n",
			[]string{"routes[0].tls.ca_file: empty: want a file name"}},
		"fallback": {tlsBase + "    fallbacks: [{upstream: https://y, breaker: f, tls: {ca_file: nope.pem}}]\n",
			[]string{"routes[0].fallbacks[0].tls.ca_file: \"" + filepath.Join(dir, "nope.pem") + "\": no such file"}},
		"listener cert only": {"tls_cert_file: server.pem\n",
			[]string{"tls_cert_file: set without tls_key_file"}},
		"listener key only": {"tls_key_file: server.key\n",
			[]string{"tls_key_file: set without tls_cert_file"}},
		"listener mismatch": {"tls_cert_file: server.pem\ntls_key_file: client.key\n",
			[]string{`c.yaml:2: tls_key_file: "` + filepath.Join(dir, "client.key") + `": not the key of cert_file`}},
		"listener missing": {"tls_cert_file: none.pem\ntls_key_file: server.key\n",
			[]string{`c.yaml:1: tls_cert_file: "` + filepath.Join(dir, "none.pem") + `": no such file or directory`}},
		"body_read_timeout zero": {tlsBase + "    body_read_timeout: 0s\n",
			[]string{"routes[0].body_read_timeout: 0 is not a timeout"}},
		"body_read_timeout negative": {tlsBase + "    body_read_timeout: -1s\n",
			[]string{"routes[0].body_read_timeout: -1s is negative"}},
	})
}

// problemCase is a configuration file and lines its Load error contains.
type problemCase struct {
	yaml string
	want []string
}

// loadProblems loads each case's file from dir and checks its problems.
func loadProblems(t *testing.T, dir string, cases map[string]problemCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := testutil.WriteFile(t, dir, "c.yaml", []byte(tc.yaml))
			_, err := Load(path, env())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant a line containing %q", err, w)
				}
			}
		})
	}
}

// Validation loads each distinct tls: block once; a cached failure is still
// reported at every route that names it.
func TestTLSMissingFileEveryRoute(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("breakers: {b: {}}\nroutes:\n")
	for i := range 3 {
		b.WriteString("  - {prefix: /r" + string(rune('a'+i)) + "/, upstream: https://h, breaker: b, tls: {ca_file: gone.pem}}\n")
	}
	path := testutil.WriteFile(t, dir, "c.yaml", []byte(b.String()))
	_, err := Load(path, env())
	if err == nil || strings.Count(err.Error(), "gone.pem") != 3 {
		t.Fatalf("err = %v, want the missing file reported for each of the 3 routes", err)
	}
}

// The example of docs/configuration.md's TLS section loads, with the files
// it names made next to it, and sets what it says.
func TestTLSDocExample(t *testing.T) {
	block := docBlock(t, "configuration.md", "<!-- config: internal/config/tls_test.go loads this block -->")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca := testutil.NewCA(t, "internal CA")
	gw, cl := ca.Issue(t, false, "gateway.internal"), ca.Issue(t, true, "gateway")
	for name, data := range map[string][]byte{"internal-ca.pem": ca.PEM, "gateway.pem": gw.CertPEM, "gateway.key": gw.KeyPEM,
		"client.pem": cl.CertPEM, "client.key": cl.KeyPEM} {
		testutil.WriteFile(t, filepath.Join(dir, "tls"), name, data)
	}
	c, err := Load(testutil.WriteFile(t, dir, "breakerwatch.yaml", []byte(block)), env())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes
	if c.TLSKeyFile != filepath.Join(dir, "tls", "gateway.key") || r[0].BodyReadTimeout != 10*time.Second ||
		r[0].TLS.KeyFile != filepath.Join(dir, "tls", "client.key") || r[0].Fallbacks[0].TLS.ServerName != "billing.internal" ||
		!r[1].TLS.InsecureSkipVerify || r[1].BodyReadTimeout != DefaultBodyReadTimeout {
		t.Errorf("%+v %+v %+v %+v", c, r[0].TLS, r[0].Fallbacks[0].TLS, r[1].TLS)
	}
	// The problems the section shows are the ones reported.
	os.Remove(filepath.Join(dir, "tls", "internal-ca.pem"))
	testutil.WriteFile(t, filepath.Join(dir, "tls"), "client.key", gw.KeyPEM)
	_, err = Load(filepath.Join(dir, "breakerwatch.yaml"), env())
	for _, line := range []string{
		`breakerwatch.yaml:10: routes[0].tls.ca_file: "` + filepath.Join(dir, "tls/internal-ca.pem") + `": no such file or directory`,
		`breakerwatch.yaml:12: routes[0].tls.key_file: "` + filepath.Join(dir, "tls/client.key") + `": not the key of cert_file "` +
			filepath.Join(dir, "tls/client.pem") + `": private key does not match public key`,
	} {
		if err == nil || !strings.Contains(err.Error(), line) {
			t.Errorf("error:\n%v\nwant a line %s", err, line)
		}
	}
}

// docBlock is the YAML block that follows marker in docs/name.
func docBlock(t *testing.T, name, marker string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), marker+"\n```yaml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("no YAML block after %s in docs/%s", marker, name)
	}
	return block
}

// A health check's tls: block is read like a route's, with files relative
// to the configuration file; equal settings get one *tls.Config (so that
// their probes share a transport), and a check without one inherits
// nothing from the routes of its breaker.
func TestHealthCheckTLSSettings(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir)
	path := testutil.WriteFile(t, dir, "c.yaml", []byte(`breakers:
  a:
    health_check:
      url: https://127.0.0.1:8443/health
      tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: up.internal}
  b:
    health_check:
      url: https://127.0.0.1:8444/health
      tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: up.internal}
  c:
    health_check: {url: "https://127.0.0.1:8445/health"}
routes:
  - {prefix: /c/, upstream: "https://127.0.0.1:8445", breaker: c, tls: {ca_file: ca.pem}}
`))
	c, err := Load(path, env())
	if err != nil {
		t.Fatal(err)
	}
	want := UpstreamTLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
		KeyFile: filepath.Join(dir, "client.key"), ServerName: "up.internal"}
	if got := c.HealthCheckTLS["a"]; got == nil || *got != want {
		t.Errorf("a's tls = %+v, want %+v", got, want)
	}
	a, b, cc := c.HealthChecks[0].TLS, c.HealthChecks[1].TLS, c.HealthChecks[2].TLS
	if a == nil || a.RootCAs == nil || len(a.Certificates) != 1 || a.ServerName != "up.internal" {
		t.Errorf("a's tls.Config = %+v", a)
	}
	if a != b {
		t.Error("a and b have equal tls: settings but two *tls.Config")
	}
	if cc != nil || c.HealthCheckTLS["c"] != nil {
		t.Errorf("c has no tls: of its own but got %+v (inherited from its route?)", cc)
	}
}

func TestHealthCheckTLSProblems(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir)
	hc := "breakers:\n  b:\n    health_check:\n      url: https://127.0.0.1:8443/health\n"
	loadProblems(t, dir, map[string]problemCase{
		"missing ca_file": {hc + "      tls: {ca_file: nope.pem}\n",
			[]string{`c.yaml:5: breakers.b.health_check.tls.ca_file: "` + filepath.Join(dir, "nope.pem") + `": no such file or directory`}},
		"ca_file not PEM": {hc + "      tls: {ca_file: garbage.pem}\n",
			[]string{`breakers.b.health_check.tls.ca_file: "` + filepath.Join(dir, "garbage.pem") + `": no PEM certificate in it`}},
		"key without cert": {hc + "      tls: {key_file: client.key}\n",
			[]string{`breakers.b.health_check.tls.key_file: "` + filepath.Join(dir, "client.key") + `": set without cert_file`}},
		"cert and key mismatch": {hc + "      tls: {cert_file: client.pem, key_file: other.key}\n",
			[]string{`breakers.b.health_check.tls.key_file: "` + filepath.Join(dir, "other.key") + `": not the key of cert_file`}},
		"http url": {strings.Replace(hc, "https://", "http://", 1) + "      tls: {server_name: x}\n",
			[]string{"breakers.b.health_check.tls: set for an http:// health check URL: TLS applies to https:// URLs only"}},
		"insecure with ca": {hc + "      tls: {ca_file: ca.pem, insecure_skip_verify: true}\n",
			[]string{"breakers.b.health_check.tls.ca_file: unused with insecure_skip_verify: true"}},
		"unknown key": {hc + "      tls: {ca: x}\n",
			[]string{"breakers.b.health_check.tls.ca: unknown key (known here: " + tlsKeys + ")"}},
		"not a mapping": {hc + "      tls: ca.pem\n",
			[]string{"breakers.b.health_check.tls: want a mapping"}},
	})
}

// The health-check example of docs/configuration.md loads, the route
// sharing the check's settings through a YAML anchor.
func TestHealthCheckTLSDocExample(t *testing.T) {
	block := docBlock(t, "configuration.md", "<!-- config: internal/config/tls_test.go loads this health-check block -->")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca := testutil.NewCA(t, "internal CA")
	cl := ca.Issue(t, true, "gateway")
	for name, data := range map[string][]byte{"internal-ca.pem": ca.PEM, "client.pem": cl.CertPEM, "client.key": cl.KeyPEM} {
		testutil.WriteFile(t, filepath.Join(dir, "tls"), name, data)
	}
	c, err := Load(testutil.WriteFile(t, dir, "breakerwatch.yaml", []byte(block)), env())
	if err != nil {
		t.Fatal(err)
	}
	want := UpstreamTLS{CAFile: filepath.Join(dir, "tls", "internal-ca.pem"), CertFile: filepath.Join(dir, "tls", "client.pem"),
		KeyFile: filepath.Join(dir, "tls", "client.key")}
	if got := c.HealthCheckTLS["billing"]; got == nil || *got != want || c.Routes[0].TLS == nil || *c.Routes[0].TLS != want {
		t.Errorf("health check tls %+v, route tls %+v, want both %+v", got, c.Routes[0].TLS, want)
	}
	if tc := c.HealthChecks[0].TLS; tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Errorf("health check tls.Config = %+v", tc)
	}
}

// In a configuration built in Go, HealthCheckTLS naming a breaker without
// a health check is a problem, not silently ignored.
func TestHealthCheckTLSWithoutCheck(t *testing.T) {
	c := &Config{Breakers: []breaker.Config{{Name: "a"}}, HealthCheckTLS: map[string]*UpstreamTLS{"a": {ServerName: "x"}}}
	err := Apply(c, env())
	if want := `breakers.a.health_check.tls: set for breaker "a", which has no health check`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Apply = %v, want %s", err, want)
	}
}
