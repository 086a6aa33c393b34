package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// These tests run the whole product (setup in e2e_test.go: webhook, stream
// STRIPE, the worker, the PureVPN simulator, the mail catcher) on signed
// events of every Stripe API version family, and check each family ends
// the same way.

// versionOutcome is what a customer and an operator see of one family's
// lifecycle, after each phase.
type versionOutcome struct {
	Phase    string
	StatusA  provisioning.Status // the renewed, suspended, resumed, canceled subscription
	StatusB  provisioning.Status // the refunded and disputed one
	PaidA    time.Duration       // A's paid-through time, after t0
	Accounts int                 // at PureVPN
	Enabled  int                 // of those, enabled
	Renews   int                 // PureVPN renew calls
	EmailsA  []string            // kinds of the emails to A's customer, in order
	EmailsB  []string
}

// versionGrace makes a past_due subscription suspended as soon as it is
// folded: the events are dated hours ago.
func versionGrace(c *worker.Config) { c.Provisioning.GracePeriod = new(time.Second) }

// TestVersionsLifecycle: in each API version family, a purchase, a
// renewal, a failed payment and suspension, a resume, a cancellation, and on
// a second subscription a refund and a dispute, all posted to the webhook as
// Stripe signs them, end in the same accounts, emails and records.
func TestVersionsLifecycle(t *testing.T) {
	t.Parallel()
	t0 := time.Now().Add(-10 * time.Hour).Truncate(time.Second)
	month := func(n int) time.Time { return t0.AddDate(0, n, 0) }
	want := []versionOutcome{
		{Phase: "purchase", StatusA: provisioning.StatusActive, PaidA: month(1).Sub(t0), Accounts: 1, Enabled: 1,
			EmailsA: []string{"welcome"}},
		{Phase: "renewal", StatusA: provisioning.StatusActive, PaidA: month(2).Sub(t0), Accounts: 1, Enabled: 1, Renews: 1,
			EmailsA: []string{"welcome"}},
		{Phase: "payment failure", StatusA: provisioning.StatusSuspended, PaidA: month(2).Sub(t0), Accounts: 1, Renews: 1,
			EmailsA: []string{"welcome", "payment_failed", "suspended"}},
		{Phase: "resume", StatusA: provisioning.StatusActive, PaidA: month(3).Sub(t0), Accounts: 1, Enabled: 1, Renews: 2,
			EmailsA: []string{"welcome", "payment_failed", "suspended", "resumed"}},
		{Phase: "cancel", StatusA: provisioning.StatusCanceled, PaidA: month(3).Sub(t0), Accounts: 1, Renews: 2,
			EmailsA: []string{"welcome", "payment_failed", "suspended", "resumed", "canceled"}},
		{Phase: "second purchase", StatusA: provisioning.StatusCanceled, StatusB: provisioning.StatusActive, PaidA: month(3).Sub(t0),
			Accounts: 2, Enabled: 1, Renews: 2,
			EmailsA: []string{"welcome", "payment_failed", "suspended", "resumed", "canceled"}, EmailsB: []string{"welcome"}},
		// The refund of B's only (so current) invoice suspends it until a
		// later period is paid; Stripe's own events would cancel it.
		{Phase: "refund", StatusA: provisioning.StatusCanceled, StatusB: provisioning.StatusSuspended, PaidA: month(3).Sub(t0),
			Accounts: 2, Renews: 2,
			EmailsA: []string{"welcome", "payment_failed", "suspended", "resumed", "canceled"}, EmailsB: []string{"welcome", "suspended"}},
		{Phase: "dispute", StatusA: provisioning.StatusCanceled, StatusB: provisioning.StatusSuspended, PaidA: month(3).Sub(t0),
			Accounts: 2, Renews: 2,
			EmailsA: []string{"welcome", "payment_failed", "suspended", "resumed", "canceled"}, EmailsB: []string{"welcome", "suspended"}},
	}
	for _, v := range stripetest.Versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			if !billing.ReadsVersion(v) {
				t.Fatalf("vpnbill does not read %s", v)
			}
			b := setup(t, versionGrace)
			l := &versionLifecycle{b: b, v: v, t0: t0, subA: stripetest.ID("sub"), subB: stripetest.ID("sub")}
			phases := []func(t *testing.T){l.purchase, l.renewal, l.paymentFailure, l.resume, l.cancel, l.secondPurchase, l.refund, l.dispute}
			for i, phase := range phases {
				phase(t)
				b.waitSettled(t)
				got := l.outcome(t, want[i].Phase)
				if !equalOutcome(got, want[i]) {
					t.Fatalf("after %s:\n got  %+v\n want %+v", want[i].Phase, got, want[i])
				}
			}
			// Every event was read: none is a dead letter or a skip.
			for _, a := range b.audits(t) {
				if a.Kind == events.AuditDeadLettered || a.Kind == events.AuditFactSkipped {
					t.Errorf("%s %s (%s): %s", a.Kind, a.StripeEvent, a.StripeType, a.Reason)
				}
			}
		})
	}
}

