package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestNewRetryQueueRejectsBadInput(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	b := resRegister(t, reg, breaker.Config{Name: "a"})[0]
	run := func(context.Context, int) error { return nil }
	giveUp := func(int, error) {}
	ok := breaker.RetryOptions[int]{Size: 1, Run: run, OnGiveUp: giveUp}
	// args are NewRetryQueue's arguments; each case changes valid ones.
	type args struct {
		name string
		b    *breaker.Breaker
		opts breaker.RetryOptions[int]
	}
	tests := map[string]struct {
		mod  func(a *args)
		want []string
	}{
		"size zero":         {mod: func(a *args) { a.opts.Size = 0 }, want: []string{"size: 0;"}},
		"negative size":     {mod: func(a *args) { a.opts.Size = -3 }, want: []string{"size: -3;"}},
		"no run":            {mod: func(a *args) { a.opts.Run = nil }, want: []string{"run: required"}},
		"no callback":       {mod: func(a *args) { a.opts.OnGiveUp = nil }, want: []string{"on_give_up: required"}},
		"bad name":          {mod: func(a *args) { a.name = "a queue" }, want: []string{`name "a queue": must match`}},
		"no breaker":        {mod: func(a *args) { a.b = nil }, want: []string{"breaker: required"}},
		"negative attempts": {mod: func(a *args) { a.opts.MaxAttempts = -1 }, want: []string{"max_attempts: -1 is negative"}},
		"negative backoff":  {mod: func(a *args) { a.opts.Backoff = -1 }, want: []string{"backoff: -1ns is negative"}},
		"cap below backoff": {
			mod:  func(a *args) { a.opts.Backoff, a.opts.MaxBackoff = time.Second, time.Millisecond },
			want: []string{"max_backoff: 1ms is shorter than backoff 1s"},
		},
		"negative attempt timeout": {mod: func(a *args) { a.opts.AttemptTimeout = -1 }, want: []string{"attempt_timeout: -1ns is negative"}},
		"everything": {
			mod:  func(a *args) { a.name, a.opts = "", breaker.RetryOptions[int]{} },
			want: []string{"name \"\"", "size: 0", "run: required", "on_give_up: required"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := args{name: "q", b: b, opts: ok}
			tc.mod(&a)
			q, err := breaker.NewRetryQueue(a.name, a.b, a.opts)
			if err == nil {
				_ = q.Close(context.Background())
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Names are unique among open queues.
	q1, err := breaker.NewRetryQueue("q", b, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := breaker.NewRetryQueue("q", b, ok); err == nil || !strings.Contains(err.Error(), `name: a retry queue "q" is already open`) {
		t.Errorf("second open queue q: %v", err)
	}
	if err := q1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	q2, err := breaker.NewRetryQueue("q", b, ok)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	_ = q2.Close(context.Background())
}

// Items deferred while the breaker is open run, in order, once it lets
// calls through; nothing runs while it is open.
func TestRetryQueueRunsInOrderWhenBreakerAllows(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	// The breaker must still be open when the items are deferred: an open
	// timeout that a loaded machine's stalls do not reach.
	const openTimeout = 500 * time.Millisecond
	b := resRegister(t, reg, breaker.Config{Name: "meta_api", Timeout: openTimeout})[0]
	openedAt := time.Now()
	b.ForceOpen("test")
	var mu sync.Mutex
	var ran []int
	var ranAt []time.Time
	done := make(chan struct{})
	q, err := breaker.NewRetryQueue("meta_posts", b, breaker.RetryOptions[int]{
		Size: 10, Backoff: 5 * time.Millisecond, Logger: resQuiet,
		Run: func(_ context.Context, item int) error {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, item)
			ranAt = append(ranAt, time.Now())
			if len(ran) == 5 {
				close(done)
			}
			return nil
		},
		OnGiveUp: func(item int, err error) { t.Errorf("gave up %d: %v", item, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		deferred, err := q.Do(context.Background(), i)
		if err != nil || !deferred {
			t.Fatalf("Do(%d) = %v, %v; want deferred", i, deferred, err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("items not run")
	}
	mu.Lock()
	if fmt.Sprint(ran) != "[0 1 2 3 4]" {
		t.Errorf("ran %v, want in order", ran)
	}
	if first := ranAt[0].Sub(openedAt); first < openTimeout {
		t.Errorf("first item ran %v after the breaker opened, before its timeout", first)
	}
	mu.Unlock()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Ran once the breaker let calls through: no rejection was counted
	// while the worker waited.
	if c := b.Snapshot().Counts; c.Rejected != 5 || c.Success != 5 {
		t.Errorf("breaker counts %+v, want the 5 rejections of Do and 5 successes", c)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricRetryQueueDepth, breaker.MetricRetryItems}), `
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="meta_posts",result="dropped"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="given_up"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="retried"} 5
		circuit_breaker_retry_items_total{queue="meta_posts",result="succeeded"} 5
		# circuit_breaker_retry_queue_depth gauge
		circuit_breaker_retry_queue_depth{queue="meta_posts"} 0`)
}

// An item that keeps failing is given up after MaxAttempts, with its last
// error, and the next one runs.
func TestRetryQueueGivesUpAfterMaxAttempts(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	b := resRegister(t, reg, breaker.Config{Name: "a", FailureThreshold: 100})[0]
	type gaveUp struct {
		item string
		err  error
	}
	gave := make(chan gaveUp, 10)
	okRan := make(chan string, 10)
	var attempts atomic.Int32
	q, err := breaker.NewRetryQueue("q", b, breaker.RetryOptions[string]{
		Size: 4, MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Logger: resQuiet,
		Run: func(_ context.Context, item string) error {
			if item == "bad" {
				attempts.Add(1)
				return fmt.Errorf("attempt %d: %w", attempts.Load(), errResDown)
			}
			okRan <- item
			return nil
		},
		OnGiveUp: func(item string, err error) { gave <- gaveUp{item, err} },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []string{"bad", "good"} {
		if err := q.Defer(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := <-gave
	if g.item != "bad" || !errors.Is(g.err, breaker.ErrRetriesExhausted) || !errors.Is(g.err, errResDown) || !strings.Contains(g.err.Error(), "attempt 3") {
		t.Errorf("gave up %q: %v", g.item, g.err)
	}
	if it := <-okRan; it != "good" {
		t.Errorf("ran %q", it)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if s := q.Stats(); s != (breaker.RetryStats{Retried: 4, Succeeded: 1, GivenUp: 1}) {
		t.Errorf("stats %+v", s)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricRetryItems}), `
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="q",result="dropped"} 0
		circuit_breaker_retry_items_total{queue="q",result="given_up"} 1
		circuit_breaker_retry_items_total{queue="q",result="retried"} 4
		circuit_breaker_retry_items_total{queue="q",result="succeeded"} 1`)
}

// A full queue refuses the item to the caller; Close hands what is left to
// OnGiveUp, in order; a closed queue refuses everything.
func TestRetryQueueFullAndClose(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	b := resRegister(t, reg, breaker.Config{Name: "a", Timeout: time.Hour})[0]
	b.ForceOpen("")
	var handed []string
	q, err := breaker.NewRetryQueue("q", b, breaker.RetryOptions[string]{
		Size: 2, Logger: resQuiet,
		Run:      func(context.Context, string) error { t.Error("ran while open"); return nil },
		OnGiveUp: func(item string, err error) { handed = append(handed, item+": "+err.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, it := range []string{"x", "y"} {
		if err := q.Defer(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Defer("z"); !errors.Is(err, breaker.ErrQueueFull) {
		t.Errorf("third Defer: %v, want ErrQueueFull", err)
	}
	deferred, err := q.Do(context.Background(), "w")
	if deferred || !errors.Is(err, breaker.ErrQueueFull) || !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Do on a full queue: %v, %v; want the rejection and ErrQueueFull", deferred, err)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricRetryQueueDepth, breaker.MetricRetryItems}), `
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="q",result="dropped"} 2
		circuit_breaker_retry_items_total{queue="q",result="given_up"} 0
		circuit_breaker_retry_items_total{queue="q",result="retried"} 0
		circuit_breaker_retry_items_total{queue="q",result="succeeded"} 0
		# circuit_breaker_retry_queue_depth gauge
		circuit_breaker_retry_queue_depth{queue="q"} 2`)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`x: retry queue "q": retry queue is closed with the item queued after 0 attempt(s)`,
		`y: retry queue "q": retry queue is closed with the item queued after 0 attempt(s)`,
	}
	if fmt.Sprint(handed) != fmt.Sprint(want) {
		t.Errorf("handed\n%q\nwant\n%q", handed, want)
	}
	if err := q.Defer("late"); !errors.Is(err, breaker.ErrQueueClosed) {
		t.Errorf("Defer after Close: %v", err)
	}
	if err := q.Start(context.Background()); !errors.Is(err, breaker.ErrQueueClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The closed queue's final counts stay visible.
	resDiff(t, resSeries(t, rd, []string{breaker.MetricRetryQueueDepth, breaker.MetricRetryItems}), `
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="q",result="dropped"} 2
		circuit_breaker_retry_items_total{queue="q",result="given_up"} 2
		circuit_breaker_retry_items_total{queue="q",result="retried"} 0
		circuit_breaker_retry_items_total{queue="q",result="succeeded"} 0
		# circuit_breaker_retry_queue_depth gauge
		circuit_breaker_retry_queue_depth{queue="q"} 0`)
}

// Close lets the attempt in flight finish while its context allows, then
// cancels it; either way the item is accounted for exactly once.
func TestRetryQueueCloseDuringAttempt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		closeWait time.Duration
		wantErr   error
		succeeded uint64
	}{
		{name: "finishes", closeWait: 10 * time.Second, succeeded: 1},
		{name: "canceled", closeWait: 20 * time.Millisecond, wantErr: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resNoLeaks(t)
			reg, _ := newMeteredRegistry(t)
			b := resRegister(t, reg, breaker.Config{Name: "a"})[0]
			started, release := make(chan struct{}), make(chan struct{})
			var handed []error
			q, err := breaker.NewRetryQueue("q", b, breaker.RetryOptions[int]{
				Size: 3, Logger: resQuiet,
				Run: func(ctx context.Context, item int) error {
					close(started)
					if tc.wantErr == nil {
						<-release // once Close is under way
						return nil
					}
					<-ctx.Done()
					return ctx.Err()
				},
				OnGiveUp: func(item int, err error) { handed = append(handed, err) },
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = q.Defer(1)
			_ = q.Start(context.Background())
			<-started
			_ = q.Defer(2)
			ctx, cancel := context.WithTimeout(context.Background(), tc.closeWait)
			defer cancel()
			closed := make(chan error, 1)
			go func() { closed <- q.Close(ctx) }()
			if tc.wantErr == nil {
				// Let the attempt finish only once Close has begun (Start
				// then reports the queue closed), whatever the machine's speed.
				for !errors.Is(q.Start(context.Background()), breaker.ErrQueueClosed) {
					time.Sleep(time.Millisecond)
				}
				close(release)
			}
			if err := <-closed; !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Close: %v, want %v", err, tc.wantErr)
			}
			s := q.Stats()
			if s.Succeeded != tc.succeeded || s.Succeeded+s.GivenUp != 2 || len(handed) != int(s.GivenUp) {
				t.Errorf("stats %+v, handed %v", s, handed)
			}
			if tc.wantErr != nil {
				if !errors.Is(handed[0], breaker.ErrQueueClosed) || !errors.Is(handed[0], context.Canceled) || !strings.Contains(handed[0].Error(), "after 1 attempt(s)") {
					t.Errorf("item in flight handed with %v", handed[0])
				}
			}
			if c := b.Snapshot().Counts; c.Failure != 0 {
				t.Errorf("the canceled attempt counted as the breaker's failure: %+v", c)
			}
		})
	}
}

// Producers defer items while the breaker opens and closes and attempts
// fail at random; the queue is closed in the middle. Every item is either
// refused to its producer, or run successfully exactly once, or handed to
// OnGiveUp exactly once.
func TestRetryQueueConcurrentNothingLost(t *testing.T) {
	resNoLeaks(t)
	reg, _ := newMeteredRegistry(t)
	b := resRegister(t, reg, breaker.Config{Name: "a", FailureThreshold: 3, Timeout: 2 * time.Millisecond})[0]
	const producers, perProducer = 8, 400
	var (
		mu        sync.Mutex
		succeeded = map[int]int{}
		handed    = map[int]int{}
		refused   = map[int]error{}
		direct    = map[int]bool{}
	)
	q, err := breaker.NewRetryQueue("q", b, breaker.RetryOptions[int]{
		Size: 32, MaxAttempts: 3, Backoff: 100 * time.Microsecond, MaxBackoff: time.Millisecond, Logger: resQuiet,
		Run: func(ctx context.Context, item int) error {
			if rand.IntN(5) == 0 {
				return errResDown
			}
			mu.Lock()
			succeeded[item]++
			mu.Unlock()
			return nil
		},
		OnGiveUp: func(item int, err error) {
			if !errors.Is(err, breaker.ErrRetriesExhausted) && !errors.Is(err, breaker.ErrQueueClosed) {
				t.Errorf("item %d handed with %v", item, err)
			}
			mu.Lock()
			handed[item]++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var attempted atomic.Int64
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				item := p*perProducer + i
				attempted.Add(1)
				var err error
				if i%2 == 0 {
					err = q.Defer(item)
				} else {
					// Do runs it now unless the breaker rejects it.
					var deferred bool
					deferred, err = q.Do(context.Background(), item)
					if err != nil && !breaker.IsRejected(err) {
						// It ran and failed: the caller's to handle, not the queue's.
						err = fmt.Errorf("ran: %w", err)
					} else if err == nil && !deferred {
						mu.Lock()
						direct[item] = true // Do ran it: not the queue's
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					refused[item] = err
					mu.Unlock()
				}
				if i%10 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	// Close in the middle: once half the items were offered, whatever the
	// machine's speed.
	for attempted.Load() < producers*perProducer/2 {
		time.Sleep(100 * time.Microsecond)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var accepted, ranDirect, closedRefusals, fullRefusals int
	for item := range producers * perProducer {
		s, h := succeeded[item], handed[item]
		rerr, wasRefused := refused[item]
		switch {
		case direct[item]:
			ranDirect++
			if s != 1 || h != 0 || wasRefused {
				t.Errorf("item %d ran directly but also: succeeded %d, handed %d, refused %v", item, s, h, rerr)
			}
		case wasRefused:
			if s != 0 || h != 0 {
				t.Errorf("item %d refused (%v) but also succeeded %d, handed %d", item, rerr, s, h)
			}
			switch {
			case errors.Is(rerr, breaker.ErrQueueClosed):
				closedRefusals++
			case errors.Is(rerr, breaker.ErrQueueFull):
				fullRefusals++
			}
		default:
			accepted++
			if s+h != 1 {
				t.Errorf("item %d accepted: succeeded %d times, handed %d times; want exactly once in all", item, s, h)
			}
		}
	}
	st := q.Stats()
	if st.Succeeded+st.GivenUp != uint64(accepted) || st.Dropped != uint64(fullRefusals) || st.Depth != 0 {
		t.Errorf("stats %+v; accepted %d, refused as full %d", st, accepted, fullRefusals)
	}
	t.Logf("accepted %d (succeeded %d, given up %d), ran directly %d, refused: full %d, closed %d; attempts %d",
		accepted, st.Succeeded, st.GivenUp, ranDirect, fullRefusals, closedRefusals, st.Retried)
	if accepted == 0 || closedRefusals == 0 {
		t.Errorf("the test did not exercise both sides of Close: accepted %d, refused after close %d", accepted, closedRefusals)
	}
}
