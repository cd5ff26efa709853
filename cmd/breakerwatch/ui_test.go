package main

// Browser tests of the status page (/ui/): headless Chromium, driven through
// the DevTools protocol by chromedp, against the real binary (built by
// TestMain) in front of upstreams on loopback that the tests break and heal.
// Every test fails on any console error or uncaught exception in the page.
// Screenshots go to the directory uiArtifacts prints.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/internal/testutil/chromium"
)

var (
	artifactsOnce sync.Once
	artifactsDir  string
)

// uiArtifacts is where the screenshots and measurements go:
// $BREAKERWATCH_UI_ARTIFACTS, or breakerwatch-ui under the temp directory.
// It is printed once.
func uiArtifacts(t *testing.T) string {
	artifactsOnce.Do(func() {
		artifactsDir = os.Getenv("BREAKERWATCH_UI_ARTIFACTS")
		if artifactsDir == "" {
			artifactsDir = filepath.Join(os.TempDir(), "breakerwatch-ui")
		}
		if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "status page tests: screenshots and measurements in %s\n", artifactsDir)
	})
	return artifactsDir
}

// page is a browser tab (chromium.Browser: Do, WaitJS, chromium.Eval) and
// its test, with the status page's own steps.
type page struct {
	*chromium.Browser
	t *testing.T
}

// pageState is what a WaitJS timeout shows of the page.
const pageState = `JSON.stringify({conn: document.getElementById('conn').textContent, perf: window.breakerwatch})`

// openBrowser starts Chromium and returns a tab; it fails the test if
// Chromium is missing in CI (skips elsewhere). Call it after serve: the
// tab's cleanup, registered last, runs first and checks the console before
// the server stops (a stopped server makes the page's stream fail, which is
// expected).
func openBrowser(t *testing.T) *page {
	t.Helper()
	return &page{Browser: chromium.Start(t, chromium.WithPageState(pageState)), t: t}
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	// Generous: a 1,000-row page on a loaded machine takes tens of seconds.
	ctx, cancel := context.WithTimeout(p.Context(), 3*time.Minute)
	defer cancel()
	shot := chromedp.FullScreenshot(100)
	if chromium.Eval[bool](p.Browser, `document.body.scrollHeight > 3 * innerHeight`) {
		shot = chromedp.CaptureScreenshot() // the viewport of a long page
	}
	buf, err := chromedp.Run(ctx, shot)
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(uiArtifacts(p.t), name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
}

// setInput sets the value of a form control and fires its input event, as
// a choice in a select does.
func (p *page) setInput(sel, value string) {
	p.t.Helper()
	if !chromium.Eval[bool](p.Browser, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true})); return e.value === %q; })()`, sel, value, value)) {
		p.t.Fatalf("could not set %s to %q", sel, value)
	}
}

// clickUntil clicks sel (a real mouse click at its place, as a user's) until
// the JavaScript test cond holds. A live update that re-lays out the table
// between chromedp's look at sel's box and the click moves the button from
// under the pointer (the click lands on its row, which does nothing); the
// test then clicks again, as a user would.
func (p *page) clickUntil(sel, what, cond string) {
	p.t.Helper()
	for try := 1; ; try++ {
		p.Do(chromedp.Click(sel))
		ok, err := p.Poll(cond, time.Second)
		if err == nil && ok {
			return
		}
		if try == 5 {
			p.t.Fatalf("clicked %s %d times and %s did not happen (%s): %v", sel, try, what, cond, err)
		}
		p.t.Logf("click %d on %s missed (%s did not happen); clicking again", try, sel, what)
	}
}

// dialogOpen is a JavaScript test of the confirmation dialog being open.
const dialogOpen = `document.getElementById('confirm').open`

// row is a CSS selector of a breaker's row.
func row(name string) string { return `tr[data-name="` + name + `"]` }

// stateIs is a JavaScript test of the state a row shows.
func stateIs(name, state string) string {
	return fmt.Sprintf(`document.querySelector('%s .state')?.textContent === %q`, row(name), state)
}

// confirm clicks the dialog's confirm button, waits for the server's answer
// on the page and returns it.
func (p *page) confirm() string {
	p.t.Helper()
	p.Do(chromedp.WaitVisible(`#confirm-ok`), chromedp.Click(`#confirm-ok`))
	p.WaitJS("the server's answer", `!document.getElementById('answer').hidden && document.getElementById('answer').textContent.startsWith('POST')`, 10*time.Second)
	ans := chromium.Eval[string](p.Browser, `(() => { const a = document.getElementById('answer'); const s = a.textContent; a.hidden = true; a.textContent = ''; return s; })()`)
	return ans
}

