package exporter

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// liveRow is one breaker as the status page shows it. Rows are compared
// with same to find the ones that changed.
type liveRow struct {
	Name  string        `json:"name"`
	State breaker.State `json:"state"`
	Mode  breaker.Mode  `json:"mode"`
	// ModeSource, Promoted and SettingsSource are /status's.
	ModeSource     string    `json:"mode_source"`
	Promoted       string    `json:"promoted,omitempty"`
	SettingsSource string    `json:"settings_source"`
	Since          time.Time `json:"since"`
	ErrorRate      float64   `json:"error_rate"`
	P50            float64   `json:"p50_ms"`
	P95            float64   `json:"p95_ms"`
	P99            float64   `json:"p99_ms"`
	WindowCalls    uint64    `json:"window_calls"`
	Window         string    `json:"window"`
	CallsPerSec    float64   `json:"calls_per_sec"`
	Rejected       uint64    `json:"rejected"`
	WouldReject    uint64    `json:"would_reject"`
	Health         rowHealth `json:"health"`
	// Fleet is the fleet's view of the breaker; only in fleet mode.
	Fleet *FleetBreaker `json:"fleet,omitempty"`
}

// same reports whether two rows show the same.
func (r liveRow) same(o liveRow) bool {
	rf, of := r.Fleet, o.Fleet
	r.Fleet, o.Fleet = nil, nil
	return r == o && rf.equal(of)
}

// rowHealth is the latest health check of a breaker; Status is "none"
// without a check (or before its first result), else "healthy" or
// "failing".
type rowHealth struct {
	Status    string `json:"status"`
	Error     string `json:"error,omitempty"`
	CheckedAt string `json:"checked_at,omitempty"` // RFC 3339
}

// Events of the stream.
type (
	snapshotEvent struct {
		ServerTime       time.Time `json:"server_time"`
		TokenRequired    bool      `json:"token_required"`
		SampleIntervalMS int64     `json:"sample_interval_ms"`
		HistoryLimit     int       `json:"history_limit"`
		Routes           []Route   `json:"routes"`
		Breakers         []liveRow `json:"breakers"`
		// FleetInstance is this replica's name in the fleet; only in
		// fleet mode.
		FleetInstance string `json:"fleet_instance,omitempty"`
	}
	updateEvent struct {
		ServerTime  time.Time    `json:"server_time"`
		Breakers    []liveRow    `json:"breakers"`
		Transitions []namedEntry `json:"transitions"`
	}
	sampleEvent struct {
		At int64 `json:"at"`
		// Samples maps a breaker's name to [error rate, p95 ms, calls/s].
		Samples map[string][3]float64 `json:"samples"`
	}
)

// hub fans the breakers' changes out to the clients of the events stream.
// One goroutine (loop) runs while at least one client is connected; it
// wakes every Coalesce, builds at most one update and one sample message
// and queues them to every client without blocking: a client whose queue
// is full is dropped.
type hub struct {
	a    *admin
	live *Live
	opts LiveOptions

	mu       sync.Mutex
	clients  map[*client]struct{}
	stop     chan struct{} // closes to stop the running loop; nil when none
	done     chan struct{} // closed when that loop has returned
	rows     map[string]liveRow
	lastSeq  uint64 // of the last history entry sent
	lastFull time.Time
	sample   uint64 // sequence of the last sample sent
}

type client struct {
	ch   chan []byte
	gone chan struct{} // closed when the hub drops the client
}

func newHub(a *admin, live *Live) *hub {
	return &hub{a: a, live: live, opts: live.opts, clients: map[*client]struct{}{}}
}

