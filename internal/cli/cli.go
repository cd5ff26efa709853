// Package cli is the breakerwatch command line: it parses the subcommands'
// flags and runs them. cmd/breakerwatch only wires it to the process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/alerts"
	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/dashboards"
	"github.com/breakerwatch/breakerwatch/deploy/kubernetes"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"github.com/breakerwatch/breakerwatch/internal/ctl"
	"github.com/breakerwatch/breakerwatch/internal/serve"
	"github.com/breakerwatch/breakerwatch/internal/version"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// Usage is the top-level help.
const Usage = `breakerwatch: circuit breakers in front of flaky upstreams, for services in any language.

Usage:
  breakerwatch [serve] [--config FILE] [--listen ADDR] [flags]
        Run the gateway: proxy routes through named breakers, /metrics and the
        admin API on one listener. Without --config, run the embedded demo.
  breakerwatch ctl [--addr URL] [--token T] status | reset NAME | reset-all | mode NAME MODE|--clear | reload
        Read and steer the breakers of a running breakerwatch.
  breakerwatch ctl [--addr URL] [--token T] tune NAME [--promote CANDIDATE|--clear]
        Compare a breaker's setting with its candidates; promote one (kept
        like a mode change), or --clear back to the configured settings.
  breakerwatch validate --config FILE
        Check a configuration: exit 0, or 2 listing every problem (as serve).
  breakerwatch generate [--root DIR] [--selector MATCHERS] [--group-by LABELS]
                        [--grafana-url URL] [--runbook-url URL]
        Write the Grafana dashboard, the Prometheus rules and the Kubernetes
        manifests under DIR, for the targets the selector matches (default
        job="breakerwatch").
  breakerwatch version | --version
        Print the version.

Run 'breakerwatch COMMAND -h' for a command's flags. Configuration reference:
docs/configuration.md.
`

// ExitError carries the process exit code of a failed command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command failed
	ExitUsage  = 2 // bad flags or arguments; serve and validate: a bad configuration (nothing started)
)

// ExitCode is the exit code for err: 0 for nil, the code of an *ExitError,
// else 1.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	}
	return ExitFailed
}

// printed marks an error already reported to stderr (by the flag package).
type printed struct{ error }

func (p printed) Unwrap() error { return p.error }

// Run runs the command line args (without the program name). Every error is
// reported on stderr before it is returned; ExitCode gives the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env) error {
	err := dispatch(ctx, args, stdout, stderr, env)
	if err != nil && !errors.As(err, new(printed)) {
		report(stderr, err)
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env) error {
	if len(args) == 0 {
		return runServe(ctx, nil, stdout, stderr, env)
	}
	switch cmd := args[0]; cmd {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, env)
	case "ctl":
		return runCtl(ctx, args[1:], stdout, stderr, env)
	case "validate":
		return runValidate(ctx, args[1:], stdout, stderr, env)
	case "generate":
		return runGenerate(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		if len(args) > 1 {
			return usageErr(cmd + " takes no arguments")
		}
		fmt.Fprintf(stdout, "breakerwatch %s (%s %s/%s)\n", version.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, Usage)
		return nil
	default:
		if strings.HasPrefix(cmd, "-") { // flags without a command: serve's
			return runServe(ctx, args, stdout, stderr, env)
		}
		return usageErr(fmt.Sprintf("unknown command %q\n\n%s", cmd, Usage))
	}
}

func usageErr(msg string) error {
	return &ExitError{Code: ExitUsage, Err: errors.New(msg)}
}

func report(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "breakerwatch: the configuration has %d problem(s):\n", len(ce.Problems))
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		return
	}
	fmt.Fprintf(w, "breakerwatch: %v\n", err)
}

