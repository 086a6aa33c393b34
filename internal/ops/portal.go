package ops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/stripe/stripe-go/v76"
	bpsession "github.com/stripe/stripe-go/v76/billingportal/session"

	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// What the customer's own page (internal/portal) reads and does, beside
// Accounts (a fresh link is asked for by email address) and Usage (VPNKI's
// connections).

// Customer is a subscription or one-off order as its customer sees it on
// their own page: no sealed password, no lease, no audit, nothing of
// another record.
type Customer struct {
	// Key is the record key of the subscription or order (its first seat).
	Key    string
	Email  string
	Locale string // the customer's language as Stripe gives it, or ""
	// StripeCustomer is the Stripe customer id, for the billing portal;
	// "" for an order without one.
	StripeCustomer string
	Plan           string // the plan's name, else its id
	Status         string // active, suspended, canceled or refunded
	PaidThrough    time.Time
	CancelAt       time.Time // set to end at this period end
	DeleteAt       time.Time // canceled or refunded: the accounts are deleted then
	OneOff         bool
	Seats          []CustomerSeat // the first, then the further seats in order
}

// CustomerSeat is one seat (one VPN account) of a Customer.
type CustomerSeat struct {
	N        int    // 1 for the first seat
	Key      string // the seat's record key
	Plan     string // the seat's plan's name, else its id
	Provider string
	// SignIn is the name the customer signs in with; Server the address
	// to connect to, where the provider gives one.
	SignIn, Server string
	// Exists and Enabled: the account is at the provider and usable.
	Exists, Enabled bool
	// Removed: the seat is no longer paid for (deleted on DeleteAt);
	// Deleted: its account is gone for good.
	Removed, Deleted bool
	DeleteAt         time.Time
	// App and Protocols: how its customers connect (the provider's
	// capabilities, as the emails say it); Usage: the provider keeps its
	// connections (Ops.Usage reads them).
	App, Protocols string
	Usage          bool
}

// ErrNotASubscription means a key names a further seat's record, not a
// subscription's or order's: a customer's page is of a whole subscription.
var ErrNotASubscription = errors.New("not the record of a subscription or order")

// Customer reads the subscription or order whose first record is key, and
// its further seats, for its customer's page. A key that does not exist
// wraps provisioning.ErrNotFound; a further seat's, ErrNotASubscription.
func (o *Ops) Customer(ctx context.Context, key string) (Customer, error) {
	st, err := o.store(ctx)
	if err != nil {
		return Customer{}, err
	}
	r, _, err := st.Get(ctx, key)
	if err != nil {
		return Customer{}, err
	}
	if root, _ := provisioning.SeatOf(key); root != key || r.Desired.SeatOf != "" {
		return Customer{}, fmt.Errorf("%s: %w", key, ErrNotASubscription)
	}
	d := r.Desired
	c := Customer{Key: r.Key, Email: d.Email, Locale: d.Locale, StripeCustomer: d.Customer, Plan: planName(d.Plan),
		Status: string(d.Status), PaidThrough: d.PaidThrough, CancelAt: d.CancelAt, DeleteAt: d.DeleteAt, OneOff: d.OneOff}
	c.Seats = append(c.Seats, customerSeat(r, 1))
	for i, k := range r.SeatKeys() {
		seat, _, err := st.Get(ctx, k)
		if errors.Is(err, provisioning.ErrNotFound) {
			continue // not yet written: the worker writes it next
		}
		if err != nil {
			return Customer{}, err
		}
		c.Seats = append(c.Seats, customerSeat(seat, i+2))
	}
	return c, nil
}

func customerSeat(r *provisioning.Record, n int) CustomerSeat {
	a := r.Actual
	provider := a.Provider
	if provider == "" {
		provider = r.Desired.Plan.Provider
	}
	caps := providers.CapabilitiesOf(providers.Name(provider))
	s := CustomerSeat{N: n, Key: r.Key, Plan: planName(r.Desired.Plan), Provider: provider, Server: a.Server,
		Exists: a.Exists, Enabled: a.Enabled, Removed: r.Desired.SeatRemoved, Deleted: a.Deleted,
		App: caps.App, Protocols: caps.Protocols, Usage: caps.Usage}
	if a.Exists {
		s.SignIn = a.SignIn()
	}
	if s.Removed {
		s.DeleteAt = r.Desired.DeleteAt
	}
	return s
}

func planName(p provisioning.PlanSnapshot) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// BillingPortal creates a Stripe Billing Portal session for customer (a
// Stripe customer id), where the customer updates their card, reads their
// invoices and cancels, and which links back to returnURL; it returns the
// session's short-lived URL.
func (s *StripeAPI) BillingPortal(ctx context.Context, customer, returnURL string) (string, error) {
	if customer == "" {
		return "", errors.New("stripe: a billing portal session needs a customer")
	}
	c := bpsession.Client{B: s.sessions.B, Key: s.sessions.Key} // the same backend and key as every other call
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(customer), ReturnURL: stripe.String(returnURL)}
	params.Context = ctx
	sess, err := c.New(params)
	if err != nil {
		return "", stripeFailure("create a billing portal session", err)
	}
	if u, err := url.Parse(sess.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("stripe: billing portal session %s has no URL", sess.ID)
	}
	return sess.URL, nil
}

// VPNKIUsage reads a VPNKI tunnel's connections (stat_tunnel), the
// UsageReader of providers.VPNKI.
type VPNKIUsage struct{ Client *vpnki.Client }

// Sessions reads tunnel's connections between from and to (zero: the
// beginning, now).
func (u VPNKIUsage) Sessions(ctx context.Context, tunnel string, from, to time.Time) ([]Session, error) {
	sessions, err := u.Client.StatTunnel(ctx, tunnel, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, Session{Start: s.Start, End: s.End, BytesIn: s.BytesIn, BytesOut: s.BytesOut})
	}
	return out, nil
}
