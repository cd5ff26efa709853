package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.yaml.in/yaml/v3"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// Prometheus3Version is the Prometheus 3 release (its Go module version)
// that scripts/install-deps.sh builds from the Go module proxy.
const Prometheus3Version = "v0.316.0"

// prometheus3 returns the cached Prometheus 3 binary: $BREAKERWATCH_PROMETHEUS3,
// or ${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin/prometheus-VERSION. It
// skips when missing, except in CI.
func prometheus3(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BREAKERWATCH_PROMETHEUS3")
	if p == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		p = filepath.Join(cache, "breakerwatch", "bin", "prometheus-"+Prometheus3Version)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Prometheus 3 is not installed at %s (scripts/install-deps.sh builds it): %v", p, err)
		}
		t.Skipf("Prometheus 3 is not installed at %s; run scripts/install-deps.sh", p)
	}
	return p
}

// getJSON GETs u and decodes the Prometheus API's data field into out.
func getJSON(ctx context.Context, t *testing.T, u string, out any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if body.Status != "success" {
		t.Fatalf("GET %s: %s", u, body.Error)
	}
	if err := json.Unmarshal(body.Data, out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// The exemplars of the call-duration histogram: in an OpenMetrics scrape of
// exporter.Metrics' handler, and stored by a real Prometheus (Debian's 2.42)
// with exemplar storage on, which negotiates OpenMetrics by itself.
func TestExemplarsReachPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real Prometheus")
	}
	promBin := testutil.RequireTool(t, "prometheus")
	m, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	reg, err := m.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	b, err := reg.Register(breaker.Config{Name: "traced"})
	if err != nil {
		t.Fatal(err)
	}
	const traceHex = "0af7651916cd43dd8448eb211c80319c"
	tid, _ := trace.TraceIDFromHex(traceHex)
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	call := func() { _ = b.Execute(ctx, func(context.Context) error { return nil }) }
	call()

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q: OpenMetrics not negotiated", ct)
	}
	var exemplarLine string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, breaker.MetricCallDuration+"_bucket{") && strings.Contains(l, `trace_id="`+traceHex+`"`) {
			exemplarLine = l
		}
	}
	if exemplarLine == "" {
		t.Fatalf("no exemplar with trace_id %s in the OpenMetrics scrape:\n%s", traceHex, body)
	}
	t.Logf("OpenMetrics: %s", exemplarLine)

	dir := t.TempDir()
	promAddr := freePort(t)
	target := strings.TrimPrefix(srv.URL, "http://")
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: exemplars
    static_configs: [{targets: [%q]}]
