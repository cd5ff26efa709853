package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Tune prints one row per setting of the breaker (its own, "current", then
// each candidate): its values, then how it would have behaved: times it
// would have opened, total time open, calls it would have rejected and, of
// those, how many failed and succeeded when they ran.
func (c *Client) Tune(ctx context.Context, name string, w io.Writer) error {
	var t breaker.TuneReport // what the admin API sends
	if err := c.do(ctx, http.MethodGet, "tune/"+url.PathEscape(name), nil, &t); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s\n", t.Name, t.Note)
	if t.Sees == breaker.SeesCallsThatRan {
		fmt.Fprintf(w, "the breaker itself rejected %d call(s), which no setting saw\n", t.Rejected)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tTHRESHOLD\tFAILURE RATE\tSLOW CALL\tTIMEOUT\tPROBES\tWINDOW\tCALLS\tSTATE\tOPENED\tTIME OPEN\tWOULD REJECT\tFAILED\tSUCCEEDED")
	for _, s := range t.Settings {
		st := s.Settings
		rate := "-"
		if st.FailureRate > 0 {
			rate = fmt.Sprintf("%g%% of >=%d", 100*st.FailureRate, st.MinThroughput)
		}
		slow := "-"
		if st.SlowCall != "0s" {
			slow = shortDuration(st.SlowCall)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%s\t%d\t%d\t%d\n",
			s.Name, st.FailureThreshold, rate, slow, shortDuration(st.Timeout), st.HalfOpenRequests,
			shortDuration(st.Window), s.Calls, s.State, s.Opened, openTime(s.OpenSeconds),
			s.WouldReject, s.WouldRejectFailed, s.WouldRejectSucceeded)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nFAILED: would-rejected calls that failed when they ran (what the setting saves);")
	fmt.Fprintln(w, "SUCCEEDED: would-rejected calls that succeeded (what it costs). Promote one with: ctl tune NAME --promote SETTING")
	return nil
}

func openTime(sec float64) string {
	switch {
	case sec == 0:
		return "0s"
	case sec < 1:
		return "<1s"
	}
	return age(time.Duration(sec * float64(time.Second)))
}

// Promote applies the candidate's settings to the breaker (an override
// with the same persistence as a mode change: in that process only, or
// fleet-wide in fleet mode) and prints what changed.
func (c *Client) Promote(ctx context.Context, name, candidate string, w io.Writer) error {
	body, _ := json.Marshal(map[string]string{"promote": candidate})
	return c.promote(ctx, name, body, w)
}

// ClearPromotion puts the breaker back on its configured settings (and
// removes a fleet override) and prints what changed.
func (c *Client) ClearPromotion(ctx context.Context, name string, w io.Writer) error {
	return c.promote(ctx, name, []byte(`{"clear":true}`), w)
}

func (c *Client) promote(ctx context.Context, name string, body []byte, w io.Writer) error {
	var out struct {
		Breaker        string           `json:"breaker"`
		Candidate      string           `json:"candidate"`
		From           breaker.Settings `json:"from"`
		To             breaker.Settings `json:"to"`
		State          breaker.State    `json:"state"` // unknown names are an error
		Mode           breaker.Mode     `json:"mode"`
		SettingsSource string           `json:"settings_source"`
		Note           string           `json:"note"`
		Fleet          string           `json:"fleet"`
	}
	if err := c.do(ctx, http.MethodPost, "tune/"+url.PathEscape(name), body, &out); err != nil {
		return err
	}
	changes := settingChanges(out.From, out.To)
	if len(changes) == 0 {
		changes = []string{"no setting changed"}
	}
	what := "promoted " + out.Candidate
	if out.Candidate == "" {
		what = "promotion cleared"
	}
	fmt.Fprintf(w, "%s: %s: %s; state %s (mode %s)\n%s\n",
		out.Breaker, what, strings.Join(changes, ", "), out.State, out.Mode, out.Note)
	if out.Fleet != "" {
		fmt.Fprintf(w, "fleet: %s; settings from %s\n", out.Fleet, out.SettingsSource)
	}
	return nil
}

// settingChanges lists the settings that differ, as "key old -> new".
func settingChanges(from, to breaker.Settings) []string {
	var out []string
	add := func(key string, a, b any) {
		if a != b {
			out = append(out, fmt.Sprintf("%s %v -> %v", key, a, b))
		}
	}
	add("failure_threshold", from.FailureThreshold, to.FailureThreshold)
	add("min_throughput", from.MinThroughput, to.MinThroughput)
	add("failure_rate", from.FailureRate, to.FailureRate)
	add("slow_call", from.SlowCall, to.SlowCall)
	add("timeout", from.Timeout, to.Timeout)
	add("half_open_requests", from.HalfOpenRequests, to.HalfOpenRequests)
	add("window", from.Window, to.Window)
	add("bucket", from.Bucket, to.Bucket)
	return out
}