// versionLifecycle posts one family's events, dated from t0 on.
type versionLifecycle struct {
	b          *bundle
	v          string
	t0         time.Time
	subA, subB string
}

func (l *versionLifecycle) month(n int) time.Time { return l.t0.AddDate(0, n, 0) }

// post posts events to the webhook, signed now, as Stripe does, one after
// the other: each is handled before the next is sent, so the emails come
// in a known order.
func (l *versionLifecycle) post(t *testing.T, payloads ...[]byte) {
	t.Helper()
	for _, p := range payloads {
		if code, body := l.b.post(t, p, webhookSecret, time.Now()); code != http.StatusOK || !strings.Contains(body, "stored") {
			t.Fatalf("webhook answered %d %s", code, body)
		}
		l.b.waitSettled(t)
	}
}

// waitEmails waits until the mailbox holds n emails.
func (l *versionLifecycle) waitEmails(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.b.mail.WaitFor(ctx, n); err != nil {
		t.Fatalf("%d emails, want %d: %v", len(l.b.mail.Messages()), n, err)
	}
}

func (l *versionLifecycle) checkout(sub, email string, at time.Time) []byte {
	return stripetest.CheckoutCompleted(stripetest.ID("evt"), at, stripetest.Checkout{
		Subscription: sub, Customer: "cus_" + email[:1], Email: email, Name: "Ada Lovelace",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur", Version: l.v,
	})
}

// invoice is the invoice of sub for its month n, paid (up to acacia, as
// the invoice says) by charge ch_<sub>_<n> of payment intent pi_<sub>_<n>.
func (l *versionLifecycle) invoice(sub, email string, n int, reason string) stripetest.Invoice {
	id := fmt.Sprintf("%s_%d", sub, n)
	return stripetest.Invoice{
		ID: "in_" + id, Subscription: sub, Customer: "cus_" + email[:1], Email: email,
		BillingReason: reason, Price: "price_std_monthly", PeriodStart: l.month(n - 1), PeriodEnd: l.month(n),
		AmountDue: 999, Currency: "eur", Charge: "ch_" + id, PaymentIntent: "pi_" + id, Version: l.v,
	}
}

func (l *versionLifecycle) subscription(status string, at time.Time, n int) []byte {
	return stripetest.SubscriptionUpdated(stripetest.ID("evt"), at, stripetest.Subscription{
		ID: l.subA, Customer: "cus_a", Status: status, Price: "price_std_monthly",
		CurrentPeriodStart: l.month(n - 1), CurrentPeriodEnd: l.month(n), Version: l.v,
	})
}

func (l *versionLifecycle) purchase(t *testing.T) {
	l.post(t,
		l.checkout(l.subA, "a@example.com", l.t0),
		stripetest.InvoicePaid(stripetest.ID("evt"), l.t0.Add(time.Second), l.invoice(l.subA, "a@example.com", 1, "subscription_create")))
	l.waitEmails(t, 1)
}

