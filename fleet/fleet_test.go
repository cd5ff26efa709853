package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// After failed dials go-redis retries in a goroutine that notices the
	// pool's Close only when its 1s sleep ends: not a leak, but it can
	// outlive the last test.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

var errDown = errors.New("upstream down")

func fail(context.Context) error    { return errDown }
func succeed(context.Context) error { return nil }

// replica is one simulated gateway process: a registry and its fleet.
type replica struct {
	name   string
	reg    *breaker.Registry
	fleet  *fleet.Fleet
	b      *breaker.Breaker
	srv    *redistest.Server
	prefix string
}

const interval = 20 * time.Millisecond

func startReplica(t *testing.T, srv *redistest.Server, name, prefix string, cfg breaker.Config) *replica {
	t.Helper()
	f, err := fleet.New(fleet.Options{
		URL: srv.URL(), KeyPrefix: prefix, Instance: name, PublishInterval: interval, Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()), breaker.WithStateListener(f.OnStateChange))
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.Register(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, reg: reg, fleet: f, b: b, srv: srv, prefix: prefix}
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	_ = r.fleet.Close()
	_ = r.reg.Close()
}

func startFleet(t *testing.T, srv *redistest.Server, cfg breaker.Config) []*replica {
	t.Helper()
	prefix := fmt.Sprintf("test-%s:", t.Name())
	rs := make([]*replica, 3)
	for i := range rs {
		rs[i] = startReplica(t, srv, fmt.Sprintf("r%d", i+1), prefix, cfg)
	}
	// Every replica sees the three members before the test starts.
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" sees 3 members", 10*time.Second, func() bool { return len(r.fleet.Status().Members) == 3 })
	}
	return rs
}

// waitSynced waits until every replica has published evidence at least
// twice after now, so decisions based on the current counts are made: a
// replica publishes its evidence (with the time, "at") at every sync, and
// reads everyone's in the same round trip.
func waitSynced(t *testing.T, rs []*replica) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: rs[0].srv.Addr()})
	defer rdb.Close()
	for range 2 {
		since := time.Now().UnixMilli()
		testutil.WaitFor(t, "every replica to publish its evidence again", 10*time.Second, func() bool {
			for _, r := range rs {
				raw, err := rdb.HGet(context.Background(), r.prefix+"ev:"+r.b.Name(), r.name).Result()
				var ev struct {
					At int64 `json:"at"`
				}
				if err != nil || json.Unmarshal([]byte(raw), &ev) != nil || ev.At <= since {
					return false
				}
			}
			return true
		})
	}
}

// tripFleet makes n failures round-robin over the replicas, two publish
// intervals apart, and waits until every replica is open.
func tripFleet(t *testing.T, rs []*replica, n int) {
	t.Helper()
	for i := range n {
		_ = rs[i%len(rs)].b.Execute(context.Background(), fail)
		time.Sleep(2 * interval)
	}
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" open", 10*time.Second, func() bool { return r.b.State() == breaker.StateOpen })
	}
}

// fleetDecision waits until r's status shows the fleet's open decision (it
// is updated at the end of a sync, just after the breaker's state) and
// returns it.
func fleetDecision(t *testing.T, r *replica) fleet.BreakerStatus {
	t.Helper()
	var st fleet.BreakerStatus
	testutil.WaitFor(t, r.name+"'s status to show the fleet's decision", 10*time.Second, func() bool {
		bs := r.fleet.Status().Breakers
		if len(bs) == 0 || !bs[0].FleetOpen {
			return false
		}
		st = bs[0]
		return true
	})
	return st
}

func TestPooledConsecutiveFailuresOpenEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "llm", FailureThreshold: 5, Timeout: time.Minute}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	for _, r := range rs {
		_ = r.b.Execute(ctx, succeed)
	}
	// Five failures spread round-robin: no replica has more than two.
	tripFleet(t, rs, 5)
	until := rs[0].b.Evidence().OpenUntil
	for _, r := range rs {
		e := r.b.Evidence()
		if e.State != breaker.StateOpen {
			t.Errorf("%s: %v", r.name, e.State)
		}
		if d := e.OpenUntil.Sub(until); d < -time.Minute || d > 2*time.Second {
			t.Errorf("%s open until %v, first replica %v", r.name, e.OpenUntil, until)
		}
		err := r.b.Execute(ctx, func(context.Context) error { t.Errorf("%s ran a call while the fleet is open", r.name); return nil })
		if !errors.Is(err, breaker.ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", r.name, err)
		}
	}
	// Every replica reports the fleet decision and the three open replicas.
	testutil.WaitFor(t, "status shows 3 open replicas", 10*time.Second, func() bool {
		st := rs[1].fleet.Status()
		return len(st.Breakers) == 1 && st.Breakers[0].FleetOpen && len(st.Breakers[0].OpenReplicas) == 3
	})
	for _, rep := range rs[1].fleet.Status().Breakers[0].Replicas {
		if rep.Decision != fleet.DecisionFleet {
			t.Errorf("replica %+v: want decision fleet", rep)
		}
	}
}

