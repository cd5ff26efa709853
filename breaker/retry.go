package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Deferred retry: the seed's fallback handler retry processor.
//
// Work that could not run because its breaker rejected it, and that the
// caller marked as deferrable, waits in a bounded queue. One worker retries
// it through the same breaker, oldest first, once the breaker lets calls
// through. Every item accepted ends in exactly one of two ways: its Run
// returned nil (succeeded), or it was handed to OnGiveUp (after MaxAttempts
// failed attempts, or still queued at Close). An item the queue cannot take
// is refused to the caller (ErrQueueFull, ErrQueueClosed). Nothing is dropped
// silently.

var (
	// ErrQueueFull is returned by Defer when the queue holds Size items.
	ErrQueueFull = errors.New("retry queue is full")
	// ErrQueueClosed is returned by Defer after Close, and wrapped in the
	// error OnGiveUp gets for each item still queued at Close.
	ErrQueueClosed = errors.New("retry queue is closed")
	// ErrRetriesExhausted is wrapped in the error OnGiveUp gets for an item
	// whose MaxAttempts attempts all failed.
	ErrRetriesExhausted = errors.New("retry attempts exhausted")
)

// Defaults applied to zero fields of RetryOptions.
const (
	DefaultRetryMaxAttempts = 3
	DefaultRetryBackoff     = time.Second
	DefaultRetryMaxBackoff  = 30 * time.Second
)

// RetryOptions configures a RetryQueue. Size, Run and OnGiveUp are
// required; every other zero field gets the default written next to it.
type RetryOptions[T any] struct {
	// Size is how many items the queue holds, the one being attempted
	// included; Defer refuses more with ErrQueueFull. Required: the bound
	// is a memory budget only the caller can set.
	Size int
	// Run does an item's work. The queue calls it through the breaker.
	// It must return when ctx is done. Required.
	Run func(ctx context.Context, item T) error
	// OnGiveUp receives every item the queue will not run again: after
	// MaxAttempts failed attempts (err wraps ErrRetriesExhausted and the
	// last attempt's error), or still queued at Close (err wraps
	// ErrQueueClosed and, if it was attempted, the last error). It is
	// called from the worker or from Close, never under the queue's lock,
	// one item at a time, in queue order. Required.
	OnGiveUp func(item T, err error)
	// MaxAttempts is how many times an item is attempted: attempts that
	// ran, not rejections by the breaker. Default 3.
	MaxAttempts int
	// Backoff is the wait after an item's first failed attempt; it doubles
	// after each further failure, up to MaxBackoff. It is also how often the
	// worker looks at an open breaker, so that an early half-open (Reset,
	// a health check) is noticed. Default 1s.
	Backoff time.Duration
	// MaxBackoff caps the wait. Default 30s (or Backoff, if longer).
	MaxBackoff time.Duration
	// AttemptTimeout bounds each attempt. Default 0: no bound beyond
	// Start's context and Close.
	AttemptTimeout time.Duration
	// Logger gets a line for each item given up. Default slog.Default().
	Logger *slog.Logger
}

// RetryStats are a queue's counts since it was created.
type RetryStats struct {
	// Depth is the number of items in the queue, the one being attempted included.
	Depth int `json:"depth"`
	// Retried counts attempts that ran.
	Retried uint64 `json:"retried"`
	// Succeeded counts items whose Run returned nil.
	Succeeded uint64 `json:"succeeded"`
	// GivenUp counts items handed to OnGiveUp.
	GivenUp uint64 `json:"given_up"`
	// Dropped counts items refused because the queue was full.
	Dropped uint64 `json:"dropped"`
}

// RetryQueue is a bounded FIFO of deferred work retried through one breaker.
// Create it with NewRetryQueue, start its worker with Start and always end
// it with Close; it is safe for concurrent use.
type RetryQueue[T any] struct {
	name string
	b    *Breaker
	opts RetryOptions[T]
	log  *slog.Logger
	c    *retryCounters

	mu      sync.Mutex
	buf     []retryEntry[T] // ring of opts.Size
	head    int
	n       int
	closed  bool
	started bool

	wake       chan struct{} // an item arrived
	stop       chan struct{} // closed by Close: start no new attempt
	runCtx     context.Context
	cancelRun  context.CancelCauseFunc
	workerDone chan struct{}
	closeDone  chan struct{}
}

type retryEntry[T any] struct {
	item     T
	attempts int
	lastErr  error
}

