package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// The sample purchase: a monthly PureVPN plan for 9.99 EUR.
const (
	sampleEmail    = "ada@example.com"
	sampleName     = "Ada Lovelace"
	samplePlan     = "std-monthly"
	sampleLookup   = "std_monthly" // the plan's price, by its lookup key
	sampleAmount   = 999
	sampleCurrency = "eur"
)

// sampleWait bounds each wait of the sample: for its email, for its payment
// in the finance report.
const sampleWait = 30 * time.Second

// sampleOrder is what the sample purchase made.
type sampleOrder struct {
	key      string    // the account record's key: the subscription's id
	username string    // the account's at the PureVPN simulator
	at       time.Time // when it was bought
}

// sample posts to the webhook what Stripe sends for a new subscription,
// signed as Stripe signs it: checkout.session.completed and the first
// invoice.paid, at once, as Stripe does. It then waits for the welcome
// email, the account at the PureVPN simulator and the payment in the
// finance report (through o, as vpnbillctl and the console read it).
func sample(ctx context.Context, out io.Writer, hookURL string, sim *purevpnsim.Sim, catcher *mailcatcher.Catcher, o *ops.Ops) (sampleOrder, error) {
	order := sampleOrder{key: stripetest.ID("sub"), at: time.Now()}
	customer := stripetest.ID("cus")
	checkoutID, invoiceID := stripetest.ID("evt"), stripetest.ID("evt")
	events := []struct {
		id, typ string
		payload []byte
	}{
		{checkoutID, "checkout.session.completed", stripetest.CheckoutCompleted(checkoutID, order.at, stripetest.Checkout{
			Subscription: order.key, Customer: customer, Email: sampleEmail, Name: sampleName,
			Plan: samplePlan, Paid: true, Amount: sampleAmount, Currency: sampleCurrency,
		})},
		{invoiceID, "invoice.paid", stripetest.InvoicePaid(invoiceID, order.at, stripetest.Invoice{
			Subscription: order.key, Customer: customer, Email: sampleEmail, Name: sampleName,
			BillingReason: "subscription_create", LookupKey: sampleLookup, AmountDue: sampleAmount, Currency: sampleCurrency,
			Charge: stripetest.ID("ch"), PaymentIntent: stripetest.ID("pi"), PeriodStart: order.at,
		})},
	}
	fmt.Fprintf(out, "\n→ a sample purchase of plan %s by %s (subscription %s): posting what Stripe sends for it, signed\n", samplePlan, sampleEmail, order.key)
	client := &http.Client{Timeout: 15 * time.Second}
	for _, ev := range events {
		resp, err := stripetest.Post(client, hookURL, ev.payload, demoSecret)
		if err != nil {
			return order, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "← %s (%s): webhook answered %d %s\n", ev.typ, ev.id, resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode != http.StatusOK {
			return order, fmt.Errorf("webhook answered %d to %s", resp.StatusCode, ev.typ)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, sampleWait)
	defer cancel()
	if _, err := catcher.WaitFor(wctx, 1); err != nil {
		return order, fmt.Errorf("no welcome email within %s: %w", sampleWait, err)
	}
	accounts := sim.Accounts()
	if len(accounts) != 1 {
		return order, fmt.Errorf("%d accounts at the PureVPN simulator, want 1", len(accounts))
	}
	a := accounts[0]
	order.username = a.Username
	fmt.Fprintf(out, "\n✓ PureVPN simulator holds account %s (%s, enabled %v, expires %s)\n", a.Username, a.PackageType, a.Enabled, a.Expiry.Format(time.DateOnly))
	row, err := waitForPayment(wctx, o, order)
	if err != nil {
		return order, err
	}
	fmt.Fprintf(out, "✓ finance report: the payment of %s for invoice %s, account %s delivered through %s\n",
		money(row.Amount, row.Currency), row.Invoice, row.Username, row.DeliveredTo.Format(time.DateOnly))
	return order, nil
}

// waitForPayment waits until the finance report, as vpnbillctl and the
// console read it, shows the payment of the sample's order as delivered
// (status ok), and returns its row.
func waitForPayment(ctx context.Context, o *ops.Ops, order sampleOrder) (ops.ReportRow, error) {
	last := errors.New("no row")
	for {
		rep, err := o.Report(ctx, order.at.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			last = err
		}
		for _, row := range rep.Rows {
			if row.Account != order.key {
				continue
			}
			if row.Status == ops.StatusOK && row.Amount == sampleAmount {
				return row, nil
			}
			last = fmt.Errorf("a row of status %s, amount %d", row.Status, row.Amount)
		}
		select {
		case <-ctx.Done():
			return ops.ReportRow{}, fmt.Errorf("the finance report does not show the payment of %s for %s within %s: %w",
				money(sampleAmount, sampleCurrency), order.key, sampleWait, errors.Join(last, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// money is an amount in minor units of a two-decimal currency, as people
// read it.
func money(minor int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, strings.ToUpper(currency))
}
