package exporter

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Defaults of LiveOptions.
const (
	DefaultHistory        = 32
	DefaultSampleInterval = 2 * time.Second
	DefaultSamples        = 150 // five minutes at DefaultSampleInterval
	DefaultCoalesce       = 500 * time.Millisecond
	DefaultRefresh        = time.Second
	DefaultHeartbeat      = 15 * time.Second
	DefaultClientBuffer   = 64
	DefaultWriteTimeout   = 10 * time.Second
)

// LiveOptions configures NewLive. The zero value is usable: every default
// is given below and applied by NewLive.
type LiveOptions struct {
	// History is how many transitions are kept per breaker; the oldest is
	// dropped first. Default DefaultHistory (32).
	History int
	// SampleInterval is how often Run samples every breaker's window for
	// the recent series. Default DefaultSampleInterval (2s).
	SampleInterval time.Duration
	// Samples is how many samples are kept per breaker. Default
	// DefaultSamples (150: five minutes at 2s).
	Samples int
	// Coalesce is the shortest time between two updates of the events
	// stream: transitions within it go out together. Default
	// DefaultCoalesce (500ms).
	Coalesce time.Duration
	// Refresh is how often the events stream re-reads every breaker's
	// window and sends the rows that changed, when no transition prompted
	// it sooner. Default DefaultRefresh (1s).
	Refresh time.Duration
	// Heartbeat is how often an idle events stream sends a comment line,
	// so proxies and browsers keep it open. Default DefaultHeartbeat (15s).
	Heartbeat time.Duration
	// ClientBuffer is how many messages may wait for one events client; a
	// client that falls that far behind is disconnected (its browser
	// reconnects and starts from a fresh snapshot). Default
	// DefaultClientBuffer (64).
	ClientBuffer int
	// WriteTimeout bounds each write to an events client. Default
	// DefaultWriteTimeout (10s).
	WriteTimeout time.Duration
	// Routes are the routes in front of the breakers, listed on the
	// status page; optional.
	Routes []Route
}

// Route is a route of the gateway as the status page shows it.
type Route struct {
	// Prefix is the path prefix the route serves, e.g. "/chat/".
	Prefix string `json:"prefix"`
	// Breakers are the route's breakers in the order they are tried: the
	// primary first, then its fallbacks.
	Breakers []string `json:"breakers"`
}

func (o LiveOptions) withDefaults() LiveOptions {
	orDefault(&o.History, DefaultHistory)
	orDefault(&o.SampleInterval, DefaultSampleInterval)
	orDefault(&o.Samples, DefaultSamples)
	orDefault(&o.Coalesce, DefaultCoalesce)
	orDefault(&o.Refresh, DefaultRefresh)
	orDefault(&o.Heartbeat, DefaultHeartbeat)
	orDefault(&o.ClientBuffer, DefaultClientBuffer)
	orDefault(&o.WriteTimeout, DefaultWriteTimeout)
	return o
}

