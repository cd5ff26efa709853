package exporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

func hubFixture(t *testing.T, opts LiveOptions) (*breaker.Registry, *Live, *admin) {
	t.Helper()
	live := NewLive(opts)
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()), breaker.WithStateListener(live.Record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg, live, NewAdmin(reg, AdminOptions{Live: live}).(*admin)
}

func (h *hub) running() (clients int, loop bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients), h.stop != nil
}

// A client that does not read is dropped once ClientBuffer messages wait
// for it: the hub never blocks on it and its memory stays bounded. The last
// client out stops the hub's goroutine.
func TestHubDropsSlowClient(t *testing.T) {
	reg, live, a := hubFixture(t, LiveOptions{ClientBuffer: 2, Coalesce: 5 * time.Millisecond})
	if _, err := reg.Register(breaker.Config{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	h := a.hub
	slow, _ := h.subscribe()
	reader, _ := h.subscribe()
	got := 0
	// Each sample makes one message; the slow client never reads.
	for i := 0; ; i++ {
		live.Sample(reg, time.Now())
		select {
		case <-reader.ch:
			got++
		case <-time.After(10 * time.Second):
			t.Fatal("the reading client got no message")
		}
		select {
		case <-slow.gone:
		default:
			if i > 100 {
				t.Fatalf("the slow client was not dropped after %d messages (buffer 2)", i)
			}
			continue
		}
		break
	}
	if n := len(slow.ch); n > 2 {
		t.Errorf("the slow client holds %d messages, over its buffer of 2", n)
	}
	if c, loop := h.running(); c != 1 || !loop {
		t.Errorf("after the drop: %d clients, loop %v; want 1, true", c, loop)
	}
	h.unsubscribe(slow) // what its handler does when it sees gone: harmless
	h.unsubscribe(reader)
	if c, loop := h.running(); c != 0 || loop {
		t.Errorf("after the last client left: %d clients, loop %v", c, loop)
	}
}

// A browser that goes away ends its handler and, being the last client, the
// hub's goroutine (TestMain's goleak checks nothing is left).
func TestEventsClientGoesAway(t *testing.T) {
	reg, _, a := hubFixture(t, LiveOptions{Coalesce: 5 * time.Millisecond})
	if _, err := reg.Register(breaker.Config{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+AdminPathPrefix+"events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the client to be subscribed", 10*time.Second, func() bool { c, _ := a.hub.running(); return c == 1 })
	cancel()
	resp.Body.Close()
	testutil.WaitFor(t, "the hub to stop", 10*time.Second, func() bool { c, loop := a.hub.running(); return c == 0 && !loop })
}

// Close ends the open streams (a server's Shutdown waits for them) and the
// hub's goroutine with them.
func TestLiveCloseEndsStreams(t *testing.T) {
	reg, live, a := hubFixture(t, LiveOptions{})
	if _, err := reg.Register(breaker.Config{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + AdminPathPrefix + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testutil.WaitFor(t, "the client to be subscribed", 10*time.Second, func() bool { c, _ := a.hub.running(); return c == 1 })
	live.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("reading to the end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end within 10s of Close")
	}
	testutil.WaitFor(t, "the hub to stop", 10*time.Second, func() bool { c, loop := a.hub.running(); return c == 0 && !loop })
}

// The server's cost of the status page per refresh (every second while a
// page is open) and per sample (every 2s, always), for 1,000 breakers.
func BenchmarkLive1000(b *testing.B) {
	live := NewLive(LiveOptions{})
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()), breaker.WithStateListener(live.Record))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	for i := range 1000 {
		br, err := reg.Register(breaker.Config{Name: fmt.Sprintf("b%04d", i)})
		if err != nil {
			b.Fatal(err)
		}
		for range 20 {
			_ = br.Execute(context.Background(), func(context.Context) error { return nil })
		}
	}
	a := NewAdmin(reg, AdminOptions{Live: live}).(*admin)
	live.Sample(reg, time.Now())
	b.Run("rows", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			latest, _, _ := a.hub.live.latest()
			a.hub.rowsWith(latest)
		}
	})
	b.Run("sample", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		for b.Loop() {
			now = now.Add(2 * time.Second)
			live.Sample(reg, now)
		}
	})
}
