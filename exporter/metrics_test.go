package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	otelmetric "go.opentelemetry.io/otel/metric"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const goldenScrape = "testdata/metrics.golden.prom"

// newMetrics returns a pipeline shut down when the test ends.
func newMetrics(t *testing.T) *exporter.Metrics {
	t.Helper()
	m, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return m
}

// newRegistry returns a registry on m, closed when the test ends.
func newRegistry(t *testing.T, m *exporter.Metrics) *breaker.Registry {
	t.Helper()
	reg, err := m.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func register(t *testing.T, reg *breaker.Registry, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	b, err := reg.Register(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var errDown = errors.New("dependency down")

func succeed(context.Context) error { return nil }
func fail(context.Context) error    { return errDown }

// run calls fn through b n times.
func run(b *breaker.Breaker, n int, fn func(context.Context) error) {
	for range n {
		_ = b.Execute(context.Background(), fn)
	}
}

// goldenFixture puts breakers into known states:
//   - api: enforce, closed, 3 successes, 1 failure, 1 slow call, 1 ignored;
//   - db: enforce, open after 2 failures, then 2 rejected calls;
//   - search: monitor, virtually open after 2 failures, then 3 calls that
//     enforcement would have rejected (they ran and succeeded);
//   - legacy: disabled, 2 successes;
//   - idle: enforce, no calls (every series is there from the start, at 0).
//
// It returns how long it took: no call lasted longer, and the calls, made
// one after the other, lasted no longer in total.
func goldenFixture(t *testing.T, reg *breaker.Registry) time.Duration {
	t.Helper()
	start := time.Now()
	register(t, reg, breaker.Config{Name: "idle"})
	api := register(t, reg, breaker.Config{Name: "api", SlowCall: time.Millisecond})
	run(api, 2, succeed)
	run(api, 1, fail)
	run(api, 1, func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = api.Execute(ctx, func(ctx context.Context) error { return ctx.Err() })

	db := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 2})
	run(db, 4, fail)

	search := register(t, reg, breaker.Config{Name: "search", Mode: breaker.ModeMonitor, FailureThreshold: 2})
	run(search, 2, fail)
	run(search, 3, succeed)

	legacy := register(t, reg, breaker.Config{Name: "legacy", Mode: breaker.ModeDisabled})
	run(legacy, 2, succeed)
	return time.Since(start)
}

// scrape GETs /metrics from a real server and parses the exposition.
func scrape(t *testing.T, h http.Handler) (raw []byte, families map[string]*dto.MetricFamily) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the text exposition format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err = p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, raw)
	}
	srv.Client().CloseIdleConnections()
	return raw, families
}

// runtimeFamily reports whether a family comes from the Go, process or
// promhttp collectors, which the golden file leaves out.
func runtimeFamily(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_")
}

// timeDependent are the gauges whose values depend on how long calls took.
var timeDependent = []string{breaker.MetricLatencyP50, breaker.MetricLatencyP95, breaker.MetricLatencyP99}

