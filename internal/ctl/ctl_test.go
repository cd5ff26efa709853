package ctl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server runs the real admin API over two breakers, one of them open.
func server(t *testing.T, token string) (*httptest.Server, *breaker.Registry) {
	t.Helper()
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	a, _ := reg.Register(breaker.Config{Name: "anthropic_api", Mode: breaker.ModeMonitor, SlowCall: time.Millisecond})
	o, _ := reg.Register(breaker.Config{Name: "openai_api", FailureThreshold: 2, Timeout: time.Minute})
	for range 3 {
		_ = o.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	}
	_ = a.Execute(context.Background(), func(context.Context) error { return nil })
	_ = a.Execute(context.Background(), func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil }) // slow
	srv := httptest.NewServer(exporter.NewAdmin(reg, exporter.AdminOptions{Token: token, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv, reg
}

func run(t *testing.T, c *Client, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := c.Run(context.Background(), args, &out)
	return out.String(), err
}

func TestStatus(t *testing.T) {
	srv, _ := server(t, "")
	out, err := run(t, &Client{Addr: srv.URL}, "status")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`^status: degraded$`,
		`^BREAKER +STATE +MODE +MODE FROM +FOR +ERROR RATE +P95 +OK +FAILED +SLOW +REJECTED +WOULD REJECT +THRESHOLD +TIMEOUT$`,
		`^anthropic_api +closed +monitor +config +\d+s +0\.0% /1m +[\d.]+ms +2 +0 +1 +0 +0 +5 +1m$`,
		`^openai_api +open +enforce +config +\d+s +100\.0% /1m +[\d.]+ms +0 +2 +0 +1 +0 +2 +1m$`,
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out, "\n\n", "\n")), "\n")
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i, lines[i], re)
		}
	}
}

// status ends with one line per health check, from /status's checks.
func TestStatusHealthChecks(t *testing.T) {
	reg, err := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Register(breaker.Config{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	checks := []exporter.HealthResult{
		{Name: "a", Healthy: true, CheckedAt: time.Now(), Duration: time.Millisecond},
		{Name: "b", Error: "GET https://b/health: 503 Service Unavailable", CheckedAt: time.Now()},
	}
	srv := httptest.NewServer(exporter.NewAdmin(reg, exporter.AdminOptions{
		Logger: slog.New(slog.DiscardHandler), Health: func() []exporter.HealthResult { return checks }}))
	defer srv.Close()
	out, err := run(t, &Client{Addr: srv.URL}, "status")
	if err != nil {
		t.Fatal(err)
	}
	want := "health check a: passing\nhealth check b: FAILING: GET https://b/health: 503 Service Unavailable\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("output:\n%s\nwant it to end with:\n%s", out, want)
	}
}

func TestMutations(t *testing.T) {
	srv, reg := server(t, "s3cret")
	c := &Client{Addr: strings.TrimPrefix(srv.URL, "http://"), Token: "s3cret"} // scheme optional
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mode", "openai_api", "monitor"}, "openai_api: mode enforce -> monitor; state open\n"},
		{[]string{"reset", "openai_api"}, "openai_api: reset; now closed (mode monitor)\n"},
		{[]string{"reset-all"}, "reset 2 breaker(s): anthropic_api, openai_api\n"},
	}
	for _, tt := range tests {
		out, err := run(t, c, tt.args...)
		if err != nil || out != tt.want {
			t.Errorf("%v: %q, %v; want %q", tt.args, out, err, tt.want)
		}
	}
	if b, _ := reg.Get("openai_api"); b.Mode() != breaker.ModeMonitor || b.State() != breaker.StateClosed {
		t.Errorf("openai_api: %v %v", b.Mode(), b.State())
	}
}

func TestErrors(t *testing.T) {
	srv, _ := server(t, "s3cret")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	tests := map[string]struct {
		c    Client
		args []string
		want string
	}{
		"unknown breaker": {Client{Addr: srv.URL, Token: "s3cret"}, []string{"reset", "nope"},
			`server answered 404 Not Found: no such circuit breaker: "nope"`},
		"no token": {Client{Addr: srv.URL}, []string{"reset-all"},
			`server answered 401 Unauthorized: this endpoint needs the admin token: send Authorization: Bearer <token>`},
		"wrong token": {Client{Addr: srv.URL, Token: "guess"}, []string{"reset-all"},
			`server answered 401 Unauthorized: invalid admin token`},
		"bad mode": {Client{Addr: srv.URL}, []string{"mode", "openai_api", "on"},
			`ctl mode: unknown mode "on" (want enforce, monitor or disabled)`},
		"unreachable": {Client{Addr: dead}, []string{"status"}, "ctl: cannot reach " + dead + ": dial tcp"},
		"no command":  {Client{Addr: srv.URL}, nil, "ctl: missing command (" + Usage + ")"},
		"unknown":     {Client{Addr: srv.URL}, []string{"open", "x"}, `ctl: unknown command "open" (` + Usage + ")"},
		"arity":       {Client{Addr: srv.URL}, []string{"reset"}, "ctl reset: want 1 argument(s), got 0 (" + Usage + ")"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, &tt.c, tt.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || out != "" {
				t.Errorf("err = %v, output %q; want an error starting %q", err, out, tt.want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for in, want := range map[string]string{"1m0s": "1m", "1h0m0s": "1h", "1m30s": "1m30s", "500ms": "500ms", "10s": "10s", "0s": "0s"} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{45 * time.Second: "45s", 192 * time.Second: "3m12s", 2*time.Hour + 5*time.Minute + 3*time.Second: "2h5m"} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

// reset, mode and status decode the answer's states and modes as
// breaker.State and breaker.Mode: a name ctl does not know is an error,
// not a word printed as if it were one.
func TestUnknownStateOrModeIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		answer string
		want   string
	}{
		{"reset, state", []string{"reset", "api"}, `{"breaker":"api","state":"ajar","mode":"enforce"}`, `unknown state "ajar"`},
		{"reset, mode", []string{"reset", "api"}, `{"breaker":"api","state":"open","mode":"shadow"}`, `unknown mode "shadow"`},
		{"mode, previous", []string{"mode", "api", "monitor"}, `{"breaker":"api","mode":"monitor","previous_mode":"","state":"open"}`, `unknown mode ""`},
		{"mode, state", []string{"mode", "api", "monitor"}, `{"breaker":"api","mode":"monitor","previous_mode":"enforce","state":"half_open"}`, `unknown state "half_open"`},
		{"status, state", []string{"status"}, `{"status":"ok","breakers":[{"name":"api","state":"OPEN","mode":"enforce"}]}`, `unknown state "OPEN"`},
		{"status, mode", []string{"status"}, `{"status":"ok","breakers":[{"name":"api","state":"open","mode":"Monitor"}]}`, `unknown mode "Monitor"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			var out strings.Builder
			err := (&Client{Addr: srv.URL}).Run(context.Background(), tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
				t.Errorf("err = %v, output %q; want an error with %q and no output", err, out.String(), tc.want)
			}
		})
	}
}
