package exporter_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

// Every test's servers, clients and breakers must be gone when the package's
// tests end: no goroutine may outlive them.
// The admin API logs to slog.Default() unless told otherwise: keep test
// output quiet.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}
