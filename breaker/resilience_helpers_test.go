package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

// Helpers of the chain, health-check and retry-queue tests. Their names
// start with res so that they do not collide with other tests' helpers.

// resRegister registers breakers with the given configs, failing the test
// on error.
func resRegister(t testing.TB, reg *breaker.Registry, cfgs ...breaker.Config) []*breaker.Breaker {
	t.Helper()
	out := make([]*breaker.Breaker, len(cfgs))
	for i, c := range cfgs {
		out[i] = mustRegister(t, reg, c)
	}
	return out
}

// resNoLeaks fails the test if it leaves goroutines behind.
func resNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// errResDown is the error of a dependency that is down.
var errResDown = errors.New("provider down")

// resQuiet is a logger that discards.
var resQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// resSeries collects rd and renders the series of the named metrics, one a
// line, sorted: "<name>{k="v",...} <value>", preceded by "# <name> <kind>"
// where kind is counter (cumulative monotonic sum) or gauge. For the names
// in masked the value is replaced by "<positive>" or "<zero>".
func resSeries(t testing.TB, rd *sdkmetric.ManualReader, names []string, masked ...string) string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	mask := map[string]bool{}
	for _, n := range masked {
		mask[n] = true
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !want[m.Name] {
				continue
			}
			if sm.Scope.Name != breaker.ScopeName {
				t.Errorf("%s: scope %q, want %q", m.Name, sm.Scope.Name, breaker.ScopeName)
			}
			kind := "?"
			var points []string
			val := func(v float64) string {
				if mask[m.Name] {
					if v > 0 {
						return "<positive>"
					}
					return "<zero>"
				}
				return fmt.Sprint(v)
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if d.IsMonotonic && d.Temporality == metricdata.CumulativeTemporality {
					kind = "counter"
				}
				for _, p := range d.DataPoints {
					points = append(points, m.Name+resLabels(p.Attributes)+" "+val(float64(p.Value)))
				}
			case metricdata.Gauge[int64]:
				kind = "gauge"
				for _, p := range d.DataPoints {
					points = append(points, m.Name+resLabels(p.Attributes)+" "+val(float64(p.Value)))
				}
			case metricdata.Gauge[float64]:
				kind = "gauge"
				for _, p := range d.DataPoints {
					points = append(points, m.Name+resLabels(p.Attributes)+" "+val(p.Value))
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
			if len(points) == 0 {
				continue
			}
			lines = append(lines, "# "+m.Name+" "+kind)
			lines = append(lines, points...)
		}
	}
	// Sort by metric, keeping each header first.
	sort.SliceStable(lines, func(i, j int) bool { return resSortKey(lines[i]) < resSortKey(lines[j]) })
	return strings.Join(lines, "\n")
}

func resSortKey(line string) string {
	if name, ok := strings.CutPrefix(line, "# "); ok {
		name, _, _ = strings.Cut(name, " ")
		return name + "\x00"
	}
	name, rest, _ := strings.Cut(line, "{")
	return name + "\x01" + rest
}

func resLabels(s attribute.Set) string {
	var parts []string
	for it := s.Iter(); it.Next(); {
		kv := it.Attribute()
		parts = append(parts, fmt.Sprintf("%s=%q", kv.Key, kv.Value.String()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// resAllMetrics are the names of the series this part of the package emits.
var resAllMetrics = []string{
	breaker.MetricFallbacks, breaker.MetricHealthUp, breaker.MetricHealthDuration,
	breaker.MetricRetryQueueDepth, breaker.MetricRetryItems,
}

func resTrim(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return strings.Join(out, "\n")
}

func resDiff(t testing.TB, got, want string) {
	t.Helper()
	got, want = resTrim(got), resTrim(want)
	if got != want {
		t.Errorf("series differ\n--- got\n%s\n--- want\n%s", got, want)
	}
}