// NewRetryQueue returns a queue named name (the value of its queue label;
// unique among the open queues of b's registry) that retries items through
// b. Errors name the field (name, breaker, size, run, on_give_up,
// max_attempts, backoff, max_backoff, attempt_timeout) and are joined.
func NewRetryQueue[T any](name string, b *Breaker, opts RetryOptions[T]) (*RetryQueue[T], error) {
	var errs []error
	if err := ValidateName(name); err != nil {
		errs = append(errs, err)
	}
	if b == nil {
		errs = append(errs, errors.New("breaker: required"))
	}
	if opts.Size <= 0 {
		errs = append(errs, fmt.Errorf("size: %d; a retry queue holds at least 1 item", opts.Size))
	}
	if opts.Run == nil {
		errs = append(errs, errors.New("run: required"))
	}
	if opts.OnGiveUp == nil {
		errs = append(errs, errors.New("on_give_up: required (items given up would otherwise be lost)"))
	}
	if opts.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max_attempts: %d is negative (0 means %d)", opts.MaxAttempts, DefaultRetryMaxAttempts))
	} else if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultRetryMaxAttempts
	}
	if opts.Backoff < 0 {
		errs = append(errs, fmt.Errorf("backoff: %v is negative (0 means %v)", opts.Backoff, DefaultRetryBackoff))
	} else if opts.Backoff == 0 {
		opts.Backoff = DefaultRetryBackoff
	}
	if opts.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("max_backoff: %v is negative (0 means %v)", opts.MaxBackoff, DefaultRetryMaxBackoff))
	} else if opts.MaxBackoff == 0 {
		opts.MaxBackoff = max(DefaultRetryMaxBackoff, opts.Backoff)
	} else if opts.MaxBackoff < opts.Backoff {
		errs = append(errs, fmt.Errorf("max_backoff: %v is shorter than backoff %v", opts.MaxBackoff, opts.Backoff))
	}
	if opts.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("attempt_timeout: %v is negative (0 means no bound)", opts.AttemptTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("retry queue %q: %w", name, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &RetryQueue[T]{
		name: name, b: b, opts: opts, log: opts.Logger, c: newRetryCounters(name),
		buf:        make([]retryEntry[T], opts.Size),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		workerDone: make(chan struct{}),
		closeDone:  make(chan struct{}),
	}
	if err := b.reg.res.addQueue(name, q.c); err != nil {
		return nil, fmt.Errorf("retry queue %q: %w", name, err)
	}
	return q, nil
}

// Name returns the queue's name.
func (q *RetryQueue[T]) Name() string { return q.name }

// Breaker returns the breaker the queue retries through.
func (q *RetryQueue[T]) Breaker() *Breaker { return q.b }

// Defer queues item for retry. It returns ErrQueueFull when the queue is
// full (counted as dropped) and ErrQueueClosed after Close: the item is then
// the caller's to handle.
func (q *RetryQueue[T]) Defer(item T) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("retry queue %q: %w", q.name, ErrQueueClosed)
	}
	if q.n == len(q.buf) {
		q.mu.Unlock()
		q.c.dropped.Add(1)
		return fmt.Errorf("retry queue %q: %w (%d items)", q.name, ErrQueueFull, len(q.buf))
	}
	q.buf[(q.head+q.n)%len(q.buf)] = retryEntry[T]{item: item}
	q.n++
	q.c.depth.Store(int64(q.n))
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Do runs item now through the breaker and, if the breaker rejects it,
// defers it. It reports whether the item was deferred. The error is Run's
// when it ran, or, when the breaker rejected it and the queue refused it,
// the rejection joined with ErrQueueFull or ErrQueueClosed.
func (q *RetryQueue[T]) Do(ctx context.Context, item T) (deferred bool, err error) {
	ran, err := q.attempt(ctx, 0, item)
	if ran || err == nil {
		return false, err
	}
	if derr := q.Defer(item); derr != nil {
		return false, errors.Join(err, derr)
	}
	return true, nil
}

// Len returns the number of items in the queue, the one being attempted included.
func (q *RetryQueue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Stats returns the queue's counts.
func (q *RetryQueue[T]) Stats() RetryStats {
	return RetryStats{
		Depth:     int(q.c.depth.Load()),
		Retried:   q.c.retried.Load(),
		Succeeded: q.c.succeeded.Load(),
		GivenUp:   q.c.givenUp.Load(),
		Dropped:   q.c.dropped.Load(),
	}
}

// Start starts the worker. Attempts run with a context derived from ctx;
// when ctx is done the worker stops (items stay queued until Close). It
// fails if the queue was started or closed before.
func (q *RetryQueue[T]) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("retry queue %q: %w", q.name, ErrQueueClosed)
	}
	if q.started {
		return fmt.Errorf("retry queue %q: already started", q.name)
	}
	q.started = true
	q.runCtx, q.cancelRun = context.WithCancelCause(ctx)
	go q.worker()
	return nil
}

