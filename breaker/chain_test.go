package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestNewChainRejectsBadInput(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "a"}, breaker.Config{Name: "b"}, breaker.Config{Name: "c"})
	tests := map[string]struct {
		cfg      breaker.ChainConfig
		want     []string // substrings of the error
		notFound bool
	}{
		"unknown primary": {
			cfg:  breaker.ChainConfig{Primary: "x", Fallbacks: []string{"a"}},
			want: []string{`primary: no such circuit breaker: "x"`}, notFound: true,
		},
		"unknown fallback": {
			cfg:  breaker.ChainConfig{Primary: "a", Fallbacks: []string{"b", "nope"}},
			want: []string{`fallbacks[1]: no such circuit breaker: "nope"`}, notFound: true,
		},
		"cycle back to the primary": {
			cfg:  breaker.ChainConfig{Primary: "a", Fallbacks: []string{"b", "a"}},
			want: []string{`fallbacks[1]: "a" is already in the chain as the primary`, "cycle"},
		},
		"duplicate fallback": {
			cfg:  breaker.ChainConfig{Primary: "a", Fallbacks: []string{"b", "c", "b"}},
			want: []string{`fallbacks[2]: "b" is already in the chain as fallbacks[0]`},
		},
		"empty primary": {
			cfg:  breaker.ChainConfig{Fallbacks: []string{"a"}},
			want: []string{`primary: no such circuit breaker: ""`}, notFound: true,
		},
		"negative attempt timeout": {
			cfg:  breaker.ChainConfig{Primary: "a", Fallbacks: []string{"b"}, AttemptTimeout: -time.Second},
			want: []string{"attempt_timeout: -1s is negative"},
		},
		"every problem at once": {
			cfg: breaker.ChainConfig{Primary: "a", Fallbacks: []string{"zz", "a"}, AttemptTimeout: -1},
			want: []string{`fallbacks[0]: no such circuit breaker: "zz"`,
				`fallbacks[1]: "a" is already in the chain`, "attempt_timeout:"},
			notFound: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := reg.NewChainFromConfig(tc.cfg)
			if err == nil {
				t.Fatalf("NewChainFromConfig(%+v) = %v, nil; want an error", tc.cfg, c.Members())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, breaker.ErrNotFound); got != tc.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tc.notFound)
			}
		})
	}

	c, err := reg.NewChain("a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Members(), ","); got != "a,b,c" || c.Primary() != "a" {
		t.Errorf("members %s, primary %s", got, c.Primary())
	}
	if _, err := reg.NewChain("a"); err != nil {
		t.Errorf("a chain of the primary alone: %v", err)
	}
}

// member behaviours in the combination test.
type resBehaviour int

const (
	resOK      resBehaviour = iota // serves at once
	resFail                        // returns an error
	resOpen                        // its breaker is open: must be skipped without a call
	resTimeout                     // slower than the attempt timeout: fails with DeadlineExceeded
	resSlowOK                      // slow (above slow_call) but within the attempt timeout: serves
)

func (b resBehaviour) String() string {
	return [...]string{"ok", "fail", "open", "timeout", "slowok"}[b]
}

