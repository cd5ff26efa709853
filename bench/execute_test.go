package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// contender builds one breaker to benchmark and returns it with its cleanup.
type contender struct {
	name string
	new  func(tb testing.TB) Executor
}

var contenders = []contender{
	{"gobreaker", func(testing.TB) Executor { return NewGobreaker("bench") }},
	{"gobreaker+client_golang", func(tb testing.TB) Executor {
		g, err := NewGobreakerProm("bench", prometheus.NewRegistry())
		if err != nil {
			tb.Fatal(err)
		}
		return g
	}},
	{"gobreaker+otel", func(tb testing.TB) Executor {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		g, err := NewGobreakerOTel("bench", mp)
		if err != nil {
			tb.Fatal(err)
		}
		return g
	}},
	{"failsafe-go", func(testing.TB) Executor { return NewFailsafe() }},
	{"breakerwatch-enforce", breakerwatch(breaker.ModeEnforce)},
	// The same breaker joined to a fleet on a real local redis-server: its
	// loop publishes every 100ms while the benchmark runs.
	{"breakerwatch-enforce-fleet", breakerwatchFleet},
	{"breakerwatch-monitor", breakerwatch(breaker.ModeMonitor)},
	{"breakerwatch-disabled", breakerwatch(breaker.ModeDisabled)},
	// Collections every 100ms during the benchmark: the call path plus the
	// collection's work (one SDK Record per call made since the previous
	// one, docs/opentelemetry.md) competing with it for the two cores.
	{"breakerwatch-enforce+otlp", breakerwatchOTLP(100 * time.Millisecond)},
	// The SDK's default interval (60s): no collection during a benchmark
	// of a few seconds, so only the call path with an OTLP reader set up.
	{"breakerwatch-enforce+otlp-60s", breakerwatchOTLP(60 * time.Second)},
}

// breakerwatchOTLP is an enforcing breaker whose provider pushes OTLP/HTTP
// every interval (to a loopback server that accepts and discards), as in a
// service.
func breakerwatchOTLP(interval time.Duration) func(testing.TB) Executor {
	return func(tb testing.TB) Executor {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		tb.Cleanup(srv.Close)
		p, err := NewOTLPPipeline(srv.URL+"/v1/metrics", interval)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = p.Close() })
		br, err := p.Registry.Register(breaker.Config{Name: "bench"})
		if err != nil {
			tb.Fatal(err)
		}
		return br
	}
}

func breakerwatch(mode breaker.Mode) func(testing.TB) Executor {
	return func(tb testing.TB) Executor {
		p, err := NewManualPipeline()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = p.Close() })
		br, err := p.Registry.Register(breaker.Config{Name: "bench", Mode: mode})
		if err != nil {
			tb.Fatal(err)
		}
		return br
	}
}

func breakerwatchFleet(tb testing.TB) Executor {
	srv := redistest.Start(tb)
	f, err := fleet.New(fleet.Options{URL: srv.URL(), Instance: "bench", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewManualPipeline(breaker.WithStateListener(f.OnStateChange))
	if err != nil {
		tb.Fatal(err)
	}
	br, err := p.Registry.Register(breaker.Config{Name: "bench", Mode: breaker.ModeEnforce})
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Start(context.Background(), p.Registry); err != nil {
		tb.Fatal(err)
	}
	if !f.Connected() {
		tb.Fatal("the fleet did not connect to redis-server")
	}
	tb.Cleanup(func() { _ = f.Close(); _ = p.Close() })
	return br
}

func succeed(context.Context) error { return nil }

// BenchmarkExecute: one call of a trivial successful function through a
// closed breaker, with the contender's metrics.
func BenchmarkExecute(b *testing.B) {
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			e := c.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Execute(ctx, succeed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExecuteParallel: the same with GOMAXPROCS goroutines sharing one
// breaker.
func BenchmarkExecuteParallel(b *testing.B) {
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			e := c.new(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := e.Execute(ctx, succeed); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
