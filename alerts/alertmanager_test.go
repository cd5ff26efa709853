package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
	yaml "go.yaml.in/yaml/v3"
)

const alertmanagerPath = "alerts/alertmanager.yml"

func TestAlertmanagerCheckConfig(t *testing.T) {
	out := testutil.MustRunTool(t, testutil.RepoRoot(t), "amtool", "check-config", alertmanagerPath)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("amtool check-config: %s", out)
	}
}

// TestAlertmanagerRoutes: critical pages and warning notifies in every mode
// (HighErrorRate of a monitor-mode breaker pages: nothing shields its
// callers), info (the monitor-mode state alert) goes to the non-paging
// receiver.
func TestAlertmanagerRoutes(t *testing.T) {
	root := testutil.RepoRoot(t)
	tests := map[string]struct {
		labels   []string
		receiver string
	}{
		"critical pages": {
			[]string{"alertname=" + mixin.AlertHighErrorRate, "severity=" + mixin.SeverityCritical, "job=breakerwatch", "name=openai_api"},
			"breakerwatch-page"},
		"warning notifies": {
			[]string{"alertname=" + mixin.AlertOpen, "severity=" + mixin.SeverityWarning, "job=breakerwatch", "name=openai_api", "mode=enforce"},
			"breakerwatch-notify"},
		"target alerts notify": {
			[]string{"alertname=" + mixin.AlertTargetDown, "severity=" + mixin.SeverityWarning, "job=breakerwatch", "instance=a:8080"},
			"breakerwatch-notify"},
		"info does not page": {
			[]string{"alertname=" + mixin.AlertWouldOpen, "severity=" + mixin.SeverityInfo, "job=breakerwatch", "name=claude_api", "mode=monitor"},
			"breakerwatch-info"},
		"monitor-mode high error rate pages": {
			[]string{"alertname=" + mixin.AlertHighErrorRate, "severity=" + mixin.SeverityCritical, "job=breakerwatch", "name=claude_api", "mode=monitor"},
			"breakerwatch-page"},
		"disabled-mode high error rate pages": {
			[]string{"alertname=" + mixin.AlertHighErrorRate, "severity=" + mixin.SeverityCritical, "job=breakerwatch", "name=search", "mode=disabled"},
			"breakerwatch-page"},
		"monitor-mode high latency notifies": {
			[]string{"alertname=" + mixin.AlertHighLatency, "severity=" + mixin.SeverityWarning, "job=breakerwatch", "name=claude_api", "mode=monitor"},
			"breakerwatch-notify"},
		"fleet disconnected notifies, whatever the modes of the replica's breakers": {
			[]string{"alertname=" + mixin.AlertFleetDisconnected, "severity=" + mixin.SeverityWarning, "job=breakerwatch", "instance=a:8080", "replica=gw-a"},
			"breakerwatch-notify"},
		"unknown severity is notified, not dropped": {
			[]string{"alertname=Other", "severity=page-me"},
			"breakerwatch-notify"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerPath,
				"--verify.receivers=" + tc.receiver}, tc.labels...)
			out := testutil.MustRunTool(t, root, "amtool", args...)
			if got := receiverLine(out); got != tc.receiver {
				t.Errorf("routed to %q, want %q", got, tc.receiver)
			}
		})
	}
}

// receiverLine is the receiver amtool printed, past its warnings.
func receiverLine(out string) string {
	var last string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Warning") {
			last = line
		}
	}
	return last
}

