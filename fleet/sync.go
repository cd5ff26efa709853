package fleet

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/redis/go-redis/v9"
)

// closeIfSame deletes the open decision only if it is still the one this
// replica applied: a newer decision is never deleted by a late prober.
var closeIfSame = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// staleAfter is how old a heartbeat or evidence may be.
func (f *Fleet) staleAfter() time.Duration { return StaleHeartbeats * f.o.Heartbeat }

// lease is how long a probe claim lasts beyond the open period, and how long
// the replicas that do not probe keep rejecting while they wait for the
// probe's outcome. The prober renews its claim on every sync, and only if
// the claim is still its own (renewProbe); the others renew their hold once
// a third of it has passed. A replica whose loop stalls longer than that
// margin falls back to its own state machine (half-opens at its hold):
// docs/fleet.md says what that costs.
func (f *Fleet) lease() time.Duration { return max(time.Second, 10*f.o.PublishInterval) }

// renewProbe extends the probe claim KEYS[1] to ARGV[2] ms if this replica
// (ARGV[1]) still owns it, or claims it again if it lapsed and nobody took
// it; it returns 0, and changes nothing, when another replica owns it.
var renewProbe = redis.NewScript(`local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`)

// remote is what one sync read from Redis for one breaker.
type remote struct {
	evs     *redis.MapStringStringCmd
	open    *redis.StringCmd
	mode    *redis.StringCmd
	reset   *redis.StringCmd
	promote *redis.StringCmd
}

// sync publishes this replica's evidence and heartbeat, reads the others'
// and the fleet's decisions, and applies them: one pipelined round trip,
// plus one for each decision this replica makes.
func (f *Fleet) sync(ctx context.Context, now time.Time) {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	bs := f.reg.List()
	locals := make([]breaker.Evidence, len(bs))
	for i, b := range bs {
		locals[i] = b.Evidence()
	}
	nowMS := now.UnixMilli()
	pipe := f.rdb.Pipeline()
	members := f.key("members")
	beat := now.Sub(f.lastBeat) >= f.o.Heartbeat || !f.connected.Load()
	if beat {
		pipe.ZAdd(ctx, members, redis.Z{Score: float64(nowMS), Member: f.o.Instance})
		pipe.ZRemRangeByScore(ctx, members, "-inf", strconv.FormatInt(nowMS-10*f.staleAfter().Milliseconds(), 10))
	}
	liveCmd := pipe.ZRangeByScore(ctx, members, &redis.ZRangeBy{
		Min: strconv.FormatInt(nowMS-f.staleAfter().Milliseconds(), 10),
		Max: strconv.FormatInt(nowMS+f.staleAfter().Milliseconds(), 10)})
	rs := make([]remote, len(bs))
	f.mu.Lock()
	for i, b := range bs {
		name := b.Name()
		t := f.trackLocked(name)
		evKey := f.key("ev:" + name)
		pipe.HSet(ctx, evKey, f.o.Instance, mustJSON(newEvidence(now, locals[i], t.open != nil)))
		pipe.PExpire(ctx, evKey, 10*f.staleAfter())
		rs[i] = remote{
			evs:   pipe.HGetAll(ctx, evKey),
			open:  pipe.Get(ctx, f.key("open:"+name)),
			mode:  pipe.Get(ctx, f.key("mode:"+name)),
			reset: pipe.Get(ctx, f.key("reset:"+name)),
		}
		if b.HasCandidates() {
			rs[i].promote = pipe.Get(ctx, f.key("promote:"+name))
		}
	}
	f.mu.Unlock()
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		f.setConnected(false, err)
		f.updateView(now, bs, nil, nil)
		return
	}
	if beat {
		f.lastBeat = now
	}
	f.setConnected(true, nil)
	alive := map[string]bool{f.o.Instance: true}
	for _, m := range liveCmd.Val() {
		alive[m] = true
	}
	f.members.Store(int64(len(alive)))
	evsByBreaker := make([]map[string]evidence, len(bs))
	for i, b := range bs {
		evs := map[string]evidence{}
		for inst, raw := range rs[i].evs.Val() {
			e, err := parseEvidence(raw)
			if err != nil {
				f.garbage(b.Name(), "ev", inst, err)
				continue
			}
			evs[inst] = e
		}
		evsByBreaker[i] = evs
		f.decide(ctx, now, b, locals[i], evs, alive, rs[i])
	}
	f.updateView(now, bs, evsByBreaker, alive)
}

// trackLocked returns the loop's memory of a breaker; f.mu must be held.
func (f *Fleet) trackLocked(name string) *track {
	t, ok := f.tracks[name]
	if !ok {
		t = &track{}
		f.tracks[name] = t
	}
	return t
}

