package serve

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

const traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"

// serve pushes OTLP (HTTP and gRPC, configured by the standard variables)
// beside /metrics, and its shutdown flushes: with an export interval of an
// hour, the only export is the one made at shutdown, and it holds every
// call. The receiver is a real server decoding the real protobuf.
func TestServePushesOTLP(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		receiver func(testing.TB) *testutil.OTLPReceiver
	}{
		{config.ProtocolHTTP, testutil.NewOTLPHTTPReceiver},
		{config.ProtocolGRPC, testutil.NewOTLPGRPCReceiver},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			rcv := tc.receiver(t)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusInternalServerError)
			}))
			defer up.Close()
			cfg := "breakers:\n  up:\n    mode: enforce\n    failure_threshold: 2\nroutes:\n  - prefix: /up/\n    upstream: " + up.URL + "\n    breaker: up\n"
			path := testutil.WriteFile(t, t.TempDir(), "c.yaml", []byte(cfg))
			env := map[string]string{
				config.EnvOTLPEndpoint:             rcv.Endpoint,
				config.EnvOTLPProtocol:             tc.protocol,
				config.EnvOTLPHeaders:              "x-tenant=team%20a",
				config.EnvOTelMetricExportInterval: "3600000",
				config.EnvOTelServiceName:          "gw-test",
				config.EnvOTelResourceAttributes:   "deployment.environment=test",
			}
			base, stop := start(t, Options{ConfigPath: path, Version: "v9.9.9-test",
				Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
			for i := range 3 { // two failures trip the breaker; the third is rejected
				req, _ := http.NewRequest(http.MethodGet, base+"/up/x", nil)
				if i == 0 { // a request of a sampled trace
					req.Header.Set("traceparent", "00-"+traceHex+"-00f067aa0ba902b7-01")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			// /metrics is served as well.
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/metrics: %s", resp.Status)
			}
			if n := len(rcv.Exports()); n != 0 {
				t.Fatalf("%d exports before shutdown with an hour's interval", n)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			e := rcv.WaitFor(t, 10*time.Second, func(testutil.OTLPExport) bool { return true })
			if got := e.Header.Get("x-tenant"); got != "team a" {
				t.Errorf("header x-tenant = %q, want %q", got, "team a")
			}
			pts := testutil.Points(e.Request)
			if len(pts) == 0 {
				t.Fatal("empty export")
			}
			res := pts[0].Resource
			for k, want := range map[string]string{
				"service.name": "gw-test", "service.version": "v9.9.9-test", "deployment.environment": "test",
				"process.runtime.version": runtime.Version(),
			} {
				if res[k] != want {
					t.Errorf("resource %s = %q, want %q", k, res[k], want)
				}
			}
			if res["vcs.ref.head.revision"] == "" || res["service.instance.id"] == "" {
				t.Errorf("resource lacks the revision or the instance id: %v", res)
			}
			byName := map[string]testutil.OTLPPoint{}
			for _, p := range pts {
				byName[p.Series()] = p
			}
			check := func(series, kind string, value float64) {
				t.Helper()
				p, ok := byName[series]
				if !ok {
					t.Errorf("no %s in the export", series)
					return
				}
				if p.Kind != kind || p.Value != value {
					t.Errorf("%s: %s %v, want %s %v", series, p.Kind, p.Value, kind, value)
				}
				if kind == "sum" && (!p.Monotonic || p.Temporality.String() != "AGGREGATION_TEMPORALITY_CUMULATIVE") {
					t.Errorf("%s: monotonic %v temporality %v", series, p.Monotonic, p.Temporality)
				}
			}
			check(breaker.MetricCalls+"{name=up,outcome=failure}", "sum", 2)
			check(breaker.MetricCalls+"{name=up,outcome=rejected}", "sum", 1)
			check(breaker.MetricState+"{mode=enforce,name=up}", "gauge", 2)
			check(breaker.MetricTransitions+"{from=closed,name=up,to=open}", "sum", 1)
			check(breaker.MetricBuildInfo+"{goversion="+runtime.Version()+",revision="+res["vcs.ref.head.revision"]+",version=v9.9.9-test}", "gauge", 1)
			h, ok := byName[breaker.MetricCallDuration+"{name=up,outcome=failure}"]
			if !ok {
				t.Fatalf("no call-duration histogram in the export")
			}
			if h.Kind != "histogram" || h.Unit != "s" || h.Count != 2 || len(h.Bounds) != len(breaker.DurationBuckets) ||
				h.Sum <= 0 || h.Sum > 10 || h.Temporality.String() != "AGGREGATION_TEMPORALITY_CUMULATIVE" {
				t.Errorf("histogram %+v", h)
			}
			if len(h.Exemplars) != 1 || fmt.Sprintf("%x", h.Exemplars[0].GetTraceId()) != traceHex {
				t.Errorf("exemplars %v, want one of trace %s", h.Exemplars, traceHex)
			}
			if !strings.HasPrefix(h.Scope, "github.com/breakerwatch/breakerwatch") {
				t.Errorf("scope %q", h.Scope)
			}
		})
	}
}