// Every combination of three members being fine, failing, open, too slow
// and slow-but-fine.
func TestCallChainCombinations(t *testing.T) {
	resNoLeaks(t)
	all := []resBehaviour{resOK, resFail, resOpen, resTimeout, resSlowOK}
	names := []string{"p", "f1", "f2"}
	const attemptTimeout = 40 * time.Millisecond
	for _, b0 := range all {
		for _, b1 := range all {
			for _, b2 := range all {
				combo := []resBehaviour{b0, b1, b2}
				t.Run(fmt.Sprintf("%v-%v-%v", b0, b1, b2), func(t *testing.T) {
					t.Parallel()
					reg, rd := newMeteredRegistry(t)
					bs := resRegister(t, reg,
						breaker.Config{Name: "p", Timeout: time.Hour, SlowCall: time.Millisecond},
						breaker.Config{Name: "f1", Timeout: time.Hour, SlowCall: time.Millisecond},
						breaker.Config{Name: "f2", Timeout: time.Hour, SlowCall: time.Millisecond})
					for i, b := range bs {
						if combo[i] == resOpen && !b.ForceOpen("test") {
							t.Fatalf("%s: ForceOpen failed", b.Name())
						}
					}
					c, err := reg.NewChainFromConfig(breaker.ChainConfig{Primary: "p", Fallbacks: []string{"f1", "f2"}, AttemptTimeout: attemptTimeout})
					if err != nil {
						t.Fatal(err)
					}
					var calls [3]atomic.Int32
					// A member whose attempt deadline had passed before its
					// call began (a loaded machine) returns at once: not slow.
					var endedAtOnce [3]atomic.Bool
					res, err := breaker.CallChain(context.Background(), c, func(ctx context.Context, m *breaker.Breaker) (string, error) {
						i := map[string]int{"p": 0, "f1": 1, "f2": 2}[m.Name()]
						calls[i].Add(1)
						switch combo[i] {
						case resOK:
							return "from " + m.Name(), nil
						case resSlowOK:
							time.Sleep(5 * time.Millisecond) // above slow_call, below the attempt timeout
							return "from " + m.Name(), nil
						case resTimeout:
							start := time.Now()
							<-ctx.Done()
							endedAtOnce[i].Store(time.Since(start) <= time.Millisecond)
							return "", ctx.Err()
						case resOpen:
							t.Errorf("%s: called although its breaker is open", m.Name())
						}
						return "", fmt.Errorf("%s: %w", m.Name(), errResDown)
					})

					served := -1
					for i, b := range combo {
						if b == resOK || b == resSlowOK {
							served = i
							break
						}
					}
					tried := served
					if served < 0 {
						tried = 2
					}
					// Calls: every member up to the one that served, except the open ones.
					for i := range 3 {
						want := int32(0)
						if i <= tried && combo[i] != resOpen {
							want = 1
						}
						if got := calls[i].Load(); got != want {
							t.Errorf("%s called %d times, want %d", names[i], got, want)
						}
					}
					// Why the members before it did not serve.
					if len(res.Errors) != tried+(map[bool]int{true: 1, false: 0}[served < 0]) {
						t.Fatalf("result errors %v, want one per member tried before the server", res.Errors)
					}
					for i, me := range res.Errors {
						if me.Member != names[i] {
							t.Errorf("errors[%d].Member = %s, want %s", i, me.Member, names[i])
						}
						if me.Skipped != (combo[i] == resOpen) {
							t.Errorf("errors[%d].Skipped = %v for a member that is %v", i, me.Skipped, combo[i])
						}
						var wantErr error
						switch combo[i] {
						case resFail:
							wantErr = errResDown
						case resOpen:
							wantErr = breaker.ErrOpen
						case resTimeout:
							wantErr = context.DeadlineExceeded
						}
						if !errors.Is(me, wantErr) {
							t.Errorf("errors[%d] = %v, want one matching %v", i, me, wantErr)
						}
						if err != nil && !errors.Is(err, wantErr) {
							t.Errorf("chain error %v does not match member %s's cause %v", err, names[i], wantErr)
						}
					}
					want := "# circuit_breaker_fallback_total counter\n"
					if served < 0 {
						var ce *breaker.ChainError
						if !errors.As(err, &ce) || !errors.Is(err, breaker.ErrChainExhausted) || ce.Stopped != nil {
							t.Fatalf("err = %v, want an exhausted *ChainError", err)
						}
						if res.Served != "" || res.Fallback {
							t.Errorf("result %+v, want no server", res)
						}
						want += "circuit_breaker_fallback_total{fallback=\"f1\",name=\"p\"} 0\n" +
							"circuit_breaker_fallback_total{fallback=\"f2\",name=\"p\"} 0"
					} else {
						if err != nil {
							t.Fatalf("err = %v, want %s to serve", err, names[served])
						}
						if res.Served != names[served] || res.Fallback != (served > 0) || res.Value != "from "+names[served] {
							t.Errorf("result %+v, want served by %s", res, names[served])
						}
						n := [3]int{}
						n[served] = 1
						want += fmt.Sprintf("circuit_breaker_fallback_total{fallback=\"f1\",name=\"p\"} %d\n"+
							"circuit_breaker_fallback_total{fallback=\"f2\",name=\"p\"} %d", n[1], n[2])
					}
					resDiff(t, resSeries(t, rd, []string{breaker.MetricFallbacks}), want)
					// Each member's breaker saw only its own calls.
					for i, b := range bs {
						s := b.Snapshot().Counts
						want := breaker.Counts{}
						if i <= tried {
							switch combo[i] {
							case resOK:
								want.Success = 1
							case resSlowOK:
								want.Success, want.Slow = 1, 1
							case resFail:
								want.Failure = 1
							case resTimeout:
								want.Failure, want.Slow = 1, 1
							case resOpen:
								want.Rejected = 1
							}
						}
						if i > tried || (combo[i] != resSlowOK && combo[i] != resTimeout) || endedAtOnce[i].Load() {
							// A fast call may still be slowed down by a busy machine.
							s.Slow = want.Slow
						}
						if s != want {
							t.Errorf("%s counts %+v, want %+v", b.Name(), s, want)
						}
					}
				})
			}
		}
	}
}

