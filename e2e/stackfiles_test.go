package e2e_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"go.yaml.in/yaml/v3"
)

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Version  *string `yaml:"version"`
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Volumes     []string `yaml:"volumes"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]map[string]string `yaml:"depends_on"`
	} `yaml:"services"`
}

// readCompose reads docker-compose.yml (depends_on in its long form, with
// conditions: the short list does not decode).
func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// The compose file validates with docker-compose (no engine needed for
// `config`), and every file or directory it mounts or builds from exists.
func TestComposeFile(t *testing.T) {
	bin := testutil.RequireTool(t, "docker-compose")
	root := testutil.RepoRoot(t)
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config", "--quiet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}

	compose := readCompose(t)
	for _, want := range []string{"breakerwatch", "prometheus", "alertmanager", "grafana"} {
		if _, ok := compose.Services[want]; !ok {
			t.Errorf("service %s is missing", want)
		}
	}
	for name, svc := range compose.Services {
		if svc.Build != nil {
			df := filepath.Join(root, svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s builds from %s: %v", name, df, err)
			}
		} else if i := strings.LastIndex(svc.Image, ":"); i < 0 || svc.Image[i+1:] == "latest" {
			t.Errorf("service %s: image %q is not pinned to a version", name, svc.Image)
		}
		if svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
		for _, v := range svc.Volumes {
			host := strings.SplitN(v, ":", 2)[0]
			if !strings.HasPrefix(host, ".") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(root, host)); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, host, err)
			}
		}
	}
}

// prometheus.yml at the root is valid, and the rules it loads are.
func TestPrometheusConfig(t *testing.T) {
	bin := testutil.RequireTool(t, "promtool")
	cmd := exec.Command(bin, "check", "config", "prometheus.yml")
	cmd.Dir = testutil.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config prometheus.yml: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "alerts/rules.yml") {
		t.Errorf("prometheus.yml loads no alerts/rules.yml:\n%s", out)
	}
}

// The dashboard schema check types the dashboard with the @grafana/schema of
// the Grafana version the stack runs.
func TestSchemaCheckMatchesGrafana(t *testing.T) {
	root := testutil.RepoRoot(t)
	compose := readCompose(t)
	image := compose.Services["grafana"].Image
	grafana := image[strings.LastIndex(image, ":")+1:]
	pkg, err := os.ReadFile(filepath.Join(root, "dashboards", "schemacheck", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(pkg, &p); err != nil {
		t.Fatal(err)
	}
	if got := p.DevDependencies["@grafana/schema"]; got != grafana {
		t.Errorf("dashboards/schemacheck pins @grafana/schema %q, the stack runs %s: keep them equal", got, image)
	}
}

// The stack runs Prometheus 3 and a pinned current Alertmanager, without the
// obsolete version key, and starts each service once its dependencies are
// healthy.
func TestComposeStack(t *testing.T) {
	compose := readCompose(t)
	if compose.Version != nil {
		t.Errorf("obsolete version key %q", *compose.Version)
	}
	for _, tc := range []struct{ service, prefix string }{
		{"prometheus", "prom/prometheus:v3."},
		{"alertmanager", "prom/alertmanager:v0.28."},
	} {
		if img := compose.Services[tc.service].Image; !strings.HasPrefix(img, tc.prefix) {
			t.Errorf("%s runs %s, want %s*", tc.service, img, tc.prefix)
		}
	}
	wantDeps := map[string][]string{"prometheus": {"alertmanager", "breakerwatch"}, "grafana": {"prometheus"}}
	for svc, deps := range wantDeps {
		got := compose.Services[svc].DependsOn
		if len(got) != len(deps) {
			t.Errorf("%s depends on %v, want %v", svc, got, deps)
		}
		for _, d := range deps {
			if got[d]["condition"] != "service_healthy" {
				t.Errorf("%s depends on %s with %v, want condition: service_healthy", svc, d, got[d])
			}
		}
	}
	if !slices.Contains(compose.Services["alertmanager"].Volumes, "./alerts/secrets:/etc/alertmanager/secrets:ro") {
		t.Errorf("alertmanager does not mount alerts/secrets read-only: %v", compose.Services["alertmanager"].Volumes)
	}
}
