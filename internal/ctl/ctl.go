// Package ctl is `breakerwatch ctl`: the seed's troubleshooting steps (read
// the breakers, reset one or all, switch a mode) as a client of the admin
// API (docs/api.md).
package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/fleet"
)

// DefaultAddr is where `breakerwatch serve` listens by default.
const DefaultAddr = "http://127.0.0.1:8000"

// Client talks to a breakerwatch admin API.
type Client struct {
	// Addr is the server's base URL, e.g. http://127.0.0.1:8000.
	Addr string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client; nil: one with a 10-second timeout.
	HTTP *http.Client
	// Actor is sent as X-Breakerwatch-Actor with mutations: who is asking,
	// which a fleet records with its overrides. Empty: $USER@hostname.
	Actor string
}

// ServerError is an error answer of the server: its status and message.
type ServerError struct {
	Status  int
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// UsageError is a command line that is not a ctl command.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usage(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// Usage is the ctl subcommand's synopsis.
const Usage = `status | reset NAME | reset-all | mode NAME enforce|monitor|disabled|--clear | reload | tune NAME [--promote CANDIDATE|--clear]`

// Run runs one ctl command (args: the command and its arguments) and prints
// its result to w.
func (c *Client) Run(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 {
		return usage("ctl: missing command (%s)", Usage)
	}
	cmd, rest := args[0], args[1:]
	want := map[string]int{"status": 0, "reset": 1, "reset-all": 0, "mode": 2, "reload": 0, "tune": 1}
	n, ok := want[cmd]
	if !ok {
		return usage("ctl: unknown command %q (%s)", cmd, Usage)
	}
	if len(rest) != n {
		return usage("ctl %s: want %d argument(s), got %d (%s)", cmd, n, len(rest), Usage)
	}
	switch cmd {
	case "status":
		return c.status(ctx, w)
	case "tune":
		return c.Tune(ctx, rest[0], w)
	case "reset":
		var out struct {
			Breaker string        `json:"breaker"`
			State   breaker.State `json:"state"` // unknown names are an error
			Mode    breaker.Mode  `json:"mode"`
		}
		if err := c.do(ctx, http.MethodPost, "reset/"+url.PathEscape(rest[0]), nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: reset; now %s (mode %s)\n", out.Breaker, out.State, out.Mode)
	case "reset-all":
		var out struct {
			Breakers []string `json:"breakers"`
		}
		if err := c.do(ctx, http.MethodPost, "reset-all", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "reset %d breaker(s): %s\n", len(out.Breakers), strings.Join(out.Breakers, ", "))
	case "reload":
		var out struct {
			Result string `json:"result"`
		}
		if err := c.do(ctx, http.MethodPost, "reload", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "reloaded: %s\n", out.Result)
	case "mode":
		var body []byte
		if rest[1] == "--clear" {
			body = []byte(`{"clear":true}`)
		} else {
			if _, err := breaker.ParseMode(rest[1]); err != nil {
				return usage("ctl mode: %v (or --clear to go back to the configured mode)", err)
			}
			body, _ = json.Marshal(map[string]string{"mode": rest[1]})
		}
		var out struct {
			Breaker      string        `json:"breaker"`
			Mode         breaker.Mode  `json:"mode"` // unknown names are an error
			ModeSource   string        `json:"mode_source"`
			PreviousMode breaker.Mode  `json:"previous_mode"`
			State        breaker.State `json:"state"`
			Fleet        string        `json:"fleet"`
		}
		if err := c.do(ctx, http.MethodPost, "mode/"+url.PathEscape(rest[0]), body, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: mode %s -> %s; state %s\n", out.Breaker, out.PreviousMode, out.Mode, out.State)
		if out.Fleet != "" {
			fmt.Fprintf(w, "fleet: %s; mode from %s\n", out.Fleet, out.ModeSource)
		}
	}
	return nil
}

// actor is who ctl says is asking: Client.Actor or $USER@hostname.
func (c *Client) actor() string {
	if c.Actor != "" {
		return c.Actor
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, _ := os.Hostname()
	return user + "@" + host
}

// The admin API's response bodies are unexported types of package exporter
// (docs/api.md documents them), so ctl decodes into its own copies of the
// fields it prints; the exported ones (breaker.TuneReport) and parts
// (exporter.HealthResult, fleet.Status, breaker.Settings and
// breaker.Counts) it decodes as they are.
type statusBody struct {
	Status   string `json:"status"`
	Breakers []struct {
		Name       string           `json:"name"`
		State      breaker.State    `json:"state"` // unknown names are an error
		Mode       breaker.Mode     `json:"mode"`
		ModeSource string           `json:"mode_source"`
		Since      time.Time        `json:"since"`
		Settings   breaker.Settings `json:"settings"`
		// Promoted and SettingsSource: the candidate it runs with, if
		// any, and where that comes from.
		Promoted       string `json:"promoted"`
		SettingsSource string `json:"settings_source"`
	} `json:"breakers"`
	Fleet  *fleet.Status           `json:"fleet"`
	Checks []exporter.HealthResult `json:"checks"`
}

type metricsBody struct {
	Breakers []struct {
		Name   string         `json:"name"`
		Counts breaker.Counts `json:"counts"`
		Window struct {
			Duration  string  `json:"duration"`
			ErrorRate float64 `json:"error_rate"`
			P95       float64 `json:"p95_ms"`
		} `json:"window"`
	} `json:"breakers"`
}

// status prints one line per breaker: state, mode, for how long, the
// window's error rate and p95, and the cumulative counts.
func (c *Client) status(ctx context.Context, w io.Writer) error {
	var st statusBody
	if err := c.do(ctx, http.MethodGet, "status", nil, &st); err != nil {
		return err
	}
	var m metricsBody
	if err := c.do(ctx, http.MethodGet, "metrics", nil, &m); err != nil {
		return err
	}
	idx := map[string]int{}
	for i, b := range m.Breakers {
		idx[b.Name] = i
	}
	now := time.Now()
	fmt.Fprintf(w, "status: %s\n\n", st.Status)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BREAKER\tSTATE\tMODE\tMODE FROM\tFOR\tERROR RATE\tP95\tOK\tFAILED\tSLOW\tREJECTED\tWOULD REJECT\tTHRESHOLD\tTIMEOUT")
	sort.Slice(st.Breakers, func(i, j int) bool { return st.Breakers[i].Name < st.Breakers[j].Name })
	for _, b := range st.Breakers {
		rate, p95, counts := "-", "-", breaker.Counts{}
		if i, ok := idx[b.Name]; ok {
			mb := m.Breakers[i]
			rate = fmt.Sprintf("%.1f%% /%s", 100*mb.Window.ErrorRate, shortDuration(mb.Window.Duration))
			p95 = fmt.Sprintf("%.0fms", mb.Window.P95)
			if mb.Window.P95 < 10 {
				p95 = fmt.Sprintf("%.1fms", mb.Window.P95)
			}
			counts = mb.Counts
		}
		src := b.ModeSource
		if src == "" {
			src = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
			b.Name, b.State, b.Mode, src, age(now.Sub(b.Since)), rate, p95,
			counts.Success, counts.Failure, counts.Slow, counts.Rejected, counts.WouldReject,
			b.Settings.FailureThreshold, shortDuration(b.Settings.Timeout))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Breakers) == 0 {
		fmt.Fprintln(w, "(no breakers)")
	}
	for _, b := range st.Breakers {
		if b.Promoted != "" {
			fmt.Fprintf(w, "settings: %s runs candidate %s (from %s; ctl tune %s --clear goes back to the configured settings)\n",
				b.Name, b.Promoted, b.SettingsSource, b.Name)
		}
	}
	if f := st.Fleet; f != nil {
		conn := "connected"
		if !f.Connected {
			conn = "NOT CONNECTED: deciding alone"
		}
		fmt.Fprintf(w, "fleet: instance %s, %s, %d live replica(s): %s\n", f.Instance, conn, len(f.Members), strings.Join(f.Members, ", "))
		for _, b := range f.Breakers {
			switch {
			case b.FleetOpen:
				fmt.Fprintf(w, "fleet: %s open fleet-wide (decided by %s); open on %s\n", b.Name, b.DecidedBy, strings.Join(b.OpenReplicas, ", "))
			case len(b.OpenReplicas) > 0:
				fmt.Fprintf(w, "fleet: %s open locally on %s\n", b.Name, strings.Join(b.OpenReplicas, ", "))
			}
		}
	}
	for _, ch := range st.Checks {
		line := "passing"
		if !ch.Healthy {
			line = "FAILING: " + ch.Error
		}
		fmt.Fprintf(w, "health check %s: %s\n", ch.Name, line)
	}
	return nil
}

// age formats a duration for humans: 45s, 3m12s, 2h5m.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}

// shortDuration turns "1m0s" into "1m" and "1h0m0s" into "1h".
func shortDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil || d == 0 {
		return s
	}
	out := d.String()
	for _, suf := range []string{"0s", "0m"} {
		if strings.HasSuffix(out, "m"+suf) || strings.HasSuffix(out, "h"+suf) {
			out = strings.TrimSuffix(out, suf)
		}
	}
	return out
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	base := strings.TrimSuffix(c.Addr, "/")
	if base == "" {
		base = DefaultAddr
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/api/circuit-breaker/"+path, rd)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if method == http.MethodPost {
		req.Header.Set("X-Breakerwatch-Actor", c.actor())
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("ctl: cannot reach %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("ctl: reading the answer of %s: %w", base, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		return &ServerError{Status: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ctl: %s %s: the answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}