// A primary that keeps failing opens; from then on it is skipped without a
// call and the fallback serves; when it recovers it serves again.
func TestCallChainSkipsOpenPrimaryUntilItRecovers(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	bs := resRegister(t, reg,
		breaker.Config{Name: "openai_api", FailureThreshold: 3, Timeout: time.Hour},
		breaker.Config{Name: "anthropic_api"})
	c, err := reg.NewChain("openai_api", "anthropic_api")
	if err != nil {
		t.Fatal(err)
	}
	var primaryUp atomic.Bool
	var primaryCalls atomic.Int32
	call := func() breaker.ChainResult[string] {
		t.Helper()
		res, err := breaker.CallChain(context.Background(), c, func(_ context.Context, m *breaker.Breaker) (string, error) {
			if m.Name() == "openai_api" {
				primaryCalls.Add(1)
				if !primaryUp.Load() {
					return "", errResDown
				}
			}
			return m.Name(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 10 {
		res := call()
		if res.Served != "anthropic_api" || !res.Fallback {
			t.Fatalf("call %d served by %s", i, res.Served)
		}
		wantSkipped := i >= 3
		if got := len(res.Skipped()) == 1; got != wantSkipped {
			t.Errorf("call %d: skipped %v, want the primary skipped: %v", i, res.Skipped(), wantSkipped)
		}
	}
	if n := primaryCalls.Load(); n != 3 {
		t.Errorf("primary called %d times, want 3 (then its breaker opened)", n)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricFallbacks}), `
		# circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 10`)

	primaryUp.Store(true)
	if !bs[0].ForceHalfOpen("test: recovered") {
		t.Fatal("ForceHalfOpen failed")
	}
	res := call()
	if res.Served != "openai_api" || res.Fallback || len(res.Errors) != 0 {
		t.Errorf("after recovery: %+v, want the primary to serve", res)
	}
	if s := bs[0].State(); s != breaker.StateClosed {
		t.Errorf("primary %v after a successful probe, want closed", s)
	}
}

// The caller's cancellation ends the chain: no further member is tried and
// the primary's breaker does not count it as a failure.
func TestCallChainStopsWhenCallerGivesUp(t *testing.T) {
	resNoLeaks(t)
	reg, _ := newMeteredRegistry(t)
	bs := resRegister(t, reg, breaker.Config{Name: "a"}, breaker.Config{Name: "b"})
	c, err := reg.NewChain("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res, err := breaker.CallChain(ctx, c, func(ctx context.Context, m *breaker.Breaker) (int, error) {
		if m.Name() == "b" {
			t.Error("b called after the caller gave up")
		}
		cancel()
		<-ctx.Done()
		return 0, ctx.Err()
	})
	var ce *breaker.ChainError
	if !errors.As(err, &ce) || !errors.Is(ce.Stopped, context.Canceled) {
		t.Fatalf("err = %v, want a *ChainError stopped by context.Canceled", err)
	}
	if errors.Is(err, breaker.ErrChainExhausted) {
		t.Error("a chain stopped early matches ErrChainExhausted")
	}
	if len(res.Errors) != 1 || res.Errors[0].Member != "a" {
		t.Errorf("errors %v, want a's only", res.Errors)
	}
	if got := bs[0].Snapshot().Counts; got.Ignored != 1 || got.Failure != 0 {
		t.Errorf("a's counts %+v, want the canceled call ignored", got)
	}
}

// NoFallback ends the chain with the member's own error.
func TestCallChainNoFallback(t *testing.T) {
	reg, _ := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "a"}, breaker.Config{Name: "b"})
	c, _ := reg.NewChain("a", "b")
	errBad := errors.New("400 bad request")
	res, err := breaker.CallChain(context.Background(), c, func(_ context.Context, m *breaker.Breaker) (int, error) {
		if m.Name() == "b" {
			t.Error("b called after a NoFallback error")
		}
		return 0, breaker.NoFallback(errBad)
	})
	var ce *breaker.ChainError
	if !errors.As(err, &ce) || ce.Stopped != errBad || !errors.Is(err, errBad) || errors.Is(err, breaker.ErrChainExhausted) {
		t.Fatalf("err = %v, want a *ChainError stopped by errBad", err)
	}
	if len(res.Errors) != 1 || res.Errors[0].Err != errBad {
		t.Errorf("errors %v", res.Errors)
	}
	if breaker.NoFallback(nil) != nil {
		t.Error("NoFallback(nil) != nil")
	}
}

// Chains sharing a primary share its series; counts are exact under
// concurrent use.
func TestCallChainConcurrentCounts(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	resRegister(t, reg, breaker.Config{Name: "a", Mode: breaker.ModeMonitor}, breaker.Config{Name: "b"}, breaker.Config{Name: "c"})
	c1, _ := reg.NewChain("a", "b", "c")
	c2, _ := reg.NewChain("a", "c")
	var servedBy sync.Map
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c := c1
				if i%2 == 1 {
					c = c2
				}
				res, err := breaker.CallChain(context.Background(), c, func(_ context.Context, m *breaker.Breaker) (int, error) {
					// a fails every third call, b every other.
					switch {
					case m.Name() == "a" && (g+i)%3 == 0, m.Name() == "b" && i%4 == 0:
						return 0, errResDown
					}
					return 1, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				v, _ := servedBy.LoadOrStore(res.Served, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	wg.Wait()
	count := func(name string) int64 {
		v, ok := servedBy.Load(name)
		if !ok {
			return 0
		}
		return v.(*atomic.Int64).Load()
	}
	if total := count("a") + count("b") + count("c"); total != 1600 {
		t.Fatalf("served %d calls, want 1600", total)
	}
	resDiff(t, resSeries(t, rd, []string{breaker.MetricFallbacks}), fmt.Sprintf(`
		# circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="b",name="a"} %d
		circuit_breaker_fallback_total{fallback="c",name="a"} %d`, count("b"), count("c")))
}
