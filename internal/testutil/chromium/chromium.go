// Package chromium drives a headless Chromium tab for the status page's
// browser tests: a package apart from testutil, so that only those tests
// link chromedp.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// chromiumFlags are the flags Browser starts Chromium with (plus headless,
// a 1280×900 window and a fresh user-data-dir per test).
var chromiumFlags = []string{
	"no-sandbox", "disable-gpu", "disable-quic", "no-first-run", "disable-background-networking",
	"disable-component-update", "disable-sync",
}

// evalTimeout bounds Do and Eval.
const evalTimeout = time.Minute

// Browser is a headless Chromium tab, driven through the DevTools protocol
// by chromedp, and the console errors and uncaught exceptions its pages
// raised. The test fails on each one that no Allow accepts.
type Browser struct {
	t         testing.TB
	ctx       context.Context
	pageState string

	mu       sync.Mutex
	messages []string // console errors and exceptions
	checked  int      // messages[:checked] have been checked
	allowed  []string // substrings of expected errors
}

// Option configures Start.
type Option func(*Browser)

// WithPageState makes a WaitJS timeout also show the value of the
// JavaScript expression expr (a string, such as a JSON.stringify of what
// the page knows), evaluated within 10 seconds. Without it a timeout shows
// the condition alone.
func WithPageState(expr string) Option {
	return func(b *Browser) { b.pageState = expr }
}

// Start starts Chromium and returns a tab. Chromium is found on PATH
// as "chromium" (RequireTool: the test is skipped without it, and fails when
// CI is set). The browser is started before Start returns, so that
// its start-up is not counted in the first navigation.
//
// Its cleanup checks the console (CheckConsole), then closes Chromium.
// Cleanups run last-in first-out, so start the servers the page talks to
// before the browser: the console is then checked before they stop (a
// stopped server makes the page's streams fail, which is expected and not
// reported).
func Start(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	exe := testutil.RequireTool(t, "chromium")
	aopts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	for _, f := range chromiumFlags {
		aopts = append(aopts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), aopts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx}
	for _, o := range opts {
		o(b)
	}
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.messages = append(b.messages, fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.CheckConsole()
		cancelTab()
		cancelAlloc()
		<-done
	})
	return b
}

// Context is the tab's context, for chromedp calls of a test's own; bound
// it with a timeout.
func (b *Browser) Context() context.Context { return b.ctx }

// Allow accepts console errors containing s (a network error the test
// provokes on purpose, such as a refused request).
func (b *Browser) Allow(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, s)
}

// CheckConsole fails the test (without stopping it) on each console error
// or exception received since the last check that no Allow accepts. The
// cleanup Start registers calls it, and so does a WaitJS timeout.
func (b *Browser) CheckConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, m := range b.messages[b.checked:] {
		for _, a := range b.allowed {
			if strings.Contains(m, a) {
				continue next
			}
		}
		b.t.Errorf("console: %s", m)
	}
	b.checked = len(b.messages)
}

// Do runs chromedp actions in the tab, within a minute; it fails the test
// on an error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the page, within a minute; it
// fails the test on an error.
func Eval[T any](b *Browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	v, err := TryEval[T](b, expr, evalTimeout, opts...)
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// TryEval evaluates a JavaScript expression in the page, within the given
// time, and returns the error.
func TryEval[T any](b *Browser, expr string, within time.Duration, opts ...chromedp.EvaluateOption) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
}

// WaitJS waits until the JavaScript expression expr is true in the page
// and returns how long it took. A page too busy to answer (a loaded
// machine) is waited for, up to within. On a timeout it checks the console
// and fails the test, with the page's state if WithPageState was given.
func (b *Browser) WaitJS(what, expr string, within time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		left := within - time.Since(start)
		if left <= 0 {
			b.CheckConsole()
			if b.pageState == "" {
				b.t.Fatalf("timed out after %v waiting for %s (%s)", within, what, expr)
			}
			state, _ := TryEval[string](b, b.pageState, 10*time.Second)
			b.t.Fatalf("timed out after %v waiting for %s (%s); page: %s", within, what, expr, state)
		}
		ok, err := TryEval[bool](b, expr, left)
		if err == nil && ok {
			return time.Since(start)
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			b.t.Fatalf("evaluating %s: %v", expr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Poll waits, up to within, until the JavaScript expression expr is true
// in the page, and reports whether it became true. The page checks expr
// itself, at each animation frame, so that nothing is slept between
// checks; an error is expr's or the page's (too busy to answer within
// within and another 10 seconds).
func (b *Browser) Poll(expr string, within time.Duration) (bool, error) {
	js := fmt.Sprintf(`new Promise((ok, fail) => {
  const end = performance.now() + %d;
  const check = () => {
    try {
      if (%s) ok(true); else if (performance.now() >= end) ok(false); else requestAnimationFrame(check);
    } catch (e) { fail(e); }
  };
  check();
})`, within.Milliseconds(), "("+expr+")")
	return TryEval[bool](b, js, within+10*time.Second, chromedp.EvalAwaitPromise)
}

// UntilFrame runs the JavaScript statements act in the page and returns
// the milliseconds, by the page's clock, from before act to the next
// frame: the next animation frame, a layout forced in it, and the task
// after its paint.
func (b *Browser) UntilFrame(act string) float64 {
	b.t.Helper()
	return Eval[float64](b, `new Promise(r => { const t0 = performance.now(); `+act+`; requestAnimationFrame(() => { void document.body.offsetHeight; setTimeout(() => r(performance.now() - t0)); }); })`, chromedp.EvalAwaitPromise)
}

// Load is the machine's load average and CPU count ("load average 0.52
// 0.61 0.70 on 2 CPUs"; the CPU count alone where /proc/loadavg is not
// readable), for the browser tests' logs of times: it says how far they
// are from an idle machine's.
func Load() string {
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(l)); len(f) >= 3 {
			return fmt.Sprintf("load average %s on %d CPUs", strings.Join(f[:3], " "), runtime.NumCPU())
		}
	}
	return fmt.Sprintf("%d CPUs", runtime.NumCPU())
}
