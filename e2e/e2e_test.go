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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/alerts"
	"github.com/breakerwatch/breakerwatch/dashboards"
	"github.com/breakerwatch/breakerwatch/deploy/kubernetes"
	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
	"go.yaml.in/yaml/v3"
)

// upstream is an HTTP server whose behaviour the test switches.
type upstream struct {
	srv       *httptest.Server
	behaviour atomic.Value // "ok", "fail" or "slow"
	firstFail atomic.Int64 // unix nanos of the first failing response
	slowFor   time.Duration
}

func newUpstream(t *testing.T, slowFor time.Duration) *upstream {
	u := &upstream{slowFor: slowFor}
	u.behaviour.Store("ok")
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch u.behaviour.Load().(string) {
		case "fail":
			u.firstFail.CompareAndSwap(0, time.Now().UnixNano())
			http.Error(w, `{"error":"upstream is down"}`, http.StatusInternalServerError)
			return
		case "slow":
			select {
			case <-time.After(u.slowFor):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) set(b string) { u.behaviour.Store(b) }

// traffic sends requests through the gateway to each prefix until stopped:
// a few per second per route, like a light production load.
func traffic(ctx context.Context, base string, prefixes []string) *sync.WaitGroup {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 15 * time.Second}
	for _, p := range prefixes {
		for range 2 { // two concurrent callers per route
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p+"v1/ping", nil)
					if resp, err := client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					select {
					case <-ctx.Done():
					case <-time.After(150 * time.Millisecond):
					}
				}
			})
		}
	}
	return &wg
}

func TestStackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: runs real Prometheus and Alertmanager for about a minute")
	}
	promBin := testutil.RequireTool(t, "prometheus")
	amBin := testutil.RequireTool(t, "prometheus-alertmanager")
	root := testutil.RepoRoot(t)
	dir := t.TempDir()

	// The binary under test, built as users build it.
	bw := filepath.Join(dir, "breakerwatch")
	build := exec.Command("go", "build", "-o", bw, "./cmd/breakerwatch")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	hook := newWebhook(t)
	api := newUpstream(t, 0)                      // e2e_api: enforce; fails, then recovers
	backup := newUpstream(t, 0)                   // e2e_backup: enforce; e2e_api's fallback, serves while it fails
	slow := newUpstream(t, 3500*time.Millisecond) // e2e_slow: enforce; slows past the latency alert
	shadow := newUpstream(t, 0)                   // e2e_shadow: monitor; fails

	// breakerwatch, with a short window and timeout so the test takes a
	// minute, in fleet mode (a fleet of one) so that the Fleet row has data,
	// and e2e_shadow with a candidate setting for the Candidate settings row.
	redis := redistest.Start(t)
	bwAddr := freePort(t)
	cfg := fmt.Sprintf(`listen: %s
defaults:
  mode: enforce
  failure_threshold: 3
  timeout: 2s
  window: 5s
breakers:
  e2e_api: {}
  e2e_backup: {}
  e2e_slow: {failure_threshold: 100}
  e2e_shadow: {mode: monitor, candidates: {strict: {failure_threshold: 1}}}
fleet:
  redis: %s
routes:
  - {prefix: /svc/, upstream: %q, breaker: e2e_api, timeout: 10s, fallbacks: [{upstream: %q, breaker: e2e_backup}]}
  - {prefix: /slow/, upstream: %q, breaker: e2e_slow, timeout: 10s}
  - {prefix: /shadow/, upstream: %q, breaker: e2e_shadow, timeout: 10s}
`, bwAddr, redis.URL(), api.srv.URL, backup.srv.URL, slow.srv.URL, shadow.srv.URL)
	writeFile(t, filepath.Join(dir, "breakerwatch.yml"), cfg)
	bwProc := start(t, "breakerwatch", bw, "serve", "--config", filepath.Join(dir, "breakerwatch.yml"))
	waitHTTP(t, bwProc, "http://"+bwAddr+"/metrics", 20*time.Second)

	// The rules as generated for production, with every for: shortened to 2s.
	params := mixin.Params{EvalInterval: time.Second, For: map[string]time.Duration{},
		RunbookURL: "https://runbooks.example/alerts/runbook.md"}
	for _, name := range mixin.AlertNames() {
		params.For[name] = 2 * time.Second
	}
	rules, err := alerts.RulesYAML(params)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "rules.yml"), string(rules))

	// The shipped Alertmanager config, its receivers pointed at the test's
	// webhook (one path per receiver) and its waits shortened.
	amAddr := freePort(t)
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), alertmanagerConfig(t, filepath.Join(root, "alerts", "alertmanager.yml"), hook.srv.URL))
	amProc := start(t, "alertmanager", amBin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=")
	waitHTTP(t, amProc, "http://"+amAddr+"/-/ready", 30*time.Second)

	promAddr := freePort(t)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: breakerwatch
    static_configs: [{targets: [%q]}]
`, filepath.Join(dir, "rules.yml"), amAddr, bwAddr))
	promProc := start(t, "prometheus", promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr)
	waitHTTP(t, promProc, "http://"+promAddr+"/-/ready", 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	wg := traffic(trafficCtx, "http://"+bwAddr, []string{"/svc/", "/slow/", "/shadow/"})
	defer func() { stopTraffic(); wg.Wait() }()

	// 1. Healthy traffic: no notification at all, long enough for any alert
	// to have passed its for: and Alertmanager's group_wait.
	waitPromData(ctx, t, promAddr, `sum(circuit_breaker_calls_total{outcome="success"}) > 10`)
	time.Sleep(8 * time.Second)
	if n := hook.delivered(); len(n) != 0 {
		t.Fatalf("notifications while everything is healthy:\n%s", hook.dump())
	}

	// 2-4. The upstreams break.
	api.set("fail")
	slow.set("slow")
	shadow.set("fail")

	open := hook.waitAlert(ctx, t, "firing", mixin.AlertOpen, "e2e_api")
	t.Logf("CircuitBreakerOpen delivered %v after the first failing upstream response",
		open.at.Sub(time.Unix(0, api.firstFail.Load())).Round(time.Millisecond))
	checkAlert(t, open, "/notify", mixin.SeverityWarning, "e2e_api")

	errRate := hook.waitAlert(ctx, t, "firing", mixin.AlertHighErrorRate, "e2e_api")
	t.Logf("HighErrorRate delivered %v after the first failing upstream response",
		errRate.at.Sub(time.Unix(0, api.firstFail.Load())).Round(time.Millisecond))
	checkAlert(t, errRate, "/page", mixin.SeverityCritical, "e2e_api")

	lat := hook.waitAlert(ctx, t, "firing", mixin.AlertHighLatency, "e2e_slow")
	checkAlert(t, lat, "/notify", mixin.SeverityWarning, "e2e_slow")

	would := hook.waitAlert(ctx, t, "firing", mixin.AlertWouldOpen, "e2e_shadow")
	t.Logf("CircuitBreakerWouldOpen delivered %v after the first failing upstream response",
		would.at.Sub(time.Unix(0, shadow.firstFail.Load())).Round(time.Millisecond))
	checkAlert(t, would, "/info", mixin.SeverityInfo, "e2e_shadow")

	// Phase 1 is not silent: the monitor-mode breaker's failing upstream
	// raises HighErrorRate, labelled with its mode, delivered to the
	// receiver the shipped routing names for it (the pager: nothing shields
	// its callers from the failures).
	shadowErr := hook.waitAlert(ctx, t, "firing", mixin.AlertHighErrorRate, "e2e_shadow")
	want := "/" + routedReceiver(t, root, shadowErr.alert.Labels)
	t.Logf("HighErrorRate of monitor-mode e2e_shadow delivered to %s; the routing names %s", shadowErr.path, want)
	checkAlert(t, shadowErr, want, mixin.SeverityCritical, "e2e_shadow")
	if m := shadowErr.alert.Labels["mode"]; m != "monitor" {
		t.Errorf("HighErrorRate for e2e_shadow: mode label %q, want monitor", m)
	}

	// While e2e_api is open, the path the Kubernetes manifests probe for
	// liveness still answers 200: an open breaker is no reason to restart
	// the gateway.
	if resp, err := http.Get("http://" + bwAddr + kubernetes.LivenessPath); err != nil {
		t.Errorf("liveness probe: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("liveness probe %s: %s while a breaker is open, want 200", kubernetes.LivenessPath, resp.Status)
		}
	}

	// While e2e_api fails, /svc/'s traffic is served by its fallback.
	waitPromData(ctx, t, promAddr, `sum(circuit_breaker_fallback_total{name="e2e_api", fallback="e2e_backup"}) > 0`)

	// 5. While they fail (so that the panel of the breakers not closed and
	// rejecting has data too), every dashboard panel's query, with its variables substituted,
	// returns data from this Prometheus.
	queries, err := dashboards.PanelQueries(params)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string][]string{mixin.VarJob: {"breakerwatch"}, mixin.VarBreaker: {"e2e_api", "e2e_backup", "e2e_slow", "e2e_shadow"}}
	for _, q := range queries {
		expr := dashboards.Expand(q.Expr, vars)
		n := promQuery(ctx, t, promAddr, expr)
		if strings.HasPrefix(expr, "absent(") {
			// absent() answers only when the metrics are missing: here
			// they are not, so no data is the right answer.
			if n != 0 {
				t.Errorf("panel %d %q (%s): %s returned data: the metrics are missing", q.PanelID, q.PanelTitle, q.RefID, expr)
			}
			continue
		}
		if n == 0 {
			t.Errorf("panel %d %q (%s): no data for %s", q.PanelID, q.PanelTitle, q.RefID, expr)
		}
	}

	// 6. The upstreams recover: the breaker closes and the resolved
	// notification arrives.
	api.set("ok")
	slow.set("ok")
	shadow.set("ok")
	recovered := time.Now()
	resolved := hook.waitAlert(ctx, t, "resolved", mixin.AlertOpen, "e2e_api")
	t.Logf("resolved CircuitBreakerOpen delivered %v after the upstream recovered", resolved.at.Sub(recovered).Round(time.Millisecond))
	if resolved.path != "/notify" {
		t.Errorf("resolved notification went to %s, want /notify", resolved.path)
	}

	// The monitor-mode breaker's state alert went only to the info queue.
	for _, d := range hook.delivered() {
		if d.alert.Labels["name"] == "e2e_shadow" && d.alert.Labels["alertname"] == mixin.AlertWouldOpen && d.path != "/info" {
			t.Errorf("monitor-mode breaker's %s went to %s, want only /info", d.alert.Labels["alertname"], d.path)
		}
	}
}

// routedReceiver asks amtool which receiver of the shipped Alertmanager
// config the alert with labels routes to, and returns its short name
// (breakerwatch-page -> page), the path of the test's webhook.
func routedReceiver(t *testing.T, root string, labels map[string]string) string {
	t.Helper()
	args := []string{"config", "routes", "test", "--config.file=" + filepath.Join(root, "alerts", "alertmanager.yml")}
	for k, v := range labels {
		args = append(args, k+"="+v)
	}
	out, err := exec.Command(testutil.RequireTool(t, "amtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	name := lines[len(lines)-1]
	return name[strings.LastIndex(name, "-")+1:]
}

func checkAlert(t *testing.T, d delivered, path, severity, name string) {
	t.Helper()
	a := d.alert
	if d.path != path {
		t.Errorf("%s for %s went to %s, want %s", a.Labels["alertname"], name, d.path, path)
	}
	if a.Labels["severity"] != severity {
		t.Errorf("%s: severity %q, want %q", a.Labels["alertname"], a.Labels["severity"], severity)
	}
	if !strings.HasPrefix(a.Annotations["runbook_url"], "https://runbooks.example/alerts/runbook.md#") {
		t.Errorf("%s: runbook_url %q", a.Labels["alertname"], a.Annotations["runbook_url"])
	}
	for _, k := range []string{"summary", "description"} {
		if !strings.Contains(a.Annotations[k], name) {
			t.Errorf("%s: %s %q does not name %s", a.Labels["alertname"], k, a.Annotations[k], name)
		}
	}
	if a.Annotations["dashboard_url"] == "" {
		t.Errorf("%s: no dashboard_url", a.Labels["alertname"])
	}
}

// alertmanagerConfig returns the shipped config with every receiver replaced
// by a webhook to base/<receiver suffix>, and the group waits shortened.
func alertmanagerConfig(t *testing.T, path, base string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	route := cfg["route"].(map[string]any)
	route["group_wait"] = "1s"
	route["group_interval"] = "2s"
	for _, r := range cfg["receivers"].([]any) {
		rec := r.(map[string]any)
		name := rec["name"].(string)
		short := name[strings.LastIndex(name, "-")+1:] // breakerwatch-page -> page
		// The shipped receivers are PagerDuty and Slack (their delivery is
		// TestAlertmanagerNativeReceivers'): here each becomes a webhook, so
		// that the test sees which receiver the routing chose.
		if len(rec) < 2 {
			t.Fatalf("receiver %s has no integration", name)
		}
		for k := range rec {
			if k != "name" {
				delete(rec, k)
			}
		}
		rec["webhook_configs"] = []any{map[string]any{"url": base + "/" + short, "send_resolved": true}}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// promQuery runs an instant query and returns how many series it returned.
func promQuery(ctx context.Context, t *testing.T, addr, expr string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", expr, body.Error)
	}
	return len(body.Data.Result)
}

func waitPromData(ctx context.Context, t *testing.T, addr, expr string) {
	t.Helper()
	for promQuery(ctx, t, addr, expr) == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("no data for %s", expr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
