// Command breakerwatch puts named circuit breakers in front of flaky
// upstreams for services in any language: a reverse proxy whose routes go
// through breakers, with Prometheus /metrics and the admin API on the same
// listener. Without a configuration it runs an embedded demo.
//
//	breakerwatch [serve] [--config FILE] [--listen ADDR]
//	breakerwatch ctl [--addr URL] [--token T] status | reset NAME | reset-all | mode NAME MODE | reload
//	breakerwatch validate --config FILE
//	breakerwatch generate [--root DIR]
//	breakerwatch version
//
// See README.md and docs/configuration.md.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/breakerwatch/breakerwatch/internal/cli"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}

// run runs the command line; it reports its own errors on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, stdout, stderr, config.OSEnv)
}