func (l *versionLifecycle) renewal(t *testing.T) {
	l.post(t, stripetest.InvoicePaid(stripetest.ID("evt"), l.t0.Add(time.Hour), l.invoice(l.subA, "a@example.com", 2, "subscription_cycle")))
}

func (l *versionLifecycle) paymentFailure(t *testing.T) {
	at := l.t0.Add(2 * time.Hour)
	l.post(t,
		stripetest.InvoicePaymentFailed(stripetest.ID("evt"), at, l.invoice(l.subA, "a@example.com", 3, "subscription_cycle")),
		l.subscription("past_due", at.Add(time.Second), 3))
	l.waitEmails(t, 3)
}

func (l *versionLifecycle) resume(t *testing.T) {
	at := l.t0.Add(3 * time.Hour)
	l.post(t,
		stripetest.InvoicePaid(stripetest.ID("evt"), at, l.invoice(l.subA, "a@example.com", 3, "subscription_cycle")),
		l.subscription("active", at.Add(time.Second), 3))
	l.waitEmails(t, 4)
}

func (l *versionLifecycle) cancel(t *testing.T) {
	l.post(t, stripetest.SubscriptionDeleted(stripetest.ID("evt"), l.t0.Add(4*time.Hour), stripetest.Subscription{
		ID: l.subA, Customer: "cus_a", Price: "price_std_monthly", CurrentPeriodStart: l.month(2), CurrentPeriodEnd: l.month(3), Version: l.v,
	}))
	l.waitEmails(t, 5)
}

func (l *versionLifecycle) secondPurchase(t *testing.T) {
	at := l.t0.Add(5 * time.Hour)
	l.post(t,
		l.checkout(l.subB, "b@example.com", at),
		stripetest.InvoicePaid(stripetest.ID("evt"), at.Add(time.Second), l.invoice(l.subB, "b@example.com", 1, "subscription_create")))
	l.waitEmails(t, 6)
}

// refund refunds B's first payment. From basil on the charge names no
// invoice and the invoice no charge: Stripe's invoice_payment.paid links
// them first.
func (l *versionLifecycle) refund(t *testing.T) {
	at := l.t0.Add(6 * time.Hour)
	paid := l.invoice(l.subB, "b@example.com", 1, "subscription_create")
	if l.v >= basilFirst {
		l.post(t, stripetest.InvoicePaymentPaid(stripetest.ID("evt"), at, stripetest.InvoicePayment{
			Invoice: paid.ID, PaymentIntent: paid.PaymentIntent, Amount: 999, Currency: "eur", Version: l.v,
		}))
	}
	l.post(t, stripetest.ChargeRefunded(stripetest.ID("evt"), at.Add(time.Second), stripetest.Charge{
		ID: paid.Charge, Customer: "cus_b", Invoice: paid.ID, PaymentIntent: paid.PaymentIntent, Amount: 999, AmountRefunded: 999,
		Currency: "eur", Version: l.v,
	}))
	l.waitEmails(t, 7)
}

func (l *versionLifecycle) dispute(t *testing.T) {
	paid := l.invoice(l.subB, "b@example.com", 1, "subscription_create")
	ev := stripetest.ID("evt")
	l.post(t, stripetest.DisputeCreated(ev, l.t0.Add(7*time.Hour), stripetest.Dispute{
		Charge: paid.Charge, PaymentIntent: paid.PaymentIntent, Amount: 999, Currency: "eur", Version: l.v,
	}))
	l.b.waitSettled(t)
	for _, a := range l.b.audits(t) {
		if a.StripeEvent == ev && a.Kind == events.AuditFactApplied && a.Account == l.subB {
			return
		}
	}
	t.Errorf("the dispute %s was not applied to %s", ev, l.subB)
}

// basilFirst is basil's first version: from it on a charge names no
// invoice (versions compare by their dates).
const basilFirst = "2025-03-31.basil"

