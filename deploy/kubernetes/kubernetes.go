// Package kubernetes generates breakerwatch's Kubernetes manifests under
// deploy/kubernetes, for clusters whose Prometheus and Grafana run in
// Kubernetes:
//
//   - monitoring/: a PrometheusRule (prometheus-operator) holding exactly the
//     rule groups of alerts/rules.yml, a ServiceMonitor scraping the gateway,
//     and a ConfigMap with the dashboard, labelled for Grafana's dashboard
//     sidecar;
//   - gateway/: a kustomize base running the breakerwatch gateway: a
//     Deployment (probes on the admin API), a Service and the ConfigMap of its
//     configuration;
//   - kustomization.yaml: both.
//
// `breakerwatch generate` writes them with the rules and the dashboard; they
// are checked in, and TestGenerated fails when they differ from the
// generator's output. The nested module in validation/ decodes every
// manifest strictly into the upstream Go types (k8s.io/api,
// prometheus-operator's monitoring/v1) and runs promtool on the
// PrometheusRule's groups.
package kubernetes

import (
	"bytes"
	"fmt"

	yaml "go.yaml.in/yaml/v3"

	"github.com/breakerwatch/breakerwatch/alerts"
	"github.com/breakerwatch/breakerwatch/dashboards"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// Dir is the directory of the manifests, relative to the repository root.
const Dir = "deploy/kubernetes"

// Names and labels shared by the manifests: the ServiceMonitor selects the
// Service by its labels and scrapes its named port; the Deployment's
// selector is its pods' labels.
const (
	// Name of the Deployment and the Service. prometheus-operator names the
	// scrape job after the Service, so the default selector of the rules and
	// the dashboard (job="breakerwatch") matches it.
	Name       = "breakerwatch"
	configName = "breakerwatch-config"
	portName   = "http"
	port       = 8000
	configDir  = "/etc/breakerwatch"
	configFile = "config.yml"
	// LivenessPath answers 200 whenever the process serves HTTP, whatever
	// the breakers' states (the admin API's /health answers 503 when a
	// breaker is open: that says nothing about this process).
	LivenessPath = exporter.AdminPathPrefix + "metrics"
	// DashboardLabel is the label Grafana's dashboard sidecar looks for
	// (its default, as in the grafana Helm chart).
	DashboardLabel = "grafana_dashboard"
)

// File is one generated manifest.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// Files returns every manifest for p.
func Files(p mixin.Params) ([]File, error) {
	rules, err := alerts.RulesYAML(p)
	if err != nil {
		return nil, err
	}
	dash, err := dashboards.DashboardJSON(p)
	if err != nil {
		return nil, err
	}
	var groups struct {
		Groups yaml.Node `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &groups); err != nil {
		return nil, fmt.Errorf("kubernetes: reading the rules: %w", err)
	}
	objects := []struct {
		path string
		obj  any
	}{
		{"monitoring/prometheusrule.yaml", object{
			APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule",
			Metadata: meta("breakerwatch-rules", "alert-rules"),
			Spec:     map[string]any{"groups": &groups.Groups},
		}},
		{"monitoring/servicemonitor.yaml", object{
			APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor",
			Metadata: meta(Name, "gateway"),
			Spec: serviceMonitorSpec{
				Selector:  labelSelector{MatchLabels: podLabels()},
				Endpoints: []endpoint{{Port: portName, Path: exporter.MetricsPath, Interval: "15s"}},
			},
		}},
		{"monitoring/grafana-dashboard.yaml", configMap{
			APIVersion: "v1", Kind: "ConfigMap",
			Metadata: withLabel(meta("breakerwatch-dashboard", "dashboard"), DashboardLabel, "1",
				"grafana_folder", "breakerwatch"),
			Data: map[string]string{"circuit-breakers.json": string(dash)},
		}},
		{"monitoring/kustomization.yaml", kustomization{
			APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization",
			Resources: []string{"prometheusrule.yaml", "servicemonitor.yaml", "grafana-dashboard.yaml"},
		}},
		{"gateway/deployment.yaml", deployment()},
		{"gateway/service.yaml", object{
			APIVersion: "v1", Kind: "Service",
			Metadata: meta(Name, "gateway"),
			Spec: serviceSpec{
				Selector: podLabels(),
				Ports:    []servicePort{{Name: portName, Port: port, TargetPort: portName}},
			},
		}},
		{"gateway/configmap.yaml", configMap{
			APIVersion: "v1", Kind: "ConfigMap",
			Metadata: meta(configName, "gateway"),
			Data:     map[string]string{configFile: gatewayConfig},
		}},
		{"gateway/kustomization.yaml", kustomization{
			APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization",
			Resources: []string{"deployment.yaml", "service.yaml", "configmap.yaml"},
		}},
		{"kustomization.yaml", kustomization{
			APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization",
			Resources: []string{"gateway", "monitoring"},
		}},
	}
	files := make([]File, 0, len(objects))
	for _, o := range objects {
		var buf bytes.Buffer
		buf.WriteString(header)
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(o.obj); err != nil {
			return nil, fmt.Errorf("kubernetes: encoding %s: %w", o.path, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("kubernetes: encoding %s: %w", o.path, err)
		}
		files = append(files, File{Path: Dir + "/" + o.path, Data: buf.Bytes()})
	}
	return files, nil
}

// WriteFiles writes Files(p) under root.
func WriteFiles(root string, p mixin.Params) error {
	files, err := Files(p)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := mixin.WriteGenerated(root, f.Path, f.Data); err != nil {
			return err
		}
	}
	return nil
}

const header = "# Code generated by `breakerwatch generate` (package deploy/kubernetes); DO NOT EDIT.\n"

// gatewayConfig is the gateway's configuration in the base: phase 1 of a
// rollout (every breaker in monitor mode) in front of one example upstream.
// Replace it with your own (a kustomize configMapGenerator with behavior:
// replace, or a patch); `breakerwatch validate --config FILE` checks it.
const gatewayConfig = `# breakerwatch gateway configuration (docs/configuration.md).
listen: 0.0.0.0:8000
defaults:
  mode: monitor   # phase 1: measure, reject nothing; then enforce
  failure_threshold: 5
  timeout: 60s
breakers:
  example_api: {}
routes:
  - prefix: /example/
    upstream: http://example-api.default.svc:8080
    breaker: example_api
    timeout: 30s
`

func podLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/component": "gateway"}
}

func meta(name, component string) metadata {
	return metadata{Name: name, Labels: map[string]string{
		"app.kubernetes.io/name": Name, "app.kubernetes.io/component": component,
	}}
}

func withLabel(m metadata, kv ...string) metadata {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "grafana_folder" {
			m.Annotations = map[string]string{kv[i]: kv[i+1]}
			continue
		}
		m.Labels[kv[i]] = kv[i+1]
	}
	return m
}

func deployment() object {
	probe := func(period, failures int) *probeSpec {
		return &probeSpec{HTTPGet: httpGet{Path: LivenessPath, Port: portName}, PeriodSeconds: period, FailureThreshold: failures}
	}
	return object{
		APIVersion: "apps/v1", Kind: "Deployment",
		Metadata: meta(Name, "gateway"),
		Spec: deploymentSpec{
			Replicas: 2,
			Selector: labelSelector{MatchLabels: podLabels()},
			Template: podTemplate{
				Metadata: metadata{Labels: podLabels()},
				Spec: podSpec{
					SecurityContext: &podSecurity{RunAsNonRoot: true, SeccompProfile: seccomp{Type: "RuntimeDefault"}},
					Containers: []container{{
						Name:  Name,
						Image: "breakerwatch:local", // set yours with kustomize's images:
						Args:  []string{"serve", "--config", configDir + "/" + configFile, "--log-format", "json"},
						Env: []envVar{{
							Name: "BREAKERWATCH_ADMIN_TOKEN",
							ValueFrom: &envSource{SecretKeyRef: secretKeyRef{
								Name: "breakerwatch-admin", Key: "token", Optional: true,
							}},
						}},
						Ports:          []containerPort{{Name: portName, ContainerPort: port}},
						LivenessProbe:  probe(10, 3),
						ReadinessProbe: probe(5, 2),
						Resources: resources{
							Requests: map[string]string{"cpu": "50m", "memory": "64Mi"},
							Limits:   map[string]string{"memory": "256Mi"},
						},
						SecurityContext: &containerSecurity{
							AllowPrivilegeEscalation: false, ReadOnlyRootFilesystem: true,
							Capabilities: capabilities{Drop: []string{"ALL"}},
						},
						VolumeMounts: []volumeMount{{Name: "config", MountPath: configDir, ReadOnly: true}},
					}},
					Volumes: []volume{{Name: "config", ConfigMap: configMapVolume{Name: configName}}},
				},
			},
		},
	}
}