// rowsWith reads every breaker, with the rates of latest (Live.latest).
func (h *hub) rowsWith(latest map[string][3]float64) []liveRow {
	snaps := h.a.reg.Snapshots()
	checks := map[string]HealthResult{}
	for _, c := range h.a.checks() {
		checks[c.Name] = c
	}
	var fleet map[string]FleetBreaker
	if h.a.fleet != nil {
		fleet = h.a.fleet.Breakers()
	}
	rows := make([]liveRow, len(snaps))
	for i, s := range snaps {
		r := liveRow{
			Name: s.Name, State: s.State, Mode: s.Mode, ModeSource: s.ModeSource, Since: s.Since,
			ErrorRate: round(s.Window.ErrorRate, 1e4), P50: round(s.Window.P50, 100), P95: round(s.Window.P95, 100), P99: round(s.Window.P99, 100),
			WindowCalls: s.Window.Successes + s.Window.Failures, Window: s.Settings.Window,
			CallsPerSec: -1, Rejected: s.Counts.Rejected, WouldReject: s.Counts.WouldReject,
			Health: rowHealth{Status: "none"}, Promoted: s.Promoted, SettingsSource: s.SettingsSource,
		}
		if p, ok := latest[s.Name]; ok {
			r.CallsPerSec = p[2]
		}
		if fb, ok := fleet[s.Name]; ok {
			r.Fleet = &fb
		}
		if c, ok := checks[s.Name]; ok {
			r.Health = rowHealth{Status: "healthy", CheckedAt: c.CheckedAt.UTC().Format(time.RFC3339Nano)}
			if !c.Healthy {
				r.Health.Status, r.Health.Error = "failing", c.Error
			}
		}
		rows[i] = r
	}
	return rows
}

// round rounds v to 1/per: rows change only by what the page shows.
func round(v, per float64) float64 { return math.Round(v*per) / per }

// subscribe adds a client and returns it with the snapshot message to send
// first; later messages are relative to that snapshot.
func (h *hub) subscribe() (*client, []byte) {
	c := &client{ch: make(chan []byte, h.opts.ClientBuffer), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop == nil {
		// No loop: start from the current state.
		h.rows = map[string]liveRow{}
		latest, sample, _ := h.live.latest()
		for _, r := range h.rowsWith(latest) {
			h.rows[r.Name] = r
		}
		h.lastSeq = h.live.lastSeq()
		h.sample = sample
		h.lastFull = time.Now()
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go h.loop(h.stop, h.done)
	}
	h.clients[c] = struct{}{}
	snap := snapshotEvent{
		ServerTime: time.Now().UTC(), TokenRequired: h.a.auth.hasToken,
		SampleIntervalMS: h.opts.SampleInterval.Milliseconds(), HistoryLimit: h.opts.History,
		Routes: h.opts.Routes, Breakers: make([]liveRow, 0, len(h.rows)),
	}
	if snap.Routes == nil {
		snap.Routes = []Route{}
	}
	if h.a.fleet != nil {
		snap.FleetInstance = h.a.fleet.Instance()
	}
	for _, b := range h.a.reg.List() {
		if r, ok := h.rows[b.Name()]; ok {
			snap.Breakers = append(snap.Breakers, r)
		}
	}
	return c, sseMessage("snapshot", snap)
}

// unsubscribe removes a client; the last one out stops the loop and waits
// for it.
func (h *hub) unsubscribe(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	var stop, done chan struct{}
	if len(h.clients) == 0 && h.stop != nil {
		stop, done = h.stop, h.done
		h.stop, h.done = nil, nil
	}
	h.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (h *hub) loop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(h.opts.Coalesce)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.tick(now, stop)
		}
	}
}