func (f *Fleet) track(name string) *track {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trackLocked(name)
}

// garbage logs a value that failed its checks (once per key and value kind
// until it changes) and ignores it.
func (f *Fleet) garbage(name, kind, field string, err error) {
	if f.ins != nil {
		f.ins.garbage.Add(context.Background(), 1, f.ins.opt)
	}
	k := kind + ":" + name + ":" + field
	msg := err.Error()
	if f.garbled[k] == msg {
		return
	}
	if f.garbled == nil {
		f.garbled = map[string]string{}
	}
	f.garbled[k] = msg
	f.o.Logger.Warn("fleet: ignoring a value in redis that fails its checks",
		slog.String("breaker", name), slog.String("key", f.key(kind+":"+name)), slog.String("field", field),
		slog.String("error", msg))
}

// decide applies the overrides and the fleet's open decision to one
// breaker, or makes that decision from the pooled evidence.
func (f *Fleet) decide(ctx context.Context, now time.Time, b *breaker.Breaker, local breaker.Evidence,
	evs map[string]evidence, alive map[string]bool, r remote) {
	name := b.Name()
	t := f.track(name)
	if t.b != b {
		// A new breaker under this name (at start, or a configuration
		// reload replaced it): apply the overrides and the fleet's
		// decision to it afresh.
		f.setTrack(name, track{resetID: t.resetID, seenRst: t.seenRst, b: b})
		t = f.track(name)
	}
	f.applyMode(b, t, r.mode)
	if f.applyPromotion(b, t, r.promote) {
		return // the state machine restarted; a fleet decision applies again next sync
	}
	if f.applyReset(b, t, r.reset) {
		return // the reset also removed the open decision; start afresh next sync
	}
	t = f.track(name)
	if b.Mode() == breaker.ModeDisabled {
		f.setTrack(name, t.overrides())
		return
	}
	var rec *openRecord
	garbled := false
	raw, err := r.open.Result()
	if err == nil {
		if or, perr := parseOpen(raw); perr != nil {
			f.garbage(name, "open", "", perr)
			garbled = true
		} else {
			rec = &or
		}
	}
	switch {
	case rec != nil && rec.Epoch != t.epoch:
		f.applyOpen(ctx, now, b, *rec)
	case rec != nil:
		f.followOpen(ctx, now, b, t, *rec, raw, local)
	case t.open != nil:
		// The decision is gone: the prober closed the fleet, a reset
		// removed it, or it expired.
		b.Apply(breaker.StateClosed, time.Time{}, "fleet: closed (the fleet's probe succeeded or the decision was cleared)")
		f.update(name, func(t *track) { t.open, t.prober = nil, false })
	default:
		if local.State != breaker.StateClosed && local.State != breaker.StateOpen {
			return // a local half-open cycle decides on its own
		}
		p := pool(live(evs, alive, now, f.staleAfter()))
		if ok, reason := p.trip(b.Config()); ok {
			// A garbled decision is no decision: replace it.
			f.openFleet(ctx, now, b, now.Add(b.Config().Timeout), reason, garbled)
		}
	}
}

// update changes a breaker's track under f.mu.
func (f *Fleet) update(name string, fn func(*track)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.trackLocked(name))
}

func (f *Fleet) setTrack(name string, t track) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracks[name] = &t
}

// applyMode applies a mode override, or returns to the configured mode when
// the override is gone.
func (f *Fleet) applyMode(b *breaker.Breaker, t *track, cmd *redis.StringCmd) {
	raw, err := cmd.Result()
	if err != nil {
		// No override: the configured mode, also after a mode change
		// made here while Redis was down (it was never recorded).
		if errors.Is(err, redis.Nil) && (t.mode != "" || b.ModeSource() != breaker.ModeSourceConfig) {
			m := b.ClearModeOverride()
			f.update(b.Name(), func(t *track) { t.mode = "" })
			f.o.Logger.Info("fleet: mode override cleared; back to the configured mode",
				slog.String("breaker", b.Name()), slog.String("mode", m.String()))
		}
		return
	}
	if raw == t.mode {
		return
	}
	o, m, perr := parseOverride(raw, true)
	if perr != nil {
		f.garbage(b.Name(), "mode", "", perr)
		return
	}
	_ = b.SetModeFrom(m, o.source())
	f.update(b.Name(), func(t *track) { t.mode = raw })
	f.o.Logger.Info("fleet: mode override applied", slog.String("breaker", b.Name()),
		slog.String("mode", m.String()), slog.String("by", o.By), slog.Time("at", o.At))
}

