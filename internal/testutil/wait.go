package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10ms until it is true, and fails the test (with
// what it was waiting for) when it is still false after within.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
