package monitoring

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

func TestPromtoolCheckRules(t *testing.T) {
	out := mustRunTool(t, repoRoot(t), "promtool", "check", "rules", RulesPath)
	t.Log(out)
}

// TestPromtoolTestRules runs the unit tests of alerts/tests against the
// checked-in rules (TestGenerated keeps those in sync with the generator).
func TestPromtoolTestRules(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests under alerts/tests: %v", err)
	}
	out := mustRunTool(t, root, "promtool", append([]string{"test", "rules"}, files...)...)
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
	root := repoRoot(t)
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
		if want := promDuration(DefaultEvalInterval); pt.EvaluationInterval != want {
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
	for _, name := range AlertNames() {
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
	short := Params{EvalInterval: time.Second, For: map[string]time.Duration{}, GrafanaURL: "http://grafana.test/", RunbookURL: "http://runbook.test/runbook.md"}
	for _, name := range AlertNames() {
		short.For[name] = 2 * time.Second
	}
	def := parseRules(t, DefaultParams())
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
			t.Errorf("recording rule changed with timing params:\n  %+v\n  %+v", d, r)
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
			!strings.HasPrefix(r.Annotations.DashboardURL, "http://grafana.test/d/"+DashboardUID+"/") {
			t.Errorf("%s: links not rebased: %s, %s", r.Alert, r.Annotations.RunbookURL, r.Annotations.DashboardURL)
		}
	}
}

func parseRules(t *testing.T, p Params) ruleFile {
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
	root := repoRoot(t)
	runbook, err := os.ReadFile(filepath.Join(root, "alerts", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range markdownHeading.FindAllStringSubmatch(string(runbook), -1) {
		anchors[RunbookAnchor(m[1])] = true
	}
	p := DefaultParams()
	defs := alertDefs(p)
	rf := parseRules(t, p)
	var names []string
	for i, r := range rf.Groups[1].Rules {
		names = append(names, r.Alert)
		a := defs[i]
		t.Run(r.Alert, func(t *testing.T) {
			if !slices.Contains([]string{SeverityCritical, SeverityWarning, SeverityInfo}, r.Labels.Severity) {
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
			if !strings.HasPrefix(r.Annotations.DashboardURL, p.GrafanaURL+"/d/"+DashboardUID+"/") {
				t.Errorf("dashboard_url %s does not link to the dashboard", r.Annotations.DashboardURL)
			}
		})
	}
	if !slices.Equal(names, AlertNames()) {
		t.Errorf("rules %v, AlertNames %v", names, AlertNames())
	}
}

func TestParamsValidate(t *testing.T) {
	tests := map[string]struct {
		p     Params
		field string
	}{
		"selector with braces": {Params{Selector: `{job="x"}`}, "Selector"},
		"selector not quoted":  {Params{Selector: `job=x`}, "Selector"},
		"selector bad regex":   {Params{Selector: `job=~"(x"`}, "Selector"},
		"group by job":         {Params{GroupBy: []string{"job"}}, "GroupBy"},
		"grafana url relative": {Params{GrafanaURL: "/grafana"}, "GrafanaURL"},
		"runbook url fragment": {Params{RunbookURL: "https://x.example/r#a"}, "RunbookURL"},
		"error rate above 1":   {Params{ErrorRate: 1.5}, "ErrorRate"},
		"success rate 1":       {Params{SuccessRate: 1}, "SuccessRate"},
		"negative latency":     {Params{LatencyAlertMs: -1}, "LatencyAlertMs"},
		"sub-ms interval":      {Params{EvalInterval: time.Microsecond}, "EvalInterval"},
		"unknown alert in For": {Params{For: map[string]time.Duration{"Nope": time.Second}}, "For"},
		"negative for":         {Params{For: map[string]time.Duration{AlertOpen: -time.Second}}, "For"},
		"flap trips below 1":   {Params{FlapTrips: 0.5}, "FlapTrips"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := RulesYAML(tc.p)
			if err == nil || !strings.Contains(err.Error(), "Params."+tc.field) {
				t.Fatalf("RulesYAML: %v, want an error naming Params.%s", err, tc.field)
			}
			if _, err := DashboardJSON(tc.p); err == nil {
				t.Fatal("DashboardJSON: no error")
			}
		})
	}
}

func TestParamsZeroValueIsDefault(t *testing.T) {
	a, err := RulesYAML(Params{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := RulesYAML(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("the zero Params and DefaultParams give different rules")
	}
	// A partial For keeps the other defaults and does not modify the caller's map.
	forMap := map[string]time.Duration{AlertOpen: 0}
	p := Params{For: forMap}.withDefaults()
	if p.For[AlertOpen] != 0 || p.For[AlertHighErrorRate] != 5*time.Minute || len(forMap) != 1 {
		t.Errorf("For merged wrongly: %v (caller's map %v)", p.For, forMap)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 90 * time.Second: "90s", 5 * time.Minute: "5m",
		2 * time.Hour: "2h", 1500 * time.Millisecond: "1500ms",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestPromtoolNonDefaultSelector generates the rules for services scraped
// under their own jobs, in several clusters, and runs the promtool tests of
// alerts/tests/selector against them.
func TestPromtoolNonDefaultSelector(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	rules, err := RulesYAML(Params{Selector: `job=~"api|worker"`, GroupBy: []string{"cluster", "namespace"}})
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
	t.Log(mustRunTool(t, dir, "promtool", "test", "rules", "selector.yml"))
}
