package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/portal/link"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// With PORTAL_URL and PORTAL_KEY the worker's emails link to the customer
// page, with a token of the subscription signed with that key, valid for
// PORTAL_LINK_TTL.
func TestEmailsLinkToTheCustomerPage(t *testing.T) {
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "test")
	_, simURL := harness.PureVPN(t, purevpnsim.Options{User: "reseller", Password: "api-pass"})
	mail := harness.Mail(t, mailcatcher.Options{})
	_, plans := harness.Plans(t, plansYAML)
	key := bytes.Repeat([]byte{9}, 32)
	for k, v := range map[string]string{
		"NATS_URL": ns.ClientURL(), "PLANS_FILE": plans,
		"PUREVPN_API_URL": simURL, "PUREVPN_API_USER": "reseller", "PUREVPN_API_PASSWORD": "api-pass",
		"SMTP_URL": mail.URL(), "MAIL_FROM": "shop@example.com",
		"CREDENTIALS_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"PORTAL_URL":      "https://vpn.example/account", "PORTAL_KEY": base64.StdEncoding.EncodeToString(key), "PORTAL_LINK_TTL": "24h",
		"METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
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
	ev := stripetest.ID("evt")
	publish(t, js, billing.EventCheckoutCompleted, ev, stripetest.CheckoutCompleted(ev, now.Add(-time.Minute),
		stripetest.Checkout{Subscription: sub, Email: "ada@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur"}))
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	mails, err := mail.WaitFor(wctx, 1)
	if err != nil {
		t.Fatalf("no welcome email: %v", err)
	}
	l := regexp.MustCompile(`https://vpn\.example/account\?t=\S+`).FindString(mails[0].Text)
	if l == "" {
		t.Fatalf("the welcome email has no link to the customer page:\n%s", mails[0].Text)
	}
	u, err := url.Parse(l)
	if err != nil {
		t.Fatal(err)
	}
	links, err := link.New("https://vpn.example/account", key, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, exp, err := links.Read(link.PurposeLink, u.Query().Get("t"), time.Now())
	if err != nil || got != sub || exp.After(time.Now().Add(24*time.Hour)) || exp.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("the link names %q until %s (%v), want %s for 24h", got, exp, err, sub)
	}
}