// tick sends what changed since the previous one.
func (h *hub) tick(now time.Time, stop chan struct{}) {
	h.mu.Lock()
	if h.stop != stop { // a newer loop owns the state
		h.mu.Unlock()
		return
	}
	lastSeq, lastFull, lastSample := h.lastSeq, h.lastFull, h.sample
	h.mu.Unlock()

	var msgs [][]byte
	// One copy of the latest samples per tick, for the rows' rates and the
	// sample message both.
	latest, sample, at := h.live.latest()
	entries, seq := h.live.since(lastSeq)
	if seq != lastSeq || now.Sub(lastFull) >= h.opts.Refresh {
		rows := h.rowsWith(latest)
		h.mu.Lock()
		if h.stop != stop {
			h.mu.Unlock()
			return
		}
		var changed []liveRow
		for _, r := range rows {
			if old, ok := h.rows[r.Name]; !ok || !old.same(r) {
				h.rows[r.Name] = r
				changed = append(changed, r)
			}
		}
		h.lastSeq, h.lastFull = seq, now
		h.mu.Unlock()
		if len(changed) > 0 || len(entries) > 0 {
			if changed == nil {
				changed = []liveRow{}
			}
			if entries == nil {
				entries = []namedEntry{}
			}
			msgs = append(msgs, sseMessage("update", updateEvent{ServerTime: now.UTC(), Breakers: changed, Transitions: entries}))
		}
	}
	if sample != lastSample {
		msgs = append(msgs, sseMessage("sample", sampleEvent{At: at, Samples: latest}))
		h.mu.Lock()
		h.sample = sample
		h.mu.Unlock()
	}
	if len(msgs) > 0 {
		h.broadcast(msgs, stop)
	}
}

// broadcast queues msgs to every client; a client without room for them
// is dropped.
func (h *hub) broadcast(msgs [][]byte, stop chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != stop {
		return
	}
	for c := range h.clients {
		if cap(c.ch)-len(c.ch) < len(msgs) {
			delete(h.clients, c)
			close(c.gone)
			continue
		}
		for _, m := range msgs {
			c.ch <- m
		}
	}
}

// sseMessage encodes one server-sent event.
func sseMessage(event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil { // our own types: cannot happen
		data = []byte(`{}`)
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(event) + 16)
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\ndata: ")
	b.Write(data) // JSON has no raw newlines
	b.WriteString("\n\n")
	return b.Bytes()
}

// events serves GET /events: a text/event-stream of a snapshot, then
// updates, samples and heartbeats, until the client goes away, falls too
// far behind, or a write times out.
func (a *admin) events(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	rc := http.NewResponseController(w)
	// The stream outlives the per-request deadlines of the admin API:
	// bound each write instead, and never the read side (the server reads
	// nothing more, but a read deadline would cancel the request).
	_ = rc.SetReadDeadline(time.Time{})
	h := a.hub
	c, snap := h.subscribe()
	defer h.unsubscribe(c)

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout)); err != nil {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// Browsers reconnect after retry milliseconds.
	if !write([]byte("retry: 2000\n\n")) || !write(snap) {
		return
	}
	beat := time.NewTicker(h.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return
		case <-h.live.closed:
			return
		case m := <-c.ch:
			if !write(m) {
				return
			}
		case <-beat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		}
	}
}

// readNamed serves GET /history and /series: every breaker, or the one
// named by ?name=.
func (a *admin) readNamed(w http.ResponseWriter, r *http.Request, fn func(names []string) any) {
	a.read(w, r, func() (int, any) {
		names, status, msg := namesOf(a.reg, r.URL.Query())
		if status != 0 {
			return status, errorBody{Error: msg}
		}
		return http.StatusOK, fn(names)
	})
}

// liveDisabled answers the live endpoints when AdminOptions.Live is nil.
func liveDisabled(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such path: "+clip(r.URL.Path)+
		" (the live status endpoints need AdminOptions.Live)")
}

// serveLive routes the status page's endpoints.
func (a *admin) serveLive(w http.ResponseWriter, r *http.Request, path string) {
	if a.live == nil {
		liveDisabled(w, r)
		return
	}
	switch path {
	case "history":
		a.readNamed(w, r, func(names []string) any { return a.live.historyOf(names) })
	case "series":
		a.readNamed(w, r, func(names []string) any { return a.live.seriesOf(names) })
	default:
		a.events(w, r)
	}
}

// modeReason is the history's reason for a mode change made by r.
func modeReason(r *http.Request, auth authorizer) string {
	who, _, _ := auth.authorize(r)
	return "set through the admin API (" + who + " client " + clip(r.RemoteAddr) + ")"
}
