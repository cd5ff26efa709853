package config

import (
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/fleet"
)

func TestParseFleet(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`
breakers:
  a: {}
fleet:
  redis: redis://127.0.0.1:6379/0
  key_prefix: "shop:"
  instance: gw-1
  publish_interval: 50ms
  heartbeat: 2s
`), env())
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Options{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "shop:", Instance: "gw-1",
		PublishInterval: 50 * time.Millisecond, Heartbeat: 2 * time.Second}
	if c.Fleet == nil || *c.Fleet != want {
		t.Errorf("fleet %+v, want %+v", c.Fleet, want)
	}
	c, err = Parse("f.yaml", []byte("breakers:\n  a: {}\n"), env())
	if err != nil || c.Fleet != nil {
		t.Errorf("no fleet section: %+v, %v", c.Fleet, err)
	}
}

func TestFleetFromEnv(t *testing.T) {
	c, err := Parse("f.yaml", []byte("breakers:\n  a: {}\n"), env(EnvRedisURL, "redis://10.0.0.1:6379/2"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Fleet == nil || c.Fleet.URL != "redis://10.0.0.1:6379/2" || c.Fleet.KeyPrefix != "" {
		t.Errorf("fleet %+v, want the URL from %s and defaults", c.Fleet, EnvRedisURL)
	}
	// The variable replaces the file's URL, keeping the other settings.
	c, err = Parse("f.yaml", []byte("fleet:\n  redis: redis://file:1\n  instance: x\n"), env(EnvRedisURL, "redis://env:2"))
	if err != nil || c.Fleet.URL != "redis://env:2" || c.Fleet.Instance != "x" {
		t.Errorf("fleet %+v, %v", c.Fleet, err)
	}
	_, err = Parse("f.yaml", []byte("breakers:\n  a: {}\n"), env(EnvRedisURL, "localhost:6379"))
	if err == nil || !strings.Contains(err.Error(), "environment variable "+EnvRedisURL) {
		t.Errorf("bad URL in the environment: %v", err)
	}
}

func TestFleetProblems(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"missing redis":      {"fleet:\n  instance: a\n", "f.yaml:1: fleet.redis: required"},
		"bad scheme":         {"fleet:\n  redis: http://x\n", "f.yaml:2: fleet.redis: redis: invalid URL scheme"},
		"password hidden":    {"fleet:\n  redis: redis://u:hunter2@h:xx\n", "fleet.redis: not a valid URL"},
		"zero interval":      {"fleet:\n  redis: redis://h:1\n  publish_interval: 0s\n", "f.yaml:3: fleet.publish_interval: 0 is not an interval"},
		"no unit":            {"fleet:\n  redis: redis://h:1\n  heartbeat: 5\n", `f.yaml:3: fleet.heartbeat: "5" has no unit`},
		"heartbeat too fast": {"fleet:\n  redis: redis://h:1\n  publish_interval: 2s\n  heartbeat: 1s\n", "f.yaml:4: fleet.heartbeat: 1s is shorter than publish_interval 2s"},
		"unknown key":        {"fleet:\n  redis: redis://h:1\n  url: x\n", "f.yaml:3: fleet.url: unknown key (known here: redis, key_prefix"},
		"empty prefix":       {"fleet:\n  redis: redis://h:1\n  key_prefix: ''\n", "f.yaml:3: fleet.key_prefix: empty"},
		"empty redis":        {"fleet:\n  redis: ''\n", "f.yaml:2: fleet.redis: empty: want the redis:// URL of the fleet's Redis (or omit it and set " + EnvRedisURL + ")"},
		"not a mapping":      {"fleet: redis://h:1\n", "f.yaml:1: fleet: want a mapping"},
	} {
		_, err := Parse("f.yaml", []byte(tc.yaml), env())
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v\nwant %q", name, err, tc.want)
		}
	}
}
