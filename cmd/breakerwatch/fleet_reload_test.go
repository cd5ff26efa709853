package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/redistest"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// A configuration reload that changes only a breaker's mode changes its
// configured mode: a fleet mode override stays in force (before, the reload
// switched the mode as a runtime change and the fleet, which thought its
// override applied, never applied it again), --clear goes back to the new
// configured mode, and a breaker without an override takes the new mode
// from the configuration.
func TestFleetReloadKeepsModeOverride(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t)
	cfg := fleetConfig(t, up.URL, srv.URL(), "gw-1", "  other: {mode: monitor}")
	text := strings.Replace(readFile(t, cfg), "mode: enforce", "mode: monitor", 1) // llm: monitor
	testutil.WriteFile(t, filepath.Dir(cfg), filepath.Base(cfg), []byte(text))
	p := serve(t, nil, "--config", cfg, "--log-format", "json")
	waitMembers(t, []*proc{p}, 1)
	code, out, errOut := runCmd(t, []string{"USER=alice"}, "ctl", "--addr", p.base, "mode", "llm", "enforce")
	if code != 0 || !strings.Contains(out, "fleet: recorded") {
		t.Fatalf("ctl mode: exit %d\n%s%s", code, out, errOut)
	}

	// The file now says disabled for llm and enforce for other.
	text = strings.Replace(text, "mode: monitor", "mode: disabled", 1)
	text = strings.Replace(text, "other: {mode: monitor}", "other: {mode: enforce}", 1)
	testutil.WriteFile(t, filepath.Dir(cfg), filepath.Base(cfg), []byte(text))
	if code, out, errOut := runCmd(t, nil, "ctl", "--addr", p.base, "reload"); code != 0 || !strings.Contains(out, "2 mode switched") {
		t.Fatalf("ctl reload: exit %d\n%s%s", code, out, errOut)
	}
	modes := func() map[string][2]string {
		m := map[string][2]string{}
		for _, b := range p.status().Breakers {
			m[b.Name] = [2]string{b.Mode, b.ModeSource}
		}
		return m
	}
	got := modes()
	if m := got["llm"]; m[0] != "enforce" || !strings.HasPrefix(m[1], "override by alice@") {
		t.Errorf("llm after the reload: %s from %q, want enforce from alice's override", m[0], m[1])
	}
	if m := got["other"]; m != [2]string{"enforce", "config"} {
		t.Errorf("other after the reload: %s from %q, want enforce from config", m[0], m[1])
	}

	code, out, errOut = runCmd(t, nil, "ctl", "--addr", p.base, "mode", "llm", "--clear")
	if code != 0 {
		t.Fatalf("ctl mode --clear: exit %d\n%s%s", code, out, errOut)
	}
	testutil.WaitFor(t, "llm back to the configured mode, the reloaded one", 10*time.Second, func() bool {
		return modes()["llm"] == [2]string{"disabled", "config"}
	})
}