// normalise checks the time-dependent values against bounds that scheduling
// delays cannot break and replaces them, in place, by what they are on an
// idle machine, where every call of the fixture takes well under the
// histogram's first bucket (5 ms). took is how long the fixture ran: no call
// lasted longer, and all of them together lasted no longer.
//   - Non-zero latency percentiles: within [0, took] (plus a bucket's width,
//     a quarter of it), written as NaN.
//   - Histogram sums: within [0, took], written as NaN.
//   - Histogram bucket counts: cumulative (never decreasing, never above
//     the count), and every call is counted in each bucket whose bound is
//     at least took; written as the count, as if every call took under 5 ms.
func normalise(t *testing.T, families map[string]*dto.MetricFamily, took time.Duration) {
	t.Helper()
	tookMS := float64(took) / float64(time.Millisecond)
	for _, name := range timeDependent {
		for _, m := range families[name].GetMetric() {
			v := m.GetGauge().GetValue()
			if v < 0 || v > tookMS*5/4 {
				t.Errorf("%s%v = %v ms, want within [0, %.3g] (the fixture took %v)", name, m.GetLabel(), v, tookMS*5/4, took)
			}
			// One of api's four calls that ran slept 2 ms.
			if name == breaker.MetricLatencyP99 && labelValue(m, breaker.LabelName) == "api" && v < 1.5 {
				t.Errorf("%s{name=\"api\"} = %v ms, want at least 1.5 (a call slept 2 ms)", name, v)
			}
			if v > 0 {
				m.Gauge.Value = new(math.NaN())
			}
		}
	}
	for _, m := range families[breaker.MetricCallDuration].GetMetric() {
		h := m.GetHistogram()
		count := h.GetSampleCount()
		if sum := h.GetSampleSum(); sum < 0 || sum > took.Seconds() {
			t.Errorf("%s%v: sum %v s, want within [0, %v] (the fixture took %v)", breaker.MetricCallDuration, m.GetLabel(), sum, took.Seconds(), took)
		}
		if count > 0 {
			h.SampleSum = new(math.NaN())
		}
		var prev uint64
		for _, b := range h.GetBucket() {
			c := b.GetCumulativeCount()
			if c < prev || c > count || (b.GetUpperBound() >= took.Seconds() && c != count) {
				t.Errorf("%s%v: %d calls up to le=%v (previous bucket %d), want cumulative counts up to %d, all %d from le >= %v (the fixture took %v)",
					breaker.MetricCallDuration, m.GetLabel(), c, b.GetUpperBound(), prev, count, count, took.Seconds(), took)
			}
			prev = c
			b.CumulativeCount = new(count)
		}
	}
}

func labelValue(m *dto.Metric, key string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == key {
			return l.GetValue()
		}
	}
	return ""
}

