package validation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/breakerwatch/breakerwatch/deploy/kubernetes"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// decodeStrict reads deploy/kubernetes/rel into obj; an unknown field or a
// value of the wrong type is an error.
func decodeStrict(t *testing.T, rel string, obj any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(kubernetes.Dir), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// checkType fails unless the manifest declares the kind and API version of
// the type it was decoded into.
func checkType(t *testing.T, rel string, tm metav1.TypeMeta, apiVersion, kind string) {
	t.Helper()
	if tm.APIVersion != apiVersion || tm.Kind != kind {
		t.Errorf("%s: %s %s, want %s %s", rel, tm.APIVersion, tm.Kind, apiVersion, kind)
	}
}

type manifests struct {
	deployment     appsv1.Deployment
	service        corev1.Service
	config         corev1.ConfigMap
	dashboard      corev1.ConfigMap
	rule           monitoringv1.PrometheusRule
	serviceMonitor monitoringv1.ServiceMonitor
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	decodeStrict(t, "gateway/deployment.yaml", &m.deployment)
	checkType(t, "gateway/deployment.yaml", m.deployment.TypeMeta, "apps/v1", "Deployment")
	decodeStrict(t, "gateway/service.yaml", &m.service)
	checkType(t, "gateway/service.yaml", m.service.TypeMeta, "v1", "Service")
	decodeStrict(t, "gateway/configmap.yaml", &m.config)
	checkType(t, "gateway/configmap.yaml", m.config.TypeMeta, "v1", "ConfigMap")
	decodeStrict(t, "monitoring/grafana-dashboard.yaml", &m.dashboard)
	checkType(t, "monitoring/grafana-dashboard.yaml", m.dashboard.TypeMeta, "v1", "ConfigMap")
	decodeStrict(t, "monitoring/prometheusrule.yaml", &m.rule)
	checkType(t, "monitoring/prometheusrule.yaml", m.rule.TypeMeta, monitoringv1.SchemeGroupVersion.String(), monitoringv1.PrometheusRuleKind)
	decodeStrict(t, "monitoring/servicemonitor.yaml", &m.serviceMonitor)
	checkType(t, "monitoring/servicemonitor.yaml", m.serviceMonitor.TypeMeta, monitoringv1.SchemeGroupVersion.String(), monitoringv1.ServiceMonitorsKind)
	return m
}

// TestManifestsDecodeStrictly: every manifest is a valid object of its
// upstream type, and the objects refer to each other consistently.
func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)

	// The Deployment selects its own pods; its probes hit a named port of
	// its container on the liveness path.
	d := m.deployment
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector %s does not match its pods' labels %v", sel, d.Spec.Template.Labels)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	c := d.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if probe.HTTPGet.Path != kubernetes.LivenessPath {
			t.Errorf("%s probe path %s, want %s", name, probe.HTTPGet.Path, kubernetes.LivenessPath)
		}
		if _, ok := ports[probe.HTTPGet.Port.String()]; !ok {
			t.Errorf("%s probe port %s: not a container port (%v)", name, probe.HTTPGet.Port.String(), ports)
		}
	}
	// The config volume is the gateway's ConfigMap, mounted where --config reads.
	var mounted bool
	for _, v := range d.Spec.Template.Spec.Volumes {
		mounted = mounted || (v.ConfigMap != nil && v.ConfigMap.Name == m.config.Name)
	}
	if !mounted {
		t.Errorf("the Deployment does not mount ConfigMap %s", m.config.Name)
	}
	if !strings.HasPrefix(strings.Join(c.Args, " "), "serve --config /etc/breakerwatch/") {
		t.Errorf("args %v", c.Args)
	}

	// The Service selects the Deployment's pods and targets its named port.
	if !labels.SelectorFromSet(m.service.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Service's selector %v does not match the pods' labels", m.service.Spec.Selector)
	}
	for _, p := range m.service.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %s, not a container port", p.Name, p.TargetPort.String())
		}
	}

	// The ServiceMonitor selects the Service and scrapes one of its ports.
	sm := m.serviceMonitor
	smSel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !smSel.Matches(labels.Set(m.service.Labels)) {
		t.Errorf("the ServiceMonitor's selector %s does not match the Service's labels %v", smSel, m.service.Labels)
	}
	for _, e := range sm.Spec.Endpoints {
		found := false
		for _, p := range m.service.Spec.Ports {
			found = found || p.Name == e.Port
		}
		if !found {
			t.Errorf("ServiceMonitor endpoint port %s is not a port of the Service", e.Port)
		}
	}
	// prometheus-operator names the job after the Service: the default
	// selector of the rules (job="breakerwatch") must match it.
	if m.service.Name != "breakerwatch" || sm.Spec.JobLabel != "" {
		t.Errorf("Service %s, jobLabel %q: the scrape job would not be breakerwatch", m.service.Name, sm.Spec.JobLabel)
	}

	// The dashboard ConfigMap carries the sidecar's label and a dashboard.
	if m.dashboard.Labels[kubernetes.DashboardLabel] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: no %s=1", m.dashboard.Labels, kubernetes.DashboardLabel)
	}
	var dash struct {
		UID   string `json:"uid"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(m.dashboard.Data["circuit-breakers.json"]), &dash); err != nil || dash.UID == "" {
		t.Errorf("dashboard ConfigMap: circuit-breakers.json: uid %q, %v", dash.UID, err)
	}
}

// TestPrometheusRuleGroupsPassPromtool: the rule groups, as the operator
// reads them from the typed object, pass promtool check rules.
func TestPrometheusRuleGroupsPassPromtool(t *testing.T) {
	m := load(t)
	if len(m.rule.Spec.Groups) == 0 {
		t.Fatal("the PrometheusRule has no groups")
	}
	out, err := yaml.Marshal(m.rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	res := testutil.MustRunTool(t, dir, "promtool", "check", "rules", "rules.yml")
	n := 0
	for _, g := range m.rule.Spec.Groups {
		n += len(g.Rules)
	}
	if !strings.Contains(res, "SUCCESS") {
		t.Errorf("promtool: %s", res)
	}
	t.Logf("%d rules in %d groups:\n%s", n, len(m.rule.Spec.Groups), res)
}

// TestStrictDecodingRejectsUnknownFields: the check above can fail.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	var d appsv1.Deployment
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          livenesProbe: {}\n"), &d)
	if err == nil || !strings.Contains(err.Error(), "livenesProbe") {
		t.Errorf("a misspelt field decoded: %v", err)
	}
	var sm monitoringv1.ServiceMonitor
	err = yaml.UnmarshalStrict([]byte("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoints:\n    - port: http\n      scrapeInterval: 15s\n"), &sm)
	if err == nil || !strings.Contains(err.Error(), "scrapeInterval") {
		t.Errorf("a field ServiceMonitor does not have decoded: %v", err)
	}
}