func (l *versionLifecycle) outcome(t *testing.T, phase string) versionOutcome {
	t.Helper()
	o := versionOutcome{Phase: phase, Renews: l.b.sim.Calls("renew")}
	for _, a := range l.b.sim.Accounts() {
		o.Accounts++
		if a.Enabled {
			o.Enabled++
		}
	}
	if r := storedRecord(t, l.b.js, l.subA); r != nil {
		o.StatusA, o.PaidA = r.Desired.Status, r.Desired.PaidThrough.Sub(l.t0)
	}
	if r := storedRecord(t, l.b.js, l.subB); r != nil {
		o.StatusB = r.Desired.Status
	}
	for _, m := range l.b.mail.Messages() {
		kind, _, _ := strings.Cut(strings.TrimPrefix(m.MessageID, "<"), ".")
		switch strings.Join(m.To, ",") {
		case "a@example.com":
			o.EmailsA = append(o.EmailsA, kind)
		case "b@example.com":
			o.EmailsB = append(o.EmailsB, kind)
		default:
			t.Errorf("email to %v", m.To)
		}
	}
	return o
}

func equalOutcome(a, b versionOutcome) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestVersionsUnreadableIsDeadLettered: an event of a version vpnbill does
// not read, or of a version it reads but without a field the fact needs,
// ends in stream DEAD with a reason naming the version and the field; it
// is never skipped, and nothing is made of it.
func TestVersionsUnreadableIsDeadLettered(t *testing.T) {
	t.Parallel()
	b := setup(t, versionGrace)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	old := stripetest.ID("evt")
	noSub := stripetest.ID("evt")
	basil := stripetest.InvoiceObject(stripetest.Invoice{
		ID: "in_nosub", Subscription: stripetest.ID("sub"), Email: "dead@example.com", BillingReason: "subscription_cycle",
		Price: "price_std_monthly", AmountDue: 999, AmountPaid: 999, Paid: true, Created: at, Version: "2025-07-30.basil",
	})
	basil["parent"].(map[string]any)["subscription_details"].(map[string]any)["subscription"] = nil
	for _, p := range [][]byte{
		stripetest.CheckoutCompleted(old, at, stripetest.Checkout{
			Subscription: stripetest.ID("sub"), Email: "dead@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Version: "2019-01-01",
		}),
		stripetest.VersionedEvent("2025-07-30.basil", noSub, billing.EventInvoicePaid, at, basil),
	} {
		if code, body := b.post(t, p, webhookSecret, time.Now()); code != http.StatusOK {
			t.Fatalf("webhook answered %d %s", code, body)
		}
	}
	b.waitSettled(t)

	want := map[string][]string{
		old:   {`api_version "2019-01-01"`, "malformed"},
		noSub: {"invoice in_nosub (api_version 2025-07-30.basil): no parent.subscription_details.subscription"},
	}
	dead := map[string]string{}
	cons, err := b.js.OrderedConsumer(context.Background(), events.StreamDead, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		env, err := billing.ParseEnvelope(m.Data())
		if err != nil {
			t.Fatalf("a dead letter is not the original event: %v", err)
		}
		dead[env.ID] = m.Headers().Get(events.HeaderDeadReason)
	}
	for id, says := range want {
		reason, ok := dead[id]
		if !ok {
			t.Errorf("event %s is not in stream DEAD (dead letters: %v)", id, dead)
			continue
		}
		for _, s := range says {
			if !strings.Contains(reason, s) {
				t.Errorf("dead letter %s: reason %q does not say %q", id, reason, s)
			}
		}
	}
	for _, a := range b.audits(t) {
		if a.Kind == events.AuditFactSkipped {
			t.Errorf("event %s was skipped (%s), not dead-lettered", a.StripeEvent, a.Reason)
		}
	}
	if n, mails := len(b.sim.Accounts()), len(b.mail.Messages()); n != 0 || mails != 0 {
		t.Errorf("%d accounts, %d emails from unreadable events; want none", n, mails)
	}
}
