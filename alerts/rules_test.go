package alerts

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/breakerwatch/breakerwatch/dashboards"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

func TestPromtoolCheckRules(t *testing.T) {
	out := testutil.MustRunTool(t, testutil.RepoRoot(t), "promtool", "check", "rules", RulesPath)
	t.Log(out)
}

// TestPromtoolTestRules runs the unit tests of alerts/tests against the
// checked-in rules (TestGenerated keeps those in sync with the generator).
func TestPromtoolTestRules(t *testing.T) {
	root := testutil.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests under alerts/tests: %v", err)
	}
	out := testutil.MustRunTool(t, root, "promtool", append([]string{"test", "rules"}, files...)...)
	t.Log(out)
}

// promtoolTests is the part of a promtool unit test file this package reads.
type promtoolTests struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestPromtoolTestsCoverEveryAlert checks that each alert has a case where it
// fires and one where it does not (just before for:, or resolved), and that
// the tests evaluate rules at the rule group's interval.
func TestPromtoolTestsCoverEveryAlert(t *testing.T) {
	root := testutil.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.yml"))
	firing := map[string]int{}
	silent := map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pt promtoolTests
		if err := yaml.Unmarshal(raw, &pt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(pt.RuleFiles, []string{"../rules.yml"}) {
			t.Errorf("%s: rule_files %v, want [../rules.yml]", f, pt.RuleFiles)
		}
		if want := mixin.PromDuration(mixin.DefaultEvalInterval); pt.EvaluationInterval != want {
			t.Errorf("%s: evaluation_interval %q, want the rule group's %q", f, pt.EvaluationInterval, want)
		}
		for _, tc := range pt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname]++
				} else {
					silent[a.Alertname]++
				}
			}
		}
	}
	for _, name := range mixin.AlertNames() {
		if firing[name] == 0 {
			t.Errorf("%s: no promtool case where it fires", name)
		}
		if silent[name] < 2 {
			t.Errorf("%s: %d promtool cases where it does not fire, want at least 2 (just before for:, and resolved)", name, silent[name])
		}
	}
}

// TestRulesTimingDoesNotChangeExpressions: the end-to-end test shortens every
// for: and the evaluation interval and points links elsewhere; it must still
// evaluate the checked-in expressions.
func TestRulesTimingDoesNotChangeExpressions(t *testing.T) {
	short := mixin.Params{EvalInterval: time.Second, For: map[string]time.Duration{}, GrafanaURL: "http://grafana.test/", RunbookURL: "http://runbook.test/runbook.md"}
	for _, name := range mixin.AlertNames() {
		short.For[name] = 2 * time.Second
	}
	def := parseRules(t, mixin.DefaultParams())
	got := parseRules(t, short)
	for i, g := range got.Groups {
		if g.Interval != "1s" {
			t.Errorf("group %s: interval %q, want 1s", g.Name, g.Interval)
		}
		if !slices.Equal(g.Rules[:0], def.Groups[i].Rules[:0]) || len(g.Rules) != len(def.Groups[i].Rules) {
			t.Fatalf("group %s: %d rules, want %d", g.Name, len(g.Rules), len(def.Groups[i].Rules))
		}
	}
	for i, r := range got.Groups[0].Rules {
		if d := def.Groups[0].Rules[i]; r != d {
			t.Errorf("Recording rule changed with timing params:\n  %+v\n  %+v", d, r)
		}
	}
	for i, r := range got.Groups[1].Rules {
		d := def.Groups[1].Rules[i]
		if r.Expr != d.Expr {
			t.Errorf("%s: expression changed with timing params:\n  %s\n  %s", r.Alert, d.Expr, r.Expr)
		}
		if r.For != "2s" {
			t.Errorf("%s: for %q, want 2s", r.Alert, r.For)
		}
		if !strings.HasPrefix(r.Annotations.RunbookURL, "http://runbook.test/runbook.md#") ||
			!strings.HasPrefix(r.Annotations.DashboardURL, "http://grafana.test/d/"+mixin.DashboardUID+"/") {
			t.Errorf("%s: links not rebased: %s, %s", r.Alert, r.Annotations.RunbookURL, r.Annotations.DashboardURL)
		}
	}
}

func parseRules(t *testing.T, p mixin.Params) ruleFile {
	t.Helper()
	raw, err := RulesYAML(p)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	if len(rf.Groups) != 2 || rf.Groups[0].Name != RecordingGroupName || rf.Groups[1].Name != RuleGroupName {
		t.Fatalf("want the groups %q and %q, got %+v", RecordingGroupName, RuleGroupName, rf.Groups)
	}
	return rf
}

// markdownHeading matches "## Title" lines.
var markdownHeading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)

