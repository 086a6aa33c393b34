package main

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

const plansYAML = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
`

// TestZeroGraceFromEnvironment runs the worker as cmd/worker does, from its
// environment, with GRACE_PERIOD=0s: zero is a valid choice, not "unset",
// so the account is suspended as soon as Stripe says past_due.
func TestZeroGraceFromEnvironment(t *testing.T) {
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "test")
	sim, simURL := harness.PureVPN(t, purevpnsim.Options{User: "reseller", Password: "api-pass"})
	mail := harness.Mail(t, mailcatcher.Options{})
	_, plans := harness.Plans(t, plansYAML)
	for k, v := range map[string]string{
		"NATS_URL": ns.ClientURL(), "PLANS_FILE": plans,
		"PUREVPN_API_URL": simURL, "PUREVPN_API_USER": "reseller", "PUREVPN_API_PASSWORD": "api-pass",
		"SMTP_URL": mail.URL(), "MAIL_FROM": "shop@example.com",
		"CREDENTIALS_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"GRACE_PERIOD":    "0s", "METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	sub, now := stripetest.ID("sub"), time.Now()
	evCheckout, evPastDue := stripetest.ID("evt"), stripetest.ID("evt")
	publish(t, js, billing.EventCheckoutCompleted, evCheckout, stripetest.CheckoutCompleted(evCheckout, now.Add(-time.Minute),
		stripetest.Checkout{Subscription: sub, Email: "ada@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur"}))
	// The account exists and works; later a renewal fails and Stripe
	// marks the subscription past_due.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := mail.WaitFor(wctx, 1); err != nil {
		t.Fatalf("no welcome email: %v", err)
	}
	publish(t, js, billing.EventSubscriptionUpdated, evPastDue, stripetest.SubscriptionUpdated(evPastDue, now,
		stripetest.Subscription{ID: sub, Status: "past_due", Price: "price_std_monthly"}))

	deadline := time.Now().Add(30 * time.Second)
	for {
		accounts := sim.Accounts()
		if len(accounts) == 1 && !accounts[0].Enabled && slices.ContainsFunc(mail.Messages(), func(m mailcatcher.Received) bool {
			return strings.HasPrefix(m.MessageID, "<suspended.")
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with GRACE_PERIOD=0s the account was not suspended at once: accounts %+v, emails %d", accounts, len(mail.Messages()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func publish(t *testing.T, js jetstream.JetStream, typ, id string, payload []byte) {
	t.Helper()
	subject, err := events.StripeSubject(typ)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Publish(context.Background(), js, subject, id, payload, nil); err != nil {
		t.Fatal(err)
	}
}
