package breaker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Option configures a Registry.
type Option func(*options)

type options struct {
	mp        metric.MeterProvider
	listeners []func(StateChange)
}

// WithMeterProvider sets the MeterProvider the registry's instruments are
// created on. Default: the global one (otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.mp = mp }
}

// WithStateListener adds a listener called after every state change of every
// breaker in the registry, outside any lock, in order per breaker.
func WithStateListener(fn func(StateChange)) Option {
	return func(o *options) {
		if fn != nil {
			o.listeners = append(o.listeners, fn)
		}
	}
}

// Registry holds a process's breakers by name and reports their metrics. The
// exporter, the admin API and the gateway read it.
type Registry struct {
	opts options

	// Registering n breakers costs O(n log n) in all: Register adds to a map
	// and to a list of breakers not yet in sorted; the first list after
	// registrations sorts those and merges them into a new sorted slice.
	mu       sync.RWMutex
	byName   map[string]*Breaker        // guarded by mu
	unsorted []*Breaker                 // registered since sorted was built; guarded by mu
	dirty    atomic.Bool                // unsorted is not empty
	sorted   atomic.Pointer[[]*Breaker] // by name; never modified once stored
	closed   atomic.Bool

	metrics *instruments
	res     resilience // chains, health checks, retry queues (otel_resilience.go)
	cands   candidateInstruments
}

// NewRegistry returns an empty registry whose instruments are created, once,
// on the configured MeterProvider.
func NewRegistry(opts ...Option) (*Registry, error) {
	r := &Registry{}
	for _, o := range opts {
		o(&r.opts)
	}
	if r.opts.mp == nil {
		r.opts.mp = otel.GetMeterProvider()
	}
	empty := []*Breaker{}
	r.sorted.Store(&empty)
	r.byName = map[string]*Breaker{}
	ins, err := newInstruments(r)
	if err != nil {
		return nil, fmt.Errorf("breaker: creating instruments: %w", err)
	}
	r.metrics = ins
	if err := r.res.init(r); err != nil {
		_ = ins.close()
		return nil, fmt.Errorf("breaker: creating instruments: %w", err)
	}
	if err := r.cands.init(r); err != nil {
		_ = errors.Join(ins.close(), r.res.close())
		return nil, fmt.Errorf("breaker: creating instruments: %w", err)
	}
	return r, nil
}

// Register validates cfg, applies its defaults and adds a breaker. It fails
// for an invalid config or a name already registered.
func (r *Registry) Register(cfg Config) (*Breaker, error) {
	return r.put(cfg, false)
}

// Replace swaps the registered breaker of cfg.Name for a new one built from
// cfg: closed, with fresh counts and window, and cumulative counters from
// zero (Prometheus sees a counter reset). Callers that hold the old
// *Breaker (chains, health checks) keep using it until they look the name
// up again. It fails for an invalid config or an unknown name (ErrNotFound).
func (r *Registry) Replace(cfg Config) (*Breaker, error) {
	return r.put(cfg, true)
}

// put registers a breaker for cfg: a new name, or with replace the
// replacement of a registered one.
func (r *Registry) put(cfg Config, replace bool) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker %q: %w", cfg.Name, err)
	}
	if r.closed.Load() {
		return nil, errors.New("breaker: registry is closed")
	}
	cfg = cfg.withDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, exists := r.byName[cfg.Name]
	switch {
	case exists && !replace:
		return nil, fmt.Errorf("breaker %q: name: already registered", cfg.Name)
	case !exists && replace:
		return nil, fmt.Errorf("%w: %q", ErrNotFound, cfg.Name)
	}
	b := newBreaker(r, cfg)
	r.byName[cfg.Name] = b
	if !replace {
		r.unsorted = append(r.unsorted, b)
		r.dirty.Store(true)
		return b, nil
	}
	// The replaced breaker is in unsorted (modified under mu) or in sorted
	// (never modified once stored: a copy takes its place).
	if i := slices.Index(r.unsorted, prev); i >= 0 {
		r.unsorted[i] = b
	} else {
		list := slices.Clone(*r.sorted.Load())
		list[slices.Index(list, prev)] = b
		r.sorted.Store(&list)
	}
	prev.stop()
	return b, nil
}

// Get returns the breaker with that name.
func (r *Registry) Get(name string) (*Breaker, bool) {
	r.mu.RLock()
	b, ok := r.byName[name]
	r.mu.RUnlock()
	return b, ok
}

// List returns every breaker, sorted by name. The slice is the caller's.
func (r *Registry) List() []*Breaker {
	return append([]*Breaker(nil), r.list()...)
}

