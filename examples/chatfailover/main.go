// Command chatfailover sends chat completions to the first of several
// providers that serves them: OpenAI, then Claude, then Gemini, as in the
// seed, through the OpenAI-compatible API all three offer. Each provider has
// its own circuit breaker; the chain skips a provider whose breaker is open
// without calling it. After the requests it prints which provider served each
// one, the breakers' states and their metrics as Prometheus would scrape them.
//
//	OPENAI_API_KEY=... ANTHROPIC_API_KEY=... GEMINI_API_KEY=... \
//	  go run ./examples/chatfailover -prompt 'Say hi' -n 3
//
// -provider name=baseURL[,model] (repeatable, in chain order) replaces the
// three defaults; the key of provider foo_api is read from FOO_API_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/prometheus/common/expfmt"
)

// defaultProviders are the seed's three, at their OpenAI-compatible endpoints.
var defaultProviders = []string{
	"openai_api=https://api.openai.com/v1,gpt-4o-mini",
	"anthropic_api=https://api.anthropic.com/v1,claude-3-5-haiku-latest",
	"gemini_api=https://generativelanguage.googleapis.com/v1beta/openai,gemini-2.0-flash",
}

// shownMetrics are the series printed after the requests.
var shownMetrics = []string{breaker.MetricFallbacks, breaker.MetricState, breaker.MetricCalls}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chatfailover:", err)
		os.Exit(1)
	}
}

type providerFlags []string

func (p *providerFlags) String() string     { return strings.Join(*p, " ") }
func (p *providerFlags) Set(s string) error { *p = append(*p, s); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chatfailover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var provs providerFlags
	fs.Var(&provs, "provider", "name=baseURL[,model], repeatable, in chain order (default: OpenAI, Claude, Gemini)")
	prompt := fs.String("prompt", "Say hello in one word.", "the prompt")
	n := fs.Int("n", 1, "how many requests")
	every := fs.Duration("every", 0, "pause between requests")
	attemptTimeout := fs.Duration("attempt-timeout", 30*time.Second, "bound on each provider's attempt")
	threshold := fs.Uint("failure-threshold", breaker.DefaultFailureThreshold, "consecutive failures that open a provider's breaker")
	openTimeout := fs.Duration("open-timeout", breaker.DefaultTimeout, "how long a provider's breaker stays open")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(provs) == 0 {
		provs = defaultProviders
	}
	providers, err := parseProviders(provs)
	if err != nil {
		return err
	}

	metrics, err := exporter.NewMetrics()
	if err != nil {
		return err
	}
	defer metrics.Shutdown(context.Background())
	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	router, err := NewRouter(reg, providers, RouterOptions{
		Breaker:        breaker.Config{FailureThreshold: uint32(*threshold), Timeout: *openTimeout},
		AttemptTimeout: *attemptTimeout,
		Client:         &http.Client{Transport: transport},
	})
	if err != nil {
		return err
	}

	failed := 0
	for i := 1; i <= *n && ctx.Err() == nil; i++ {
		if i > 1 && *every > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(*every):
			}
		}
		c, err := router.Complete(ctx, *prompt)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "request %d: no provider served\n", i)
		} else {
			how := "primary"
			if c.Fallback {
				how = "fallback"
			}
			fmt.Fprintf(stdout, "request %d: served by %s (%s, model %s): %q\n", i, c.Provider, how, c.Model, c.Content)
		}
		for _, e := range c.NotServed {
			fmt.Fprintf(stdout, "  %s\n", e)
		}
	}

	fmt.Fprintln(stdout, "breakers:")
	for _, s := range reg.Snapshots() {
		fmt.Fprintf(stdout, "  %-14s %-9s success=%d failure=%d rejected=%d\n",
			s.Name, s.State, s.Counts.Success, s.Counts.Failure, s.Counts.Rejected)
	}
	fmt.Fprintln(stdout, "metrics:")
	if err := writeMetrics(stdout, metrics, shownMetrics...); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, *n)
	}
	return ctx.Err()
}

// parseProviders parses name=baseURL[,model] and reads each key from the
// environment: FOO_API_KEY for foo_api.
func parseProviders(specs []string) ([]Provider, error) {
	var out []Provider
	var errs []error
	for i, s := range specs {
		name, rest, ok := strings.Cut(s, "=")
		base, model, _ := strings.Cut(rest, ",")
		if !ok || base == "" {
			errs = append(errs, fmt.Errorf("provider[%d]: %q: want name=baseURL[,model]", i, s))
			continue
		}
		if err := breaker.ValidateName(name); err != nil {
			errs = append(errs, fmt.Errorf("provider[%d]: %w", i, err))
			continue
		}
		out = append(out, Provider{Name: name, BaseURL: base, Model: model, APIKey: os.Getenv(strings.ToUpper(name) + "_KEY")})
	}
	return out, errors.Join(errs...)
}

// writeMetrics writes the named families of the scrape in the Prometheus
// text format.
func writeMetrics(w io.Writer, m *exporter.Metrics, names ...string) error {
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if slices.Contains(names, mf.GetName()) {
			if err := enc.Encode(mf); err != nil {
				return err
			}
		}
	}
	return nil
}
