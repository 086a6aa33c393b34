package worker_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// Beyond one machine: a 3-node JetStream cluster (on loopback here, as
// deploy/nats runs it on three hosts) with R3 streams and bucket. Orders
// are provisioned, and still are after one server is lost.
func TestThreeNodeClusterSurvivesLosingAServer(t *testing.T) {
	t.Parallel()
	cluster := harness.Cluster(t, 3)
	_, js := harness.Connect(t, cluster, "cluster-test")
	cfg := events.Config{Replicas: 3}
	topo := harness.Topology(t, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	info, err := topo.Stripe.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream STRIPE is not R3 across the cluster: %+v", info.Cluster)
	}

	sim, simURL := harness.PureVPN(t, purevpnsim.Options{User: "u", Password: "p"})
	mail := harness.Mail(t, mailcatcher.Options{})
	plans, _ := harness.Plans(t, "plans:\n  - id: std\n    provider: purevpn\n")
	_, wjs := harness.Connect(t, cluster, "cluster-worker")
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, wjs, worker.Config{
			Events: cfg, Plans: plans,
			PureVPN:        purevpn.Config{URL: simURL, User: "u", Password: "p"},
			Mail:           notify.Config{URL: mail.URL(), From: "shop@example.com"},
			CredentialsKey: bytes.Repeat([]byte{3}, 32),
		}, zap.NewNop())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	order := func(email string) {
		t.Helper()
		evID := stripetest.ID("evt")
		payload := stripetest.CheckoutCompleted(evID, time.Now(), stripetest.Checkout{
			Subscription: stripetest.ID("sub"), Email: email, Plan: "std", Paid: true, Amount: 500, Currency: "eur"})
		subject, _ := events.StripeSubject(billing.EventCheckoutCompleted)
		pctx, pcancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer pcancel()
		for {
			// Each attempt bounded on its own: a request lost while the
			// client moves to another server must not use up the budget.
			actx, acancel := context.WithTimeout(pctx, 5*time.Second)
			_, err := events.Publish(actx, js, subject, evID, payload, nil)
			acancel()
			if err == nil {
				return
			} else if pctx.Err() != nil {
				t.Fatalf("publish: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // a new stream leader is being elected
		}
	}
	wait := func(n int) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer wcancel()
		if _, err := mail.WaitFor(wctx, n); err != nil {
			t.Fatalf("emails: %d of %d: %v", len(mail.Messages()), n, err)
		}
	}

	order("first@example.com")
	wait(1)
	// Lose one of the three servers, a follower (a leader's loss adds an
	// election whose length depends on the machine): R3 keeps a quorum of two.
	info, err = topo.Stripe.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cluster.Servers {
		if s.Name() != info.Cluster.Leader && !s.JetStreamIsLeader() {
			s.Shutdown()
			break
		}
	}
	order("second@example.com")
	wait(2)
	if n, c := len(sim.Accounts()), sim.Calls("create"); n != 2 || c != 2 {
		t.Errorf("%d accounts from %d creates, want 2 and 2", n, c)
	}
}
