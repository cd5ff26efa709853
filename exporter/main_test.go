package exporter_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test's servers, clients and breakers must be gone when the package's
// tests end: no goroutine may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