// amConfig is the part of alertmanager.yml the tests read.
type amConfig struct {
	Route struct {
		Receiver string   `yaml:"receiver"`
		GroupBy  []string `yaml:"group_by"`
		Routes   []struct {
			Matchers []string `yaml:"matchers"`
			Receiver string   `yaml:"receiver"`
		} `yaml:"routes"`
	} `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
}

// TestAlertmanagerConfigMatchesRules: the config routes every severity the
// rules use, groups by alert and breaker name, and inhibits only alerts that
// exist.
func TestAlertmanagerConfigMatchesRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), alertmanagerPath))
	if err != nil {
		t.Fatal(err)
	}
	var c amConfig
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Route.GroupBy, []string{"alertname", "name"}) {
		t.Errorf("group_by %v", c.Route.GroupBy)
	}
	var routed []string
	for _, r := range c.Route.Routes {
		routed = append(routed, r.Matchers...)
	}
	for _, r := range parseRules(t, mixin.DefaultParams()).Groups[1].Rules {
		if m := fmt.Sprintf("severity=%q", r.Labels.Severity); !slices.Contains(routed, m) {
			t.Errorf("%s: no route for %s", r.Alert, m)
		}
	}
	// Secrets come from files, never inline.
	for _, inline := range []string{"api_url:", "routing_key:", "service_key:", "url:"} {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.TrimLeft(strings.TrimSpace(line), "- "); strings.HasPrefix(f, inline) {
				t.Errorf("inline secret %q: read it from a file (%sfile)", line, strings.TrimSuffix(inline, ":")+"_")
			}
		}
	}
	if len(c.InhibitRules) == 0 {
		t.Fatal("no inhibit rules")
	}
	for _, ir := range c.InhibitRules {
		for _, m := range append(slices.Clone(ir.SourceMatchers), ir.TargetMatchers...) {
			name, ok := strings.CutPrefix(m, "alertname=")
			if !ok || !slices.Contains(mixin.AlertNames(), strings.Trim(name, `"`)) {
				t.Errorf("inhibit matcher %s: not an alertname of alerts/rules.yml", m)
			}
		}
	}
}

// TestAlertmanagerInhibition runs a real Alertmanager with the checked-in
// config and checks the inhibitions: an open breaker mutes its own low
// success rate, not another breaker's, and not its error rate; a down target
// mutes the absence of its job's breaker metrics.
func TestAlertmanagerInhibition(t *testing.T) {
	base := startAlertmanager(t, filepath.Join(testutil.RepoRoot(t), alertmanagerPath))

	type alert struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
	}
	now := time.Now().UTC()
	mk := func(name, severity, breakerName string) alert {
		return alert{StartsAt: now, Labels: map[string]string{
			"alertname": name, "severity": severity, "job": "breakerwatch", "name": breakerName}}
	}
	posted := []alert{
		mk(mixin.AlertOpen, mixin.SeverityWarning, "openai_api"),
		mk(mixin.AlertLowSuccessRate, mixin.SeverityWarning, "openai_api"),
		mk(mixin.AlertHighErrorRate, mixin.SeverityCritical, "openai_api"),
		mk(mixin.AlertLowSuccessRate, mixin.SeverityWarning, "claude_api"),
	}
	posted[0].Labels["mode"] = "enforce"
	down := mk(mixin.AlertTargetDown, mixin.SeverityWarning, "")
	delete(down.Labels, "name")
	down.Labels["instance"] = "a:8080"
	absent := mk(mixin.AlertMetricsAbsent, mixin.SeverityWarning, "")
	delete(absent.Labels, "name")
	posted = append(posted, down, absent)
	body, _ := json.Marshal(posted)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", resp.Status)
	}

	key := func(labels map[string]string) string { return labels["alertname"] + "/" + labels["name"] }
	want := map[string]bool{ // inhibited?
		mixin.AlertOpen + "/openai_api":           false,
		mixin.AlertLowSuccessRate + "/openai_api": true,
		mixin.AlertHighErrorRate + "/openai_api":  false,
		mixin.AlertLowSuccessRate + "/claude_api": false,
		mixin.AlertTargetDown + "/":               false,
		mixin.AlertMetricsAbsent + "/":            true,
	}
	var got map[string]bool
	waitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
			return false
		}
		got = map[string]bool{}
		for _, a := range alerts {
			got[key(a.Labels)] = len(a.Status.InhibitedBy) > 0
		}
		return fmt.Sprint(got) == fmt.Sprint(want)
	}, func() string { return fmt.Sprintf("inhibited: got %v, want %v", got, want) })
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// waitFor polls cond every 50ms until it holds, or fails the test after
// timeout with the optional description.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, describe ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(describe) > 0 {
				msg = describe[0]()
			}
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAlertmanager runs a real Alertmanager with config until the test ends
// and returns its base URL once it is ready.
func startAlertmanager(t *testing.T, config string) string {
	t.Helper()
	bin := testutil.RequireTool(t, "prometheus-alertmanager")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+config,
		"--storage.path="+t.TempDir(),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: a single instance
		"--log.level=warn")
	var logs testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// postAlerts posts firing alerts to Alertmanager's API.