// exposition encodes families (runtime ones left out) in the text format,
// sorted by name.
func exposition(t *testing.T, families map[string]*dto.MetricFamily) []byte {
	t.Helper()
	var names []string
	for name := range families {
		if !runtimeFamily(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var buf bytes.Buffer
	for _, name := range names {
		if _, err := expfmt.MetricFamilyToText(&buf, families[name]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestGoldenScrape scrapes /metrics over HTTP from breakers in known states
// and compares everything but the Go, process and promhttp series with the
// golden file. Latency percentiles, histogram sums and bucket counts depend
// on how long calls took: normalise checks them against bounds that a loaded
// machine cannot break and writes them as they are on an idle one. Run with
// -update to rewrite the file after an intended change, and review the diff.
func TestGoldenScrape(t *testing.T) {
	m := newMetrics(t)
	took := goldenFixture(t, newRegistry(t, m))
	_, families := scrape(t, m.Handler())
	normalise(t, families, took)
	got := exposition(t, families)
	if *update {
		if err := os.WriteFile(goldenScrape, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenScrape)
	}
	want, err := os.ReadFile(goldenScrape)
	if err != nil {
		t.Fatalf("%v (run go test ./exporter -run TestGoldenScrape -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("scrape differs from %s (run with -update if the change is intended):\n%s", goldenScrape, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// promtool runs promtool check metrics on input. It skips when promtool is
// missing, except in CI (env CI set), where that is a failure.
func promtool(t *testing.T, input []byte) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "promtool"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// The golden file is what dashboards and alerts are written against: it must
// pass promtool's lint.
func TestGoldenPromtool(t *testing.T) {
	input, err := os.ReadFile(goldenScrape)
	if err != nil {
		t.Fatal(err)
	}
	promtool(t, input)
}

// The whole served scrape, runtime collectors included, passes the lint too.
func TestScrapePromtool(t *testing.T) {
	m := newMetrics(t)
	goldenFixture(t, newRegistry(t, m))
	raw, _ := scrape(t, m.Handler())
	promtool(t, raw)
}

// TestScrapeNames pins the names: the breaker series on /metrics are exactly
// the contract's (breaker/names.go), with their types and label keys, whatever
// the exporter's defaults; the runtime collectors are there; nothing carries
// otel_scope_* labels and there is no target_info.
func TestScrapeNames(t *testing.T) {
	m := newMetrics(t)
	goldenFixture(t, newRegistry(t, m))
	_, families := scrape(t, m.Handler())

	want := map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		breaker.MetricState:        {dto.MetricType_GAUGE, []string{breaker.LabelMode, breaker.LabelName}},
		breaker.MetricErrorRate:    {dto.MetricType_GAUGE, []string{breaker.LabelName}},
		breaker.MetricLatencyP50:   {dto.MetricType_GAUGE, []string{breaker.LabelName}},
		breaker.MetricLatencyP95:   {dto.MetricType_GAUGE, []string{breaker.LabelName}},
		breaker.MetricLatencyP99:   {dto.MetricType_GAUGE, []string{breaker.LabelName}},
		breaker.MetricCalls:        {dto.MetricType_COUNTER, []string{breaker.LabelName, breaker.LabelOutcome}},
		breaker.MetricWouldReject:  {dto.MetricType_COUNTER, []string{breaker.LabelName}},
		breaker.MetricSlowCalls:    {dto.MetricType_COUNTER, []string{breaker.LabelName}},
		breaker.MetricCallDuration: {dto.MetricType_HISTOGRAM, []string{breaker.LabelName, breaker.LabelOutcome}},
		breaker.MetricTransitions:  {dto.MetricType_COUNTER, []string{breaker.LabelFrom, breaker.LabelName, breaker.LabelTo}},
	}
	for name, w := range want {
		f, ok := families[name]
		if !ok {
			t.Errorf("%s missing from the scrape", name)
			continue
		}
		if f.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), w.typ)
		}
		for _, m := range f.GetMetric() {
			var keys []string
			for _, l := range m.GetLabel() {
				keys = append(keys, l.GetName())
			}
			if !slices.Equal(keys, w.labels) {
				t.Errorf("%s: labels %v, want exactly %v", name, keys, w.labels)
			}
		}
	}
	// Series of the contract that this fixture does not exercise (fallback
	// chains, health checks, retry queues) may appear; nothing else may.
	known := []string{breaker.MetricFallbacks, breaker.MetricHealthUp, breaker.MetricHealthDuration,
		breaker.MetricRetryQueueDepth, breaker.MetricRetryItems}
	for name, f := range families {
		if runtimeFamily(name) {
			continue
		}
		if _, ok := want[name]; !ok && !slices.Contains(known, name) {
			t.Errorf("unexpected family %s (a renamed series or an exporter default leaking in)", name)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.HasPrefix(l.GetName(), "otel_scope_") {
					t.Errorf("%s carries %s", name, l.GetName())
				}
			}
		}
	}
	runtimeWant := []string{"go_goroutines", "go_memstats_alloc_bytes", "promhttp_metric_handler_requests_total"}
	if runtime.GOOS == "linux" {
		runtimeWant = append(runtimeWant, "process_cpu_seconds_total", "process_resident_memory_bytes")
	}
	for _, name := range runtimeWant {
		if _, ok := families[name]; !ok {
			t.Errorf("%s missing: the served /metrics must carry the runtime collectors", name)
		}
	}
}

// Registries made by one Metrics share the exporter: the call-duration
// histogram of each reaches the scrape, in one family.
func TestMetricsTwoRegistries(t *testing.T) {
	m := newMetrics(t)
	r1, r2 := newRegistry(t, m), newRegistry(t, m)
	run(register(t, r1, breaker.Config{Name: "one"}), 1, succeed)
	run(register(t, r2, breaker.Config{Name: "two"}), 2, fail)
	_, families := scrape(t, m.Handler())

	counts := map[string]uint64{}
	for _, mt := range families[breaker.MetricCallDuration].GetMetric() {
		key := labelValue(mt, breaker.LabelName) + "/" + labelValue(mt, breaker.LabelOutcome)
		counts[key] = mt.GetHistogram().GetSampleCount()
	}
	if counts["one/success"] != 1 || counts["two/failure"] != 2 {
		t.Errorf("histogram counts = %v, want one/success 1 and two/failure 2", counts)
	}
	calls := families[breaker.MetricCalls].GetMetric()
	if len(calls) != 8 { // 2 breakers x 4 outcomes
		t.Errorf("%s has %d series, want 8", breaker.MetricCalls, len(calls))
	}
}

// After Shutdown, /metrics still answers, with the runtime series only.
func TestMetricsShutdown(t *testing.T) {
	m, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := m.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	run(register(t, reg, breaker.Config{Name: "api"}), 1, succeed)
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, families := scrape(t, m.Handler())
	for name := range families {
		if strings.HasPrefix(name, "circuit_breaker_") {
			t.Errorf("%s served after Shutdown", name)
		}
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("go_goroutines missing after Shutdown")
	}
}

// Gatherer is the registry Handler serves.
func TestMetricsGatherer(t *testing.T) {
	m := newMetrics(t)
	run(register(t, newRegistry(t, m), breaker.Config{Name: "api"}), 1, succeed)
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range mfs {
		names = append(names, f.GetName())
	}
	for _, want := range []string{breaker.MetricState, breaker.MetricCallDuration, "go_goroutines"} {
		if !slices.Contains(names, want) {
			t.Errorf("Gather() lacks %s", want)
		}
	}
}

// Two pipelines in one process do not collide: nothing is global.
func TestMetricsTwice(t *testing.T) {
	for range 2 {
		m := newMetrics(t)
		run(register(t, newRegistry(t, m), breaker.Config{Name: "api"}), 1, succeed)
		_, families := scrape(t, m.Handler())
		if _, ok := families[breaker.MetricState]; !ok {
			t.Fatal("state gauge missing")
		}
	}
}

// Synchronous histograms recorded on the MeterProvider get the breaker's
// buckets in seconds, not OTel's millisecond-oriented defaults; units still
// become suffixes under the pinned strategy.
func TestMetricsHistogramBuckets(t *testing.T) {
	m := newMetrics(t)
	h, err := m.MeterProvider().Meter("test").Float64Histogram("test.request.duration", otelmetric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	h.Record(context.Background(), 0.003)
	_, families := scrape(t, m.Handler())
	f, ok := families["test_request_duration_seconds"]
	if !ok {
		t.Fatalf("test_request_duration_seconds missing; families: %v", slices.Collect(maps.Keys(families)))
	}
	var bounds []float64
	for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if !slices.Equal(bounds, breaker.DurationBuckets) {
		t.Errorf("buckets %v, want %v", bounds, breaker.DurationBuckets)
	}
}

// Regression: the SDK's default cardinality limit (2,000 series per
// instrument) folded the call counts of every breaker past the 500th into an
// otel_metric_overflow series. Breaker series are bounded by configuration.
func TestMetricsManyBreakersNoOverflow(t *testing.T) {
	m := newMetrics(t)
	reg := newRegistry(t, m)
	const n = 600 // 2,400 calls_total series
	for i := range n {
		run(register(t, reg, breaker.Config{Name: fmt.Sprintf("dep%03d", i)}), 1, succeed)
	}
	raw, families := scrape(t, m.Handler())
	if bytes.Contains(raw, []byte("otel_metric_overflow")) {
		t.Error("the scrape has an otel_metric_overflow series")
	}
	if got := len(families[breaker.MetricCalls].GetMetric()); got != 4*n {
		t.Errorf("%s has %d series, want %d", breaker.MetricCalls, got, 4*n)
	}
}
