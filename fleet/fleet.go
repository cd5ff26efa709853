package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// Defaults applied to zero fields of Options.
const (
	DefaultKeyPrefix       = "breakerwatch:"
	DefaultPublishInterval = 100 * time.Millisecond
	DefaultHeartbeat       = time.Second
	// StaleHeartbeats: a replica whose last heartbeat (or evidence) is older
	// than this many heartbeats has left the fleet.
	StaleHeartbeats = 3
)

// Options configures a Fleet. Only URL is required.
type Options struct {
	// URL is the Redis server: redis://[user:password@]host:port[/db] or
	// rediss:// for TLS. Required.
	URL string
	// KeyPrefix is put before every key and the channel, so fleets can share
	// a Redis. Default DefaultKeyPrefix.
	KeyPrefix string
	// Instance names this replica in the fleet; unique per process. Default
	// host name + "-" + pid.
	Instance string
	// PublishInterval is how often the replica publishes its evidence and
	// reconciles with the others' (and at once on a state change or a
	// message). Default DefaultPublishInterval.
	PublishInterval time.Duration
	// Heartbeat is how often the replica says it is alive; a replica silent
	// for StaleHeartbeats heartbeats drops out of the evidence. Default
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// Logger receives connectivity changes and fleet decisions. Default
	// slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the fleet gauges (fleetnames). Nil: no metrics.
	MeterProvider metric.MeterProvider
}

// FieldError is one problem that Validate finds: Field is the field's key
// in a configuration file (redis, publish_interval, heartbeat, instance)
// and Msg what is wrong with its value.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate returns every problem with o, each a *FieldError naming its
// field (joined with errors.Join when there are several).
func (o Options) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if o.URL == "" {
		add("redis", "required (a redis:// URL)")
	} else if _, err := redis.ParseURL(o.URL); err != nil {
		add("redis", "%s", redactErr(o.URL, err))
	}
	if o.PublishInterval < 0 {
		add("publish_interval", "%v is negative", o.PublishInterval)
	}
	if o.Heartbeat < 0 {
		add("heartbeat", "%v is negative", o.Heartbeat)
	}
	d := o.withDefaults()
	if o.PublishInterval >= 0 && o.Heartbeat >= 0 && d.Heartbeat < d.PublishInterval {
		add("heartbeat", "%v is shorter than publish_interval %v", d.Heartbeat, d.PublishInterval)
	}
	if d.PublishInterval > 0 && d.PublishInterval < 10*time.Millisecond {
		add("publish_interval", "%v is under the minimum of 10ms", d.PublishInterval)
	}
	if len(o.Instance) > 128 {
		add("instance", "longer than 128 characters")
	}
	return errors.Join(errs...)
}

// redactErr describes a bad URL without repeating it: it may hold a
// password. go-redis's message for an empty scheme ends in a space, which
// it trims.
func redactErr(raw string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a valid URL: " + ue.Err.Error()
	}
	return strings.TrimSpace(err.Error())
}

// quietRedis routes go-redis's own log lines (one per failed dial, many a
// second while Redis is down) to slog.Default at debug level: the fleet logs
// connectivity changes itself. go-redis's logger is process-wide.
type quietRedis struct{}

func (quietRedis) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelDebug, "go-redis: "+fmt.Sprintf(format, v...))
}

var quietOnce sync.Once