func TestNoPoisoning(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 5, Timeout: time.Minute}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	// r3's own path is broken; r1 and r2 keep succeeding in between.
	for range 4 {
		_ = rs[2].b.Execute(ctx, fail)
		time.Sleep(interval)
		_ = rs[0].b.Execute(ctx, succeed)
		_ = rs[1].b.Execute(ctx, succeed)
		time.Sleep(interval)
	}
	// One transient failure on r1: with r3's four that makes five
	// failures in the fleet, but r3's were contradicted by r1's and r2's
	// successes, so they do not count toward the fleet's run.
	_ = rs[0].b.Execute(ctx, fail)
	waitSynced(t, rs)
	waitSynced(t, rs)
	for _, r := range rs {
		if s := r.b.State(); s != breaker.StateClosed {
			t.Fatalf("%s: %v after r3's contradicted failures and one of r1's, want closed", r.name, s)
		}
	}
	_ = rs[2].b.Execute(ctx, fail)
	if s := rs[2].b.State(); s != breaker.StateOpen {
		t.Fatalf("r3 after 5 failures of its own: %v, want open (local evidence)", s)
	}
	testutil.WaitFor(t, "r1 sees r3 open", 10*time.Second, func() bool {
		st := rs[0].fleet.Status()
		return len(st.Breakers) == 1 && len(st.Breakers[0].OpenReplicas) == 1
	})
	waitSynced(t, rs)
	for _, r := range rs[:2] {
		if s := r.b.State(); s != breaker.StateClosed {
			t.Errorf("%s: %v, want closed: r3 alone must not open the fleet", r.name, s)
		}
	}
	st := rs[0].fleet.Status().Breakers[0]
	if st.FleetOpen || len(st.OpenReplicas) != 1 || st.OpenReplicas[0] != "r3" {
		t.Errorf("status %+v, want only r3 open, no fleet decision", st)
	}
	for _, rep := range st.Replicas {
		if rep.Instance == "r3" && rep.Decision != fleet.DecisionLocal {
			t.Errorf("r3 decision %q, want local", rep.Decision)
		}
	}
}

func TestOneProbePerFleet(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = time.Second
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: timeout, HalfOpenRequests: 1}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	tripFleet(t, rs, 3)
	// After the open period, call every replica round after round: the
	// first call to reach the upstream (which still fails) is the fleet's
	// probe; it opens the fleet again for a timeout, so no other call
	// reaches the upstream in that half-open cycle. The check needs rounds
	// of calls inside the cycle: at least minRounds begun after the probe,
	// and for half a timeout. A machine that stalls past the cycle leaves
	// too few; then the next cycle's probe (the first call to reach the
	// upstream after the cycle) starts the check again, for up to
	// maxCycles cycles, after which the test says it could not check
	// rather than pass on the probe alone.
	const minRounds, maxCycles = 5, 3
	// The fleet's open-until (a replica that does not probe holds longer).
	first := fleetDecision(t, rs[0])
	time.Sleep(time.Until(*first.OpenUntil))
	var (
		probeAt time.Time // the probe of the cycle being checked; zero before the first
		cycle   []string  // the replicas whose calls reached the upstream in it
		rounds  int       // the rounds begun after probeAt and ended inside its cycle
		cycles  int       // the cycles begun
	)
	start := time.Now()
	for probeAt.IsZero() || rounds < minRounds || time.Since(probeAt) < timeout/2 {
		if probeAt.IsZero() && time.Since(start) > 10*time.Second {
			t.Fatal("no probe reached the upstream within 10s of the open period's end")
		}
		if cycles > maxCycles {
			t.Skipf("the machine stalled through %d half-open cycles (fewer than %d rounds of calls inside each): one probe per cycle not checked", maxCycles, minRounds)
		}
		began := time.Now()
		for _, r := range rs {
			_ = r.b.Execute(ctx, func(context.Context) error {
				at := time.Now()
				if probeAt.IsZero() || !at.Before(probeAt.Add(timeout)) {
					probeAt, cycle, rounds = at, nil, 0 // a new cycle's probe
					cycles++
				}
				cycle = append(cycle, r.name)
				return errDown
			})
		}
		if len(cycle) > 1 {
			t.Fatalf("%d probes reached the upstream during one half-open cycle (from %v), want 1 for the fleet", len(cycle), cycle)
		}
		if !probeAt.IsZero() && began.After(probeAt) && time.Now().Before(probeAt.Add(timeout)) {
			rounds++
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The failed probe re-opened the fleet: every replica applies a later
	// decision.
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" to apply the fleet's next decision", 10*time.Second, func() bool {
			bs := r.fleet.Status().Breakers
			return len(bs) == 1 && bs[0].FleetOpen && bs[0].Epoch > first.Epoch
		})
	}
	// Next cycle: the probe succeeds and closes every replica.
	ok := func(context.Context) error { return nil }
	testutil.WaitFor(t, "the fleet closes after a successful probe", 20*time.Second, func() bool {
		for _, r := range rs {
			_ = r.b.Execute(ctx, ok)
		}
		time.Sleep(5 * time.Millisecond)
		for _, r := range rs {
			if r.b.State() != breaker.StateClosed {
				return false
			}
		}
		return true
	})
}