// orDefault replaces a zero or negative *v with d.
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Live keeps what the status page shows beyond a breaker's current state:
// a bounded history of transitions per breaker and a bounded series of
// recent samples (error rate, p95 latency, calls per second). Give its
// Record to the registry as a state listener, run Run in the background,
// and pass it to NewAdmin as AdminOptions.Live: the admin API then serves
// /history, /series and the /events stream.
//
// Memory is bounded by the number of breakers: History entries and Samples
// samples each.
type Live struct {
	opts LiveOptions

	mu   sync.Mutex
	seq  uint64 // of the last history entry
	hist map[string]*history

	// Samples: a ring of times shared by every breaker's ring.
	at        []int64 // unix milliseconds
	head      int     // index of the next sample
	n         int     // samples held
	sampleSeq uint64
	series    map[string]*series

	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

type history struct {
	ring    []HistoryEntry
	head, n int
	dropped uint64
}

type series struct {
	errorRate, p95, rate []float32 // aligned with Live.at; NaN before the breaker was seen
	total                uint64    // calls offered at the previous sample
	seen                 bool
}

// HistoryEntry is one transition in a breaker's history: a state change
// (Kind "state", From and To are states) or a mode change made through the
// admin API (Kind "mode", From and To are modes).
type HistoryEntry struct {
	// Seq orders entries across every breaker; it starts at 1.
	Seq  uint64    `json:"seq"`
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	From string    `json:"from"`
	To   string    `json:"to"`
	// Mode is the breaker's mode after the change.
	Mode   breaker.Mode `json:"mode"`
	Reason string       `json:"reason"`
	// ErrorRate is the window's error rate at the change.
	ErrorRate float64 `json:"error_rate"`
}

// Kinds of HistoryEntry.
const (
	KindState = "state"
	KindMode  = "mode"
)

// NewLive returns an empty Live with opts' defaults applied.
func NewLive(opts LiveOptions) *Live {
	opts = opts.withDefaults()
	return &Live{
		opts:   opts,
		hist:   map[string]*history{},
		at:     make([]int64, opts.Samples),
		series: map[string]*series{},
		closed: make(chan struct{}),
	}
}

// Close ends every events stream and Run. A server's Shutdown waits for
// open connections to go idle, which an events stream never does: call
// Close first, e.g. with http.Server.RegisterOnShutdown(live.Close).
// History and series stay readable.
func (l *Live) Close() {
	l.closeOnce.Do(func() { close(l.closed) })
}

// Options returns the options with defaults applied.
func (l *Live) Options() LiveOptions { return l.opts }

// Record adds a state change to its breaker's history. Pass it to the
// registry: breaker.WithStateListener(live.Record).
func (l *Live) Record(sc breaker.StateChange) {
	l.add(sc.Name, HistoryEntry{
		At: sc.At.UTC(), Kind: KindState, From: sc.From.String(), To: sc.To.String(),
		Mode: sc.Mode, Reason: sc.Reason, ErrorRate: sc.Window.ErrorRate,
	})
}

// recordMode adds a mode change to the breaker's history.
func (l *Live) recordMode(name string, from, to breaker.Mode, reason string, rate float64) {
	l.add(name, HistoryEntry{
		At: time.Now().UTC(), Kind: KindMode, From: from.String(), To: to.String(),
		Mode: to, Reason: reason, ErrorRate: rate,
	})
}

func (l *Live) add(name string, e HistoryEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hist[name]
	if h == nil {
		h = &history{ring: make([]HistoryEntry, l.opts.History)}
		l.hist[name] = h
	}
	l.seq++
	e.Seq = l.seq
	if h.n == len(h.ring) {
		h.dropped++
	} else {
		h.n++
	}
	h.ring[h.head] = e
	h.head = (h.head + 1) % len(h.ring)
}

// entries returns a breaker's history, oldest first, with Seq > after.
// l.mu must be held.
func (h *history) entries(after uint64) []HistoryEntry {
	out := []HistoryEntry{}
	if h == nil {
		return out
	}
	start := (h.head - h.n + len(h.ring)) % len(h.ring)
	for i := range h.n {
		if e := h.ring[(start+i)%len(h.ring)]; e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// History returns the named breaker's transitions, oldest first, and how
// many older ones were dropped to keep within LiveOptions.History.
func (l *Live) History(name string) (entries []HistoryEntry, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hist[name]
	if h == nil {
		return []HistoryEntry{}, 0
	}
	return h.entries(0), h.dropped
}

// lastSeq returns the Seq of the latest history entry.
func (l *Live) lastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// since returns every entry with Seq > after, with its breaker, and the
// Seq of the latest entry.
func (l *Live) since(after uint64) (entries []namedEntry, last uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seq == after {
		return nil, l.seq
	}
	for name, h := range l.hist {
		for _, e := range h.entries(after) {
			entries = append(entries, namedEntry{Name: name, HistoryEntry: e})
		}
	}
	return entries, l.seq
}

// namedEntry is a history entry with its breaker, as the events stream
// sends it.
type namedEntry struct {
	Name string `json:"name"`
	HistoryEntry
}

// Run samples reg every SampleInterval until ctx is done or Close is
// called.
func (l *Live) Run(ctx context.Context, reg *breaker.Registry) {
	t := time.NewTicker(l.opts.SampleInterval)
	defer t.Stop()
	l.Sample(reg, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.closed:
			return
		case now := <-t.C:
			l.Sample(reg, now)
		}
	}
}

// Sample takes one sample of every breaker of reg at now: its window's
// error rate and p95 latency, and the calls per second offered to it (ran
// or rejected) since the previous sample. Run calls it; it is exported for
// callers that drive their own schedule.
func (l *Live) Sample(reg *breaker.Registry, now time.Time) {
	snaps := reg.Snapshots()
	l.mu.Lock()
	defer l.mu.Unlock()
	var dt float64
	if l.n > 0 {
		prev := l.at[(l.head-1+len(l.at))%len(l.at)]
		dt = float64(now.UnixMilli()-prev) / 1000
	}
	i := l.head
	l.at[i] = now.UnixMilli()
	l.head = (l.head + 1) % len(l.at)
	if l.n < len(l.at) {
		l.n++
	}
	l.sampleSeq++
	for _, s := range snaps {
		ser := l.series[s.Name]
		if ser == nil {
			ser = &series{
				errorRate: nans(len(l.at)), p95: nans(len(l.at)), rate: nans(len(l.at)),
			}
			l.series[s.Name] = ser
		}
		total := s.Counts.Success + s.Counts.Failure + s.Counts.Ignored + s.Counts.Rejected
		rate := float32(math.NaN())
		if ser.seen && dt > 0 {
			rate = float32(float64(total-ser.total) / dt)
		}
		ser.total, ser.seen = total, true
		ser.errorRate[i] = float32(s.Window.ErrorRate)
		ser.p95[i] = float32(s.Window.P95)
		ser.rate[i] = rate
	}
}

func nans(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// latest returns each breaker's latest sample as [error rate, p95 ms,
// calls/s] (the shape of the events stream's sample message, so that a
// tick copies the samples once, here, and both its rows and its message
// use that copy), and the sample's sequence number and time.
func (l *Live) latest() (map[string][3]float64, uint64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil, 0, 0
	}
	i := (l.head - 1 + len(l.at)) % len(l.at)
	out := make(map[string][3]float64, len(l.series))
	for name, s := range l.series {
		out[name] = [3]float64{f64(s.errorRate[i]), f64(s.p95[i]), f64(s.rate[i])}
	}
	return out, l.sampleSeq, l.at[i]
}

// f64 widens a sample, rounded to what the page shows, with NaN as -1
// (JSON has no NaN; the page treats negatives as missing).
func f64(v float32) float64 {
	if v != v {
		return -1
	}
	return math.Round(float64(v)*1000) / 1000
}

// seriesBody is the response of GET /series.
type seriesBody struct {
	IntervalMS int64          `json:"interval_ms"`
	Limit      int            `json:"limit"`
	At         []int64        `json:"at"`
	Breakers   []seriesValues `json:"breakers"`
}

type seriesValues struct {
	Name        string    `json:"name"`
	ErrorRate   []float64 `json:"error_rate"`
	P95         []float64 `json:"p95_ms"`
	CallsPerSec []float64 `json:"calls_per_sec"`
}

// seriesOf returns the samples of the named breakers, oldest first.
func (l *Live) seriesOf(names []string) seriesBody {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := seriesBody{
		IntervalMS: l.opts.SampleInterval.Milliseconds(), Limit: len(l.at),
		At: make([]int64, l.n), Breakers: make([]seriesValues, 0, len(names)),
	}
	start := (l.head - l.n + len(l.at)) % len(l.at)
	idx := func(k int) int { return (start + k) % len(l.at) }
	for k := range l.n {
		out.At[k] = l.at[idx(k)]
	}
	col := func(src []float32) []float64 {
		dst := make([]float64, l.n)
		for k := range dst {
			dst[k] = f64(src[idx(k)])
		}
		return dst
	}
	for _, name := range names {
		s := l.series[name]
		if s == nil {
			s = &series{errorRate: nans(len(l.at)), p95: nans(len(l.at)), rate: nans(len(l.at))}
		}
		out.Breakers = append(out.Breakers, seriesValues{
			Name: name, ErrorRate: col(s.errorRate), P95: col(s.p95), CallsPerSec: col(s.rate),
		})
	}
	return out
}

// historyBody is the response of GET /history.
type historyBody struct {
	Limit    int              `json:"limit"`
	Breakers []breakerHistory `json:"breakers"`
}

type breakerHistory struct {
	Name        string         `json:"name"`
	Dropped     uint64         `json:"dropped"`
	Transitions []HistoryEntry `json:"transitions"`
}

func (l *Live) historyOf(names []string) historyBody {
	out := historyBody{Limit: l.opts.History, Breakers: make([]breakerHistory, 0, len(names))}
	for _, name := range names {
		e, d := l.History(name)
		out.Breakers = append(out.Breakers, breakerHistory{Name: name, Dropped: d, Transitions: e})
	}
	return out
}

// namesOf returns the breakers a read of /history or /series asks for: the
// one named by ?name= (404 if unknown), else all of them.
func namesOf(reg *breaker.Registry, q map[string][]string) ([]string, int, string) {
	if v, ok := q["name"]; ok {
		if len(v) != 1 {
			return nil, http.StatusBadRequest, "give at most one name parameter"
		}
		if _, ok := reg.Get(v[0]); !ok {
			return nil, http.StatusNotFound, fmt.Sprintf("%v: %q", breaker.ErrNotFound, clip(v[0]))
		}
		return v, 0, ""
	}
	list := reg.List()
	names := make([]string, len(list))
	for i, b := range list {
		names[i] = b.Name()
	}
	return names, 0, ""
}