// newFlagSet returns a flag set that reports its errors on stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: breakerwatch %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments (ctl status --addr X
// works) and returns the positional arguments. -h is not an error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, printed{&ExitError{Code: ExitUsage, Err: err}}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseNoArgs parses the flags of a subcommand that takes no positional
// argument. done is true when it printed its help and should stop there.
func parseNoArgs(fs *flag.FlagSet, args []string) (done bool, err error) {
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if len(pos) > 0 {
		return false, usageErr(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), pos[0]))
	}
	return false, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env) error {
	fs := newFlagSet("serve", "[--config FILE] [--listen ADDR] [flags]", stderr)
	cfgPath := fs.String("config", "", "YAML configuration `file`; without it, the embedded demo runs")
	listen := fs.String("listen", "", "listen `address`, overriding the file and "+config.EnvListen+" (default "+config.DefaultListen+")")
	logFormat := fs.String("log-format", "text", "log format: text or json (logs go to stderr)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	shutdown := fs.Duration("shutdown-timeout", serve.DefaultShutdownTimeout, "how long in-flight requests may take to finish on SIGINT/SIGTERM")
	speed := fs.Float64("demo-speed", 1, "run the embedded demo this many times faster (schedule, timeouts, traffic)")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	speedSet := false
	fs.Visit(func(f *flag.Flag) { speedSet = speedSet || f.Name == "demo-speed" })
	if speedSet && *cfgPath != "" {
		return usageErr("serve: --demo-speed applies only to the embedded demo, which does not run with --config")
	}
	if *speed <= 0 || *speed > 1000 {
		return usageErr("serve: --demo-speed must be above 0 and at most 1000")
	}
	if *shutdown <= 0 {
		return usageErr("serve: --shutdown-timeout must be positive")
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("serve: %w", err)}
	}
	breaker.Version = version.String()
	err = serve.Run(ctx, serve.Options{
		ConfigPath: *cfgPath, Listen: *listen, Env: env, Logger: logger, Stdout: stdout,
		ShutdownTimeout: *shutdown, DemoSpeed: *speed, Version: version.String(),
	})
	if serve.IsConfigError(err) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		opts.ReplaceAttr = durationString
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// durationString writes durations as Go duration strings ("1.5s",
// "250ms"): the JSON handler would write integer nanoseconds, which nobody
// reading a log takes for a duration.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env) error {
	fs := newFlagSet("ctl", "[--addr URL] [--token T] "+ctl.Usage, stderr)
	token, _ := env(config.EnvAdminToken)
	addr := fs.String("addr", ctl.DefaultAddr, "base `URL` of the breakerwatch server")
	tok := fs.String("token", token, "admin `token` for reset, mode and tune --promote (default $"+config.EnvAdminToken+")")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request")
	promote := fs.String("promote", "", "with tune: apply this `candidate`'s settings to the breaker (an override kept like a mode change: until the server restarts, or in the fleet until cleared)")
	clearMode := fs.Bool("clear", false, "with mode NAME: go back to the configured mode; with tune NAME: to the configured settings (and remove a fleet override)")
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "breakerwatch ctl: missing command")
		fs.Usage()
		return printed{usageErr("ctl: missing command")}
	}
	c := &ctl.Client{Addr: *addr, Token: *tok, HTTP: &http.Client{Timeout: *timeout}}
	run := func() error { return c.Run(ctx, pos, stdout) }
	switch {
	case *promote != "" && *clearMode:
		return usageErr("ctl: --promote and --clear together: promote a candidate, or --clear to go back to the configured settings")
	case *promote != "":
		if len(pos) != 2 || pos[0] != "tune" {
			return usageErr("ctl: --promote goes with tune NAME: ctl tune NAME --promote CANDIDATE")
		}
		run = func() error { return c.Promote(ctx, pos[1], *promote, stdout) }
	case *clearMode && len(pos) == 2 && pos[0] == "tune":
		run = func() error { return c.ClearPromotion(ctx, pos[1], stdout) }
	case *clearMode:
		pos = append(pos, "--clear")
	}
	if err := run(); err != nil {
		code := ExitFailed
		if errors.As(err, new(*ctl.UsageError)) {
			code = ExitUsage
		}
		return &ExitError{Code: code, Err: err}
	}
	return nil
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer, env config.Env) error {
	fs := newFlagSet("validate", "--config FILE", stderr)
	cfgPath := fs.String("config", "", "YAML configuration `file` to check (with the environment applied, as serve would)")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageErr("validate: --config FILE is required")
	}
	// The file may be slow to read (a FIFO, a network mount): a signal
	// (ctx) stops the wait.
	type loaded struct {
		cfg *config.Config
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		cfg, err := config.Load(*cfgPath, env)
		done <- loaded{cfg, err}
	}()
	var cfg *config.Config
	select {
	case <-ctx.Done():
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("validate: interrupted while reading %s", *cfgPath)}
	case l := <-done:
		if l.err != nil {
			return &ExitError{Code: ExitUsage, Err: l.err}
		}
		cfg = l.cfg
	}
	fmt.Fprintf(stdout, "%s: OK: %d breaker(s), %d route(s), listen %s", *cfgPath, len(cfg.Breakers), len(cfg.Routes), cfg.Listen)
	if len(cfg.EnvApplied) > 0 {
		fmt.Fprintf(stdout, ", environment overrides: %s", strings.Join(cfg.EnvApplied, ", "))
	}
	fmt.Fprintln(stdout)
	return nil
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", "[--root DIR] [--selector MATCHERS] [--group-by LABELS] [--grafana-url URL] [--runbook-url URL]", stderr)
	root := fs.String("root", ".", "repository root `dir` to write "+dashboards.DashboardPath+", "+alerts.RulesPath+" and "+kubernetes.Dir+"/ under")
	selector := fs.String("selector", mixin.DefaultSelector,
		"PromQL label `matchers`, without braces, selecting the scrape targets of the services that use breakerwatch, e.g. 'job=~\"api|worker\"'")
	groupBy := fs.String("group-by", "", "comma-separated extra `labels` every aggregation keeps besides job and name, e.g. cluster,namespace")
	grafanaURL := fs.String("grafana-url", mixin.DefaultGrafanaURL, "base `URL` of Grafana, for the alerts' dashboard links")
	runbookURL := fs.String("runbook-url", mixin.DefaultRunbookURL, "`URL` of the runbook; each alert links to its heading")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	p := mixin.Params{Selector: *selector, GrafanaURL: *grafanaURL, RunbookURL: *runbookURL}
	if *groupBy != "" {
		for l := range strings.SplitSeq(*groupBy, ",") {
			p.GroupBy = append(p.GroupBy, strings.TrimSpace(l))
		}
	}
	if err := p.Validate(); err != nil {
		var pe *mixin.ParamError
		if errors.As(err, &pe) {
			if f, ok := generateFlags[pe.Field]; ok {
				return usageErr(fmt.Sprintf("generate: --%s: %v", f, pe.Err))
			}
		}
		return usageErr("generate: " + err.Error())
	}
	for _, write := range []func(string, mixin.Params) error{dashboards.WriteFile, alerts.WriteFile, kubernetes.WriteFiles} {
		if err := write(*root, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s, %s and %s/ under %s\n", dashboards.DashboardPath, alerts.RulesPath, kubernetes.Dir, *root)
	return nil
}

// generateFlags names the flag of each Params field generate sets.
var generateFlags = map[string]string{
	"Selector": "selector", "GroupBy": "group-by", "GrafanaURL": "grafana-url", "RunbookURL": "runbook-url",
}