// applyReset resets the breaker when a reset override newer than the last
// one seen appears. At start-up the current one is only noted: a new
// process starts reset.
func (f *Fleet) applyReset(b *breaker.Breaker, t *track, cmd *redis.StringCmd) bool {
	raw, err := cmd.Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			f.update(b.Name(), func(t *track) { t.seenRst = true })
		}
		return false
	}
	o, _, perr := parseOverride(raw, false)
	if perr != nil {
		f.garbage(b.Name(), "reset", "", perr)
		return false
	}
	if o.ID == t.resetID {
		return false
	}
	first := !t.seenRst
	nt := t.overrides()
	nt.resetID, nt.seenRst = o.ID, true
	f.setTrack(b.Name(), nt)
	if first {
		return false
	}
	b.Reset()
	f.o.Logger.Info("fleet: reset override applied", slog.String("breaker", b.Name()),
		slog.String("by", o.By), slog.Time("at", o.At))
	return true
}

// openFleet records the fleet's decision to open b until until. Another
// replica may have decided first: then its decision stands and is applied
// on the next sync. A prober that saw its probe fail, or a replica that
// found the decision garbled, replaces it (replace).
func (f *Fleet) openFleet(ctx context.Context, now time.Time, b *breaker.Breaker, until time.Time, reason string, replace bool) {
	name := b.Name()
	epoch, err := f.rdb.Incr(ctx, f.key("epoch:"+name)).Result()
	if err != nil {
		return
	}
	rec := openRecord{V: recordVersion, Epoch: epoch, Until: until.UnixMilli(), By: f.o.Instance, Reason: reason}
	raw := mustJSON(rec)
	ttl := until.Sub(now) + 10*f.staleAfter() + f.lease()
	args := redis.SetArgs{Mode: "NX", TTL: ttl}
	if replace {
		args.Mode = ""
	}
	if err := f.rdb.SetArgs(ctx, f.key("open:"+name), raw, args).Err(); err != nil {
		f.poke() // lost the race (redis.Nil) or Redis failed: look again
		return
	}
	f.o.Logger.Warn("fleet: opening the breaker on every replica", slog.String("breaker", name),
		slog.String("reason", reason), slog.Time("until", until), slog.Int64("epoch", epoch))
	f.applyOpen(ctx, now, b, rec)
	f.publish(ctx)
}

// applyOpen applies a new open decision. The first replica to claim the
// decision's probe owns it: its breaker half-opens at the decision's
// open-until; the others keep rejecting for a lease longer, renewed until
// the prober publishes the outcome.
func (f *Fleet) applyOpen(ctx context.Context, now time.Time, b *breaker.Breaker, rec openRecord) {
	until := time.UnixMilli(rec.Until)
	claimed := f.claim(ctx, b.Name(), rec.Epoch, max(until.Sub(now), 0)+f.lease())
	why := "fleet: " + rec.Reason + " (decided by " + rec.By + ")"
	hold := until
	switch {
	case claimed && !until.After(now):
		b.Apply(breaker.StateHalfOpen, time.Time{}, why+"; the open period is over and this replica probes")
	case claimed:
		b.Apply(breaker.StateOpen, until, why)
	default:
		hold = maxTime(until, now).Add(f.lease())
		b.Apply(breaker.StateOpen, hold, why+"; another replica probes")
	}
	f.update(b.Name(), func(t *track) {
		t.epoch, t.open, t.prober, t.hold = rec.Epoch, &rec, claimed, hold
	})
}

// followOpen follows a decision already applied: the prober publishes the
// probe's outcome; the others wait for it, and take the probe over when
// the prober's lease lapses.
func (f *Fleet) followOpen(ctx context.Context, now time.Time, b *breaker.Breaker, t *track, rec openRecord, raw string, local breaker.Evidence) {
	name := b.Name()
	if t.prober {
		probeKey := f.key("probe:" + name + ":" + strconv.FormatInt(rec.Epoch, 10))
		switch {
		case local.State == breaker.StateClosed:
			if err := closeIfSame.Run(ctx, f.rdb, []string{f.key("open:" + name)}, raw).Err(); err != nil {
				return
			}
			f.rdb.Del(ctx, probeKey)
			f.update(name, func(t *track) { t.open, t.prober = nil, false })
			f.o.Logger.Info("fleet: the probe succeeded; closing the breaker on every replica", slog.String("breaker", name))
			f.publish(ctx)
		case local.State == breaker.StateOpen && local.OpenUntil.After(t.hold):
			// The probe failed and the state machine opened again.
			f.openFleet(ctx, now, b, local.OpenUntil, "the fleet's half-open probe failed", true)
		default:
			f.renew(ctx, b, t, rec, probeKey)
		}
		return
	}
	// Once a third of the hold has passed (two thirds of a lease are left
	// as a margin for a loop delayed by a busy machine or a GC pause: past
	// the hold the state machine would half-open and probe by itself),
	// either take the probe over from a silent prober or hold on for
	// another lease.
	if now.Before(t.hold.Add(-f.lease() * 2 / 3)) {
		return
	}
	if f.claim(ctx, name, rec.Epoch, f.lease()) {
		b.Apply(breaker.StateHalfOpen, time.Time{}, "fleet: the probing replica went silent; this replica probes")
		f.update(name, func(t *track) { t.prober = true })
		return
	}
	// From now, not from when the sync began: a slow round trip must not
	// shorten the hold.
	hold := time.Now().Add(f.lease())
	b.Apply(breaker.StateOpen, hold, "fleet: waiting for the probing replica")
	f.update(name, func(t *track) { t.hold = hold })
}

