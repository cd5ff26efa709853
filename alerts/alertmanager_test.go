package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	bin := testutil.RequireTool(t, "prometheus-alertmanager")
	root := testutil.RepoRoot(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(root, alertmanagerPath),
		"--storage.path="+t.TempDir(),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: a single instance
		"--log.level=warn")
	var logs bytes.Buffer
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
