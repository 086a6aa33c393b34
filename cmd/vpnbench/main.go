// Command vpnbench measures vpnbill beside its ceilings in one run and
// prints one table: every figure of issue 10, each beside the ceiling
// measured in the same run (or its target) and as a ratio. With -out it
// writes the table, the machine and the command that regenerates it as
// Markdown (docs/performance.md).
//
// It starts everything on loopback: a nats-server built from the module
// cache with its file store (once with the server's defaults, once with
// sync_interval: always), cmd/webhook and cmd/worker built with go build
// and configured through their environment as README.md says, the provider
// simulators and an SMTP listener in this process, and a minimal ingest
// handler (this binary again, with -ceiling-server) as the webhook's
// ceiling.
//
//	go run ./cmd/vpnbench -out docs/performance.md   # the full run (minutes)
//	go run ./cmd/vpnbench -smoke -out "$(mktemp)"    # every figure produced, tiny counts (CI)
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
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vpnbench:", err)
		os.Exit(1)
	}
}