// list returns every breaker, sorted by name, in a slice nobody modifies.
func (r *Registry) list() []*Breaker {
	if !r.dirty.Load() {
		return *r.sorted.Load()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.unsorted) > 0 {
		slices.SortFunc(r.unsorted, func(a, b *Breaker) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
		old := *r.sorted.Load()
		merged := make([]*Breaker, 0, len(old)+len(r.unsorted))
		i, j := 0, 0
		for i < len(old) && j < len(r.unsorted) {
			if old[i].cfg.Name < r.unsorted[j].cfg.Name {
				merged = append(merged, old[i])
				i++
			} else {
				merged = append(merged, r.unsorted[j])
				j++
			}
		}
		merged = append(append(merged, old[i:]...), r.unsorted[j:]...)
		r.sorted.Store(&merged)
		r.unsorted = nil
		r.dirty.Store(false)
	}
	return *r.sorted.Load()
}

// Reset resets the named breaker; ErrNotFound for an unknown name.
func (r *Registry) Reset(name string) error {
	b, ok := r.Get(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	b.Reset()
	return nil
}

// ResetAll resets every breaker.
func (r *Registry) ResetAll() {
	for _, b := range r.list() {
		b.Reset()
	}
}

// SetMode switches the named breaker's mode; ErrNotFound for an unknown name.
func (r *Registry) SetMode(name string, m Mode) error {
	b, ok := r.Get(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return b.SetMode(m)
}

// SetConfiguredMode changes the configured mode of the named breaker (see
// Breaker.SetConfiguredMode) and reports whether its current mode was
// switched (false while an override is in force).
func (r *Registry) SetConfiguredMode(name string, m Mode) (bool, error) {
	b, ok := r.Get(name)
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return b.SetConfiguredMode(m)
}

// Snapshots returns a snapshot of every breaker, sorted by name.
func (r *Registry) Snapshots() []Snapshot {
	list := r.list()
	out := make([]Snapshot, len(list))
	for i, b := range list {
		out[i] = b.Snapshot()
	}
	return out
}

// Close unregisters the registry's metric callback and stops its timers.
// Breakers keep working but no longer report metrics or schedule timers.
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	for _, b := range r.list() {
		b.stop()
	}
	return errors.Join(r.metrics.close(), r.res.close(), r.cands.close())
}

func (r *Registry) notify(b *Breaker, ev StateChange) {
	if fn := b.cfg.OnStateChange; fn != nil {
		fn(ev)
	}
	for _, fn := range r.opts.listeners {
		fn(ev)
	}
}

// Settings is a breaker's configuration as the admin API shows it.
type Settings struct {
	FailureThreshold uint32  `json:"failure_threshold"`
	MinThroughput    uint32  `json:"min_throughput"`
	FailureRate      float64 `json:"failure_rate"`
	SlowCall         string  `json:"slow_call"`
	Timeout          string  `json:"timeout"`
	HalfOpenRequests uint32  `json:"half_open_requests"`
	Window           string  `json:"window"`
	Bucket           string  `json:"bucket"`
}

// Counts are a breaker's cumulative counts since it was registered; resets
// do not clear them.
type Counts struct {
	Success     uint64 `json:"success"`
	Failure     uint64 `json:"failure"`
	Rejected    uint64 `json:"rejected"`
	Ignored     uint64 `json:"ignored"`
	WouldReject uint64 `json:"would_reject"`
	Slow        uint64 `json:"slow"`
}

// Transition is a count of one kind of state change.
type Transition struct {
	From  State  `json:"from"`
	To    State  `json:"to"`
	Count uint64 `json:"count"`
}

// Snapshot is a point-in-time view of one breaker.
type Snapshot struct {
	Name string `json:"name"`
	Mode Mode   `json:"mode"`
	// ModeSource says where Mode comes from (Breaker.ModeSource).
	ModeSource string    `json:"mode_source"`
	State      State     `json:"state"`
	Since      time.Time `json:"since"`
	Settings   Settings  `json:"settings"`
	// Promoted names the candidate whose settings the breaker runs with
	// ("": its configured settings), and SettingsSource where they come
	// from, like ModeSource (Breaker.Promoted).
	Promoted       string       `json:"promoted,omitempty"`
	SettingsSource string       `json:"settings_source"`
	Counts         Counts       `json:"counts"`
	Window         WindowStats  `json:"window"`
	Transitions    []Transition `json:"transitions"`
}

// settingsOf is c's settings as the admin API shows them.
func settingsOf(c *Config) Settings {
	return Settings{
		FailureThreshold: c.FailureThreshold, MinThroughput: c.MinThroughput,
		FailureRate: c.FailureRate, SlowCall: c.SlowCall.String(), Timeout: c.Timeout.String(),
		HalfOpenRequests: c.HalfOpenRequests, Window: c.Window.String(), Bucket: c.Bucket.String(),
	}
}

// Snapshot returns the breaker's current state, settings and counts.
func (b *Breaker) Snapshot() Snapshot {
	now := time.Now()
	st := b.State()
	c := b.gen.Load().cfg
	s := Snapshot{
		Name:       c.Name,
		Mode:       b.Mode(),
		ModeSource: b.ModeSource(),
		State:      st,
		Since:      time.Unix(0, b.since.Load()).UTC(),
		Settings:   settingsOf(c),
		Counts: Counts{
			Success: b.calls[OutcomeSuccess].Load(), Failure: b.calls[OutcomeFailure].Load(),
			Rejected: b.calls[OutcomeRejected].Load(), Ignored: b.calls[OutcomeIgnored].Load(),
			WouldReject: b.wouldReject.Load(), Slow: b.slow.Load(),
		},
		Window:      b.gen.Load().win.stats(now),
		Transitions: []Transition{},
	}
	s.Promoted, s.SettingsSource = b.Promoted()
	for from := range b.transitions {
		for to := range b.transitions[from] {
			if n := b.transitions[from][to].Load(); n > 0 {
				s.Transitions = append(s.Transitions, Transition{From: State(from), To: State(to), Count: n})
			}
		}
	}
	return s
}