// renew extends the prober's claim. A prober whose claim lapsed while its
// loop stalled (a GC pause, a starved goroutine, a slow Redis) and was
// taken by another replica must not probe too: it steps down and waits for
// the new prober like the others.
func (f *Fleet) renew(ctx context.Context, b *breaker.Breaker, t *track, rec openRecord, probeKey string) {
	until := time.UnixMilli(rec.Until) // the decision applied (its epoch is t's)
	owned, err := renewProbe.Run(ctx, f.rdb, []string{probeKey}, f.o.Instance,
		max(time.Until(until), 0).Milliseconds()+f.lease().Milliseconds()).Int()
	if err != nil || owned == 1 {
		// Unknown (Redis failed): keep probing. Whoever takes the probe
		// over needs Redis too, and this replica asks again next sync.
		return
	}
	hold := maxTime(until, time.Now()).Add(f.lease())
	b.Apply(breaker.StateOpen, hold, "fleet: this replica's probe claim lapsed and another replica probes")
	f.update(b.Name(), func(t *track) { t.prober, t.hold = false, hold })
	f.o.Logger.Warn("fleet: the probe claim lapsed before this replica renewed it (its loop was late); another replica probes",
		slog.String("breaker", b.Name()), slog.Int64("epoch", rec.Epoch))
}