// Regression: a prober whose claim lapsed while its loop stalled (a GC
// pause, a starved goroutine) and was taken by another replica kept
// renewing that replica's claim as if it were its own, and probed too.
// Here the claim is handed to a replica outside the test, as a takeover
// would: the prober must step down, and no replica of the test probes.
func TestProberWhoseClaimLapsedStepsDown(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 2 * time.Second
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: timeout, HalfOpenRequests: 1}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	tripFleet(t, rs, 3)
	st := fleetDecision(t, rs[0])
	until := *st.OpenUntil
	prefix := fmt.Sprintf("test-%s:", t.Name())
	probeKey := fmt.Sprintf("%sprobe:api:%d", prefix, st.Epoch)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	var prober *replica
	testutil.WaitFor(t, "a replica to claim the probe", 10*time.Second, func() bool {
		owner, _ := rdb.Get(ctx, probeKey).Result()
		for _, r := range rs {
			if r.name == owner {
				prober = r
			}
		}
		return prober != nil
	})
	if err := rdb.Set(ctx, probeKey, "elsewhere", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	// The prober's next sync finds the claim is not its own and holds on
	// past the open period, like the others.
	testutil.WaitFor(t, prober.name+" to step down", 10*time.Second, func() bool {
		e := prober.b.Evidence()
		return e.State == breaker.StateOpen && e.OpenUntil.After(until)
	})
	if owner, _ := rdb.Get(ctx, probeKey).Result(); owner != "elsewhere" {
		t.Errorf("the claim belongs to %q after the step-down, want elsewhere's", owner)
	}
	if ttl := rdb.PTTL(ctx, probeKey).Val(); ttl < 50*time.Second {
		t.Errorf("elsewhere's claim expires in %v, not in about a minute: %s renewed it as its own", ttl, prober.name)
	}
	// "elsewhere" probes: no replica here does, even past the open period.
	time.Sleep(time.Until(until))
	// For a quarter of a timeout and at least five rounds: a stalled
	// machine must not end the loop before any call (elsewhere's claim
	// lasts a minute, so every round here checks the same thing).
	probes := map[string]int{}
	deadline := time.Now().Add(timeout / 4)
	for n := 0; n < 5 || time.Now().Before(deadline); n++ {
		for _, r := range rs {
			_ = r.b.Execute(ctx, func(context.Context) error { probes[r.name]++; return errDown })
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(probes) != 0 {
		t.Errorf("probes %v while another replica owns the probe, want none", probes)
	}
}

func TestModeOverrideSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", Mode: breaker.ModeMonitor}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	if err := rs[0].fleet.SetMode(ctx, "api", breaker.ModeEnforce, "alice"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" enforce", 5*time.Second, func() bool { return r.b.Mode() == breaker.ModeEnforce })
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("override took %v to reach every replica, want within 1s", d)
	}
	if src := rs[2].b.ModeSource(); src == breaker.ModeSourceConfig || src == "" {
		t.Errorf("source %q, want the override's", src)
	}
	// A new process starts with the override applied before it serves.
	prefix := fmt.Sprintf("test-%s:", t.Name())
	fresh := startReplica(t, srv, "r4", prefix, cfg)
	if m := fresh.b.Mode(); m != breaker.ModeEnforce {
		t.Errorf("restarted replica: %v, want the override enforce", m)
	}
	if err := rs[1].fleet.ClearMode(ctx, "api", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, r := range append(rs, fresh) {
		testutil.WaitFor(t, r.name+" back to monitor", 5*time.Second, func() bool {
			return r.b.Mode() == breaker.ModeMonitor && r.b.ModeSource() == breaker.ModeSourceConfig
		})
	}
	if err := rs[0].fleet.SetMode(ctx, "nope", breaker.ModeEnforce, "x"); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("unknown breaker: %v", err)
	}
}

func TestResetReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: time.Minute}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	tripFleet(t, rs, 3)
	if err := rs[1].fleet.Reset(ctx, "api", "carol"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" closed", 5*time.Second, func() bool { return r.b.State() == breaker.StateClosed })
	}
	waitSynced(t, rs)
	for _, r := range rs {
		if s := r.b.State(); s != breaker.StateClosed {
			t.Errorf("%s reopened after the reset: %v", r.name, s)
		}
	}
}

func TestRedisDownDecidesLocallyAndResyncs(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: time.Minute}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	srv.Stop()
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" disconnected", 10*time.Second, func() bool { return !r.fleet.Connected() })
	}
	// Calls neither fail nor wait because of Redis.
	start := time.Now()
	for range 100 {
		if err := rs[0].b.Execute(ctx, succeed); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("100 calls took %v with Redis down", d)
	}
	// Local breaking still works.
	for range 3 {
		_ = rs[1].b.Execute(ctx, fail)
	}
	if s := rs[1].b.State(); s != breaker.StateOpen {
		t.Errorf("local trip with Redis down: %v", s)
	}
	if st := rs[0].fleet.Status(); st.Connected {
		t.Error("status says connected")
	}
	srv.Restart()
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" reconnected", 15*time.Second, func() bool {
			return r.fleet.Connected() && len(r.fleet.Status().Members) == 3
		})
	}
	// Pooled decisions resume.
	_ = rs[1].b.Apply(breaker.StateClosed, time.Time{}, "test")
	for _, r := range rs {
		_ = r.b.Execute(ctx, succeed)
	}
	tripFleet(t, rs, 3)
}

func TestGarbageIsIgnored(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: time.Minute, Mode: breaker.ModeMonitor}
	rs := startFleet(t, srv, cfg)
	prefix := fmt.Sprintf("test-%s:", t.Name())
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	now := time.Now().UnixMilli()
	for k, v := range map[string]string{
		"open:api":  `{"v":1,"epoch":"x"}`,
		"mode:api":  `{"v":1,"mode":"sideways","by":"eve","at":"2026-01-01T00:00:00Z"}`,
		"reset:api": `not json`,
	} {
		if err := rdb.Set(ctx, prefix+k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Fake replicas claiming many failures: from the future, with counts that
	// do not add up, and a stale record.
	must(t, rdb.ZAdd(ctx, prefix+"members", redis.Z{Score: float64(now + 60_000), Member: "evil"}).Err())
	must(t, rdb.HSet(ctx, prefix+"ev:api", "evil", fmt.Sprintf(`{"v":1,"at":%d,"mode":"enforce","state":"closed","req":99,"ok":0,"fail":99,"consec":99,"streak":%d}`, now+60_000, now+60_000)).Err())
	must(t, rdb.ZAdd(ctx, prefix+"members", redis.Z{Score: float64(now), Member: "liar"}).Err())
	must(t, rdb.HSet(ctx, prefix+"ev:api", "liar", fmt.Sprintf(`{"v":1,"at":%d,"mode":"enforce","state":"closed","req":1,"ok":0,"fail":1,"consec":99}`, now)).Err())
	must(t, rdb.HSet(ctx, prefix+"ev:api", "ghost", fmt.Sprintf(`{"v":1,"at":%d,"mode":"enforce","state":"closed","req":99,"ok":0,"fail":99,"consec":99}`, now-60_000)).Err())
	waitSynced(t, rs)
	waitSynced(t, rs)
	for _, r := range rs {
		if r.b.State() != breaker.StateClosed || r.b.Mode() != breaker.ModeMonitor {
			t.Errorf("%s: %v %v: garbage was trusted", r.name, r.b.State(), r.b.Mode())
		}
	}
	// Without a decision in the way, the evidence from the future is still
	// not trusted.
	must(t, rdb.Del(ctx, prefix+"open:api").Err())
	must(t, rdb.HDel(ctx, prefix+"ev:api", "liar", "ghost").Err())
	waitSynced(t, rs)
	waitSynced(t, rs)
	for _, r := range rs {
		if r.b.State() != breaker.StateClosed {
			t.Errorf("%s: %v: evidence from the future was trusted", r.name, r.b.State())
		}
	}
	// Real pooled evidence still opens the fleet: a garbled decision is
	// replaced, not obeyed and not in the way.
	must(t, rdb.HDel(ctx, prefix+"ev:api", "evil").Err())
	must(t, rdb.Set(ctx, prefix+"open:api", "garbage", 0).Err())
	for _, r := range rs {
		_ = r.b.Execute(ctx, succeed)
	}
	tripFleet(t, rs, 3)
}

func TestOverridesWithRedisDownApplyHereOnly(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", Mode: breaker.ModeMonitor, FailureThreshold: 1, Timeout: time.Minute}
	rs := startFleet(t, srv, cfg)
	srv.Stop()
	ctx := context.Background()
	err := rs[0].fleet.SetMode(ctx, "api", breaker.ModeEnforce, "dave")
	if !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("SetMode with Redis down: %v, want ErrUnavailable", err)
	}
	if rs[0].b.Mode() != breaker.ModeEnforce || rs[0].b.ModeSource() != breaker.ModeSourceRuntime {
		t.Errorf("here: %v from %q, want enforce from runtime (not a recorded override)", rs[0].b.Mode(), rs[0].b.ModeSource())
	}
	_ = rs[1].b.Execute(ctx, fail)
	if err := rs[1].fleet.Reset(ctx, "api", "dave"); !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("Reset with Redis down: %v", err)
	}
	if rs[1].b.State() != breaker.StateClosed {
		t.Errorf("Reset with Redis down did not reset this replica: %v", rs[1].b.State())
	}
	if err := rs[2].fleet.ResetAll(ctx, "dave"); !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("ResetAll with Redis down: %v", err)
	}
}