func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Instance == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		o.Instance = host + "-" + strconv.Itoa(os.Getpid())
	}
	if o.PublishInterval == 0 {
		o.PublishInterval = DefaultPublishInterval
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Fleet joins a process's breakers to the fleet of replicas that share a
// Redis. Create it with New, pass OnStateChange to the registry
// (breaker.WithStateListener), then Start it. Calls never wait for it.
type Fleet struct {
	o      Options
	rdb    *redis.Client
	reg    *breaker.Registry
	nudge  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	connected atomic.Bool
	members   atomic.Int64

	// opMu serialises syncs and overrides (they both read and write
	// Redis and the tracks); mu guards tracks, view and alive for readers
	// that must not wait for Redis (Status, the gauges). Writers hold both.
	opMu     sync.Mutex
	lastBeat time.Time
	garbled  map[string]string // under opMu

	mu     sync.Mutex
	tracks map[string]*track
	view   map[string]breakerView
	alive  []string

	gauges metric.Registration
	ins    *instruments
}

// track is what the loop remembers about one breaker between syncs.
type track struct {
	epoch   int64     // the last fleet open decision applied (0: none)
	prober  bool      // this replica owns the probe for epoch
	hold    time.Time // the open-until applied locally
	resetID string    // the last reset override seen
	seenRst bool      // resetID was read at least once
	mode    string    // the mode override applied, as stored ("" none)
	promote string    // the promotion override seen, as stored ("" none)
	// open is the fleet open decision the local state was set from, as
	// parsed when applied; nil when the local state is the replica's own
	// (none applied yet, or it was closed, reset or forgotten since).
	open *openRecord
	// b is the breaker all this was applied to: a configuration reload
	// may replace it with a new one of the same name.
	b *breaker.Breaker
}

// overrides is t without the open decision: the overrides seen, which a
// reset, a lost connection or a restarted state machine keep.
func (t *track) overrides() track {
	return track{resetID: t.resetID, seenRst: t.seenRst, mode: t.mode, promote: t.promote, b: t.b}
}

// New checks o and returns a Fleet; it does not connect yet.
func New(o Options) (*Fleet, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	o = o.withDefaults()
	quietOnce.Do(func() { redis.SetLogger(quietRedis{}) })
	ro, _ := redis.ParseURL(o.URL)
	// Short timeouts: the loop, never a call, waits for Redis, and a
	// Redis that does not answer must read as down quickly.
	ro.DialTimeout = max(500*time.Millisecond, 5*o.PublishInterval)
	ro.ReadTimeout = ro.DialTimeout
	ro.WriteTimeout = ro.DialTimeout
	ro.MaxRetries = -1
	ro.PoolSize = 4
	ro.ClientName = "breakerwatch:" + o.Instance
	f := &Fleet{
		o:      o,
		rdb:    redis.NewClient(ro),
		nudge:  make(chan struct{}, 1),
		tracks: map[string]*track{},
		view:   map[string]breakerView{},
	}
	if o.MeterProvider != nil {
		if err := f.initMetrics(o.MeterProvider); err != nil {
			_ = f.rdb.Close()
			return nil, err
		}
	}
	return f, nil
}

// Instance is this replica's name in the fleet.
func (f *Fleet) Instance() string { return f.o.Instance }

// Connected reports whether the last exchange with Redis succeeded.
func (f *Fleet) Connected() bool { return f.connected.Load() }

// OnStateChange is a breaker.WithStateListener listener: a state change
// makes the loop publish at once. It never blocks.
func (f *Fleet) OnStateChange(breaker.StateChange) { f.poke() }

func (f *Fleet) poke() {
	select {
	case f.nudge <- struct{}{}:
	default:
	}
}

// Start joins the fleet with reg's breakers: one synchronous sync (bounded
// by a second, so overrides apply before the caller starts serving), then
// the background loop until ctx is done or Close. A Redis that is down is
// not an error: the breakers decide locally until it answers.
func (f *Fleet) Start(ctx context.Context, reg *breaker.Registry) error {
	if reg == nil {
		return errors.New("fleet: Start needs a registry")
	}
	if f.closed.Load() {
		return errors.New("fleet: closed")
	}
	f.reg = reg
	ctx, f.cancel = context.WithCancel(ctx)
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	f.sync(sctx, time.Now())
	cancel()
	f.wg.Add(2)
	go f.loop(ctx)
	go f.subscribe(ctx)
	return nil
}

// Close leaves the fleet (its evidence and heartbeat are removed when Redis
// answers) and stops the loop.
func (f *Fleet) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	if f.reg != nil && f.connected.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		pipe := f.rdb.Pipeline()
		pipe.ZRem(ctx, f.key("members"), f.o.Instance)
		for _, b := range f.reg.List() {
			pipe.HDel(ctx, f.key("ev:"+b.Name()), f.o.Instance)
		}
		_, _ = pipe.Exec(ctx)
		cancel()
	}
	var err error
	if f.gauges != nil {
		err = f.gauges.Unregister()
	}
	return errors.Join(err, f.rdb.Close())
}

func (f *Fleet) key(k string) string { return f.o.KeyPrefix + k }

func (f *Fleet) loop(ctx context.Context) {
	defer f.wg.Done()
	t := time.NewTicker(f.o.PublishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.nudge:
		}
		sctx, cancel := context.WithTimeout(ctx, max(time.Second, 5*f.o.PublishInterval))
		f.sync(sctx, time.Now())
		cancel()
	}
}

// subscribe turns messages on the events channel into immediate syncs.
// go-redis resubscribes by itself after Redis comes back.
func (f *Fleet) subscribe(ctx context.Context) {
	defer f.wg.Done()
	ps := f.rdb.Subscribe(ctx, f.key("events"))
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelSize(16))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Payload != f.o.Instance {
				f.poke()
			}
		}
	}
}

// publish tells the other replicas to sync now.
func (f *Fleet) publish(ctx context.Context) {
	_ = f.rdb.Publish(ctx, f.key("events"), f.o.Instance).Err()
}

// setConnected records the outcome of an exchange with Redis, logging
// changes.
func (f *Fleet) setConnected(ok bool, err error) {
	was := f.connected.Swap(ok)
	switch {
	case was && !ok:
		f.o.Logger.Warn("fleet: redis unavailable; breakers decide locally until it answers",
			slog.String("instance", f.o.Instance), slog.String("error", err.Error()))
		f.mu.Lock()
		for name, t := range f.tracks {
			// Local decisions from now on; a decision still in Redis is
			// applied again on reconnection.
			nt := t.overrides()
			f.tracks[name] = &nt
		}
		f.mu.Unlock()
	case !was && ok:
		f.o.Logger.Info("fleet: connected to redis; pooling evidence", slog.String("instance", f.o.Instance))
	case !ok && err != nil && f.o.Logger.Enabled(context.Background(), slog.LevelDebug):
		f.o.Logger.Debug("fleet: redis still unavailable", slog.String("error", err.Error()))
	}
}
