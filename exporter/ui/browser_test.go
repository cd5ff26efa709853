package ui_test

// Browser tests of the page on its own: headless Chromium, driven through
// the DevTools protocol by chromedp, against the real admin API
// (exporter.NewAdmin with a Live feed) over a registry of real breakers, on
// a loopback server. cmd/breakerwatch's browser tests drive the whole
// binary; these look at what the page does with its DOM.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/exporter/ui"
	"github.com/breakerwatch/breakerwatch/internal/testutil/chromium"
)

// pageServer serves the page and the admin API with its live endpoints over
// n real breakers, b0000 to b0999 for n = 1000, with varied windows: some
// open (state), error rates from 0 to 7/8, one to nine calls each (calls/s
// over a two-second sample), and none at all for a tenth of them (no value:
// sorted last). It returns the page's URL.
func pageServer(t *testing.T, n int) (*breaker.Registry, string) {
	t.Helper()
	live := exporter.NewLive(exporter.LiveOptions{})
	t.Cleanup(live.Close)
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()), breaker.WithStateListener(live.Record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	failed := errors.New("upstream failed")
	for i := range n {
		if _, err := reg.Register(breaker.Config{Name: fmt.Sprintf("b%04d", i), FailureThreshold: 3, Timeout: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	live.Sample(reg, t0)
	for i := range n {
		b, _ := reg.Get(fmt.Sprintf("b%04d", i))
		calls, fails := 1+(i*7)%9, (i*5)%8
		if i%10 == 3 {
			continue // no calls: no error rate, no latency
		}
		if i%25 == 0 {
			calls, fails = 3, 3 // opens
		}
		for c := range calls {
			fail := c < fails && (c%2 == 0 || i%25 == 0) // never 3 in a row but for the ones that open
			_ = b.Execute(context.Background(), func(context.Context) error {
				if fail {
					return failed
				}
				return nil
			})
		}
	}
	live.Sample(reg, t0.Add(2*time.Second))
	mux := http.NewServeMux()
	mux.Handle(exporter.AdminPathPrefix, exporter.NewAdmin(reg, exporter.AdminOptions{Live: live}))
	mux.Handle("GET "+ui.Path, ui.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return reg, srv.URL + ui.Path
}

// styleMetrics returns Chromium's cumulative style and layout durations
// (ms) for the tab (the DevTools Performance domain).
func styleMetrics(t *testing.T, b *chromium.Browser) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	res, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		t.Fatalf("performance metrics: %v", err)
	}
	m := map[string]float64{}
	for _, x := range res.Metrics {
		switch x.Name {
		case "RecalcStyleDuration", "LayoutDuration":
			m[x.Name] = x.Value * 1000
		}
	}
	return m
}

// Sorting 1,000 rows moves the page's own row elements into the new order:
// the same elements (a property set on each before survives), no rebuild
// (one render in total), and only the rows that must move are moved (a
// MutationObserver counts the rows taken out of the table). Each sort is
// timed to the next frame and logged with the page's perf counters and
// Chromium's style and layout durations.
func TestSortMovesRows(t *testing.T) {
	const n = 1000
	reg, url := pageServer(t, n)
	b := chromium.Start(t)
	b.Do(chromedp.Navigate(url))
	b.WaitJS("1000 rows", `document.querySelectorAll('#rows tr').length === 1000`, 3*time.Minute)
	b.WaitJS("the series", `document.querySelector('#rows tr polyline.er')?.getAttribute('points') !== null`, time.Minute)
	{
		ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		_, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	chromium.Eval[bool](b, `(() => {
  for (const tr of document.querySelectorAll('#rows tr')) tr.bwMark = tr.dataset.name;
  window.bwMoved = 0;
  new MutationObserver((ms) => { for (const m of ms) window.bwMoved += m.removedNodes.length; })
    .observe(document.getElementById('rows'), {childList: true});
  return true;
})()`)
	sameRows := `(() => { const rs = [...document.querySelectorAll('#rows tr')]; return rs.length === 1000 && rs.every((r) => r.bwMark === r.dataset.name) && new Set(rs).size === 1000; })()`

	for _, c := range []struct {
		col   string
		desc  bool
		first string
		moves float64 // rows that must move, when known
	}{
		{"state", true, "b0000", 39}, // the 40 open ones first, by name (b0000 is first already)
		{"err", true, "", 0},
		{"p95", true, "", 0},
		{"cps", true, "", 0},
		{"name", false, "b0000", 0},
		{"name", true, "b0999", 999}, // a second click reverses
		{"state", true, "b0000", 0},
		{"state", false, "b0001", 40}, // closed first: only the open ones move
	} {
		before := styleMetrics(t, b)
		moved := chromium.Eval[float64](b, `window.bwMoved`)
		ms := b.UntilFrame(fmt.Sprintf(`document.querySelector('th[data-sort=%q] button').click()`, c.col))
		after := styleMetrics(t, b)
		dir := "ascending"
		if c.desc {
			dir = "descending"
		}
		if got := chromium.Eval[string](b, fmt.Sprintf(`document.querySelector('th[data-sort=%q]').getAttribute('aria-sort') + ' ' + document.querySelectorAll('th[aria-sort]').length`, c.col)); got != dir+" 1" {
			t.Errorf("sort by %s: aria-sort %q, want %q on that header only", c.col, got, dir)
		}
		if !chromium.Eval[bool](b, chromium.StatusPageSortedBy(c.col, c.desc)) {
			t.Errorf("the rows are not sorted by %s (%s)", c.col, dir)
		}
		if c.first != "" {
			if got := chromium.Eval[string](b, `document.querySelector('#rows tr').dataset.name`); got != c.first {
				t.Errorf("sort by %s %s: first row %s, want %s", c.col, dir, got, c.first)
			}
		}
		if !chromium.Eval[bool](b, sameRows) {
			t.Errorf("sort by %s %s: the rows are not the page's own row elements any more", c.col, dir)
		}
		perf := chromium.Eval[map[string]float64](b, `window.breakerwatch`)
		moved = chromium.Eval[float64](b, `window.bwMoved`) - moved
		if c.moves != 0 && moved != c.moves {
			t.Errorf("sort by %s %s moved %v rows, want %v", c.col, dir, moved, c.moves)
		}
		if moved != perf["lastSortMoves"] {
			t.Errorf("sort by %s %s: %v rows moved, the page counted %v", c.col, dir, moved, perf["lastSortMoves"])
		}
		t.Logf("sort by %s %s: %.1f ms to the next frame; %v rows moved; perf lastSortMs %.1f, sortMsMax %.1f, sorts %v; style recalc %.1f ms, layout %.1f ms [%s]",
			c.col, dir, ms, moved, perf["lastSortMs"], perf["sortMsMax"], perf["sorts"],
			after["RecalcStyleDuration"]-before["RecalcStyleDuration"], after["LayoutDuration"]-before["LayoutDuration"], chromium.Load())
	}

	// A live update that puts one row elsewhere in the order moves that row
	// alone. Sorted by error rate, b0003 (no calls, last) fails once: 100%,
	// second after b0000 (100% too, ties by name). Its Reset button keeps
	// the focus and an unfolded timeline stays unfolded.
	b.UntilFrame(`document.querySelector('th[data-sort="err"] button').click()`)
	if !chromium.Eval[bool](b, chromium.StatusPageSortedBy("err", true)) || chromium.Eval[string](b, `[...document.querySelectorAll('#rows tr')].at(-1).dataset.name`) != "b0993" {
		t.Fatalf("not sorted by err descending with b0993 last")
	}
	chromium.Eval[bool](b, `(() => {
  document.querySelector('tr[data-name="b0500"] .timeline').open = true;
  document.querySelector('tr[data-name="b0003"] .reset').focus();
  window.bwMovedBefore = window.bwMoved;
  return true;
})()`)
	b3, _ := reg.Get("b0003")
	_ = b3.Execute(context.Background(), func(context.Context) error { return errors.New("upstream failed") })
	b.WaitJS("b0003 second", `document.querySelectorAll('#rows tr')[1].dataset.name === 'b0003'`, time.Minute)
	if !chromium.Eval[bool](b, chromium.StatusPageSortedBy("err", true)) {
		t.Errorf("the rows are not sorted by err after an update")
	}
	if moved := chromium.Eval[float64](b, `window.bwMoved - window.bwMovedBefore`); moved != 1 {
		t.Errorf("an update that reorders one row moved %v rows, want 1", moved)
	}
	perf := chromium.Eval[map[string]float64](b, `window.breakerwatch`)
	t.Logf("an update moving b0003 from last to second: %v rows moved in %.1f ms of script", perf["lastSortMoves"], perf["lastSortMs"])
	if got := chromium.Eval[string](b, `document.activeElement.closest('tr')?.dataset.name + ' ' + document.activeElement.className`); got != "b0003 reset" {
		t.Errorf("after b0003 moved, the focus is on %q, want its reset button", got)
	}
	if !chromium.Eval[bool](b, `document.querySelector('tr[data-name="b0500"] .timeline').open`) {
		t.Errorf("an unfolded timeline folded when the rows moved")
	}
	if !chromium.Eval[bool](b, sameRows) {
		t.Errorf("after an update: the rows are not the page's own row elements any more")
	}
	// Lowest error rate first (a second click): the rows without calls in
	// the window still come last, as they do highest first.
	b.UntilFrame(`document.querySelector('th[data-sort="err"] button').click()`)
	if !chromium.Eval[bool](b, chromium.StatusPageSortedBy("err", false)) {
		t.Errorf("the rows are not sorted by err ascending with the rows without calls last")
	}
	if got := chromium.Eval[string](b, `[...document.querySelectorAll('#rows tr')].at(-1).querySelector('.err').textContent`); got != "no calls" {
		t.Errorf("sorted by err ascending, the last row shows %q, want a row without calls", got)
	}
	if r := chromium.Eval[float64](b, `window.breakerwatch.renders`); r != 1 {
		t.Errorf("sorting rebuilt the table (%v renders); it must move rows", r)
	}
}
