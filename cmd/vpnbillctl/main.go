// Command vpnbillctl is the operator's tool: dead letters, reviews,
// accounts, credential resets, replay, VPNKI usage, the finance report,
// provider reconciliation, the Stripe catch-up (stripe-sync), the Stripe
// mode the workers serve (mode), the Stripe endpoint and catalog (stripe
// setup) and the check of a deployment (doctor).
// Configuration: the environment, as the worker's (see README.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
