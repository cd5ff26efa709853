package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// ResetTTL is how long a reset override stays in Redis: long enough for
// every replica to see it (they check on every sync), short enough that
// Redis does not fill with them.
const ResetTTL = time.Hour

// ErrUnavailable wraps a Redis failure while writing an override: the
// change applied to this replica only.
var ErrUnavailable = errors.New("fleet: redis unavailable; applied to this replica only")

func (f *Fleet) breaker(name string) (*breaker.Breaker, error) {
	if f.reg == nil {
		return nil, errors.New("fleet: not started")
	}
	b, ok := f.reg.Get(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", breaker.ErrNotFound, name)
	}
	return b, nil
}

func (f *Fleet) unavailable(err error) error {
	f.setConnected(false, err)
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// unsynced is what a track remembers of an override that this replica
// changed but could not write to Redis: it matches nothing Redis holds, so
// the first sync that reads Redis again applies whatever the fleet has
// (before, the track kept the old override's text, the sync took Redis's
// unchanged value for already applied, and the replica stayed on its
// unrecorded change for good).
const unsynced = "\x00unsynced"

// SetMode applies a mode to the named breaker here and records it in Redis
// as an override, with who asked and when: every replica applies it within
// a sync and at every start-up until ClearMode. If Redis fails, the mode
// still applies here and the error wraps ErrUnavailable.
func (f *Fleet) SetMode(ctx context.Context, name string, m breaker.Mode, who string) error {
	b, err := f.breaker(name)
	if err != nil {
		return err
	}
	if m != breaker.ModeEnforce && m != breaker.ModeMonitor && m != breaker.ModeDisabled {
		return fmt.Errorf("mode: unknown mode %d", int(m))
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	o := override{V: recordVersion, Mode: m.String(), By: who, At: time.Now().UTC().Truncate(time.Millisecond)}
	raw := mustJSON(o)
	if err := b.SetModeFrom(m, o.source()); err != nil {
		return err
	}
	if err := f.rdb.Set(ctx, f.key("mode:"+name), raw, 0).Err(); err != nil {
		// Not an override: nothing outside this process records it.
		_ = b.SetModeFrom(m, breaker.ModeSourceRuntime)
		f.update(name, func(t *track) { t.mode = unsynced })
		return f.unavailable(err)
	}
	f.update(name, func(t *track) { t.mode = raw })
	f.o.Logger.Info("fleet: mode override written", slog.String("breaker", name), slog.String("mode", m.String()), slog.String("by", who))
	f.publish(ctx)
	return nil
}

// ClearMode removes the named breaker's mode override: every replica goes
// back to its configured mode.
func (f *Fleet) ClearMode(ctx context.Context, name, who string) error {
	b, err := f.breaker(name)
	if err != nil {
		return err
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	b.ClearModeOverride()
	if err := f.rdb.Del(ctx, f.key("mode:"+name)).Err(); err != nil {
		f.update(name, func(t *track) { t.mode = unsynced })
		return f.unavailable(err)
	}
	f.update(name, func(t *track) { t.mode = "" })
	f.o.Logger.Info("fleet: mode override cleared", slog.String("breaker", name), slog.String("by", who))
	f.publish(ctx)
	return nil
}

// Promote applies a candidate's settings to the named breaker here and
// records the promotion in Redis as an override, with who asked and when,
// exactly like SetMode: every replica applies it within a sync and at every
// start-up until ClearPromotion. If Redis fails, the promotion still
// applies here and the error wraps ErrUnavailable.
func (f *Fleet) Promote(ctx context.Context, name, candidate, who string) (breaker.Promotion, error) {
	b, err := f.breaker(name)
	if err != nil {
		return breaker.Promotion{}, err
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	o := override{V: recordVersion, Candidate: candidate, By: who, At: time.Now().UTC().Truncate(time.Millisecond)}
	raw := mustJSON(o)
	before, _ := b.Promoted()
	p, err := b.PromoteFrom(candidate, o.source())
	if err != nil {
		return p, err
	}
	if before != candidate {
		f.restarted(name)
	}
	if err := f.rdb.Set(ctx, f.key("promote:"+name), raw, 0).Err(); err != nil {
		_, _ = b.PromoteFrom(candidate, breaker.ModeSourceRuntime)
		f.update(name, func(t *track) { t.promote = unsynced })
		return p, f.unavailable(err)
	}
	f.update(name, func(t *track) { t.promote = raw })
	f.o.Logger.Info("fleet: promotion override written", slog.String("breaker", name), slog.String("candidate", candidate), slog.String("by", who))
	f.publish(ctx)
	return p, nil
}

// ClearPromotion removes the named breaker's promotion override: every
// replica goes back to its configured settings.
func (f *Fleet) ClearPromotion(ctx context.Context, name, who string) (breaker.Promotion, error) {
	b, err := f.breaker(name)
	if err != nil {
		return breaker.Promotion{}, err
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	before, _ := b.Promoted()
	p, err := b.ClearPromotion()
	if err != nil {
		return p, err
	}
	if before != "" {
		f.restarted(name)
	}
	if err := f.rdb.Del(ctx, f.key("promote:"+name)).Err(); err != nil {
		f.update(name, func(t *track) { t.promote = unsynced })
		return p, f.unavailable(err)
	}
	f.update(name, func(t *track) { t.promote = "" })
	f.o.Logger.Info("fleet: promotion override cleared", slog.String("breaker", name), slog.String("by", who))
	f.publish(ctx)
	return p, nil
}

// Reset resets the named breaker here and on every replica, and removes the
// fleet's open decision for it.
func (f *Fleet) Reset(ctx context.Context, name, who string) error {
	b, err := f.breaker(name)
	if err != nil {
		return err
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	err = f.resetLocked(ctx, b, who)
	f.publish(ctx)
	return err
}

// ResetAll resets every breaker on every replica.
func (f *Fleet) ResetAll(ctx context.Context, who string) error {
	if f.reg == nil {
		return errors.New("fleet: not started")
	}
	f.opMu.Lock()
	defer f.opMu.Unlock()
	var errs []error
	bs := f.reg.List()
	for i, b := range bs {
		if err := f.resetLocked(ctx, b, who); err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrUnavailable) {
				// Reset the rest here without waiting for Redis again
				// (not the ones already reset: their counts since stay).
				for _, rest := range bs[i+1:] {
					rest.Reset()
				}
				break
			}
		}
	}
	f.publish(ctx)
	return errors.Join(errs...)
}

func (f *Fleet) resetLocked(ctx context.Context, b *breaker.Breaker, who string) error {
	name := b.Name()
	b.Reset()
	var id [8]byte
	_, _ = rand.Read(id[:])
	o := override{V: recordVersion, By: who, At: time.Now().UTC().Truncate(time.Millisecond), ID: hex.EncodeToString(id[:])}
	pipe := f.rdb.TxPipeline()
	pipe.Set(ctx, f.key("reset:"+name), mustJSON(o), ResetTTL)
	pipe.Del(ctx, f.key("open:"+name))
	if _, err := pipe.Exec(ctx); err != nil {
		return f.unavailable(err)
	}
	f.mu.Lock()
	t := f.trackLocked(name)
	nt := t.overrides()
	nt.resetID, nt.seenRst = o.ID, true
	f.tracks[name] = &nt
	f.mu.Unlock()
	f.o.Logger.Info("fleet: reset override written", slog.String("breaker", name), slog.String("by", who))
	return nil
}
