package monitoring

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of a program the test runs for real. When it
// is missing the test is skipped locally, but fails when CI is set: CI
// installs it (scripts/install-deps.sh), so missing there is a broken setup,
// not a reason to pass.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (CI is set; scripts/install-deps.sh installs it): %v", name, err)
	}
	t.Skipf("%s not found; install it with scripts/install-deps.sh: %v", name, err)
	return ""
}

// runTool runs name with args in dir and returns its combined output.
func runTool(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	path := requireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// mustRunTool is runTool that fails the test on a non-zero exit.
func mustRunTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
