package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// 200 concurrent 1 MiB bodies on a route with fallbacks: the replay
// buffers never hold more than max_replay_memory (50 MiB here), the
// requests beyond it go through without replay, are counted and logged,
// and every request is served. The upstream answers none until all 200
// have reached it, so they are all in flight at once: exactly 50 fit.
func TestReplayMemoryBounded(t *testing.T) {
	const (
		n     = 200
		size  = 1 << 20
		limit = 50 << 20
	)
	var arrived atomic.Int32
	all := make(chan struct{})
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(2 * time.Minute):
		}
		got, _ := io.Copy(io.Discard, r.Body)
		if got != size {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(primary.Close)
	fallback := &recorder{name: "fallback"}
	fbSrv := httptest.NewServer(fallback)
	t.Cleanup(fbSrv.Close)

	metrics, err := exporter.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metrics.Shutdown(context.Background()) })
	reg, err := metrics.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, name := range []string{"p", "f"} {
		if _, err := reg.Register(breaker.Config{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	pu, _ := url.Parse(primary.URL)
	fu, _ := url.Parse(fbSrv.URL)
	rc := config.Route{Prefix: "/chat/", Upstream: pu, Breaker: "p", Timeout: 2 * time.Minute,
		MaxReplayBody: 2 * size, Fallbacks: []config.Fallback{{Upstream: fu, Breaker: "f"}}}
	var logs testutil.SyncBuffer
	front, g := serveGateway(t, reg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		MaxReplayMemory: limit, MeterProvider: metrics.MeterProvider()}, nil, rc)

	body := bytes.Repeat([]byte("x"), size)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range n {
		wg.Go(func() {
			resp, err := client.Post(front.URL+"/chat/upload", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d requests failed", f, n)
	}
	if peak := g.replay.peak.Load(); peak > limit || peak < limit-size {
		t.Errorf("replay buffers peaked at %d bytes; want at most max_replay_memory %d (and the budget used)", peak, limit)
	}
	if u := g.replay.used.Load(); u != 0 {
		t.Errorf("%d bytes still reserved after every request finished", u)
	}
	skipped, _ := testutil.Counter(t, metrics.Gatherer(), breaker.MetricReplaySkipped, map[string]string{breaker.LabelName: "p"})
	if want := float64(n - limit/size); skipped != want {
		t.Errorf("%s = %v, want %v", breaker.MetricReplaySkipped, skipped, want)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("request body not buffered for replay")) {
		t.Error("skipped replays are not logged")
	}
	if fallback.hits.Load() != 0 {
		t.Errorf("the fallback was called %d times", fallback.hits.Load())
	}
}
