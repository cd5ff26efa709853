package exporter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// liveFixture is a registry whose state changes feed live, and the admin
// API over both.
func liveFixture(t *testing.T, opts exporter.LiveOptions, admin exporter.AdminOptions) (*breaker.Registry, *exporter.Live, http.Handler) {
	t.Helper()
	live := exporter.NewLive(opts)
	m := newMetrics(t)
	reg, err := m.NewRegistry(breaker.WithStateListener(live.Record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	admin.Live = live
	return reg, live, exporter.NewAdmin(reg, admin)
}

type historyJSON struct {
	Limit    int `json:"limit"`
	Breakers []struct {
		Name        string `json:"name"`
		Dropped     uint64 `json:"dropped"`
		Transitions []struct {
			Seq    uint64 `json:"seq"`
			Kind   string `json:"kind"`
			From   string `json:"from"`
			To     string `json:"to"`
			Mode   string `json:"mode"`
			Reason string `json:"reason"`
		} `json:"transitions"`
	} `json:"breakers"`
}

func getHistory(t *testing.T, h http.Handler, query string) historyJSON {
	t.Helper()
	rec := direct(h, "GET", prefix+"history"+query, "", "198.51.100.7:1", "localhost")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET history%s: %d %s", query, rec.Code, rec.Body)
	}
	var v historyJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The history lists each breaker's transitions oldest first, with the
// reasons the breaker gave, the admin API's mode changes, and keeps only
// the last LiveOptions.History of them, counting the dropped ones.
func TestLiveHistory(t *testing.T) {
	reg, _, h := liveFixture(t, exporter.LiveOptions{History: 3}, exporter.AdminOptions{})
	db := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 2})
	register(t, reg, breaker.Config{Name: "idle"})

	run(db, 2, fail) // closed -> open
	if rec := direct(h, "POST", prefix+"reset/db", "", "127.0.0.1:1", "localhost"); rec.Code != 200 {
		t.Fatalf("reset: %d %s", rec.Code, rec.Body)
	}
	if rec := direct(h, "POST", prefix+"mode/db", `{"mode":"monitor"}`, "127.0.0.1:1", "localhost"); rec.Code != 200 {
		t.Fatalf("mode: %d %s", rec.Code, rec.Body)
	}
	got := getHistory(t, h, "")
	if got.Limit != 3 || len(got.Breakers) != 2 || got.Breakers[0].Name != "db" || got.Breakers[1].Name != "idle" {
		t.Fatalf("history: %+v", got)
	}
	if n := len(got.Breakers[1].Transitions); n != 0 {
		t.Errorf("idle has %d transitions", n)
	}
	tr := got.Breakers[0].Transitions
	want := []struct{ kind, from, to, reason string }{
		{"state", "closed", "open", "2 consecutive failures reached failure_threshold 2"},
		{"state", "open", "closed", "reset"},
		{"mode", "enforce", "monitor", "set through the admin API (loopback client 127.0.0.1:1)"},
	}
	if len(tr) != len(want) {
		t.Fatalf("db transitions: %+v", tr)
	}
	for i, w := range want {
		if e := tr[i]; e.Kind != w.kind || e.From != w.from || e.To != w.to || e.Reason != w.reason {
			t.Errorf("transition %d: %+v, want %+v", i, e, w)
		}
		if i > 0 && tr[i].Seq <= tr[i-1].Seq {
			t.Errorf("seq not increasing: %+v", tr)
		}
	}

	// Over the bound: the oldest go first.
	if err := reg.SetMode("db", breaker.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	run(db, 2, fail)
	got = getHistory(t, h, "?name=db")
	if len(got.Breakers) != 1 {
		t.Fatalf("?name=db: %+v", got)
	}
	b := got.Breakers[0]
	if len(b.Transitions) != 3 || b.Dropped != 1 || b.Transitions[2].To != "open" || b.Transitions[0].Reason != "reset" {
		t.Errorf("after a 4th transition: dropped %d, %+v", b.Dropped, b.Transitions)
	}
}

func TestLiveBadRequests(t *testing.T) {
	reg, _, h := liveFixture(t, exporter.LiveOptions{}, exporter.AdminOptions{})
	register(t, reg, breaker.Config{Name: "db"})
	for _, tc := range []struct {
		name, method, path string
		status             int
		msg                string
	}{
		{"unknown name", "GET", "history?name=nope", 404, `no such circuit breaker: "nope"`},
		{"two names", "GET", "series?name=db&name=db", 400, "give at most one name parameter"},
		{"post history", "POST", "history", 405, "method POST not allowed; use GET, HEAD"},
		{"post events", "POST", "events", 405, "method POST not allowed; use GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := direct(h, tc.method, prefix+tc.path, "", "127.0.0.1:1", "localhost")
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tc.status || body["error"] != tc.msg {
				t.Errorf("%d %s, want %d %q", rec.Code, rec.Body, tc.status, tc.msg)
			}
		})
	}
	// Without Live the endpoints do not exist.
	rec := direct(exporter.NewAdmin(reg, exporter.AdminOptions{}), "GET", prefix+"history", "", "127.0.0.1:1", "localhost")
	if rec.Code != http.StatusNotFound {
		t.Errorf("history without Live: %d %s", rec.Code, rec.Body)
	}
}

type seriesJSON struct {
	IntervalMS int64   `json:"interval_ms"`
	Limit      int     `json:"limit"`
	At         []int64 `json:"at"`
	Breakers   []struct {
		Name        string    `json:"name"`
		ErrorRate   []float64 `json:"error_rate"`
		P95         []float64 `json:"p95_ms"`
		CallsPerSec []float64 `json:"calls_per_sec"`
	} `json:"breakers"`
}