func postAlerts(t *testing.T, base string, labels ...map[string]string) {
	t.Helper()
	type alert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	}
	var alerts []alert
	for _, l := range labels {
		alerts = append(alerts, alert{Labels: l, StartsAt: time.Now().UTC(), Annotations: map[string]string{
			"summary":       l["alertname"] + " for " + l["name"],
			"description":   "test alert",
			"runbook_url":   "https://runbook.example/#" + strings.ToLower(l["alertname"]),
			"dashboard_url": "https://grafana.example/d/x",
		}})
	}
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", resp.Status)
	}
}

// recorder is a fake PagerDuty or Slack endpoint that keeps what it got.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	code int
}

func newRecorder(t *testing.T, code int) *recorder {
	r := &recorder{code: code}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, body)
		r.mu.Unlock()
		w.WriteHeader(r.code)
		io.WriteString(w, `{"status":"success","ok":true}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) bodies() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestAlertmanagerNativeReceivers runs the shipped receivers, PagerDuty and
// Slack, on a real Alertmanager, with their secrets in files (the routing
// key, the webhook URL) and their endpoints faked: critical reaches
// PagerDuty with the key from its file, warning and info reach Slack's
// channels through the URL from its file.
func TestAlertmanagerNativeReceivers(t *testing.T) {
	pd := newRecorder(t, http.StatusAccepted)
	slack := newRecorder(t, http.StatusOK)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"pagerduty-routing-key": "test-routing-key", "slack-webhook-url": slack.srv.URL + "/services/T0/B0/x"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), alertmanagerPath))
	if err != nil {
		t.Fatal(err)
	}
	// The secrets' directory here; PagerDuty's API endpoint faked; no waits.
	cfg := strings.ReplaceAll(string(raw), "/etc/alertmanager/secrets/", secrets+"/")
	var m map[string]any
	if err := yaml.Unmarshal([]byte(cfg), &m); err != nil {
		t.Fatal(err)
	}
	route := m["route"].(map[string]any)
	route["group_wait"], route["group_interval"] = "0s", "1s"
	for _, r := range m["receivers"].([]any) {
		pcs, _ := r.(map[string]any)["pagerduty_configs"].([]any)
		for _, pc := range pcs {
			pc.(map[string]any)["url"] = pd.srv.URL + "/v2/enqueue"
		}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(config, out, 0o644); err != nil {
		t.Fatal(err)
	}
	base := startAlertmanager(t, config)
	mk := func(alertname, severity, name, mode string) map[string]string {
		return map[string]string{"alertname": alertname, "severity": severity, "job": "breakerwatch", "name": name, "mode": mode}
	}
	postAlerts(t, base,
		mk(mixin.AlertHighErrorRate, mixin.SeverityCritical, "claude_api", "monitor"),
		mk(mixin.AlertOpen, mixin.SeverityWarning, "openai_api", "enforce"),
		mk(mixin.AlertWouldOpen, mixin.SeverityInfo, "claude_api", "monitor"))

	waitFor(t, 30*time.Second, func() bool { return len(pd.bodies()) >= 1 && len(slack.bodies()) >= 2 },
		func() string { return fmt.Sprintf("PagerDuty got %v, Slack got %v", pd.bodies(), slack.bodies()) })
	ev := pd.bodies()[0]
	payload, _ := ev["payload"].(map[string]any)
	if ev["routing_key"] != "test-routing-key" || ev["event_action"] != "trigger" || payload["severity"] != "critical" ||
		!strings.Contains(fmt.Sprint(payload["summary"]), mixin.AlertHighErrorRate) {
		t.Errorf("PagerDuty event: %v", ev)
	}
	channels := map[string]string{}
	for _, b := range slack.bodies() {
		var text string
		if atts, ok := b["attachments"].([]any); ok && len(atts) > 0 {
			a := atts[0].(map[string]any)
			text = fmt.Sprint(a["title"], " ", a["text"])
		}
		channels[fmt.Sprint(b["channel"])] = text
	}
	for channel, want := range map[string]string{"#breakerwatch": mixin.AlertOpen, "#breakerwatch-info": mixin.AlertWouldOpen} {
		if !strings.Contains(channels[channel], want) || !strings.Contains(channels[channel], "https://runbook.example/") {
			t.Errorf("Slack %s: %q, want %s with its runbook link", channel, channels[channel], want)
		}
	}
}