// Close refuses new items, stops the worker and hands every item still
// queued to OnGiveUp (wrapping ErrQueueClosed), in order. An attempt in
// flight may finish until ctx is done; then its context is canceled and
// Close waits for Run to return. Close returns ctx's error if it had to
// cancel an attempt. Later calls wait for the first to finish and return nil.
func (q *RetryQueue[T]) Close(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.closeDone
		return nil
	}
	q.closed = true
	started := q.started
	// Under q.mu: once Defer or Start see the queue closed, the worker
	// starts no new attempt.
	close(q.stop)
	q.mu.Unlock()

	var err error
	if started {
		select {
		case <-q.workerDone:
		case <-ctx.Done():
			err = ctx.Err()
			q.cancelRun(fmt.Errorf("retry queue %q: closing: %w", q.name, err))
			<-q.workerDone
		}
		q.cancelRun(ErrQueueClosed)
	}

	q.mu.Lock()
	left := make([]retryEntry[T], 0, q.n)
	for q.n > 0 {
		left = append(left, q.buf[q.head])
		q.buf[q.head] = retryEntry[T]{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	q.c.depth.Store(0)
	q.mu.Unlock()
	for _, e := range left {
		gerr := fmt.Errorf("retry queue %q: %w with the item queued after %d attempt(s)", q.name, ErrQueueClosed, e.attempts)
		if e.lastErr != nil {
			gerr = fmt.Errorf("%w; last error: %w", gerr, e.lastErr)
		}
		q.giveUp(e, gerr)
	}
	q.c.closed.Store(true)
	close(q.closeDone)
	return err
}

func (q *RetryQueue[T]) giveUp(e retryEntry[T], err error) {
	q.c.givenUp.Add(1)
	q.log.Warn("retry queue gave up an item", "queue", q.name, "breaker", q.b.Name(), "attempts", e.attempts, "err", err)
	q.opts.OnGiveUp(e.item, err)
}

// sleep waits d; false if the queue is stopping or Start's context ended.
func (q *RetryQueue[T]) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.stop:
		return false
	case <-q.runCtx.Done():
		return false
	}
}

// front returns the oldest item, waiting for one; false when stopping.
func (q *RetryQueue[T]) front() (retryEntry[T], bool) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			e := q.buf[q.head]
			q.mu.Unlock()
			return e, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-q.stop:
			return retryEntry[T]{}, false
		case <-q.runCtx.Done():
			return retryEntry[T]{}, false
		}
	}
}

// update stores e's attempt count and error at the front; pop also removes it.
func (q *RetryQueue[T]) update(e retryEntry[T], pop bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if pop {
		q.buf[q.head] = retryEntry[T]{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.c.depth.Store(int64(q.n))
		return
	}
	q.buf[q.head].attempts, q.buf[q.head].lastErr = e.attempts, e.lastErr
}

// The worker owns the front item until it succeeds or is given up: it stays
// in the queue (and in the depth) while it is attempted, so Close finds it
// there if the worker stops first.
func (q *RetryQueue[T]) worker() {
	defer close(q.workerDone)
	for {
		select {
		case <-q.stop:
			return
		default:
		}
		e, ok := q.front()
		if !ok {
			return
		}
		// Do not knock on an open breaker: wait for its timeout, looking
		// again every Backoff in case it is let through earlier.
		if q.b.Mode() == ModeEnforce && q.b.State() == StateOpen {
			wait := q.opts.Backoff
			if until := time.Until(q.b.openUntil()); until > 0 && until < wait {
				wait = until + time.Millisecond
			}
			if !q.sleep(wait) {
				return
			}
			continue
		}
		ran, err := q.attempt(q.runCtx, q.opts.AttemptTimeout, e.item)
		if !ran {
			// Rejected (half-open with its probes busy, or it opened
			// again meanwhile): not an attempt.
			if !q.sleep(q.opts.Backoff) {
				return
			}
			continue
		}
		q.c.retried.Add(1)
		e.attempts++
		if err == nil {
			q.update(e, true)
			q.c.succeeded.Add(1)
			continue
		}
		e.lastErr = err
		if q.runCtx.Err() != nil {
			// Canceled by Close (or Start's context): the item stays
			// queued for Close to hand over.
			q.update(e, false)
			return
		}
		if e.attempts >= q.opts.MaxAttempts {
			q.update(e, true)
			q.giveUp(e, fmt.Errorf("retry queue %q: %w after %d attempt(s): %w", q.name, ErrRetriesExhausted, e.attempts, err))
			continue
		}
		q.update(e, false)
		if !q.sleep(q.backoff(e.attempts)) {
			return
		}
	}
}

// attempt runs item through the breaker; ran is false when it was rejected.
func (q *RetryQueue[T]) attempt(ctx context.Context, timeout time.Duration, item T) (ran bool, err error) {
	return q.b.try(ctx, timeout, func(ctx context.Context) error { return q.opts.Run(ctx, item) })
}

// backoff is the wait after the n-th failed attempt: Backoff doubled n-1
// times, at most MaxBackoff.
func (q *RetryQueue[T]) backoff(n int) time.Duration {
	d := q.opts.Backoff
	for i := 1; i < n && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.opts.MaxBackoff)
}