// uiConfig: up (route /up/, falls back to spare), spare, and watch (monitor
// mode, no route). The open timeout is long so an open breaker stays open
// until the test resets it.
func uiConfig(t *testing.T, up, spare string) string {
	return writeConfig(t, `
defaults:
  mode: enforce
  timeout: 5m
breakers:
  up: {failure_threshold: 3}
  spare: {}
  watch: {mode: monitor}
routes:
  - prefix: /up/
    upstream: `+up+`
    breaker: up
    fallbacks: [{upstream: "`+spare+`", breaker: spare}]
  - prefix: /spare/
    upstream: `+spare+`
    breaker: spare
`)
}

// The page lists every breaker with its routes; breaking the upstream turns
// its row open within two seconds without a reload; the timeline shows the
// transition and its reason; a reset from the page closes it; a mode change
// from the page shows in the row and the timeline; the filters work.
func TestUIFollowsBreakers(t *testing.T) {
	up, spare := newUpstream(t), newUpstream(t)
	p := serve(t, nil, "--config", uiConfig(t, up.URL, spare.URL), "--log-format", "json")
	if !strings.Contains(p.stdout.String(), "Open:\n  "+p.base+"/ui/ ") {
		t.Errorf("the banner does not list the page first:\n%s", p.stdout)
	}
	b := openBrowser(t)
	b.Do(chromedp.Navigate(p.base + "/ui/"))
	b.WaitJS("three rows", `document.querySelectorAll('#rows tr').length === 3`, 20*time.Second)
	names := chromium.Eval[[]string](b.Browser, `[...document.querySelectorAll('#rows tr')].map(r => r.dataset.name)`)
	if strings.Join(names, ",") != "spare,up,watch" {
		t.Errorf("rows %v", names)
	}
	for name, want := range map[string]string{
		"up":    "/up/ → falls back to spare",
		"spare": "fallback 1 of /up/; /spare/",
	} {
		if got := chromium.Eval[string](b.Browser, `document.querySelector('`+row(name)+` .routes').textContent`); got != want {
			t.Errorf("%s routes %q, want %q", name, got, want)
		}
	}
	b.WaitJS("the stream to be live", `document.getElementById('conn').textContent === 'live'`, 10*time.Second)
	// Without fleet mode the page shows nothing about a fleet; each mode
	// says where it comes from.
	if got := chromium.Eval[string](b.Browser, `[document.getElementById('replica').hidden, ...[...document.querySelectorAll('#rows .fleet')].map(e => e.hidden || e.textContent)].join()`); got != "true,true,true,true" {
		t.Errorf("fleet elements without fleet mode (hidden?): %s", got)
	}
	if got := chromium.Eval[string](b.Browser, `document.querySelector('`+row("up")+` .mode-src').textContent`); got != "from config" {
		t.Errorf("mode source %q", got)
	}
	chromium.Eval[bool](b.Browser, `window.notReloaded = true`)
	b.screenshot("follows-1-closed")

	// Break the upstream: the third failure opens the breaker.
	up.set(503)
	for range 3 {
		get(t, p.base+"/up/x")
	}
	opened := time.Now()
	b.WaitJS("up to show open", stateIs("up", "open"), 10*time.Second)
	took := time.Since(opened)
	t.Logf("open on the page %v after the request that opened it", took)
	if took > 2*time.Second {
		t.Errorf("the page showed up open %v after it opened; want within 2s", took)
	}
	if !chromium.Eval[bool](b.Browser, `window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	if got := chromium.Eval[string](b.Browser, `document.getElementById('summary').textContent`); got != "3 breakers: 1 open, 0 half-open, 2 closed" {
		t.Errorf("summary %q", got)
	}
	// The state is text and colour.
	if cls := chromium.Eval[string](b.Browser, `document.querySelector('`+row("up")+` .state').className`); cls != "state open" {
		t.Errorf("state class %q", cls)
	}

	// The timeline, opened from the keyboard.
	b.Do(chromedp.Focus(row("up") + ` .timeline summary`))
	chromium.Eval[bool](b.Browser, `(document.activeElement.click(), true)`)
	b.WaitJS("the timeline to show the trip", `document.querySelector('`+row("up")+` .timeline ol').textContent.includes('closed → open: 3 consecutive failures reached failure_threshold 3')`, 10*time.Second)
	b.WaitJS("the change to be announced", `document.getElementById('announce').textContent.includes('up: closed to open, 3 consecutive failures')`, 5*time.Second)
	b.screenshot("follows-2-open-timeline")

	// Filters: state, mode, name.
	visible := func() string {
		return strings.Join(chromium.Eval[[]string](b.Browser, `[...document.querySelectorAll('#rows tr')].filter(r => !r.hidden).map(r => r.dataset.name)`), ",")
	}
	b.setInput(`#f-state`, "open")
	if v := visible(); v != "up" {
		t.Errorf("state=open shows %q", v)
	}
	b.setInput(`#f-state`, "")
	b.setInput(`#f-mode`, "monitor")
	if v := visible(); v != "watch" {
		t.Errorf("mode=monitor shows %q", v)
	}
	b.setInput(`#f-mode`, "")
	b.Do(chromedp.SendKeys(`#f-name`, "SPA")) // typed: the input events are the browser's
	if v := visible(); v != "spare" {
		t.Errorf("name=SPA shows %q", v)
	}
	b.setInput(`#f-name`, "")

	// Reset from the page: confirmation, no token asked (none configured).
	up.set(200)
	b.clickUntil(row("up")+` button.reset`, "the dialog", dialogOpen)
	if chromium.Eval[bool](b.Browser, `!document.getElementById('token-row').hidden`) {
		t.Error("the dialog asks for a token although none is configured")
	}
	if ans := b.confirm(); !strings.Contains(ans, "→ 200 OK") || !strings.Contains(ans, `"action":"reset"`) {
		t.Errorf("reset answer %q", ans)
	}
	b.WaitJS("up to show closed", stateIs("up", "closed"), 5*time.Second)
	b.WaitJS("the timeline to show the reset", `document.querySelector('`+row("up")+` .timeline ol').textContent.includes('open → closed: reset')`, 5*time.Second)
	b.screenshot("follows-3-reset")

	// Cancelling does nothing.
	b.clickUntil(row("spare")+` button.reset`, "the dialog", dialogOpen)
	b.Do(chromedp.Click(`#confirm-cancel`), chromedp.WaitNotVisible(`#confirm`))

	// Mode change from the page.
	b.clickUntil(row("spare")+` button.set-mode`, "the mode dialog", dialogOpen)
	b.Do(chromedp.WaitVisible(`#confirm-mode`))
	b.setInput(`#confirm-mode`, "monitor")
	if ans := b.confirm(); !strings.Contains(ans, "→ 200 OK") || !strings.Contains(ans, `"previous_mode":"enforce"`) {
		t.Errorf("mode answer %q", ans)
	}
	b.WaitJS("spare to show monitor", `document.querySelector('`+row("spare")+` .mode').textContent === 'monitor'`, 5*time.Second)
	b.WaitJS("spare's mode source", `document.querySelector('`+row("spare")+` .mode-src').textContent === 'runtime override (this process only)'`, 5*time.Second)
	b.Do(chromedp.Click(row("spare") + ` .timeline summary`))
	b.WaitJS("the timeline to show the mode change", `document.querySelector('`+row("spare")+` .timeline ol').textContent.includes('mode enforce → monitor: set through the admin API')`, 5*time.Second)
	if !chromium.Eval[bool](b.Browser, `window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
}

// With an admin token, the page asks for it; a wrong one is refused (the
// page shows the server's 401 and the breaker stays open), a request
// without one is refused, and the right one resets the breaker.
func TestUITokenRequired(t *testing.T) {
	up, spare := newUpstream(t), newUpstream(t)
	p := serve(t, []string{"BREAKERWATCH_ADMIN_TOKEN=s3cret-token"}, "--config", uiConfig(t, up.URL, spare.URL), "--log-format", "json")
	b := openBrowser(t)
	// The refusals below are logged by Chromium as failed loads.
	b.Allow("/api/circuit-breaker/reset/up - Failed to load resource: the server responded with a status of 401")
	b.Allow("Failed to load resource: the server responded with a status of 401 (Unauthorized) (" + p.base + "/api/circuit-breaker/reset/up")
	b.Do(chromedp.Navigate(p.base + "/ui/"))
	b.WaitJS("the stream to be live", `document.getElementById('conn').textContent === 'live'`, 20*time.Second)
	up.set(503)
	for range 3 {
		get(t, p.base+"/up/x")
	}
	b.WaitJS("up to show open", stateIs("up", "open"), 10*time.Second)

	// Without the token, from the page's origin: refused.
	if status := chromium.Eval[float64](b.Browser, `fetch('../api/circuit-breaker/reset/up', {method: 'POST'}).then(r => r.status)`, chromedp.EvalAwaitPromise); status != 401 {
		t.Errorf("a reset without the token from the page: %v, want 401", status)
	}
	b.clickUntil(row("up")+` button.reset`, "the dialog", dialogOpen)
	b.Do(chromedp.WaitVisible(`#token`))
	b.Do(chromedp.SendKeys(`#token`, "wrong"))
	if ans := b.confirm(); !strings.Contains(ans, "→ 401 Unauthorized") || !strings.Contains(ans, "invalid admin token") {
		t.Errorf("wrong token: answer %q", ans)
	}
	if !chromium.Eval[bool](b.Browser, stateIs("up", "open")) {
		t.Error("up is not open any more after a refused reset")
	}
	b.clickUntil(row("up")+` button.reset`, "the dialog", dialogOpen)
	b.Do(chromedp.WaitVisible(`#token`))
	if v := chromium.Eval[string](b.Browser, `document.getElementById('token').value`); v != "" {
		t.Errorf("the refused token is still filled in: %q", v)
	}
	b.Do(chromedp.SendKeys(`#token`, "s3cret-token"))
	b.screenshot("token-1-asks")
	if ans := b.confirm(); !strings.Contains(ans, "→ 200 OK") {
		t.Errorf("right token: answer %q", ans)
	}
	b.WaitJS("up to show closed", stateIs("up", "closed"), 5*time.Second)
	// The token stays in the page's memory only.
	if n := chromium.Eval[float64](b.Browser, `localStorage.length + sessionStorage.length + document.cookie.length`); n != 0 {
		t.Errorf("the page stored something (%v)", n)
	}
}

// measure appends measurements to the artifacts directory's
// measurements.txt (and the test log).
func measure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	line += " [" + chromium.Load() + "]"
	t.Log(line)
	f, err := os.OpenFile(filepath.Join(uiArtifacts(t), "measurements.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339), t.Name(), line)
}

// A page with 1,000 breakers renders, follows 500 of them opening at once,
// and stays responsive. Times are recorded (measurements.txt), not asserted:
// they depend on the machine's load.
func TestUIThousandBreakers(t *testing.T) {
	const n = 1000
	good, bad := newUpstream(t), newUpstream(t)
	var cfg strings.Builder
	cfg.WriteString("defaults: {mode: enforce, timeout: 5m}\nbreakers:\n")
	for i := range n {
		fmt.Fprintf(&cfg, "  b%04d: {failure_threshold: 2}\n", i)
	}
	cfg.WriteString("routes:\n")
	for i := range n {
		up := good.URL
		if i%2 == 1 {
			up = bad.URL
		}
		fmt.Fprintf(&cfg, "  - {prefix: /b%04d/, upstream: %q, breaker: b%04d}\n", i, up, i)
	}
	p := serve(t, nil, "--config", writeConfig(t, cfg.String()), "--log-format", "json", "--log-level", "error")
	b := openBrowser(t)

	start := time.Now()
	b.Do(chromedp.Navigate(p.base + "/ui/"))
	b.WaitJS("1000 rows", `document.querySelectorAll('#rows tr').length === 1000`, 3*time.Minute)
	wall := time.Since(start)
	first := chromium.Eval[map[string]float64](b.Browser, `window.breakerwatch`)
	measure(t, "%d breakers: first render %.0f ms after navigation start (table built in %.1f ms of script); navigate to 1000 rows seen from Go %v",
		n, first["firstRenderMs"], first["firstRenderScriptMs"], wall.Round(time.Millisecond))
	chromium.Eval[bool](b.Browser, `(window.longTasks = [], new PerformanceObserver(l => window.longTasks.push(...l.getEntries().map(e => e.duration))).observe({type: 'longtask'}), true)`)
	before := chromium.Eval[map[string]float64](b.Browser, `window.breakerwatch`)

	// Break every odd upstream: 500 breakers open, in a few update batches.
	bad.set(503)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				resp, err := http.Get(fmt.Sprintf("%s/b%04d/x", p.base, i))
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	for range 2 {
		for i := 1; i < n; i += 2 {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	took := b.WaitJS("500 open rows", `document.querySelectorAll('#rows tr[data-state="open"]').length === 500`, 2*time.Minute)
	if got := chromium.Eval[string](b.Browser, `document.getElementById('summary').textContent`); got != "1000 breakers: 500 open, 0 half-open, 500 closed" {
		t.Errorf("summary %q", got)
	}
	after := chromium.Eval[map[string]float64](b.Browser, `window.breakerwatch`)
	updates := after["updates"] - before["updates"]
	measure(t, "500 breakers opening: all shown %v after the last request; %v update batches, %.1f ms of script per batch on average, %.1f ms the longest; one full render in total (%v)",
		took.Round(time.Millisecond), updates, (after["updateMsTotal"]-before["updateMsTotal"])/updates, after["updateMsMax"], after["renders"])
	if after["renders"] != 1 {
		t.Errorf("the table was rebuilt %v times; updates must change rows in place", after["renders"])
	}

	// Responsive: a filter applies by the next frame, and the page answers
	// an evaluation quickly, while samples and updates keep coming.
	filter := b.UntilFrame(`const e = document.getElementById('f-name'); e.value = 'b09'; e.dispatchEvent(new Event('input'))`)
	if shown := chromium.Eval[float64](b.Browser, `[...document.querySelectorAll('#rows tr')].filter(r => !r.hidden).length`); shown != 100 {
		t.Errorf("name filter b09 shows %v rows, want 100", shown)
	}
	var rtts []time.Duration
	for range 10 {
		s := time.Now()
		chromium.Eval[bool](b.Browser, `true`)
		rtts = append(rtts, time.Since(s))
	}
	slices.Sort(rtts)
	long := chromium.Eval[[]float64](b.Browser, `window.longTasks`)
	measure(t, "name filter over 1000 rows to the next frame: %.1f ms; evaluation round trip median %v; long tasks (>50 ms) during the updates: %d %v",
		filter, rtts[len(rtts)/2].Round(100*time.Microsecond), len(long), long)
	clear := b.UntilFrame(`const e = document.getElementById('f-name'); e.value = ''; e.dispatchEvent(new Event('input'))`)
	if shown := chromium.Eval[float64](b.Browser, `[...document.querySelectorAll('#rows tr')].filter(r => !r.hidden).length`); shown != 1000 {
		t.Errorf("clearing the name filter shows %v rows, want 1000", shown)
	}
	measure(t, "clearing the name filter (100 to 1000 rows shown) to the next frame: %.1f ms", clear)
	b.screenshot("thousand-1-half-open")
	checkSorting(t, b)
}

// axRole returns the role Chromium's accessibility tree gives the element
// sel matches.
func axRole(b *page, sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 60*time.Second)
	defer cancel()
	obj, err := chromedp.Call(ctx, cdpruntime.Evaluate, cdpruntime.EvaluateParams{Expression: `document.querySelector(` + fmt.Sprintf("%q", sel) + `)`})
	if err != nil || obj.Result == nil || obj.Result.ObjectID == "" {
		b.t.Fatalf("%s: %v", sel, err)
	}
	no := false
	ax, err := chromedp.Call(ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: obj.Result.ObjectID, FetchRelatives: &no})
	if err != nil || len(ax.Nodes) == 0 || ax.Nodes[0].Role == nil {
		b.t.Fatalf("the accessibility node of %s: %v", sel, err)
	}
	return strings.Trim(string(ax.Nodes[0].Role.Value), `"`)
}

// checkSorting sorts the 1,000 rows by each sortable column from its header,
// checks the order the page shows and records how long each sort took.
func checkSorting(t *testing.T, b *page) {
	t.Helper()
	for _, c := range []struct {
		col, th string
		desc    bool
		first   string
	}{
		{"state", "state", true, "b0001"}, // the open ones first, by name
		{"err", "err", true, "b0001"},
		{"p95", "p95", true, ""},
		{"cps", "cps", true, ""},
		{"name", "name", false, "b0000"},
		{"name", "name", true, "b0999"}, // a second click reverses
		{"state", "state", true, "b0001"},
		{"state", "state", false, "b0000"}, // closed first
	} {
		before := chromium.Eval[float64](b.Browser, `window.breakerwatch.sorts`)
		ms := b.UntilFrame(fmt.Sprintf(`document.querySelector('th[data-sort=%q] button').click()`, c.th))
		dir := "ascending"
		if c.desc {
			dir = "descending"
		}
		if got := chromium.Eval[string](b.Browser, fmt.Sprintf(`document.querySelector('th[data-sort=%q]').getAttribute('aria-sort') + ' ' + document.querySelectorAll('th[aria-sort]').length`, c.th)); got != dir+" 1" {
			t.Errorf("sort by %s: aria-sort %q, want %q on that header only", c.col, got, dir)
		}
		if !chromium.Eval[bool](b.Browser, chromium.StatusPageSortedBy(c.col, c.desc)) {
			t.Errorf("the rows are not sorted by %s (%s)", c.col, dir)
		}
		if c.first != "" {
			if got := chromium.Eval[string](b.Browser, `document.querySelector('#rows tr').dataset.name`); got != c.first {
				t.Errorf("sort by %s %s: first row %s, want %s", c.col, dir, got, c.first)
			}
		}
		perf := chromium.Eval[map[string]float64](b.Browser, `window.breakerwatch`)
		measure(t, "sort 1000 rows by %s %s from its header to the next frame: %.1f ms (%v row moves; longest sort so far %.1f ms of script)",
			c.col, dir, ms, perf["sorts"]-before, perf["sortMsMax"])
	}
	if n := chromium.Eval[float64](b.Browser, `document.querySelectorAll('#rows tr').length`); n != 1000 {
		t.Errorf("%v rows after sorting", n)
	}
	if r := chromium.Eval[float64](b.Browser, `window.breakerwatch.renders`); r != 1 {
		t.Errorf("sorting rebuilt the table (%v renders); it must move rows", r)
	}
	// The rows are laid out as grids (app.css): the table keeps its roles.
	for sel, want := range map[string]string{
		"#breakers": "table", `th[data-sort="name"]`: "columnheader", "#rows tr": "row",
		"#rows tr th": "rowheader", "#rows tr td": "cell",
	} {
		if got := axRole(b, sel); got != want {
			t.Errorf("%s: accessibility role %q, want %q", sel, got, want)
		}
	}
}

// The demo at its key moments, for the README and docs/status-page.md:
// openai_api opens during its outage (its timeline says why, /chat/ falls
// back), then it recovers; and the same page on a phone.
func TestUIDemo(t *testing.T) {
	p := serve(t, nil, "--demo-speed", "5", "--log-format", "json")
	b := openBrowser(t)
	b.Do(chromedp.Navigate(p.base + "/ui/"))
	b.WaitJS("the four demo breakers", `document.querySelectorAll('#rows tr').length === 4`, 20*time.Second)
	if got := chromium.Eval[string](b.Browser, `document.querySelector('`+row("anthropic_api")+` .routes').textContent`); !strings.Contains(got, "fallback 1 of /chat/") {
		t.Errorf("anthropic_api routes %q", got)
	}
	b.WaitJS("openai_api to open", stateIs("openai_api", "open"), 60*time.Second)
	b.Do(chromedp.Click(row("openai_api") + ` .timeline summary`))
	b.WaitJS("the reason in the timeline", `document.querySelector('`+row("openai_api")+` .timeline ol').textContent.includes('closed → open: ')`, 10*time.Second)
	// Let a few samples draw the trend.
	b.WaitJS("three samples", `window.breakerwatch.samples >= 3`, 30*time.Second)
	b.screenshot("demo-1-openai-open")
	b.WaitJS("openai_api to recover", `document.querySelector('`+row("openai_api")+` .timeline ol').textContent.includes('half-open → closed')`, 90*time.Second)
	b.WaitJS("openai_api closed", stateIs("openai_api", "closed"), 30*time.Second)
	b.screenshot("demo-2-recovered")
	b.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.screenshot("demo-3-phone")
}

// Another site open in the same browser cannot act on the breakers: its
// request reaches the server from loopback with a loopback Host (so the
// no-token rule alone would let it through) and is refused as cross-origin.
func TestUICrossSiteRefused(t *testing.T) {
	up, spare := newUpstream(t), newUpstream(t)
	p := serve(t, nil, "--config", uiConfig(t, up.URL, spare.URL), "--log-format", "json")
	up.set(503)
	for range 3 {
		get(t, p.base+"/up/x")
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><script>
window.sent = fetch(%q, {method: "POST", mode: "no-cors"}).then(() => "sent", e => "failed: " + e);
</script>`, p.base+"/api/circuit-breaker/reset/up")
	}))
	// Closed after the browser's cleanup has checked the console (cleanups
	// run last first): a request of the page's still in flight (its
	// favicon) would otherwise fail on a closed server, as a console error.
	t.Cleanup(evil.Close)
	b := openBrowser(t)
	b.Allow("status of 403") // the refusal, logged by Chromium
	b.Do(chromedp.Navigate(evil.URL))
	if got := chromium.Eval[string](b.Browser, `window.sent`, chromedp.EvalAwaitPromise); got != "sent" {
		t.Fatalf("the cross-site request: %s", got)
	}
	testutil.WaitFor(t, "the refusal in the log", 10*time.Second, func() bool {
		return strings.Contains(p.stderr.String(), `"action":"reset"`) && strings.Contains(p.stderr.String(), `"status":403`)
	})
	if !strings.Contains(p.stderr.String(), "cross-origin browser requests may not mutate breakers") {
		t.Errorf("the refusal does not say why:\n%s", p.stderr)
	}
	if s := get(t, p.base+"/api/circuit-breaker/status").body; !strings.Contains(s, `"name":"up","state":"open"`) {
		t.Errorf("up is not open any more: %s", s)
	}
}
