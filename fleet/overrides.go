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
	err = f.record(ctx, "mode", name, raw, modeSlot, "fleet: mode override written", slog.String("mode", m.String()), slog.String("by", who))
	if err != nil {
		// Not an override: nothing outside this process records it.
		_ = b.SetModeFrom(m, breaker.ModeSourceRuntime)
	}
	return err
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
	return f.record(ctx, "mode", name, "", modeSlot, "fleet: mode override cleared", slog.String("by", who))
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
	p, _, err := f.changePromotion(b, func() (breaker.Promotion, error) { return b.PromoteFrom(candidate, o.source()) })
	if err != nil {
		return p, err
	}
	err = f.record(ctx, "promote", name, raw, promoteSlot, "fleet: promotion override written", slog.String("candidate", candidate), slog.String("by", who))
	if err != nil {
		_, _ = b.PromoteFrom(candidate, breaker.ModeSourceRuntime)
	}
	return p, err
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
	p, _, err := f.changePromotion(b, b.ClearPromotion)
	if err != nil {
		return p, err
	}
	return p, f.record(ctx, "promote", name, "", promoteSlot, "fleet: promotion override cleared", slog.String("by", who))
}

// record writes raw as the named breaker's override of kind ("mode",
// "promote"), or deletes it when raw is "", and has the breaker's track
// remember it in slot, then logs msg and publishes. If Redis fails the slot
// is marked unsynced, so that the first sync that reads Redis again
// applies what the fleet holds, and the error wraps ErrUnavailable.
func (f *Fleet) record(ctx context.Context, kind, name, raw string, slot func(*track) *string, msg string, attrs ...any) error {
	key := f.key(kind + ":" + name)
	var err error
	if raw == "" {
		err = f.rdb.Del(ctx, key).Err()
	} else {
		err = f.rdb.Set(ctx, key, raw, 0).Err()
	}
	if err != nil {
		f.update(name, func(t *track) { *slot(t) = unsynced })
		return f.unavailable(err)
	}
	f.update(name, func(t *track) { *slot(t) = raw })
	f.o.Logger.Info(msg, append([]any{slog.String("breaker", name)}, attrs...)...)
	f.publish(ctx)
	return nil
}

func modeSlot(t *track) *string    { return &t.mode }
func promoteSlot(t *track) *string { return &t.promote }

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