`, target))
	p := start(t, "prometheus", promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr,
		"--enable-feature=exemplar-storage")
	waitHTTP(t, p, "http://"+promAddr+"/-/ready", 30*time.Second)

	qctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now().Add(-time.Minute)
	for {
		call() // a new traced call for every scrape
		var res []struct {
			SeriesLabels map[string]string `json:"seriesLabels"`
			Exemplars    []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		}
		q := url.Values{"query": {breaker.MetricCallDuration + `_bucket{name="traced"}`},
			"start": {fmt.Sprint(start.Unix())}, "end": {fmt.Sprint(time.Now().Add(time.Minute).Unix())}}
		getJSON(qctx, t, "http://"+promAddr+"/api/v1/query_exemplars?"+q.Encode(), &res)
		for _, s := range res {
			for _, e := range s.Exemplars {
				if e.Labels["trace_id"] == traceHex {
					t.Logf("Prometheus stored the exemplar on %v: %v = %s", s.SeriesLabels, e.Labels, e.Value)
					return
				}
			}
		}
		select {
		case <-qctx.Done():
			t.Fatalf("Prometheus stored no exemplar with trace_id %s (last answer %+v)", traceHex, res)
		case <-time.After(time.Second):
		}
	}
}

// rulesWithShortFor is the checked-in alerts/rules.yml with every for: and
// every group's evaluation interval set to short, so that the test takes
// seconds; the expressions are untouched.
func rulesWithShortFor(t *testing.T, path, short string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		if gm := g.(map[string]any); gm["interval"] != nil {
			gm["interval"] = short
		}
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			if rm := r.(map[string]any); rm["for"] != nil {
				rm["for"] = short
			}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The binary pushes OTLP, and only OTLP (no /metrics), to a real
// Prometheus 3 with its OTLP receiver on; the checked-in alert rules,
// evaluated there, fire CircuitBreakerOpen for the breaker of a failing
// upstream, as they do on scraped data. The series carry the names a scrape
// has, and job/instance come from service.name/service.instance.id.
func TestOTLPPushToPrometheus3(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real Prometheus 3")
	}
	prom3 := prometheus3(t)
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	bw := filepath.Join(dir, "breakerwatch")
	build := exec.Command("go", "build", "-o", bw, "./cmd/breakerwatch")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	writeFile(t, filepath.Join(dir, "rules.yml"), string(rulesWithShortFor(t, filepath.Join(root, "alerts", "rules.yml"), "1s")))
	promAddr := freePort(t)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  evaluation_interval: 1s
otlp:
  translation_strategy: UnderscoreEscapingWithSuffixes
rule_files: [%q]
`, filepath.Join(dir, "rules.yml")))
	promProc := start(t, "prometheus3", prom3, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr,
		"--web.enable-otlp-receiver")
	waitHTTP(t, promProc, "http://"+promAddr+"/-/ready", 60*time.Second)

	up := newUpstream(t, 0)
	bwAddr := freePort(t)
	writeFile(t, filepath.Join(dir, "breakerwatch.yml"), fmt.Sprintf(`listen: %s
breakers:
  otlp_api: {mode: enforce, failure_threshold: 3, timeout: 1m}
routes:
  - {prefix: /svc/, upstream: %q, breaker: otlp_api, timeout: 10s}
`, bwAddr, up.srv.URL))
	bwProc := start(t, "breakerwatch", "/usr/bin/env",
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://"+promAddr+"/api/v1/otlp/v1/metrics",
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
		"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=bw-1",
		bw, "serve", "--config", filepath.Join(dir, "breakerwatch.yml"))
	waitHTTP(t, bwProc, "http://"+bwAddr+"/api/circuit-breaker/status", 30*time.Second)
	if resp, err := http.Get("http://" + bwAddr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/metrics is served with OTEL_METRICS_EXPORTER=otlp")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	wg := traffic(trafficCtx, "http://"+bwAddr, []string{"/svc/"})
	defer func() { stopTraffic(); wg.Wait() }()

	// The names a scrape has, with job and instance from the resource.
	for _, expr := range []string{
		`circuit_breaker_calls_total{job="breakerwatch", instance="bw-1", name="otlp_api", outcome="success"} > 0`,
		`circuit_breaker_call_duration_seconds_bucket{job="breakerwatch", name="otlp_api", outcome="success", le="+Inf"} > 0`,
		`circuit_breaker_state{job="breakerwatch", name="otlp_api", mode="enforce"} == 0`,
		`breakerwatch_build_info{job="breakerwatch", version!="", revision!="", goversion!=""} == 1`,
	} {
		waitPromData(ctx, t, promAddr, expr)
	}
	// No alert while healthy.
	if n := promQuery(ctx, t, promAddr, `ALERTS{alertname="CircuitBreakerOpen"}`); n != 0 {
		t.Fatalf("CircuitBreakerOpen before any failure")
	}

	up.set("fail")
	for {
		var res struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		getJSON(ctx, t, "http://"+promAddr+"/api/v1/alerts", &res)
		for _, a := range res.Alerts {
			if a.Labels["alertname"] == "CircuitBreakerOpen" && a.Labels["name"] == "otlp_api" && a.State == "firing" {
				t.Logf("CircuitBreakerOpen firing on OTLP-ingested data %v after the first failing response: %v",
					time.Since(time.Unix(0, up.firstFail.Load())).Round(time.Millisecond), a.Labels)
				if a.Labels["job"] != "breakerwatch" {
					t.Errorf("alert job %q, want breakerwatch", a.Labels["job"])
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CircuitBreakerOpen did not fire; alerts: %+v", res.Alerts)
		case <-time.After(time.Second):
		}
	}
}