// Proof 6 in one process (run with -race): traffic with transitions,
// overrides and resets from every replica, and Redis stopping and starting,
// all at once; afterwards every goroutine ends (TestMain's goleak).
func TestChaosUnderRace(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 3, Timeout: 50 * time.Millisecond, Mode: breaker.ModeEnforce}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls atomic.Int64
	for i, r := range rs {
		wg.Add(1)
		go func(i int, r *replica) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				fn := succeed
				if (n/20+i)%3 == 0 { // bursts of failures, staggered per replica
					fn = fail
				}
				_ = r.b.Execute(ctx, fn)
				calls.Add(1)
				time.Sleep(time.Millisecond)
			}
		}(i, r)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		modes := []breaker.Mode{breaker.ModeMonitor, breaker.ModeEnforce, breaker.ModeDisabled}
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			r := rs[n%3]
			switch n % 4 {
			case 0:
				_ = r.fleet.SetMode(ctx, "api", modes[n%3], "chaos")
			case 1:
				_ = r.fleet.Reset(ctx, "api", "chaos")
			case 2:
				_ = r.fleet.ClearMode(ctx, "api", "chaos")
			case 3:
				_ = r.fleet.ResetAll(ctx, "chaos")
			}
			_ = r.fleet.Status()
			time.Sleep(15 * time.Millisecond)
		}
	}()
	for range 2 {
		time.Sleep(400 * time.Millisecond)
		srv.Stop()
		time.Sleep(300 * time.Millisecond)
		srv.Restart()
	}
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" reconnected", 15*time.Second, func() bool { return r.fleet.Connected() })
	}
	// The fleet still works: clear the override, then a pooled decision
	// opens every replica.
	if err := rs[0].fleet.ClearMode(ctx, "api", "test"); err != nil {
		t.Fatal(err)
	}
	if err := rs[0].fleet.ResetAll(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" enforce and closed", 10*time.Second, func() bool {
			return r.b.Mode() == breaker.ModeEnforce && r.b.State() == breaker.StateClosed
		})
	}
	t.Logf("%d calls during chaos", calls.Load())
}

// Monitor mode pools exactly like enforce: the fleet's decision opens every
// replica's virtual state machine, and the calls it would reject still run
// and count as would-reject.
func TestMonitorModePoolsLikeEnforce(t *testing.T) {
	srv := redistest.Start(t)
	cfg := breaker.Config{Name: "api", FailureThreshold: 5, Timeout: time.Minute, Mode: breaker.ModeMonitor}
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	for _, r := range rs {
		_ = r.b.Execute(ctx, succeed)
	}
	tripFleet(t, rs, 5) // no replica has more than two failures of its own
	for _, r := range rs {
		ran := false
		if err := r.b.Execute(ctx, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
			t.Errorf("%s: monitor mode rejected a call (ran %v, err %v)", r.name, ran, err)
		}
		if n := r.b.Snapshot().Counts.WouldReject; n != 1 {
			t.Errorf("%s: would_reject %d, want 1", r.name, n)
		}
	}
}

// must fails the test on a setup step's error: a fixture that Redis did not
// take would let a test pass on nothing.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
