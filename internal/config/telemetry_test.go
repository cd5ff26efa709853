package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTelemetryDefault(t *testing.T) {
	c, err := Parse("c.yaml", []byte("listen: 127.0.0.1:0\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	want := Telemetry{Prometheus: true, ServiceName: DefaultServiceName, ResourceAttributes: map[string]string{}}
	if !reflect.DeepEqual(c.Telemetry, want) {
		t.Errorf("telemetry = %+v, want %+v", c.Telemetry, want)
	}
}

func TestTelemetryFileAndEnv(t *testing.T) {
	file := `
telemetry:
  service_name: gw
  resource_attributes: {deployment.environment: staging, team: sre}
  otlp:
    endpoint: http://collector:4318/base/
    headers: {authorization: Bearer abc}
    interval: 15s
    timeout: 3s
`
	for _, tc := range []struct {
		name  string
		env   Env
		check func(t *testing.T, tel Telemetry)
	}{
		{"file", env(), func(t *testing.T, tel Telemetry) {
			o := tel.OTLP
			if !tel.Prometheus || o == nil || o.Endpoint.String() != "http://collector:4318/base/v1/metrics" ||
				o.Protocol != ProtocolHTTP || o.Interval != 15*time.Second || o.Timeout != 3*time.Second ||
				o.Headers["authorization"] != "Bearer abc" || o.Temporality != "cumulative" {
				t.Errorf("%+v %+v", tel, o)
			}
			if tel.ServiceName != "gw" || tel.ResourceAttributes["team"] != "sre" {
				t.Errorf("%+v", tel)
			}
		}},
		{"env over file", env(
			EnvOTLPEndpoint, "https://otlp.example:4317",
			EnvOTLPMetricsProtocol, "grpc",
			EnvOTLPHeaders, "authorization=Bearer%20xyz,x-tenant=a",
			EnvOTelMetricExportInterval, "5000",
			EnvOTelServiceName, "edge",
			EnvOTelResourceAttributes, "team=payments,region=eu%2Dwest",
			EnvOTelMetricsExporter, "otlp",
			EnvOTLPMetricsTemporality, "Delta",
		), func(t *testing.T, tel Telemetry) {
			o := tel.OTLP
			if tel.Prometheus || o == nil || o.Endpoint.String() != "https://otlp.example:4317" || o.Protocol != ProtocolGRPC ||
				o.Interval != 5*time.Second || o.Headers["authorization"] != "Bearer xyz" || o.Headers["x-tenant"] != "a" ||
				o.Temporality != "delta" {
				t.Errorf("%+v %+v", tel, o)
			}
			if tel.ServiceName != "edge" || tel.ResourceAttributes["team"] != "payments" ||
				tel.ResourceAttributes["region"] != "eu-west" || tel.ResourceAttributes["deployment.environment"] != "staging" {
				t.Errorf("%+v", tel)
			}
		}},
		{"metrics endpoint as is", env(EnvOTLPEndpoint, "http://a:4318", EnvOTLPMetricsEndpoint, "http://b:9090/api/v1/otlp/v1/metrics"),
			func(t *testing.T, tel Telemetry) {
				if got := tel.OTLP.Endpoint.String(); got != "http://b:9090/api/v1/otlp/v1/metrics" {
					t.Errorf("endpoint %s", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(file), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.Telemetry)
		})
	}
}

func TestTelemetryEnvAloneEnablesOTLP(t *testing.T) {
	c, err := Parse("c.yaml", nil, env(EnvOTLPEndpoint, "http://127.0.0.1:4318"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Telemetry.Prometheus || c.Telemetry.OTLP == nil || c.Telemetry.OTLP.Endpoint.String() != "http://127.0.0.1:4318/v1/metrics" {
		t.Errorf("%+v", c.Telemetry)
	}
}

func TestTelemetryProblems(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        Env
		want       string
	}{
		{"unknown key", "telemetry:\n  otlp:\n    endpont: x\n", env(), "c.yaml:3: telemetry.otlp.endpont: unknown key (known here: endpoint, protocol, headers, interval, timeout, temporality)"},
		{"bad endpoint", "telemetry:\n  otlp:\n    endpoint: collector:4318\n", env(), `c.yaml:3: telemetry.otlp.endpoint: "collector:4318": want an http:// or https:// URL`},
		{"bad protocol", "telemetry:\n  otlp:\n    endpoint: http://c:4318\n    protocol: http/json\n", env(), `c.yaml:4: telemetry.otlp.protocol: unsupported protocol "http/json"`},
		{"zero interval", "telemetry:\n  otlp:\n    interval: 0s\n", env(), "c.yaml:3: telemetry.otlp.interval: want a positive interval"},
		{"bad exporter", "telemetry:\n  exporters: [prometheus, jaeger]\n", env(), `c.yaml:2: telemetry.exporters: unknown exporter "jaeger"`},
		{"env interval", "", env(EnvOTelMetricExportInterval, "60s"), `environment variable OTEL_METRIC_EXPORT_INTERVAL: "60s": want a whole, positive number of milliseconds`},
		{"env protocol", "", env(EnvOTLPProtocol, "udp"), `environment variable OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol "udp"`},
		{"env endpoint", "", env(EnvOTLPMetricsEndpoint, "localhost:4318"), `environment variable OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "localhost:4318": want an http:// or https:// URL`},
		{"env headers", "", env(EnvOTLPHeaders, "authorization"), `environment variable OTEL_EXPORTER_OTLP_HEADERS: "authorization" is not key=value`},
		{"env attributes", "", env(EnvOTelResourceAttributes, "a=%zz"), `environment variable OTEL_RESOURCE_ATTRIBUTES: "a=%zz": bad percent-encoding`},
		{"env exporter", "", env(EnvOTelMetricsExporter, "otlp,zipkin"), `environment variable OTEL_METRICS_EXPORTER: unknown exporter "zipkin"`},
		{"env temporality", "", env(EnvOTLPMetricsTemporality, "sometimes"), `environment variable OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: unknown temporality "sometimes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.file), tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

// The configuration example of docs/opentelemetry.md parses and sets what
// it says.
func TestTelemetryDocExample(t *testing.T) {
	block := docBlock(t, "opentelemetry.md", "<!-- config: internal/config/telemetry_test.go parses this block -->")
	c, err := Parse("docs/opentelemetry.md", []byte(block), env())
	if err != nil {
		t.Fatal(err)
	}
	o := c.Telemetry.OTLP
	if o == nil || o.Endpoint.String() != "http://otel-collector:4318/v1/metrics" || o.Interval != 30*time.Second ||
		!c.Telemetry.Prometheus || c.Telemetry.ResourceAttributes["deployment.environment"] != "production" {
		t.Errorf("%+v %+v", c.Telemetry, o)
	}
}
