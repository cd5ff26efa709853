package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil/chromium"
)

// fleetText is a JavaScript expression: the fleet line of a breaker's row.
func fleetText(name string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector('%s .fleet'); return e && !e.hidden ? e.textContent : ''; })()`, row(name))
}

// The status page in fleet mode, with three gateway processes on one
// redis-server: gw-1's page shows which replicas see llm open when only
// gw-3's path to the upstream is broken, and gw-2's page shows where llm's
// mode comes from after a ctl mode against gw-1 (a fleet override, with who
// and when), live, without a reload.
func TestUIFleet(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	broken := newUpstream(t)
	broken.set(502) // only gw-3 goes through it
	extra := "    candidates:\n      strict: {failure_threshold: 3}"
	ps := replicas(t, fleetConfig(t, up.URL, srv.URL(), "gw-1", extra), fleetConfig(t, up.URL, srv.URL(), "gw-2", extra),
		fleetConfig(t, broken.URL, srv.URL(), "gw-3", extra))
	waitMembers(t, ps, 3)

	b := openBrowser(t)
	b.Do(chromedp.Navigate(ps[0].base + "/ui/"))
	b.WaitJS("the llm row", `document.querySelectorAll('#rows tr').length === 1`, 20*time.Second)
	b.WaitJS("the stream to be live", `document.getElementById('conn').textContent === 'live'`, 10*time.Second)
	if got := chromium.Eval[string](b.Browser, `document.getElementById('replica').textContent`); got != "fleet mode: this is replica gw-1" {
		t.Errorf("replica line %q", got)
	}
	b.WaitJS("three replicas, none open", fleetText("llm")+` === 'open on none of 3 replicas'`, 10*time.Second)
	if got := chromium.Eval[string](b.Browser, `document.querySelector('`+row("llm")+` .mode-src').textContent`); got != "from config" {
		t.Errorf("mode source %q", got)
	}
	chromium.Eval[bool](b.Browser, `window.notReloaded = true`)

	// Calls round-robin: gw-3's fail, the others' succeed, so the pooled
	// evidence keeps the fleet closed and gw-3 opens on its own.
	for i := 0; i < 3*(fleetThreshold+3); i++ {
		ps[i%3].call(t)
		time.Sleep(50 * time.Millisecond)
	}
	if s := ps[2].llmState(); s != "open" {
		t.Fatalf("gw-3: %s, want open on its own evidence", s)
	}
	b.WaitJS("gw-1's page to show llm open on gw-3", fleetText("llm")+` === 'open on 1 of 3 replicas: gw-3'`, 10*time.Second)
	if !chromium.Eval[bool](b.Browser, stateIs("llm", "closed")) {
		t.Errorf("gw-1's own state on its page: %s, want closed", chromium.Eval[string](b.Browser, `document.querySelector('`+row("llm")+` .state').textContent`))
	}
	if !chromium.Eval[bool](b.Browser, `document.querySelector('`+row("llm")+` .fleet').classList.contains('some-open')`) {
		t.Error("the fleet line is not marked as some open")
	}
	b.screenshot("fleet-1-open-on-one-replica")

	// gw-2's page, then a mode override written through gw-1.
	b.Do(chromedp.Navigate(ps[1].base + "/ui/"))
	b.WaitJS("the llm row on gw-2", `document.querySelectorAll('#rows tr').length === 1`, 20*time.Second)
	b.WaitJS("the stream to be live", `document.getElementById('conn').textContent === 'live'`, 10*time.Second)
	b.WaitJS("gw-2's page to show llm open on gw-3", fleetText("llm")+` === 'open on 1 of 3 replicas: gw-3'`, 10*time.Second)
	chromium.Eval[bool](b.Browser, `window.notReloaded = true`)
	code, out, errOut := runCmd(t, []string{"USER=alice"}, "ctl", "--addr", ps[0].base, "mode", "llm", "monitor")
	if code != 0 || !strings.Contains(out, "fleet: recorded") {
		t.Fatalf("ctl mode: exit %d\n%s%s", code, out, errOut)
	}
	b.WaitJS("gw-2's page to show the override", `document.querySelector('`+row("llm")+` .mode').textContent === 'monitor' && document.querySelector('`+row("llm")+` .mode-src').textContent.startsWith('fleet override by alice@')`, 10*time.Second)
	// The time of day on the page; the full source in its title.
	src := chromium.Eval[[]string](b.Browser, `(e => [e.textContent, e.title])(document.querySelector('`+row("llm")+` .mode-src'))`)
	if !regexp.MustCompile(`^fleet override by alice@\S+ at \d{1,2}:\d\d:\d\d`).MatchString(src[0]) ||
		!regexp.MustCompile(`^override by alice@\S+ at `+time.Now().UTC().Format("2006-01-02")+`T`).MatchString(src[1]) {
		t.Errorf("mode source %q (title %q) does not say who and when", src[0], src[1])
	}
	promoted := `(() => { const e = document.querySelector('` + row("llm") + ` .promoted'); return e.hidden ? '' : e.textContent; })()`
	if got := chromium.Eval[string](b.Browser, promoted); got != "" {
		t.Errorf("promoted line before any promotion: %q", got)
	}
	// A promotion through gw-1 shows on gw-2's page with its source too.
	code, out, errOut = runCmd(t, []string{"USER=alice"}, "ctl", "--addr", ps[0].base, "tune", "llm", "--promote", "strict")
	if code != 0 || !strings.Contains(out, "fleet: recorded") {
		t.Fatalf("ctl tune --promote: exit %d\n%s%s", code, out, errOut)
	}
	b.WaitJS("gw-2's page to show the promotion", promoted+`.startsWith('settings: candidate strict, fleet override by alice@')`, 10*time.Second)
	if !chromium.Eval[bool](b.Browser, `window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	b.screenshot("fleet-2-mode-override")
}
