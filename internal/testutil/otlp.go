package testutil

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is a real OTLP metrics receiver on a loopback port: OTLP/HTTP
// (POST /v1/metrics, binary protobuf, optionally gzip) or OTLP/gRPC
// (opentelemetry.proto.collector.metrics.v1.MetricsService/Export). It
// decodes each export with the generated protobuf types of
// go.opentelemetry.io/proto/otlp and keeps it.
type OTLPReceiver struct {
	// Endpoint is http://127.0.0.1:PORT for both kinds (gRPC clients take
	// the host:port part).
	Endpoint string

	mu      sync.Mutex
	exports []OTLPExport
	changed chan struct{}
}

// OTLPExport is one export request as received.
type OTLPExport struct {
	// Header holds the HTTP headers or the gRPC metadata.
	Header  http.Header
	Request *colmetricspb.ExportMetricsServiceRequest
}

func newOTLPReceiver(ln net.Listener) *OTLPReceiver {
	return &OTLPReceiver{Endpoint: "http://" + ln.Addr().String(), changed: make(chan struct{})}
}

func (r *OTLPReceiver) add(h http.Header, req *colmetricspb.ExportMetricsServiceRequest) {
	r.mu.Lock()
	r.exports = append(r.exports, OTLPExport{Header: h, Request: req})
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// NewOTLPHTTPReceiver starts an OTLP/HTTP receiver, stopped at the end of the test.
func NewOTLPHTTPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newOTLPReceiver(ln)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var m colmetricspb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(req.Header.Clone(), &m)
		out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// NewOTLPGRPCReceiver starts an OTLP/gRPC receiver (no TLS), stopped at the
// end of the test.
func NewOTLPGRPCReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newOTLPReceiver(ln)
	srv := grpc.NewServer()
	colmetricspb.RegisterMetricsServiceServer(srv, grpcMetrics{r: r})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return r
}

type grpcMetrics struct {
	colmetricspb.UnimplementedMetricsServiceServer
	r *OTLPReceiver
}

func (g grpcMetrics) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	h := http.Header{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	g.r.add(h, req)
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// Exports returns the exports received so far.
func (r *OTLPReceiver) Exports() []OTLPExport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]OTLPExport(nil), r.exports...)
}

// WaitFor waits up to timeout for an export for which ok is true and
// returns it; it fails the test when none arrives.
func (r *OTLPReceiver) WaitFor(t testing.TB, timeout time.Duration, ok func(OTLPExport) bool) OTLPExport {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		r.mu.Lock()
		exports, changed := r.exports[seen:], r.changed
		seen = len(r.exports)
		r.mu.Unlock()
		for _, e := range exports {
			if ok(e) {
				return e
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no matching OTLP export within %v (%d received)", timeout, seen)
		}
	}
}

// OTLPPoint is one data point of an export, flattened.
type OTLPPoint struct {
	Resource map[string]string
	Scope    string
	Name     string
	Unit     string
	// Kind is gauge, sum or histogram.
	Kind  string
	Attrs map[string]string
	// Value is a gauge's or sum's value; Count, Sum, Bounds and Buckets a
	// histogram's.
	Value     float64
	Count     uint64
	Sum       float64
	Bounds    []float64
	Buckets   []uint64
	Monotonic bool
	// Temporality of a sum or histogram.
	Temporality metricspb.AggregationTemporality
	Exemplars   []*metricspb.Exemplar
}

// Series is the point's name and attributes, sorted: name{k=v,...}.
func (p OTLPPoint) Series() string {
	kv := make([]string, 0, len(p.Attrs))
	for k, v := range p.Attrs {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return p.Name + "{" + strings.Join(kv, ",") + "}"
}

// Points flattens an export request.
func Points(req *colmetricspb.ExportMetricsServiceRequest) []OTLPPoint {
	var out []OTLPPoint
	for _, rm := range req.GetResourceMetrics() {
		res := attrMap(rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				base := OTLPPoint{Resource: res, Scope: sm.GetScope().GetName(), Name: m.GetName(), Unit: m.GetUnit()}
				switch d := m.GetData().(type) {
				case *metricspb.Metric_Gauge:
					for _, dp := range d.Gauge.GetDataPoints() {
						p := base
						p.Kind, p.Attrs, p.Value = "gauge", attrMap(dp.GetAttributes()), numberValue(dp)
						out = append(out, p)
					}
				case *metricspb.Metric_Sum:
					for _, dp := range d.Sum.GetDataPoints() {
						p := base
						p.Kind, p.Attrs, p.Value = "sum", attrMap(dp.GetAttributes()), numberValue(dp)
						p.Monotonic, p.Temporality = d.Sum.GetIsMonotonic(), d.Sum.GetAggregationTemporality()
						out = append(out, p)
					}
				case *metricspb.Metric_Histogram:
					for _, dp := range d.Histogram.GetDataPoints() {
						p := base
						p.Kind, p.Attrs = "histogram", attrMap(dp.GetAttributes())
						p.Count, p.Sum, p.Bounds, p.Buckets = dp.GetCount(), dp.GetSum(), dp.GetExplicitBounds(), dp.GetBucketCounts()
						p.Temporality, p.Exemplars = d.Histogram.GetAggregationTemporality(), dp.GetExemplars()
						out = append(out, p)
					}
				default:
					out = append(out, OTLPPoint{Name: m.GetName(), Kind: fmt.Sprintf("%T", d)})
				}
			}
		}
	}
	return out
}

func numberValue(dp *metricspb.NumberDataPoint) float64 {
	if v, ok := dp.GetValue().(*metricspb.NumberDataPoint_AsInt); ok {
		return float64(v.AsInt)
	}
	return dp.GetAsDouble()
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}
