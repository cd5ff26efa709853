package serve

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var noEnv config.Env = func(string) (string, bool) { return "", false }

// start runs Run in the background; it returns the base URL from the
// banner and a function that stops Run and returns its error.
func start(t *testing.T, o Options) (string, func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	o.Stdout = pw
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Env == nil {
		o.Env = noEnv
	}
	o.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := Run(ctx, o)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`serving on (https?://\S+)`)
	base := ""
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if base == "" {
		cancel()
		t.Fatalf("no banner; Run returned %v", <-done)
	}
	return base, func() error { cancel(); return <-done }
}

// The demo runs, serves its routes and the admin API, and stops without
// leaking a goroutine (TestMain checks).
func TestDemoStartsAndStops(t *testing.T) {
	// At speed 1 the demo's routes keep their 10s timeouts (at speed 50,
	// /openai/'s was 200ms: a loaded machine answered 504) and its first
	// fault comes 10s in, after the test.
	base, stop := start(t, Options{DemoSpeed: 1})
	for _, path := range []string{"/", "/api/circuit-breaker/status", "/metrics", "/openai/v1/models"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 503 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/" && !strings.Contains(string(body), "openai_api") {
			t.Errorf("index: %s", body)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorStartsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("listen: nope\n"), 0o600)
	err := Run(context.Background(), Options{ConfigPath: path, Env: noEnv, Logger: slog.New(slog.DiscardHandler)})
	if !IsConfigError(err) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
	// The demo's configuration goes through the environment too.
	err = Run(context.Background(), Options{Env: func(k string) (string, bool) {
		return "sometimes", k == config.EnvMode
	}, Logger: slog.New(slog.DiscardHandler)})
	if !IsConfigError(err) || !strings.Contains(err.Error(), "CB_MODE") {
		t.Fatalf("err = %v, want a configuration error naming CB_MODE", err)
	}
}

func TestListenError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:1\n"), 0o600) // privileged, or in use
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		done <- Run(ctx, Options{ConfigPath: path, Env: noEnv, Logger: slog.New(slog.DiscardHandler), Listen: "256.0.0.1:80"})
	}()
	err := <-done
	if err == nil || IsConfigError(err) || !strings.HasPrefix(err.Error(), "listen: ") {
		t.Errorf("err = %v", err)
	}
}

// A check not probed yet is left out of the admin API's results, so that it
// cannot make /health fail at start-up; probed ones are there.
func TestHealthResults(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, name := range []string{"a", "b"} {
		if _, err := reg.Register(breaker.Config{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	hc, err := reg.NewHealthChecker(breaker.HealthOptions{Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)},
		breaker.HealthCheck{Breaker: "a", URL: up.URL}, breaker.HealthCheck{Breaker: "b", URL: up.URL + "/x", ExpectStatus: 204})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Stop()
	results := healthResults(hc)
	if got := results(); len(got) != 0 {
		t.Errorf("before any probe: %+v, want none", got)
	}
	if _, err := hc.Check(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	got := results()
	if len(got) != 1 || got[0].Name != "b" || got[0].Healthy || !strings.Contains(got[0].Error, "200") ||
		got[0].CheckedAt.IsZero() || got[0].Duration <= 0 {
		t.Errorf("after b's probe: %+v, want b unhealthy (200, not 204)", got)
	}
}

// With a configuration that has health checks, Run probes on
// HEALTH_CHECK_INTERVAL and lists the results on /health; it stops the
// probes at shutdown (TestMain checks for leaks).
func TestRunHealthChecks(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("breakers:\n  a: {health_check: {url: '"+down.URL+"/health'}}\n"), 0o600)
	base, stop := start(t, Options{ConfigPath: path, Env: func(k string) (string, bool) {
		return "50ms", k == config.EnvHealthCheckInterval
	}})
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(body, `"healthy":false`) && time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/circuit-breaker/health")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(body, `"name":"a"`) || !strings.Contains(body, "503") {
		t.Errorf("/health: %s; want a's failing check", body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
