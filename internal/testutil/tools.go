package testutil

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireTool returns the path of a program the test runs for real. When it
// is missing the test is skipped locally, but fails when CI is set: CI
// installs it (scripts/install-deps.sh), so missing there is a broken setup,
// not a reason to pass.
func RequireTool(t testing.TB, name string) string {
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

// RunTool runs name with args in dir and returns its combined output.
func RunTool(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	path := RequireTool(t, name)
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

// MustRunTool is RunTool that fails the test on a non-zero exit.
func MustRunTool(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out, err := RunTool(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
