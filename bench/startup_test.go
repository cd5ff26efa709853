package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/serve"
)

// scaleConfig is a configuration with n breakers and n routes, one per
// breaker, written in shuffled-looking (not sorted) order.
func scaleConfig(n int) string {
	var b strings.Builder
	b.WriteString("breakers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  svc_%05d: {mode: enforce}\n", (i*7919)%n)
	}
	b.WriteString("routes:\n")
	for i := range n {
		j := (i * 7919) % n
		fmt.Fprintf(&b, "  - {prefix: /svc-%05d/, upstream: 'http://127.0.0.1:9/%d', breaker: svc_%05d}\n", j, j, j)
	}
	return b.String()
}

// BenchmarkConfigParse parses and validates scaleConfig(n): linear when
// ns/route is the same at 1,000 and 10,000.
func BenchmarkConfigParse(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			data := []byte(scaleConfig(n))
			b.ReportAllocs()
			for b.Loop() {
				c, err := config.Parse("scale.yaml", data, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Routes) != n || len(c.Breakers) != n {
					b.Fatalf("%d routes, %d breakers", len(c.Routes), len(c.Breakers))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/route")
		})
	}
}

// BenchmarkServeStartup is `breakerwatch serve --config` (serve.Run) with
// scaleConfig(n), from the call until the start-up banner is written: the
// file read and validated, every breaker registered, every route built, the
// listener open, one log line per route (to a JSON handler at info level
// writing to io.Discard). Shutting down is not timed. cpu-s/start is the
// process's CPU time over the same span.
func BenchmarkServeStartup(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("breakers=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "scale.yaml")
			if err := os.WriteFile(path, []byte(scaleConfig(n)), 0o600); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				cpu0 := processCPU()
				pr, pw := io.Pipe()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					err := serve.Run(ctx, serve.Options{
						ConfigPath: path, Listen: "127.0.0.1:0",
						Env:    func(string) (string, bool) { return "", false },
						Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
						Stdout: pw,
					})
					pw.CloseWithError(io.EOF)
					done <- err
				}()
				rd := bufio.NewReader(pr)
				line, err := rd.ReadString('\n')
				b.StopTimer()
				cpu += processCPU() - cpu0
				if err != nil || !strings.HasPrefix(line, "breakerwatch is serving on ") {
					cancel()
					b.Fatalf("banner %q, %v; serve: %v", line, err, <-done)
				}
				go func() { _, _ = io.Copy(io.Discard, rd) }()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9, "s/start")
			// CPU time of the process (every thread, the GC's included): on
			// a loaded machine the wall time is this stretched by the wait
			// for a core.
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/start")
		})
	}
}
