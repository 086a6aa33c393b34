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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), nil); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}
