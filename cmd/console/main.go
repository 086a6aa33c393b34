// Command console serves the operators' web console (internal/console) on
// ADMIN_ADDR, loopback by default, over the same NATS streams and records
// as vpnbillctl, configured by the same variables plus the console's own
// (README.md, Console).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vpnbill/vpnbill/internal/version"
)

func main() {
	if exit, code := version.CommandLine("console", os.Args[1:], os.Stdout, os.Stderr); exit {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), nil); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}
