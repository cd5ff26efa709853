package mixin

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParamsValidate(t *testing.T) {
	tests := map[string]struct {
		p     Params
		field string
	}{
		"selector with braces": {Params{Selector: `{job="x"}`}, "Selector"},
		"selector not quoted":  {Params{Selector: `job=x`}, "Selector"},
		"selector bad regex":   {Params{Selector: `job=~"(x"`}, "Selector"},
		"group by job":         {Params{GroupBy: []string{"job"}}, "GroupBy"},
		"grafana url relative": {Params{GrafanaURL: "/grafana"}, "GrafanaURL"},
		"runbook url fragment": {Params{RunbookURL: "https://x.example/r#a"}, "RunbookURL"},
		"error rate above 1":   {Params{ErrorRate: 1.5}, "ErrorRate"},
		"success rate 1":       {Params{SuccessRate: 1}, "SuccessRate"},
		"negative latency":     {Params{LatencyAlertMs: -1}, "LatencyAlertMs"},
		"sub-ms interval":      {Params{EvalInterval: time.Microsecond}, "EvalInterval"},
		"unknown alert in For": {Params{For: map[string]time.Duration{"Nope": time.Second}}, "For"},
		"negative for":         {Params{For: map[string]time.Duration{AlertOpen: -time.Second}}, "For"},
		"flap trips below 1":   {Params{FlapTrips: 0.5}, "FlapTrips"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), "Params."+tc.field) {
				t.Fatalf("Validate: %v, want an error naming Params.%s", err, tc.field)
			}
			if _, err := tc.p.Resolve(); err == nil {
				t.Fatal("Resolve: no error")
			}
		})
	}
}

func TestParamsZeroValueIsDefault(t *testing.T) {
	a, err := Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, DefaultParams()) {
		t.Errorf("the zero Params resolve to %+v, DefaultParams is %+v", a, DefaultParams())
	}
	// A partial For keeps the other defaults and does not modify the caller's map.
	forMap := map[string]time.Duration{AlertOpen: 0}
	p := Params{For: forMap}.withDefaults()
	if p.For[AlertOpen] != 0 || p.For[AlertHighErrorRate] != 5*time.Minute || len(forMap) != 1 {
		t.Errorf("For merged wrongly: %v (caller's map %v)", p.For, forMap)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 90 * time.Second: "90s", 5 * time.Minute: "5m",
		2 * time.Hour: "2h", 1500 * time.Millisecond: "1500ms",
	} {
		if got := PromDuration(d); got != want {
			t.Errorf("PromDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
