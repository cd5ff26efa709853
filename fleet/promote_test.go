package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet"
	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func promotable() breaker.Config {
	return breaker.Config{Name: "api", Mode: breaker.ModeMonitor, FailureThreshold: 5, Timeout: time.Minute,
		Candidates: map[string]breaker.Candidate{"strict": {FailureThreshold: new(uint32(3))}}}
}

// A promotion follows the rules of a mode override: every replica applies
// it with who and when, a new process applies it at start-up, and clearing
// it puts every replica back on the configured settings.
func TestPromotionOverrideSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t)
	cfg := promotable()
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	p, err := rs[0].fleet.Promote(ctx, "api", "strict", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.From.FailureThreshold != 5 || p.To.FailureThreshold != 3 {
		t.Errorf("promotion %+v", p)
	}
	start := time.Now()
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" promoted", 5*time.Second, func() bool { return r.b.Config().FailureThreshold == 3 })
		cand, src := r.b.Promoted()
		if cand != "strict" || !strings.HasPrefix(src, "override by alice at ") {
			t.Errorf("%s: promoted %q from %q", r.name, cand, src)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the promotion took %v to reach every replica, want within 1s", d)
	}
	// A new process starts with the promotion applied before it serves.
	prefix := fmt.Sprintf("test-%s:", t.Name())
	fresh := startReplica(t, srv, "r4", prefix, cfg)
	if cand, src := fresh.b.Promoted(); cand != "strict" || fresh.b.Config().FailureThreshold != 3 || !strings.HasPrefix(src, "override by alice") {
		t.Errorf("new replica: promoted %q from %q, threshold %d", cand, src, fresh.b.Config().FailureThreshold)
	}
	if _, err := rs[1].fleet.ClearPromotion(ctx, "api", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, r := range append(rs, fresh) {
		testutil.WaitFor(t, r.name+" back to the configured settings", 5*time.Second, func() bool {
			cand, src := r.b.Promoted()
			return cand == "" && src == breaker.ModeSourceConfig && r.b.Config().FailureThreshold == 5
		})
	}
	if _, err := rs[0].fleet.Promote(ctx, "api", "nope", "x"); !errors.Is(err, breaker.ErrNoCandidate) {
		t.Errorf("unknown candidate: %v", err)
	}
	if _, err := rs[0].fleet.Promote(ctx, "nope", "strict", "x"); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("unknown breaker: %v", err)
	}
	// Nothing was written for the refused promotions.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if n, err := rdb.Exists(ctx, prefix+"promote:api").Result(); err != nil || n != 0 {
		t.Errorf("promote key after the refusals: %d %v", n, err)
	}
}

// A garbled promotion in Redis is ignored (counted, logged), and a
// candidate this replica does not have is not applied.
func TestPromotionGarbageIgnored(t *testing.T) {
	srv := redistest.Start(t)
	rs := startFleet(t, srv, promotable())
	ctx := context.Background()
	prefix := fmt.Sprintf("test-%s:", t.Name())
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	for _, v := range []string{`{not json`, `{"v":1,"by":"x","at":"2026-01-01T00:00:00Z"}`, `{"v":1,"candidate":"other","by":"x","at":"2026-01-01T00:00:00Z"}`} {
		if err := rdb.Set(ctx, prefix+"promote:api", v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		waitSynced(t, rs)
		for _, r := range rs {
			if cand, _ := r.b.Promoted(); cand != "" || r.b.Config().FailureThreshold != 5 {
				t.Errorf("%s applied %s: promoted %q", r.name, v, cand)
			}
		}
	}
}

// With Redis down a promotion applies to this replica only, like a mode
// change, and says so; when Redis answers again the replica goes back to
// the configured settings (nothing recorded it), as it does for modes.
func TestPromotionWithRedisDownAppliesHereOnly(t *testing.T) {
	srv := redistest.Start(t)
	rs := startFleet(t, srv, promotable())
	srv.Stop()
	ctx := context.Background()
	_, err := rs[0].fleet.Promote(ctx, "api", "strict", "dave")
	if !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("Promote with Redis down: %v, want ErrUnavailable", err)
	}
	if cand, src := rs[0].b.Promoted(); cand != "strict" || src != breaker.ModeSourceRuntime {
		t.Errorf("here: promoted %q from %q, want strict from runtime", cand, src)
	}
	srv.Restart()
	testutil.WaitFor(t, "r1 back to the configured settings", 10*time.Second, func() bool {
		cand, _ := rs[0].b.Promoted()
		return rs[0].fleet.Connected() && cand == "" && rs[0].b.Config().FailureThreshold == 5
	})
}

// A breaker replaced under the same name (a configuration reload does
// that) gets the fleet's mode and promotion overrides again at the next
// sync.
func TestOverridesApplyToAReplacedBreaker(t *testing.T) {
	srv := redistest.Start(t)
	cfg := promotable()
	rs := startFleet(t, srv, cfg)
	ctx := context.Background()
	if err := rs[0].fleet.SetMode(ctx, "api", breaker.ModeEnforce, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[0].fleet.Promote(ctx, "api", "strict", "alice"); err != nil {
		t.Fatal(err)
	}
	r := rs[1]
	testutil.WaitFor(t, "r2 promoted", 5*time.Second, func() bool { c, _ := r.b.Promoted(); return c == "strict" })
	cfg.Timeout = 2 * time.Minute // another setting: the reload replaces the breaker
	nb, err := r.reg.Replace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the replacement gets the overrides", 5*time.Second, func() bool {
		c, src := nb.Promoted()
		return c == "strict" && strings.HasPrefix(src, "override by alice") && nb.Mode() == breaker.ModeEnforce &&
			strings.HasPrefix(nb.ModeSource(), "override by alice") && nb.Config().FailureThreshold == 3
	})
}

// A replica whose clear (or change) of an override could not be written to
// Redis does not stay on its unrecorded change: once Redis answers, it
// applies what the fleet holds again, like the others.
func TestUnrecordedOverrideChangeYieldsToTheFleet(t *testing.T) {
	srv := redistest.Start(t)
	rs := startFleet(t, srv, promotable())
	ctx := context.Background()
	if _, err := rs[0].fleet.Promote(ctx, "api", "strict", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := rs[0].fleet.SetMode(ctx, "api", breaker.ModeEnforce, "alice"); err != nil {
		t.Fatal(err)
	}
	settled := func(r *replica) bool {
		cand, _ := r.b.Promoted()
		return cand == "strict" && r.b.Mode() == breaker.ModeEnforce && r.b.ModeSource() != breaker.ModeSourceRuntime
	}
	for _, r := range rs {
		testutil.WaitFor(t, r.name+" applies alice's overrides", 10*time.Second, func() bool { return settled(r) })
	}
	failing, cancel := context.WithCancel(ctx)
	cancel() // every Redis call with it fails
	if _, err := rs[1].fleet.ClearPromotion(failing, "api", "bob"); !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("ClearPromotion with a failing write: %v, want ErrUnavailable", err)
	}
	if err := rs[1].fleet.ClearMode(failing, "api", "bob"); !errors.Is(err, fleet.ErrUnavailable) {
		t.Fatalf("ClearMode with a failing write: %v, want ErrUnavailable", err)
	}
	if cand, _ := rs[1].b.Promoted(); cand != "" || rs[1].b.Mode() != breaker.ModeMonitor {
		t.Fatalf("r2 right after its clears: promoted %q, mode %v; want none, monitor (applied here)", cand, rs[1].b.Mode())
	}
	testutil.WaitFor(t, "r2 back on the fleet's overrides", 10*time.Second, func() bool { return settled(rs[1]) })
}
