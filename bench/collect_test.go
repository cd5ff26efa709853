package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newScrapeFixture builds the exporter package's /metrics pipeline (the
// OTel Prometheus exporter on a private client_golang registry, with the Go
// and process collectors) and registers n breakers on it that have each seen
// some calls: successes and a failure (not enough to trip).
func newScrapeFixture(tb testing.TB, n int) http.Handler {
	m, err := exporter.NewMetrics()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	reg, err := m.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = reg.Close() })
	ctx := context.Background()
	boom := errors.New("boom")
	fail := func(context.Context) error { return boom }
	for i := range n {
		br, err := reg.Register(breaker.Config{Name: fmt.Sprintf("dep_%04d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		for range 10 {
			_ = br.Execute(ctx, succeed)
		}
		_ = br.Execute(ctx, fail)
	}
	return m.Handler()
}

// scrape serves one GET /metrics through the handler and returns the body.
func scrape(tb testing.TB, h http.Handler) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// samples counts the sample lines of a text exposition.
func samples(body []byte) int {
	n := 0
	for line := range bytes.Lines(body) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

// BenchmarkCollect: one full scrape of 1,000 breakers' metrics through the
// exporter package's handler (OTel Prometheus exporter, text exposition, no
// compression; the Go, process and promhttp series are included).
func BenchmarkCollect(b *testing.B) {
	b.Run("breakers=1000", func(b *testing.B) {
		h := newScrapeFixture(b, 1000)
		var body []byte
		b.ReportAllocs()
		for b.Loop() {
			body = scrape(b, h)
		}
		b.ReportMetric(float64(len(body)), "bytes/scrape")
		b.ReportMetric(float64(samples(body)), "samples/scrape")
	})
}

// BenchmarkRegister: the memory of one breaker with the default config,
// window included.
//
// "one" registers one breaker into an empty registry per iteration: B/op is
// everything registering allocates. "retained" registers 1,000 breakers and
// reports the live heap they hold after a GC, per breaker (B/breaker): what a
// breaker costs while it exists, without the registry's copy-on-write garbage;
// B/breaker+sdk adds what the OTel SDK keeps per breaker once it has
// collected the breakers' series.
func BenchmarkRegister(b *testing.B) {
	b.Run("one", func(b *testing.B) {
		p, err := NewManualPipeline()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			reg, err := breaker.NewRegistry(breaker.WithMeterProvider(p.Provider))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := reg.Register(breaker.Config{Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = reg.Close()
			b.StartTimer()
		}
	})
	b.Run("retained", func(b *testing.B) {
		const n = 1000
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("dep_%04d", i)
		}
		var perBreaker, withSDK float64
		for b.Loop() {
			b.StopTimer()
			p, err := NewManualPipeline()
			if err != nil {
				b.Fatal(err)
			}
			var before, registered, collected runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.StartTimer()
			for _, name := range names {
				if _, err := p.Registry.Register(breaker.Config{Name: name}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&registered)
			// One collection makes the SDK keep its per-series state.
			var rm metricdata.ResourceMetrics
			if err := p.Reader.Collect(context.Background(), &rm); err != nil {
				b.Fatal(err)
			}
			rm = metricdata.ResourceMetrics{}
			runtime.GC()
			runtime.ReadMemStats(&collected)
			perBreaker = float64(registered.HeapAlloc-before.HeapAlloc) / n
			withSDK = float64(collected.HeapAlloc-before.HeapAlloc) / n
			_ = p.Close()
			b.StartTimer()
		}
		b.ReportMetric(perBreaker, "B/breaker")
		b.ReportMetric(withSDK, "B/breaker+sdk")
	})
	// breakers=N registers N breakers, in shuffled name order, into an empty
	// registry per op, then lists them once (which sorts them): registration
	// is linear when ns/breaker and B/breaker are the same at 1,000 and
	// 10,000.
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("breakers=%d", n), func(b *testing.B) {
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("dep_%05d", i)
			}
			rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { names[i], names[j] = names[j], names[i] })
			p, err := NewManualPipeline()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			var allocated uint64 // by registering and listing
			var cpu time.Duration
			var before, after runtime.MemStats
			for b.Loop() {
				b.StopTimer()
				reg, err := breaker.NewRegistry(breaker.WithMeterProvider(p.Provider))
				if err != nil {
					b.Fatal(err)
				}
				runtime.ReadMemStats(&before)
				cpu0 := processCPU()
				b.StartTimer()
				for _, name := range names {
					if _, err := reg.Register(breaker.Config{Name: name}); err != nil {
						b.Fatal(err)
					}
				}
				if got := len(reg.List()); got != n {
					b.Fatalf("%d breakers listed, want %d", got, n)
				}
				b.StopTimer()
				cpu += processCPU() - cpu0
				runtime.ReadMemStats(&after)
				allocated += after.TotalAlloc - before.TotalAlloc
				_ = reg.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/breaker")
			b.ReportMetric(float64(allocated)/float64(b.N)/float64(n), "B/breaker")
			// The process's CPU time (GC included) per breaker: on a loaded
			// machine ns/breaker also counts the wait for a core.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/breaker")
		})
	}
}

// newOTLPFixture is newScrapeFixture's breakers on a provider whose reader
// pushes OTLP/HTTP (protobuf) to a loopback server that reads and discards
// the body; the reader's interval is an hour, so only ForceFlush exports.
func newOTLPFixture(tb testing.TB, n int) *OTLPPipeline {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	tb.Cleanup(srv.Close)
	p, err := NewOTLPPipeline(srv.URL+"/v1/metrics", time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	boom := errors.New("boom")
	for i := range n {
		br, err := p.Registry.Register(breaker.Config{Name: fmt.Sprintf("dep_%04d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		for range 10 {
			_ = br.Execute(ctx, succeed)
		}
		_ = br.Execute(ctx, func(context.Context) error { return boom })
	}
	return p
}

// BenchmarkCollectOTLP: one collection of 1,000 breakers' metrics and its
// export over OTLP/HTTP (protobuf, to a loopback server), beside
// BenchmarkCollect's Prometheus scrape of the same breakers.
func BenchmarkCollectOTLP(b *testing.B) {
	b.Run("breakers=1000", func(b *testing.B) {
		p := newOTLPFixture(b, 1000)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Provider.ForceFlush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDurationReplay: what collection spends per call on the
// call-duration histogram (recording the calls made since the previous
// collection into the SDK histogram): b.N calls, then one collection, per
// call.
func BenchmarkDurationReplay(b *testing.B) {
	p, err := NewManualPipeline()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	br, err := p.Registry.Register(breaker.Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var rm metricdata.ResourceMetrics
	if err := p.Reader.Collect(ctx, &rm); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		_ = br.Execute(ctx, succeed)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Reader.Collect(ctx, &rm); err != nil {
		b.Fatal(err)
	}
}
