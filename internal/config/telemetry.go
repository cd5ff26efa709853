package config

import (
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Telemetry says where the metrics go: the Prometheus endpoint (/metrics),
// an OTLP push, or both. The standard OpenTelemetry environment variables
// override the file's telemetry section, as the other variables override
// theirs.
type Telemetry struct {
	// Prometheus serves /metrics. Default true; false when
	// OTEL_METRICS_EXPORTER (or exporters:) does not list prometheus.
	Prometheus bool
	// OTLP, when non-nil, pushes the metrics over OTLP. Set when the file
	// has an otlp section with an endpoint, when an OTEL_EXPORTER_OTLP_*
	// endpoint is set, or when the exporters list otlp.
	OTLP *OTLP
	// ServiceName is the service.name resource attribute. Default
	// DefaultServiceName; OTEL_SERVICE_NAME overrides it.
	ServiceName string
	// ResourceAttributes are extra resource attributes (file, then
	// OTEL_RESOURCE_ATTRIBUTES over it).
	ResourceAttributes map[string]string
}

// OTLP configures the OTLP metric exporter.
type OTLP struct {
	// Protocol is ProtocolHTTP (default) or ProtocolGRPC.
	Protocol string
	// Endpoint is where exports go: for http/protobuf the full URL
	// (…/v1/metrics), for grpc the http:// (plaintext) or https:// URL of
	// the server. Default http://localhost:4318/v1/metrics or
	// http://localhost:4317.
	Endpoint *url.URL
	// Headers are sent with every export (e.g. an authorization token).
	Headers map[string]string
	// Interval between exports. Default DefaultOTLPInterval.
	Interval time.Duration
	// Timeout of one export. Default DefaultOTLPTimeout.
	Timeout time.Duration
	// Temporality is cumulative (default), delta or lowmemory, as
	// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE.
	Temporality string
}

// Telemetry defaults and values.
const (
	DefaultServiceName  = "breakerwatch"
	DefaultOTLPInterval = 60 * time.Second
	DefaultOTLPTimeout  = 10 * time.Second
	ProtocolHTTP        = "http/protobuf"
	ProtocolGRPC        = "grpc"
)

// The standard OpenTelemetry environment variables read by Apply.
const (
	EnvOTelMetricsExporter      = "OTEL_METRICS_EXPORTER"
	EnvOTLPEndpoint             = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPMetricsEndpoint      = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	EnvOTLPProtocol             = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPMetricsProtocol      = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	EnvOTLPHeaders              = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvOTLPMetricsHeaders       = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
	EnvOTLPTimeout              = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvOTLPMetricsTimeout       = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
	EnvOTLPMetricsTemporality   = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	EnvOTelMetricExportInterval = "OTEL_METRIC_EXPORT_INTERVAL"
	EnvOTelServiceName          = "OTEL_SERVICE_NAME"
	EnvOTelResourceAttributes   = "OTEL_RESOURCE_ATTRIBUTES"
)

const (
	telemetryKeys = "exporters, service_name, resource_attributes, otlp"
	otlpKeys      = "endpoint, protocol, headers, interval, timeout, temporality"
)

// telemetryFile is the telemetry section as written, before the
// environment and defaults.
type telemetryFile struct {
	exporters   []string // nil: not set
	endpoint    string   // base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT
	protocol    string
	headers     map[string]string
	interval    time.Duration
	timeout     time.Duration
	temporality string
	serviceName string
	attrs       map[string]string
}

func (p *parser) telemetry(n *yaml.Node, path string) {
	t := &telemetryFile{}
	p.c.telemetryFile = t
	p.mapping(n, path, func(key, kp string, k, v *yaml.Node) {
		switch key {
		case "exporters":
			t.exporters = []string{}
			if v.Kind != yaml.SequenceNode {
				p.problem(v, kp, "want a list like [prometheus, otlp], not %s", describe(v))
				return
			}
			for _, e := range v.Content {
				if s, ok := p.str(deref(e), kp); ok {
					t.exporters = append(t.exporters, s)
				}
			}
		case "service_name":
			p.setStr(v, kp, &t.serviceName)
		case "resource_attributes":
			t.attrs = p.stringMap(v, kp)
		case "otlp":
			p.mapping(v, kp, func(key, okp string, k, v *yaml.Node) {
				switch key {
				case "endpoint":
					p.setStr(v, okp, &t.endpoint)
				case "protocol":
					p.setStr(v, okp, &t.protocol)
				case "headers":
					t.headers = p.stringMap(v, okp)
				case "interval":
					if p.duration(v, okp, &t.interval) && t.interval <= 0 {
						p.problem(v, okp, "want a positive interval (omit it for %v)", DefaultOTLPInterval)
					}
				case "timeout":
					if p.duration(v, okp, &t.timeout) && t.timeout <= 0 {
						p.problem(v, okp, "want a positive timeout (omit it for %v)", DefaultOTLPTimeout)
					}
				case "temporality":
					p.setStr(v, okp, &t.temporality)
				default:
					p.unknown(k, kp, key, otlpKeys)
				}
			})
		default:
			p.unknown(k, path, key, telemetryKeys)
		}
	})
}

// setStr reads a string into dst.
func (p *parser) setStr(n *yaml.Node, path string, dst *string) {
	if s, ok := p.str(n, path); ok {
		*dst = s
	}
}

// stringMap reads a mapping of strings to strings.
func (p *parser) stringMap(n *yaml.Node, path string) map[string]string {
	out := map[string]string{}
	p.mapping(n, path, func(key, kp string, k, v *yaml.Node) {
		if s, ok := p.str(v, kp); ok {
			out[key] = s
		}
	})
	return out
}

// resolveTelemetry merges the file's telemetry section, the environment and
// the defaults into c.Telemetry, reporting bad values by key or variable.
func (c *Config) resolveTelemetry(env Env, ps *problems) {
	f := c.telemetryFile
	if f == nil {
		f = &telemetryFile{}
	}
	lookup := func(name string) (string, bool) {
		v, ok := env(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	fileAt := func(path string) origin { return c.at(path) }
	applied := func(name string) { c.EnvApplied = append(c.EnvApplied, name) }
	t := Telemetry{Prometheus: true, ServiceName: DefaultServiceName, ResourceAttributes: map[string]string{}}

	// Which exporters.
	exporters, exOrigin, exPath := f.exporters, fileAt("telemetry.exporters"), "telemetry.exporters"
	if v, ok := lookup(EnvOTelMetricsExporter); ok {
		exporters, exOrigin, exPath = strings.Split(v, ","), origin{env: EnvOTelMetricsExporter}, ""
		applied(EnvOTelMetricsExporter)
	}
	wantOTLP := false
	if exporters != nil {
		t.Prometheus = false
		for _, e := range exporters {
			switch strings.TrimSpace(e) {
			case "prometheus":
				t.Prometheus = true
			case "otlp":
				wantOTLP = true
			case "none":
			default:
				ps.at(exOrigin, exPath, "unknown exporter %q (want prometheus, otlp or none)", strings.TrimSpace(e))
			}
		}
	}

	// Service name and resource attributes.
	if f.serviceName != "" {
		t.ServiceName = f.serviceName
	}
	if v, ok := lookup(EnvOTelServiceName); ok {
		t.ServiceName = v
		applied(EnvOTelServiceName)
	}
	// keyValues copies the file's map into dst, then each variable's
	// key=value list over it, in order.
	keyValues := func(dst, file map[string]string, names ...string) {
		maps.Copy(dst, file)
		for _, name := range names {
			if v, ok := lookup(name); ok {
				m, err := parseKeyValues(v)
				if err != nil {
					ps.at(origin{env: name}, "", "%v (want key=value,key=value)", err)
				}
				maps.Copy(dst, m)
				applied(name)
			}
		}
	}
	keyValues(t.ResourceAttributes, f.attrs, EnvOTelResourceAttributes)

	// OTLP: signal-specific variables win over the general ones, which win
	// over the file.
	o := &OTLP{Protocol: ProtocolHTTP, Interval: DefaultOTLPInterval, Timeout: DefaultOTLPTimeout, Temporality: "cumulative", Headers: map[string]string{}}
	if f.protocol != "" {
		o.Protocol = f.protocol
	}
	protoOrigin, protoPath := fileAt("telemetry.otlp.protocol"), "telemetry.otlp.protocol"
	for _, name := range []string{EnvOTLPProtocol, EnvOTLPMetricsProtocol} {
		if v, ok := lookup(name); ok {
			o.Protocol, protoOrigin, protoPath = v, origin{env: name}, ""
			applied(name)
		}
	}
	if o.Protocol != ProtocolHTTP && o.Protocol != ProtocolGRPC {
		msg := "unsupported protocol %q (want http/protobuf or grpc)"
		if o.Protocol == "http/json" {
			msg = "unsupported protocol %q (the Go OTLP exporter speaks http/protobuf or grpc)"
		}
		ps.at(protoOrigin, protoPath, msg, o.Protocol)
	}

	// The endpoint: a base (file, OTEL_EXPORTER_OTLP_ENDPOINT) gets
	// /v1/metrics appended for http/protobuf; the metrics-specific variable
	// is used as is.
	var (
		endpoint      string
		base          bool
		epOrigin      origin
		epPath        string
		endpointGiven bool
	)
	if f.endpoint != "" {
		endpoint, base, epOrigin, epPath, endpointGiven = f.endpoint, true, fileAt("telemetry.otlp.endpoint"), "telemetry.otlp.endpoint", true
	}
	if v, ok := lookup(EnvOTLPEndpoint); ok {
		endpoint, base, epOrigin, epPath, endpointGiven = v, true, origin{env: EnvOTLPEndpoint}, "", true
		applied(EnvOTLPEndpoint)
	}
	if v, ok := lookup(EnvOTLPMetricsEndpoint); ok {
		endpoint, base, epOrigin, epPath, endpointGiven = v, false, origin{env: EnvOTLPMetricsEndpoint}, "", true
		applied(EnvOTLPMetricsEndpoint)
	}
	if endpoint == "" {
		endpoint, base = "http://localhost:4318", true
		if o.Protocol == ProtocolGRPC {
			endpoint = "http://localhost:4317"
		}
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.at(epOrigin, epPath, "%q: want an http:// or https:// URL like http://collector:4318", endpoint)
	} else {
		if base && o.Protocol == ProtocolHTTP {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/metrics"
		}
		o.Endpoint = u
	}

	keyValues(o.Headers, f.headers, EnvOTLPHeaders, EnvOTLPMetricsHeaders)
	if f.interval > 0 {
		o.Interval = f.interval
	}
	if v, ok := lookup(EnvOTelMetricExportInterval); ok {
		if d, err := parseMillis(v); err != nil {
			ps.at(origin{env: EnvOTelMetricExportInterval}, "", "%v", err)
		} else {
			o.Interval = d
			applied(EnvOTelMetricExportInterval)
		}
	}
	if f.timeout > 0 {
		o.Timeout = f.timeout
	}
	for _, name := range []string{EnvOTLPTimeout, EnvOTLPMetricsTimeout} {
		if v, ok := lookup(name); ok {
			if d, err := parseMillis(v); err != nil {
				ps.at(origin{env: name}, "", "%v", err)
			} else {
				o.Timeout = d
				applied(name)
			}
		}
	}
	tmpOrigin, tmpPath := fileAt("telemetry.otlp.temporality"), "telemetry.otlp.temporality"
	if f.temporality != "" {
		o.Temporality = f.temporality
	}
	if v, ok := lookup(EnvOTLPMetricsTemporality); ok {
		o.Temporality, tmpOrigin, tmpPath = strings.ToLower(v), origin{env: EnvOTLPMetricsTemporality}, ""
		applied(EnvOTLPMetricsTemporality)
	}
	switch o.Temporality {
	case "cumulative", "delta", "lowmemory":
	default:
		ps.at(tmpOrigin, tmpPath, "unknown temporality %q (want cumulative, delta or lowmemory)", o.Temporality)
	}

	if wantOTLP || (exporters == nil && endpointGiven) {
		t.OTLP = o
	}
	c.Telemetry = t
}

// parseKeyValues parses the W3C-baggage-like list of OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated by commas, values
// percent-decoded.
func parseKeyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return out, fmt.Errorf("%q is not key=value", pair)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return out, fmt.Errorf("%q: bad percent-encoding", pair)
		}
		out[k] = dv
	}
	return out, nil
}

// parseMillis parses a whole, positive number of milliseconds, the unit of
// OTEL_METRIC_EXPORT_INTERVAL and the OTLP timeouts.
func parseMillis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a whole, positive number of milliseconds like 60000", v)
	}
	return time.Duration(n) * time.Millisecond, nil
}
