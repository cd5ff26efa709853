package ctl

import (
	"context"
	"errors"
	"log/slog"
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

func TestSettingChanges(t *testing.T) {
	from := breaker.Settings{FailureThreshold: 5, Timeout: "1m0s", Window: "1m0s", Bucket: "6s"}
	to := breaker.Settings{FailureThreshold: 3, Timeout: "1m0s", Window: "30s", Bucket: "3s"}
	got := strings.Join(settingChanges(from, to), ", ")
	if got != "failure_threshold 5 -> 3, window 1m0s -> 30s, bucket 6s -> 3s" {
		t.Errorf("settingChanges = %q", got)
	}
}