func TestRulesAnnotations(t *testing.T) {
	root := testutil.RepoRoot(t)
	runbook, err := os.ReadFile(filepath.Join(root, "alerts", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range markdownHeading.FindAllStringSubmatch(string(runbook), -1) {
		anchors[RunbookAnchor(m[1])] = true
	}
	p := mixin.DefaultParams()
	defs := alertDefs(p)
	rf := parseRules(t, p)
	var names []string
	for i, r := range rf.Groups[1].Rules {
		names = append(names, r.Alert)
		a := defs[i]
		t.Run(r.Alert, func(t *testing.T) {
			if !slices.Contains([]string{mixin.SeverityCritical, mixin.SeverityWarning, mixin.SeverityInfo}, r.Labels.Severity) {
				t.Errorf("severity %q", r.Labels.Severity)
			}
			if r.Annotations.Summary == "" || r.Annotations.Description == "" {
				t.Error("summary or description empty")
			}
			if a.perBreaker && (!strings.Contains(r.Annotations.Summary, "{{ $labels.name }}") ||
				!strings.Contains(r.Annotations.Description, "{{ $labels.name }}")) {
				t.Error("summary and description must name the breaker")
			}
			anchor, ok := strings.CutPrefix(r.Annotations.RunbookURL, p.RunbookURL+"#")
			if !ok || !anchors[anchor] {
				t.Errorf("runbook_url %s: no such heading in alerts/runbook.md", r.Annotations.RunbookURL)
			}
			if !strings.HasPrefix(r.Annotations.DashboardURL, p.GrafanaURL+"/d/"+mixin.DashboardUID+"/") {
				t.Errorf("dashboard_url %s does not link to the dashboard", r.Annotations.DashboardURL)
			}
		})
	}
	if !slices.Equal(names, mixin.AlertNames()) {
		t.Errorf("rules %v, mixin.AlertNames %v", names, mixin.AlertNames())
	}
}

// TestPromtoolNonDefaultSelector generates the rules for services scraped
// under their own jobs, in several clusters, and runs the promtool tests of
// alerts/tests/selector against them.
func TestPromtoolNonDefaultSelector(t *testing.T) {
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	rules, err := RulesYAML(mixin.Params{Selector: `job=~"api|worker"`, GroupBy: []string{"cluster", "namespace"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	test, err := os.ReadFile(filepath.Join(root, "alerts", "tests", "selector", "selector.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "selector.yml"), test, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(testutil.MustRunTool(t, dir, "promtool", "test", "rules", "selector.yml"))
}

// jsonPanel is the part of a dashboard panel TestAlertsHaveTheirPanel reads.
type jsonPanel struct {
	ID      uint32 `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// TestAlertsHaveTheirPanel: each alert's dashboard link opens a panel that
// shows the alert's own signal, with the alert's threshold drawn on it.
func TestAlertsHaveTheirPanel(t *testing.T) {
	p := mixin.DefaultParams()
	raw, err := dashboards.DashboardJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []jsonPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	panels := map[uint32]jsonPanel{}
	for _, jp := range d.Panels {
		panels[jp.ID] = jp
	}
	rf := parseRules(t, p)
	for i, a := range alertDefs(p) {
		t.Run(a.name, func(t *testing.T) {
			panel, ok := panels[a.panel]
			if !ok {
				t.Fatalf("no panel %d", a.panel)
			}
			if !strings.Contains(rf.Groups[1].Rules[i].Annotations.DashboardURL, fmt.Sprintf("viewPanel=%d&", a.panel)) &&
				!strings.HasSuffix(rf.Groups[1].Rules[i].Annotations.DashboardURL, fmt.Sprintf("viewPanel=%d", a.panel)) {
				t.Errorf("dashboard_url %s does not open panel %d", rf.Groups[1].Rules[i].Annotations.DashboardURL, a.panel)
			}
			want := a.signal(mixin.DashboardScope(p))
			found := false
			for _, tg := range panel.Targets {
				found = found || tg.Expr == want
			}
			if !found {
				t.Errorf("panel %d %q does not show %s", a.panel, panel.Title, want)
			}
			// The rule is the same signal, with the rules' selectors, and its condition.
			s := mixin.RuleScope(p)
			if a.mode != "" {
				s = s.InMode(a.mode)
			}
			if got := rf.Groups[1].Rules[i].Expr; got != strings.TrimSpace(a.signal(s)+" "+a.cond) {
				t.Errorf("rule expr %s is not signal + condition", got)
			}
			if panel.Type != "timeseries" || a.cond == "" {
				return
			}
			threshold, err := strconv.ParseFloat(strings.Fields(a.cond)[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			var lines []float64
			for _, st := range panel.FieldConfig.Defaults.Thresholds.Steps {
				if st.Value != nil {
					lines = append(lines, *st.Value)
				}
			}
			if !slices.Contains(lines, threshold) {
				t.Errorf("panel %d draws %v, not the alert's threshold %g", a.panel, lines, threshold)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the generated files under the repository root")

// TestGenerated fails when the checked-in rules differ from the generator's
// output. Rewrite them with
//
//	go test ./alerts -run TestGenerated -update
//
// or `breakerwatch generate`.
func TestGenerated(t *testing.T) {
	rules, err := RulesYAML(mixin.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckGenerated(t, testutil.RepoRoot(t), *update,
		"regenerate it with `go test ./alerts -run TestGenerated -update` or `breakerwatch generate`",
		testutil.Generated{Path: RulesPath, Want: rules})
}
