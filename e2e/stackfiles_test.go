package e2e_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The compose file validates with docker-compose (no engine needed for
// `config`), and every file or directory it mounts or builds from exists.
func TestComposeFile(t *testing.T) {
	bin := requireBinary(t, "docker-compose")
	root := repoRoot(t)
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config", "--quiet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}

	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
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
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
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
	bin := requireBinary(t, "promtool")
	cmd := exec.Command(bin, "check", "config", "prometheus.yml")
	cmd.Dir = repoRoot(t)
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
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
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
