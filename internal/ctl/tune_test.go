package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// In enforce mode the report says that the settings saw only the calls that
// ran, and how many the breaker rejected.
func TestTuneEnforceMode(t *testing.T) {
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	b, err := reg.Register(breaker.Config{Name: "api", FailureThreshold: 2, Timeout: time.Hour,
		Candidates: map[string]breaker.Candidate{"lax": {FailureThreshold: new(uint32(4))}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // 2 failures open it; 3 rejected calls that never ran
		_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	}
	srv := httptest.NewServer(exporter.NewAdmin(reg, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	out, err := run(t, &Client{Addr: srv.URL}, "tune", "api")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != "api: enforce mode: the settings saw only the calls that ran; the calls the breaker rejected did not run, so no setting saw them" ||
		lines[1] != "the breaker itself rejected 3 call(s), which no setting saw" {
		t.Errorf("output:\n%s", out)
	}
	// Both settings saw the two failures: current opened, lax did not.
	for _, re := range []string{
		`(?m)^current +2 +- +- +1h +1 +1m +2 +open +1 +(<1s|\d+s) +0 +0 +0$`,
		`(?m)^lax +4 +- +- +1h +1 +1m +2 +closed +0 +0s +0 +0 +0$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no line matches %s in\n%s", re, out)
		}
	}
}

// Promote and ClearPromotion print what changed, the state and mode, and
// the server's note, from the real admin API.
func TestPromote(t *testing.T) {
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if _, err := reg.Register(breaker.Config{Name: "api", Mode: breaker.ModeMonitor, FailureThreshold: 2,
		Candidates: map[string]breaker.Candidate{"lax": {FailureThreshold: new(uint32(4))}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exporter.NewAdmin(reg, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	c := &Client{Addr: srv.URL}
	var out strings.Builder
	if err := c.Promote(context.Background(), "api", "lax", &out); err != nil {
		t.Fatal(err)
	}
	if want := "api: promoted lax: failure_threshold 2 -> 4; state closed (mode monitor)\n" + exporter.PromoteNote + "\n"; out.String() != want {
		t.Errorf("promote:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if err := c.ClearPromotion(context.Background(), "api", &out); err != nil {
		t.Fatal(err)
	}
	if want := "api: promotion cleared: failure_threshold 4 -> 2; state closed (mode monitor)\nback to the configured settings\n"; out.String() != want {
		t.Errorf("clear:\n%q\nwant\n%q", out.String(), want)
	}
}

// promote decodes the answer's state and mode as breaker.State and
// breaker.Mode: every valid name prints as the server sent it, and a name
// ctl does not know is an error naming the field, with nothing printed.
func TestPromoteAnswerStateAndMode(t *testing.T) {
	for name, tc := range map[string]struct {
		state, mode string
		want        string // the first line printed, or the error's end
		wantErr     bool
	}{
		"half-open monitor": {state: "half-open", mode: "monitor", want: "api: promoted lax: no setting changed; state half-open (mode monitor)"},
		"open enforce":      {state: "open", mode: "enforce", want: "api: promoted lax: no setting changed; state open (mode enforce)"},
		"closed disabled":   {state: "closed", mode: "disabled", want: "api: promoted lax: no setting changed; state closed (mode disabled)"},
		"unknown state":     {state: "half_open", mode: "enforce", wantErr: true, want: `unknown state "half_open" (want closed, half-open or open)`},
		"unknown mode":      {state: "open", mode: "shadow", wantErr: true, want: `unknown mode "shadow" (want enforce, monitor or disabled)`},
		"empty state":       {state: "", mode: "enforce", wantErr: true, want: `unknown state "" (want closed, half-open or open)`},
	} {
		t.Run(name, func(t *testing.T) {
			answer := fmt.Sprintf(`{"action":"promote","breaker":"api","candidate":"lax","from":{},"to":{},"state":%q,"mode":%q,"settings_source":"runtime","note":"n"}`, tc.state, tc.mode)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, answer)
			}))
			defer srv.Close()
			var out strings.Builder
			err := (&Client{Addr: srv.URL}).Promote(context.Background(), "api", "lax", &out)
			if tc.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "ctl: POST tune/api: the answer is not the expected JSON: ") ||
					!strings.HasSuffix(err.Error(), tc.want) || out.Len() != 0 {
					t.Errorf("err = %v, output %q; want an error ending %q and no output", err, out.String(), tc.want)
				}
				return
			}
			if want := tc.want + "\nn\n"; err != nil || out.String() != want {
				t.Errorf("%q, %v; want %q", out.String(), err, want)
			}
		})
	}
}

func TestSettingChanges(t *testing.T) {
	from := breaker.Settings{FailureThreshold: 5, Timeout: "1m0s", Window: "1m0s", Bucket: "6s"}
	to := breaker.Settings{FailureThreshold: 3, Timeout: "1m0s", Window: "30s", Bucket: "3s"}
	got := strings.Join(settingChanges(from, to), ", ")
	if got != "failure_threshold 5 -> 3, window 1m0s -> 30s, bucket 6s -> 3s" {
		t.Errorf("settingChanges = %q", got)
	}
}
