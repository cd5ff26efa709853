package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/metric/noop"
)

// A chain tries the primary, then each fallback; the result says who served
// and why the others did not.
func ExampleCallChain() {
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Close()
	for _, name := range []string{"openai_api", "anthropic_api", "gemini_api"} {
		_, _ = reg.Register(breaker.Config{Name: name})
	}
	chain, err := reg.NewChain("openai_api", "anthropic_api", "gemini_api")
	if err != nil {
		fmt.Println(err)
		return
	}
	anthropic, _ := reg.Get("anthropic_api")
	anthropic.ForceOpen("example") // an open member is skipped without a call

	res, err := breaker.CallChain(context.Background(), chain, func(ctx context.Context, member *breaker.Breaker) (string, error) {
		if member.Name() == "openai_api" {
			return "", errors.New("503 Service Unavailable")
		}
		return "hello from " + member.Name(), nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Value)
	fmt.Println("served:", res.Served, "fallback:", res.Fallback)
	for _, e := range res.Errors {
		fmt.Printf("%s skipped=%v\n", e.Member, e.Skipped)
	}
	// Output:
	// hello from gemini_api
	// served: gemini_api fallback: true
	// openai_api skipped=false
	// anthropic_api skipped=true
}

// Work that its breaker rejects waits in a bounded queue and runs when the
// breaker lets calls through again; what the queue gives up on goes to
// OnGiveUp.
func ExampleNewRetryQueue() {
	reg, _ := breaker.NewRegistry(breaker.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Close()
	meta, _ := reg.Register(breaker.Config{Name: "meta_api", Timeout: 500 * time.Millisecond})
	meta.ForceOpen("example")

	done := make(chan struct{})
	q, err := breaker.NewRetryQueue("meta_posts", meta, breaker.RetryOptions[string]{
		Size: 100,
		Run: func(ctx context.Context, post string) error {
			fmt.Println("published", post)
			close(done)
			return nil
		},
		OnGiveUp: func(post string, err error) { fmt.Println("not published:", post, err) },
		Backoff:  5 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.Start(context.Background())
	deferred, err := q.Do(context.Background(), "post-1")
	fmt.Println("deferred:", deferred, err)
	<-done
	_ = q.Close(context.Background())
	fmt.Printf("%+v\n", q.Stats())
	// Output:
	// deferred: true <nil>
	// published post-1
	// {Depth:0 Retried:1 Succeeded:1 GivenUp:0 Dropped:0}
}
