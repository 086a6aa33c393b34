package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// roundTripBudget is how many requests to the NATS server one order may
// cost the worker: its checkout and its first invoice applied, the account
// created, the welcome email sent, audits published, the lease released.
// Every KV read or write, audit publish and timer publish is a round trip;
// the budget catches a change that adds one to the hot path.
const roundTripBudget = 17

// The JetStream round trips of one order, counted on a connection of the
// service's own (issue 10: count them, and cut the ones not needed for
// safety).
func TestRoundTripsPerOrder(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	nc, js := harness.Connect(t, ns, "round-trips")
	topo := harness.Topology(t, js, events.Config{})
	w := &world{js: ns, jsc: js, store: provisioning.NewStore(topo.Accounts), mail: harness.Mail(t, mailcatcher.Options{})}
	ctx := context.Background()
	const orders = 20
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var total uint64
	for i := range orders {
		r := w.newRun(t, t0)
		facts := purchase(r, t0.Add(time.Duration(i)*time.Minute), "std")
		before := nc.Stats().OutMsgs
		for _, f := range facts {
			if err := r.svc.Apply(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		total += nc.Stats().OutMsgs - before
		if len(r.pure.Accounts()) != 1 {
			t.Fatalf("order %d: %d accounts", i, len(r.pure.Accounts()))
		}
	}
	per := float64(total) / orders
	t.Logf("round trips per order (checkout + invoice.paid, account created, welcome sent): %.1f", per)
	if per > roundTripBudget {
		t.Errorf("%.1f round trips per order, over the budget of %d", per, roundTripBudget)
	}
}
