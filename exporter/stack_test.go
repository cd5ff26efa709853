package exporter_test

import (
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

//go:noinline
func panickingDeepInTheHandler() { panic("handler bug") }

// The middleware re-raises a handler's panic without losing where it
// happened: net/http's log shows the panicking function.
func TestMiddlewarePanicStack(t *testing.T) {
	b := register(t, testRegistry(t), breaker.Config{Name: "svc"})
	var logs testutil.SyncBuffer
	done := make(chan struct{}, 1)
	mw := exporter.Middleware(b)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panickingDeepInTheHandler() }))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mw.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(&logs, "", 0)
	srv.Start()
	defer srv.Close()
	c := client(t, nil)
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("want the connection cut")
	}
	wait(t, done)
	srv.Close() // flushes the server's log
	if got := logs.String(); !strings.Contains(got, "handler bug") || !strings.Contains(got, "panickingDeepInTheHandler") {
		t.Errorf("server log lacks the panic's origin:\n%s", got)
	}
	if n := b.Snapshot().Counts.Failure; n != 1 {
		t.Errorf("failures = %d, want 1", n)
	}
}
