package kubernetes

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/breakerwatch/breakerwatch/alerts"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
)

var update = flag.Bool("update", false, "rewrite the generated files under the repository root")

// TestGenerated fails when a checked-in manifest differs from the
// generator's output. Rewrite them with
//
//	go test ./deploy/kubernetes -run TestGenerated -update
//
// or `breakerwatch generate`.
func TestGenerated(t *testing.T) {
	files, err := Files(mixin.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var gen []testutil.Generated
	for _, f := range files {
		gen = append(gen, testutil.Generated{Path: f.Path, Want: f.Data})
	}
	root := testutil.RepoRoot(t)
	testutil.CheckGenerated(t, root, *update,
		"regenerate it with `go test ./deploy/kubernetes -run TestGenerated -update` or `breakerwatch generate`", gen...)
	// No stale manifest is left behind either.
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
	}
	err = filepath.WalkDir(filepath.Join(root, Dir), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "validation" {
			return filepath.SkipDir // the nested module of the strict checks
		}
		if rel, _ := filepath.Rel(root, path); !d.IsDir() && strings.HasSuffix(path, ".yaml") && !want[filepath.ToSlash(rel)] {
			t.Errorf("%s is not generated: remove it", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readManifest reads a checked-in manifest (TestGenerated keeps them equal
// to the generator's output).
func readManifest(t *testing.T, rel string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(Dir+"/"+rel)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// prometheusRuleGroups returns the spec.groups of the PrometheusRule as a
// rule file.
func prometheusRuleGroups(t *testing.T) []byte {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups yaml.Node `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(readManifest(t, "monitoring/prometheusrule.yaml"), &pr); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(map[string]*yaml.Node{"groups": &pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPrometheusRuleHoldsTheRules: the PrometheusRule's groups are exactly
// alerts/rules.yml's.
func TestPrometheusRuleHoldsTheRules(t *testing.T) {
	var got, want any
	if err := yaml.Unmarshal(prometheusRuleGroups(t), &got); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(alerts.RulesPath)))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the PrometheusRule's groups differ from %s", alerts.RulesPath)
	}
}

// TestPrometheusRulePromtool checks the PrometheusRule's groups with
// promtool and runs every promtool unit test of alerts/tests against them.
func TestPrometheusRulePromtool(t *testing.T) {
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), prometheusRuleGroups(t), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(testutil.MustRunTool(t, dir, "promtool", "check", "rules", "rules.yml"))
	tests, err := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests under alerts/tests: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"test", "rules"}
	for _, f := range tests {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The tests load ../rules.yml: here, the PrometheusRule's groups.
		name := filepath.Join("tests", filepath.Base(f))
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	t.Log(testutil.MustRunTool(t, dir, "promtool", args...))
}

// TestGatewayConfig: the ConfigMap's configuration loads as `serve` would
// load it, and listens on the port the Deployment and the Service expose.
func TestGatewayConfig(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(readManifest(t, "gateway/configmap.yaml"), &cm); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), configFile)
	if err := os.WriteFile(path, []byte(cm.Data[configFile]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:8000" {
		t.Errorf("listen %s, want 0.0.0.0:%d", cfg.Listen, port)
	}
}

// TestKustomizations: every resource a kustomization lists exists.
func TestKustomizations(t *testing.T) {
	root := filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(Dir))
	for _, k := range []string{"kustomization.yaml", "gateway/kustomization.yaml", "monitoring/kustomization.yaml"} {
		var kz kustomization
		if err := yaml.Unmarshal(readManifest(t, k), &kz); err != nil {
			t.Fatal(err)
		}
		for _, r := range kz.Resources {
			if _, err := os.Stat(filepath.Join(root, filepath.Dir(k), r)); err != nil {
				t.Errorf("%s lists %s: %v", k, r, err)
			}
		}
	}
}
