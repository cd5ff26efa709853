package breaker_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  breaker.Config
		want string // substring naming the field; "" = valid
	}{
		{"zero value with a name", breaker.Config{Name: "openai_api"}, ""},
		{"all set", breaker.Config{Name: "a.b-c_1", Mode: breaker.ModeMonitor, FailureThreshold: 3, MinThroughput: 10,
			FailureRate: 1, SlowCall: time.Second, Timeout: time.Second, HalfOpenRequests: 2, Window: 10 * time.Second, Bucket: time.Second}, ""},
		{"window not divisible by 10", breaker.Config{Name: "a", Window: 6666666666}, ""},
		{"window of the minimum", breaker.Config{Name: "a", Window: breaker.MinWindow}, ""},
		{"empty name", breaker.Config{}, "name"},
		{"name with a space", breaker.Config{Name: "open ai"}, "name"},
		{"name too long", breaker.Config{Name: strings.Repeat("x", 65)}, "name"},
		{"unknown mode", breaker.Config{Name: "a", Mode: 7}, "mode"},
		{"negative rate", breaker.Config{Name: "a", FailureRate: -0.1}, "failure_rate"},
		{"rate above one", breaker.Config{Name: "a", FailureRate: 1.5}, "failure_rate"},
		{"NaN rate", breaker.Config{Name: "a", FailureRate: math.NaN()}, "failure_rate"},
		{"negative slow_call", breaker.Config{Name: "a", SlowCall: -time.Second}, "slow_call"},
		{"negative timeout", breaker.Config{Name: "a", Timeout: -time.Second}, "timeout"},
		{"negative window", breaker.Config{Name: "a", Window: -time.Second}, "window"},
		{"one-nanosecond window", breaker.Config{Name: "a", Window: 1}, "window"},
		{"window under the minimum", breaker.Config{Name: "a", Window: breaker.MinWindow - time.Millisecond}, "window"},
		{"window shorter than its bucket", breaker.Config{Name: "a", Window: time.Second, Bucket: 2 * time.Second}, "window"},
		{"too many buckets", breaker.Config{Name: "a", Window: time.Minute, Bucket: time.Second}, "bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), "\n"+tt.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
			reg := newRegistry(t)
			if _, err := reg.Register(tt.cfg); err == nil {
				t.Error("Register accepted an invalid config")
			}
			if len(reg.List()) != 0 {
				t.Error("a rejected config left a breaker")
			}
		})
	}
}

func TestConfigValidationListsEveryProblem(t *testing.T) {
	err := breaker.Config{Name: "bad name", FailureRate: 2, Timeout: -1}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"name", "failure_rate", "timeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestDefaults(t *testing.T) {
	reg := newRegistry(t)
	b := mustRegister(t, reg, breaker.Config{Name: "a"})
	c := b.Config()
	if c.FailureThreshold != 5 || c.MinThroughput != 1 || c.Timeout != 60*time.Second ||
		c.HalfOpenRequests != 1 || c.Window != 60*time.Second || c.Bucket != 6*time.Second ||
		c.FailureRate != 0 || c.SlowCall != 0 || c.Mode != breaker.ModeEnforce {
		t.Errorf("defaults = %+v", c)
	}
}

func TestDuplicateNameRejected(t *testing.T) {
	reg := newRegistry(t)
	mustRegister(t, reg, breaker.Config{Name: "a"})
	if _, err := reg.Register(breaker.Config{Name: "a"}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate: %v", err)
	}
	if n := len(reg.List()); n != 1 {
		t.Errorf("%d breakers", n)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"enforce", "monitor", "disabled"} {
		m, err := breaker.ParseMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := breaker.ParseMode("Enforce"); err == nil {
		t.Error("ParseMode accepted Enforce")
	}
}