// Samples are taken at the times given; calls/s is the calls offered
// (ran or rejected) between two samples over the time between them; the
// ring keeps the last Samples, and a breaker registered later has -1
// (missing) before it was first sampled.
func TestLiveSeries(t *testing.T) {
	reg, live, h := liveFixture(t, exporter.LiveOptions{Samples: 3, SampleInterval: time.Second}, exporter.AdminOptions{})
	db := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 100})
	t0 := time.Unix(1_800_000_000, 0)
	live.Sample(reg, t0)
	run(db, 6, succeed)
	run(db, 2, fail)
	live.Sample(reg, t0.Add(2*time.Second))
	cache := register(t, reg, breaker.Config{Name: "cache"})
	live.Sample(reg, t0.Add(4*time.Second))
	run(cache, 3, succeed)
	live.Sample(reg, t0.Add(5*time.Second))

	rec := direct(h, "GET", prefix+"series", "", "198.51.100.7:1", "localhost")
	var got seriesJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if got.IntervalMS != 1000 || got.Limit != 3 || len(got.At) != 3 || got.At[0] != t0.Add(2*time.Second).UnixMilli() {
		t.Fatalf("series: %s", rec.Body)
	}
	byName := map[string]int{}
	for i, b := range got.Breakers {
		byName[b.Name] = i
	}
	d, c := got.Breakers[byName["db"]], got.Breakers[byName["cache"]]
	if want := []float64{4, 0, 0}; !slices.Equal(d.CallsPerSec, want) {
		t.Errorf("db calls/s %v, want %v", d.CallsPerSec, want)
	}
	if want := []float64{0.25, 0.25, 0.25}; !slices.Equal(d.ErrorRate, want) {
		t.Errorf("db error rate %v, want %v", d.ErrorRate, want)
	}
	if want := []float64{-1, -1, 3}; !slices.Equal(c.CallsPerSec, want) {
		t.Errorf("cache calls/s %v, want %v", c.CallsPerSec, want)
	}
	if want := []float64{-1, 0, 0}; !slices.Equal(c.ErrorRate, want) {
		t.Errorf("cache error rate %v, want %v", c.ErrorRate, want)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
}

// openEvents serves h and opens its events stream, closed when the test
// ends.
func openEvents(t *testing.T, h http.Handler) (*http.Response, <-chan sseEvent) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+prefix+"events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return resp, sseReader(resp)
}

// sseReader reads events from a stream; comments come as name ":".
func sseReader(resp *http.Response) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.name = ":"
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sseEvent, name string, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %q", name)
			}
			if ev.name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", name, within)
		}
	}
}

// The stream starts with a snapshot of every breaker, pushes a transition
// (the row and the history entry with its reason) coalesced into one
// update, pushes samples, and sends heartbeats while idle.
func TestLiveEvents(t *testing.T) {
	reg, live, h := liveFixture(t, exporter.LiveOptions{Coalesce: 10 * time.Millisecond, Heartbeat: 20 * time.Millisecond},
		exporter.AdminOptions{Token: "s3cret"})
	db := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 2})
	register(t, reg, breaker.Config{Name: "cache"})
	resp, evs := openEvents(t, h)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}

	var snap struct {
		TokenRequired bool `json:"token_required"`
		Breakers      []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"breakers"`
	}
	if err := json.Unmarshal([]byte(next(t, evs, "snapshot", 5*time.Second).data), &snap); err != nil {
		t.Fatal(err)
	}
	if !snap.TokenRequired || len(snap.Breakers) != 2 || snap.Breakers[0].Name != "cache" || snap.Breakers[1].State != "closed" {
		t.Fatalf("snapshot: %+v", snap)
	}

	run(db, 2, fail)
	var up struct {
		Breakers []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"breakers"`
		Transitions []struct {
			Name   string `json:"name"`
			To     string `json:"to"`
			Reason string `json:"reason"`
		} `json:"transitions"`
	}
	if err := json.Unmarshal([]byte(next(t, evs, "update", 5*time.Second).data), &up); err != nil {
		t.Fatal(err)
	}
	if len(up.Breakers) != 1 || up.Breakers[0].Name != "db" || up.Breakers[0].State != "open" ||
		len(up.Transitions) != 1 || up.Transitions[0].Reason != "2 consecutive failures reached failure_threshold 2" {
		t.Errorf("update: %+v", up)
	}
	live.Sample(reg, time.Now())
	var sample struct {
		Samples map[string][3]float64 `json:"samples"`
	}
	if err := json.Unmarshal([]byte(next(t, evs, "sample", 5*time.Second).data), &sample); err != nil {
		t.Fatal(err)
	}
	if s, ok := sample.Samples["db"]; !ok || s[0] != 1 {
		t.Errorf("sample: %+v", sample)
	}
	next(t, evs, ":", 5*time.Second) // heartbeat
}

// A server that bounds every request's read and write time (as the
// breakerwatch binary does for the admin API) does not cut the stream: the
// stream bounds each write instead.
func TestLiveEventsOutliveRequestDeadlines(t *testing.T) {
	reg, _, h := liveFixture(t, exporter.LiveOptions{Heartbeat: 20 * time.Millisecond}, exporter.AdminOptions{})
	register(t, reg, breaker.Config{Name: "db"})
	const deadline = 100 * time.Millisecond
	bounded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(deadline))
		_ = rc.SetWriteDeadline(time.Now().Add(deadline))
		h.ServeHTTP(w, r)
	})
	_, evs := openEvents(t, bounded)
	next(t, evs, "snapshot", 10*time.Second)
	start := time.Now()
	for time.Since(start) < 5*deadline {
		next(t, evs, ":", 10*time.Second)
	}
}
