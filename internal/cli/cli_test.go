package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/config"
)

func env(kv ...string) config.Env {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func runCLI(e config.Env, args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	err := Run(context.Background(), args, &out, &errOut, e)
	return ExitCode(err), out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("breakers: {a: {}}\nroutes: [{prefix: /a/, upstream: 'http://127.0.0.1:9', breaker: a}]\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: nope\nroutes: [{prefix: /a/, upstream: 'http://x', breaker: b}]\n"), 0o600)

	tests := map[string]struct {
		env        config.Env
		args       []string
		code       int
		out, err   string // substrings
		noOut      bool
		errExactly string
	}{
		"version":              {args: []string{"version"}, out: "breakerwatch "},
		"help":                 {args: []string{"help"}, out: "breakerwatch ctl [--addr URL]"},
		"unknown command":      {args: []string{"frobnicate"}, code: 2, err: `unknown command "frobnicate"`},
		"version with args":    {args: []string{"version", "x"}, code: 2, err: "version takes no arguments"},
		"--version":            {args: []string{"--version"}, out: "breakerwatch "},
		"-version":             {args: []string{"-version"}, out: "breakerwatch "},
		"ctl without command":  {args: []string{"ctl"}, code: 2, err: "missing command\nUsage: breakerwatch ctl [--addr URL] [--token T] status | reset NAME"},
		"ctl only flags":       {args: []string{"ctl", "--addr", "http://127.0.0.1:1"}, code: 2, err: "Usage: breakerwatch ctl"},
		"validate ok":          {args: []string{"validate", "--config", good}, out: good + ": OK: 1 breaker(s), 1 route(s), listen 127.0.0.1:8000\n"},
		"validate env applied": {env: env("CB_MODE", "enforce"), args: []string{"validate", "--config", good}, out: "environment overrides: CB_MODE"},
		"validate problems": {args: []string{"validate", "--config", bad}, code: 2, noOut: true,
			errExactly: "breakerwatch: the configuration has 2 problem(s):\n" +
				"  " + bad + `:1: listen: "nope": want host:port, like 127.0.0.1:8000 or :8000` + "\n" +
				"  " + bad + `:2: routes[0].breaker: unknown breaker "b" (define it under breakers:)` + "\n"},
		"validate env problem": {env: env("CB_FAILURE_THRESHOLD", "many"), args: []string{"validate", "--config", good}, code: 2,
			err: `environment variable CB_FAILURE_THRESHOLD: "many": want a whole number of at least 1`},
		"validate needs config":  {args: []string{"validate"}, code: 2, err: "--config FILE is required"},
		"validate bad flag":      {args: []string{"validate", "--cfg", good}, code: 2, err: "flag provided but not defined: -cfg"},
		"serve bad config":       {args: []string{"serve", "--config", bad}, code: 2, noOut: true, err: "the configuration has 2 problem(s)"},
		"bare flags are serve's": {args: []string{"--config", bad}, code: 2, err: "the configuration has 2 problem(s)"},
		"demo speed with config": {args: []string{"serve", "--config", good, "--demo-speed", "5"}, code: 2,
			err: "--demo-speed applies only to the embedded demo"},
		"bad log format":   {args: []string{"serve", "--config", good, "--log-format", "xml"}, code: 2, err: `--log-format "xml": want text or json`},
		"serve extra arg":  {args: []string{"serve", "now"}, code: 2, err: `unexpected argument "now"`},
		"ctl usage":        {args: []string{"ctl", "open", "x"}, code: 2, err: `ctl: unknown command "open"`},
		"ctl bad mode":     {args: []string{"ctl", "mode", "x", "on"}, code: 2, err: `ctl mode: unknown mode "on"`},
		"ctl unreachable":  {args: []string{"ctl", "--addr", "http://127.0.0.1:1", "status", "--timeout", "2s"}, code: 1, err: "ctl: cannot reach http://127.0.0.1:1"},
		"serve -h is help": {args: []string{"serve", "-h"}, err: "Usage: breakerwatch serve"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = env()
			}
			code, out, errOut := runCLI(tt.env, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if !strings.Contains(out, tt.out) || (tt.noOut && out != "") {
				t.Errorf("stdout %q, want it to contain %q", out, tt.out)
			}
			if !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tt.err)
			}
			if tt.errExactly != "" && errOut != tt.errExactly {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut, tt.errExactly)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	root := t.TempDir()
	code, out, errOut := runCLI(env(), "generate", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, p := range []string{"dashboards/circuit-breakers.json", "alerts/rules.yml", "deploy/kubernetes/monitoring/prometheusrule.yaml"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !strings.Contains(out, "wrote dashboards/circuit-breakers.json, alerts/rules.yml and deploy/kubernetes/ under "+root) {
		t.Errorf("stdout %q", out)
	}
}

// TestGenerateFlags: the selector, grouping labels and base URLs reach the
// rules and the dashboard.
func TestGenerateFlags(t *testing.T) {
	root := t.TempDir()
	code, _, errOut := runCLI(env(), "generate", "--root", root,
		"--selector", `job=~"api|worker", env!="dev"`, "--group-by", "cluster, namespace",
		"--grafana-url", "https://grafana.example/", "--runbook-url", "https://wiki.example/breakers")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rules, err := os.ReadFile(filepath.Join(root, "alerts", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(filepath.Join(root, "dashboards", "circuit-breakers.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`circuit_breaker_error_rate{job=~"api|worker", env!="dev"}`,
		"by (job, name, mode, cluster, namespace)",
		"on (job, instance, name, cluster, namespace)",
		"https://grafana.example/d/breakerwatch-circuit-breakers/",
		"https://wiki.example/breakers#higherrorrate",
	} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("rules.yml lacks %s", want)
		}
	}
	// The fleet alert and the fleet and candidate rows too.
	if !strings.Contains(string(rules), `circuit_breaker_fleet_connected{job=~"api|worker", env!="dev"} == 0`) {
		t.Error("rules.yml: the fleet alert does not use the selector")
	}
	for _, want := range []string{
		`circuit_breaker_fleet_connected{job=~\"api|worker\", env!=\"dev\", job=~\"$job\"}`,
		`rate(circuit_breaker_fleet_ignored_values_total{job=~\"api|worker\", env!=\"dev\", job=~\"$job\"}`,
		`max by (job, name, cluster, namespace) (circuit_breaker_fleet_open_replicas{job=~\"api|worker\", env!=\"dev\"`,
		`max by (job, name, candidate, cluster, namespace) (circuit_breaker_candidate_state{job=~\"api|worker\", env!=\"dev\"`,
		`by (job, name, candidate, from, to, cluster, namespace) (increase(circuit_breaker_candidate_transitions_total{job=~\"api|worker\"`,
		`and on (job, name, cluster, namespace) max by (job, name, candidate, cluster, namespace)`,
	} {
		if !strings.Contains(string(dash), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if strings.Contains(string(rules), `job="breakerwatch"`) || strings.Contains(string(dash), `job=\"breakerwatch\"`) {
		t.Error("the default selector is still in the generated files")
	}
	if !strings.Contains(string(dash), `job=~\"api|worker\", env!=\"dev\"`) {
		t.Error("the dashboard does not use the selector")
	}
}

func TestGenerateRejectsBadFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"selector with braces":        {[]string{"--selector", `{job="api"}`}, "--selector"},
		"selector without quotes":     {[]string{"--selector", `job=api`}, "want a double-quoted value"},
		"selector bad regex":          {[]string{"--selector", `job=~"api("`}, "--selector"},
		"selector bad operator":       {[]string{"--selector", `job=="api"`}, "--selector"},
		"selector missing comma":      {[]string{"--selector", `job="a" env="b"`}, "want a comma"},
		"empty selector":              {[]string{"--selector", ` `}, "--selector"},
		"group-by reserved label":     {[]string{"--group-by", "cluster,job"}, "--group-by"},
		"group-by invalid label":      {[]string{"--group-by", "k8s-cluster"}, "--group-by"},
		"group-by repeated label":     {[]string{"--group-by", "cluster,cluster"}, "--group-by"},
		"grafana url not http":        {[]string{"--grafana-url", "grafana:3000"}, "--grafana-url"},
		"runbook url with a fragment": {[]string{"--runbook-url", "https://wiki.example/x#y"}, "--runbook-url"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			code, _, errOut := runCLI(env(), append([]string{"generate", "--root", root}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not say %q", errOut, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("wrote files despite the error: %v", entries)
			}
		})
	}
}

// Regression: the JSON handler wrote durations as integer nanoseconds
// ("timeout":60000000000).
func TestJSONLogDurations(t *testing.T) {
	var buf strings.Builder
	log, err := newLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("route", slog.Duration("timeout", time.Minute), slog.Group("g", slog.Duration("took", 1500*time.Microsecond)))
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["timeout"] != "1m0s" || rec["g"].(map[string]any)["took"] != "1.5ms" {
		t.Errorf("durations in %s, want \"1m0s\" and \"1.5ms\"", buf.String())
	}
}
