package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// A service protects a handler with Middleware and its calls to another
// service with NewTransport. Here the handler always fails: the client's
// breaker opens after two failures and the third call never leaves the
// process.
func Example() {
	m, _ := exporter.NewMetrics()
	defer m.Shutdown(context.Background())
	reg, _ := m.NewRegistry()
	defer reg.Close()

	// Server side.
	inventory, _ := reg.Register(breaker.Config{Name: "inventory"})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(exporter.Middleware(inventory)(handler))
	defer srv.Close()

	// Client side.
	upstream, _ := reg.Register(breaker.Config{Name: "inventory_client", FailureThreshold: 2})
	client := &http.Client{Transport: exporter.NewTransport(nil, upstream), Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	for i := 1; i <= 3; i++ {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Printf("call %d: rejected by the client's breaker: %v\n", i, errors.Is(err, breaker.ErrOpen))
			continue
		}
		resp.Body.Close()
		fmt.Printf("call %d: %d from breaker %s (%s)\n", i, resp.StatusCode,
			resp.Header.Get(exporter.HeaderBreakerName), resp.Header.Get(exporter.HeaderBreakerState))
	}
	// Output:
	// call 1: 500 from breaker inventory (closed)
	// call 2: 500 from breaker inventory (closed)
	// call 3: rejected by the client's breaker: true
}

// Mount puts /metrics and the admin API on a service's own mux.
func ExampleMount() {
	m, err := exporter.NewMetrics()
	if err != nil {
		log.Fatal(err)
	}
	reg, err := m.NewRegistry()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := reg.Register(breaker.Config{Name: "openai_api", Mode: breaker.ModeMonitor}); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	exporter.Mount(mux, m, reg, exporter.AdminOptions{Token: os.Getenv(exporter.TokenEnvVar)})
	srv := &http.Server{
		Addr:              "127.0.0.1:8000",
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Fatal(srv.ListenAndServe())
}
