package fleet_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// docker-compose.fleet.yml validates with docker-compose (no engine needed
// for `config`) and runs two replicas that join the fleet on its Redis.
func TestComposeFleetFile(t *testing.T) {
	bin := testutil.RequireTool(t, "docker-compose")
	cmd := exec.Command(bin, "-f", "docker-compose.fleet.yml", "config")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"breakerwatch-1:", "breakerwatch-2:", "redis:", config.EnvRedisURL + ": redis://redis:6379/0"} {
		if !strings.Contains(text, want) {
			t.Errorf("docker-compose.fleet.yml lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, config.EnvRedisURL+": redis://redis:6379/0"); n != 2 {
		t.Errorf("%d replicas join the fleet, want 2", n)
	}
}