// claim tries to own the probe of decision epoch for ttl.
func (f *Fleet) claim(ctx context.Context, name string, epoch int64, ttl time.Duration) bool {
	ok, err := f.rdb.SetArgs(ctx, f.key("probe:"+name+":"+strconv.FormatInt(epoch, 10)), f.o.Instance,
		redis.SetArgs{Mode: "NX", TTL: max(ttl, time.Millisecond)}).Result()
	return err == nil && ok == "OK"
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// breakerView is what Status reports about one breaker.
type breakerView struct {
	open     *openRecord
	replicas []ReplicaState
}

// updateView records what the last sync saw, for Status and the gauges.
func (f *Fleet) updateView(now time.Time, bs []*breaker.Breaker, evs []map[string]evidence, alive map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	view := make(map[string]breakerView, len(bs))
	for i, b := range bs {
		// The decision as parsed when applied (never changed after).
		v := breakerView{open: f.trackLocked(b.Name()).open}
		if evs != nil {
			for inst, e := range evs[i] {
				if !isLive(inst, e, alive, now, f.staleAfter()) {
					continue
				}
				decision := DecisionLocal
				if e.Fleet {
					decision = DecisionFleet
				}
				v.replicas = append(v.replicas, ReplicaState{Instance: inst, State: e.State, Mode: e.Mode, Decision: decision})
			}
			sort.Slice(v.replicas, func(a, c int) bool { return v.replicas[a].Instance < v.replicas[c].Instance })
		}
		view[b.Name()] = v
	}
	f.view = view
	if alive != nil {
		names := slices.Sorted(maps.Keys(alive))
		f.alive = names
	} else {
		f.alive = nil
	}
}

// Values of ReplicaState.Decision.
const (
	// DecisionLocal: the replica's state is its own state machine's.
	DecisionLocal = "local"
	// DecisionFleet: the replica's state was applied from a fleet decision.
	DecisionFleet = "fleet"
)

// ReplicaState is one live replica's state for one breaker.
type ReplicaState struct {
	Instance string `json:"instance"`
	State    string `json:"state"`
	Mode     string `json:"mode"`
	Decision string `json:"decision"`
}

// BreakerStatus is the fleet's view of one breaker.
type BreakerStatus struct {
	Name string `json:"name"`
	// FleetOpen is true while a fleet-wide open decision applies here.
	FleetOpen bool `json:"fleet_open"`
	// OpenUntil, DecidedBy, Reason and Epoch describe that decision.
	OpenUntil *time.Time `json:"open_until,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Epoch     int64      `json:"epoch,omitempty"`
	// Replicas are the live replicas' states, by instance.
	Replicas []ReplicaState `json:"replicas"`
	// OpenReplicas lists the live replicas that report it open.
	OpenReplicas []string `json:"open_replicas"`
}

// Status is the fleet's view as /api/circuit-breaker/status shows it.
type Status struct {
	Instance  string          `json:"instance"`
	Connected bool            `json:"connected"`
	Members   []string        `json:"members"`
	Breakers  []BreakerStatus `json:"breakers"`
}

// Status returns what the last sync saw.
func (f *Fleet) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := Status{Instance: f.o.Instance, Connected: f.connected.Load(), Members: append([]string{}, f.alive...),
		Breakers: []BreakerStatus{}}
	for _, n := range slices.Sorted(maps.Keys(f.view)) {
		v := f.view[n]
		bs := BreakerStatus{Name: n, Replicas: append([]ReplicaState{}, v.replicas...), OpenReplicas: []string{}}
		if v.open != nil {
			u := time.UnixMilli(v.open.Until).UTC()
			bs.FleetOpen, bs.OpenUntil, bs.DecidedBy, bs.Reason, bs.Epoch = true, &u, v.open.By, v.open.Reason, v.open.Epoch
		}
		for _, r := range v.replicas {
			if r.State == breaker.StateOpenValue {
				bs.OpenReplicas = append(bs.OpenReplicas, r.Instance)
			}
		}
		st.Breakers = append(st.Breakers, bs)
	}
	return st
}

// applyPromotion applies a promotion override, or goes back to the
// configured settings when it is gone. It reports whether the state
// machine restarted: the fleet's open decision, if any, applies again on
// the next sync. A candidate this replica does not have is logged once per
// override and ignored.
func (f *Fleet) applyPromotion(b *breaker.Breaker, t *track, cmd *redis.StringCmd) bool {
	if cmd == nil {
		return false // no candidates here: nothing to promote
	}
	raw, err := cmd.Result()
	if err != nil {
		cand, _ := b.Promoted()
		// No override: the configured settings, also after a promotion
		// made here while Redis was down (it was never recorded).
		if !errors.Is(err, redis.Nil) || (t.promote == "" && cand == "") {
			return false
		}
		f.update(b.Name(), func(t *track) { t.promote = "" })
		if _, restarted, err := f.changePromotion(b, b.ClearPromotion); err != nil || !restarted {
			return false
		}
		f.o.Logger.Info("fleet: promotion override cleared; back to the configured settings", slog.String("breaker", b.Name()))
		return true
	}
	if raw == t.promote {
		return false
	}
	f.update(b.Name(), func(t *track) { t.promote = raw })
	o, perr := parsePromotion(raw)
	if perr != nil {
		f.garbage(b.Name(), "promote", "", perr)
		return false
	}
	_, restarted, err := f.changePromotion(b, func() (breaker.Promotion, error) { return b.PromoteFrom(o.Candidate, o.source()) })
	if err != nil {
		f.o.Logger.Warn("fleet: cannot apply a promotion override: the candidate is not configured here",
			slog.String("breaker", b.Name()), slog.String("candidate", o.Candidate), slog.String("by", o.By), slog.String("error", err.Error()))
		return false
	}
	f.o.Logger.Info("fleet: promotion override applied", slog.String("breaker", b.Name()),
		slog.String("candidate", o.Candidate), slog.String("by", o.By), slog.Time("at", o.At))
	return restarted // false when only the source changed
}

// changePromotion runs change, which promotes a candidate on b or clears
// its promotion, and reports whether b's state machine restarted (closed):
// it does exactly when the promoted candidate changed (breaker.PromoteFrom
// and ClearPromotion restart it then, and only then). The open decision
// applied to b is then forgotten: the next sync applies it again if it
// stands. Promote, ClearPromotion and the sync's applyPromotion all go
// through here, so that rule lives in one place.
func (f *Fleet) changePromotion(b *breaker.Breaker, change func() (breaker.Promotion, error)) (breaker.Promotion, bool, error) {
	before, _ := b.Promoted()
	p, err := change()
	if err != nil || p.Candidate == before {
		return p, false, err
	}
	f.mu.Lock()
	nt := f.trackLocked(b.Name()).overrides()
	f.tracks[b.Name()] = &nt
	f.mu.Unlock()
	return p, true, nil
}
