package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// The complete output of the chain, health-check and retry-queue series,
// read through an in-memory reader; nothing after the registry closes.
func TestResilienceMetricsExact(t *testing.T) {
	resNoLeaks(t)
	reg, rd := newMeteredRegistry(t)
	bs := resRegister(t, reg,
		breaker.Config{Name: "openai_api"}, breaker.Config{Name: "anthropic_api"},
		breaker.Config{Name: "gemini_api"}, breaker.Config{Name: "meta_api", Timeout: time.Hour})

	// Before anything happens: every series a chain or queue can have, at 0;
	// no health series before the first check.
	c, err := reg.NewChain("openai_api", "anthropic_api", "gemini_api")
	if err != nil {
		t.Fatal(err)
	}
	h, err := reg.NewHealthChecker(breaker.HealthOptions{Logger: resQuiet},
		breaker.HealthCheck{Breaker: "openai_api", Probe: func(context.Context) error { return errResDown }},
		breaker.HealthCheck{Breaker: "gemini_api", Probe: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	q, err := breaker.NewRetryQueue("meta_posts", bs[3], breaker.RetryOptions[int]{
		Size: 1, Logger: resQuiet,
		Run:      func(context.Context, int) error { return nil },
		OnGiveUp: func(int, error) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	resDiff(t, resSeries(t, rd, resAllMetrics), `
		# circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 0
		circuit_breaker_fallback_total{fallback="gemini_api",name="openai_api"} 0
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="meta_posts",result="dropped"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="given_up"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="retried"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="succeeded"} 0
		# circuit_breaker_retry_queue_depth gauge
		circuit_breaker_retry_queue_depth{queue="meta_posts"} 0`)

	// Two calls served by gemini, one by anthropic, one by the primary.
	serve := map[string]int{"openai_api": 3, "anthropic_api": 2}
	for range 4 {
		if _, err := breaker.CallChain(context.Background(), c, func(_ context.Context, m *breaker.Breaker) (bool, error) {
			if serve[m.Name()] > 0 {
				serve[m.Name()]--
				return false, errResDown
			}
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"openai_api", "gemini_api"} {
		if _, err := h.Check(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	bs[3].ForceOpen("")
	if deferred, err := q.Do(context.Background(), 1); !deferred || err != nil {
		t.Fatalf("Do: %v, %v", deferred, err)
	}
	if err := q.Defer(2); err == nil {
		t.Fatal("Defer into a full queue succeeded")
	}
	resDiff(t, resSeries(t, rd, resAllMetrics, breaker.MetricHealthDuration), `
		# circuit_breaker_fallback_total counter
		circuit_breaker_fallback_total{fallback="anthropic_api",name="openai_api"} 1
		circuit_breaker_fallback_total{fallback="gemini_api",name="openai_api"} 2
		# circuit_breaker_health_check_duration_seconds gauge
		circuit_breaker_health_check_duration_seconds{name="gemini_api"} <positive>
		circuit_breaker_health_check_duration_seconds{name="openai_api"} <positive>
		# circuit_breaker_health_check_up gauge
		circuit_breaker_health_check_up{name="gemini_api"} 1
		circuit_breaker_health_check_up{name="openai_api"} 0
		# circuit_breaker_retry_items_total counter
		circuit_breaker_retry_items_total{queue="meta_posts",result="dropped"} 1
		circuit_breaker_retry_items_total{queue="meta_posts",result="given_up"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="retried"} 0
		circuit_breaker_retry_items_total{queue="meta_posts",result="succeeded"} 0
		# circuit_breaker_retry_queue_depth gauge
		circuit_breaker_retry_queue_depth{queue="meta_posts"} 1`)

	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	resDiff(t, resSeries(t, rd, resAllMetrics), "")
}
