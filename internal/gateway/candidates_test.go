package gateway

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// The proof, through the gateway to a real upstream whose failures
// come in bursts of four, each followed by a success. The breaker (monitor
// mode, failure_threshold 5) never opens. Its candidates, with an open
// timeout shorter than the pause between bursts:
//   - strict (failure_threshold 3) opens at the third failure of the first
//     burst, would reject the fourth and the success; at each later burst it
//     is half-open, the first failure opens it again, and it would reject the
//     other three failures and the success: it opens once per burst and
//     would have rejected every success;
//   - rate (failure_rate 0.5 over at least 20 calls) cannot open before the
//     20th call; the 21st, a failure, brings the rate to 17/21 and opens it;
//   - lax_rate (failure_rate 0.9, at least 5 calls) never opens: the rate
//     never reaches 0.9 (at most 8/9);
//   - rare (failure_rate 0.5, at least 100 calls) never opens: 30 calls.
func TestCandidatesOnBurstyUpstream(t *testing.T) {
	const (
		timeout = 400 * time.Millisecond
		bursts  = 6
	)
	var hits atomic.Int64
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := hits.Add(1) - 1; n%5 < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	attempt := func() (breaker.TuneReport, bool) {
		hits.Store(0)
		front, b := setup(t, upstream, breaker.Config{Name: "up", Mode: breaker.ModeMonitor, FailureThreshold: 5, Timeout: timeout,
			Candidates: map[string]breaker.Candidate{
				"strict":   {FailureThreshold: new(uint32(3))},
				"rate":     {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
				"lax_rate": {FailureRate: new(0.9), MinThroughput: new(uint32(5))},
				"rare":     {FailureRate: new(0.5), MinThroughput: new(uint32(100))},
			}}, config.Route{})
		calls := 0
		for burst := range bursts {
			if burst > 0 {
				// Longer than the open timeout: a candidate that opened
				// in the last burst is past it when the next begins.
				time.Sleep(timeout + 100*time.Millisecond)
			}
			start := time.Now()
			for i := range 5 {
				resp, _ := get(t, front.URL+"/up/x")
				want := http.StatusServiceUnavailable
				if i == 4 {
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Fatalf("burst %d call %d: %d, want the upstream's %d (monitor mode blocks nothing)", burst, i, resp.StatusCode, want)
				}
				calls++
				testutil.WaitFor(t, fmt.Sprintf("the breaker to count call %d", calls), 5*time.Second, func() bool {
					c := b.Snapshot().Counts
					return c.Success+c.Failure == uint64(calls)
				})
			}
			if time.Since(start) > timeout/2 {
				// A burst must be short against the open timeout for the
				// counts below to be exact; on a stalled machine, try again.
				t.Logf("burst %d took %v (open timeout %v): trying again", burst, time.Since(start), timeout)
				return breaker.TuneReport{}, false
			}
		}
		r, err := b.Tune()
		if err != nil {
			t.Fatal(err)
		}
		return r, true
	}
	var r breaker.TuneReport
	for try := 0; ; try++ {
		var ok bool
		if r, ok = attempt(); ok {
			break
		}
		if try == 4 {
			t.Fatal("five attempts in a row had a burst as long as half the open timeout")
		}
	}

	got := map[string]breaker.SettingReport{}
	for _, s := range r.Settings {
		got[s.Name] = s
		if s.Calls != 5*bursts {
			t.Errorf("%s saw %d calls, want %d", s.Name, s.Calls, 5*bursts)
		}
	}
	type want struct {
		opened, wouldReject, failed, succeeded uint64
	}
	for name, w := range map[string]want{
		breaker.CurrentSetting: {0, 0, 0, 0},
		// Burst 1: open at call 3, reject 4 and 5. Bursts 2-6: open at
		// call 1, reject 2-5 (three failures and the success).
		"strict": {bursts, 2 + 4*(bursts-1), 1 + 3*(bursts-1), bursts},
		// Opens at call 21 (burst 5), again at the first call of burst 6.
		"rate":     {2, 8, 6, 2},
		"lax_rate": {0, 0, 0, 0},
		"rare":     {0, 0, 0, 0},
	} {
		s := got[name]
		if g := (want{s.Opened, s.WouldReject, s.WouldRejectFailed, s.WouldRejectSucceeded}); g != w {
			t.Errorf("%s: opened %d, would reject %d (failed %d, succeeded %d); want %d, %d (%d, %d)",
				name, g.opened, g.wouldReject, g.failed, g.succeeded, w.opened, w.wouldReject, w.failed, w.succeeded)
		}
	}
	// strict was open for a whole timeout after each of the first five
	// bursts, and is open now.
	if s := got["strict"].OpenSeconds; s < 5*timeout.Seconds() || s > 6*timeout.Seconds() {
		t.Errorf("strict open for %vs, want between %v and %v", s, 5*timeout.Seconds(), 6*timeout.Seconds())
	}
	if got[breaker.CurrentSetting].OpenSeconds != 0 || got[breaker.CurrentSetting].State != breaker.StateClosed {
		t.Errorf("current: %+v", got[breaker.CurrentSetting])
	}
}
