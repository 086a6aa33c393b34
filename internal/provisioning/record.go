package provisioning

import (
	"fmt"
	"slices"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
)

// Status is what the customer's service should be.
type Status string

// The desired statuses.
const (
	StatusNone      Status = ""          // nothing bought yet (e.g. a subscription update seen before its purchase)
	StatusActive    Status = "active"    // paid: the account exists and is enabled
	StatusSuspended Status = "suspended" // unpaid past the grace period: disabled, kept
	StatusCanceled  Status = "canceled"  // ended: disabled now, deleted after DELETE_AFTER
	StatusRefunded  Status = "refunded"  // refunded or disputed: disabled now, deleted after DELETE_AFTER
)

// Record is the account record of one subscription or one-off order, kept
// in KV ACCOUNTS under its Key. Every write is a compare-and-swap on the KV
// revision. Desired is what Stripe's facts say; Actual is what vpnbill has
// made true at the provider; Step is the provider or SMTP call in flight.
type Record struct {
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	Desired Desired   `json:"desired"`
	Actual  Actual    `json:"actual"`
	// Lease: the worker driving this record now. Others wait until it lapses.
	Lease *Lease `json:"lease,omitempty"`
	// Step: the call whose intent was written and whose result was not. A
	// step found here without a live lease was cut short by a crash.
	Step *Step `json:"step,omitempty"`
	// Review: an operator must decide (an uncertain create with no way to
	// prove what exists). Nothing is driven while it is set.
	Review *Review `json:"review,omitempty"`
	// Emails sent, by email id (kind.generation).
	Emails map[string]SentEmail `json:"emails,omitempty"`
	// Outbox: audit events written with the change they record, published
	// (with their deduplication id) and then cleared.
	Outbox []events.Audit `json:"outbox,omitempty"`
	// Applied: the newest Stripe event ids folded in, newest last, for
	// recognising a redelivery.
	Applied []string `json:"applied,omitempty"`
}

// Desired is what the record's Stripe facts say the service should be.
type Desired struct {
	Plan         billing.Plan `json:"plan"`
	Status       Status       `json:"status"`
	StatusAsOf   time.Time    `json:"status_as_of,omitzero"` // Stripe created time of the fact that set Status
	StatusEvent  string       `json:"status_event,omitempty"`
	PaidThrough  time.Time    `json:"paid_through,omitzero"`
	Email        string       `json:"email,omitempty"`
	CustomerName string       `json:"customer_name,omitempty"`
	Customer     string       `json:"customer,omitempty"`
	Subscription string       `json:"subscription,omitempty"`
	Checkout     string       `json:"checkout_session,omitempty"`
	OneOff       bool         `json:"one_off,omitempty"`
	Livemode     bool         `json:"livemode,omitempty"`
}

// Actual is what exists at the provider, as far as vpnbill has seen.
type Actual struct {
	Provider string `json:"provider,omitempty"`
	Username string `json:"username,omitempty"` // PureVPN username or VPNKI tunnel
	Login    string `json:"login,omitempty"`    // VPNKI login, when it differs from the tunnel name
	Server   string `json:"server,omitempty"`   // VPNKI address
	// Password, sealed with the record key; kept until the email that
	// carries it is confirmed sent, then cleared.
	Password []byte    `json:"password,omitempty"`
	Exists   bool      `json:"exists"`
	Enabled  bool      `json:"enabled"`
	Expiry   time.Time `json:"expiry,omitzero"`
	// Generation counts accounts made for this record (1 for the first; a
	// plan change or VPNKI resume makes the next). Email ids carry it.
	Generation int       `json:"generation,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
}

// Lease marks the worker driving a record.
type Lease struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// Step is a call in flight: its intent is written, its result is not.
type Step struct {
	Name    string    `json:"name"`    // e.g. "create", "email.welcome.1"
	Attempt string    `json:"attempt"` // unique per attempt
	Owner   string    `json:"owner"`
	Started time.Time `json:"started"`
}

// Review asks an operator to decide.
type Review struct {
	Reason  string    `json:"reason"`
	Step    string    `json:"step"`
	Attempt string    `json:"attempt"`
	Since   time.Time `json:"since"`
}

// SentEmail records one email.
type SentEmail struct {
	MessageID string    `json:"message_id"`
	Sent      time.Time `json:"sent,omitzero"`
	Failed    string    `json:"failed,omitempty"` // permanent failure reason
}

const maxApplied = 32

// applied reports whether event id was already folded into r.
func (r *Record) applied(id string) bool { return slices.Contains(r.Applied, id) }

func (r *Record) markApplied(id string) {
	r.Applied = append(r.Applied, id)
	if len(r.Applied) > maxApplied {
		r.Applied = r.Applied[len(r.Applied)-maxApplied:]
	}
}

// audit appends an audit event to the outbox, with the record's ids filled in.
func (r *Record) audit(a events.Audit) {
	a.Account = r.Key
	if a.Customer == "" {
		a.Customer = r.Desired.Customer
	}
	if a.Subscription == "" {
		a.Subscription = r.Desired.Subscription
	}
	if a.CheckoutSession == "" {
		a.CheckoutSession = r.Desired.Checkout
	}
	if a.Email == "" {
		a.Email = r.Desired.Email
	}
	if a.Plan == "" {
		a.Plan = r.Desired.Plan.ID
	}
	if a.Provider == "" {
		a.Provider = r.Actual.Provider
	}
	if a.Username == "" {
		a.Username = r.Actual.Username
	}
	if a.Status == "" {
		a.Status = string(r.Desired.Status)
	}
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	r.Outbox = append(r.Outbox, a)
}

// factAudit is the audit event of a fact, with its Stripe ids.
func factAudit(kind events.AuditKind, f billing.Fact, reason string) events.Audit {
	return events.Audit{
		ID:              fmt.Sprintf("%s:%s", kind, f.EventID),
		Kind:            kind,
		StripeEvent:     f.EventID,
		StripeType:      f.EventType,
		StripeCreated:   f.Created,
		Customer:        f.Customer,
		Email:           f.Email,
		Subscription:    f.Subscription,
		CheckoutSession: f.CheckoutSession,
		Invoice:         f.Invoice,
		Charge:          f.Charge,
		Amount:          f.Amount,
		Currency:        f.Currency,
		Livemode:        f.Livemode,
		Plan:            f.Plan.ID,
		PeriodStart:     f.PeriodStart,
		PeriodEnd:       f.PeriodEnd,
		Reason:          reason,
	}
}

// fold applies fact f to r's desired state. It is pure: the same record
// and fact always give the same result, and folding a fact twice is the
// same as folding it once. It reports whether f changed anything.
func fold(r *Record, f billing.Fact) bool {
	if r.applied(f.EventID) {
		return false
	}
	r.markApplied(f.EventID)
	d := &r.Desired
	fillIdentity(d, f)
	switch f.Kind {
	case billing.Purchase:
		if d.Plan.ID == "" {
			d.Plan = f.Plan
		}
		if f.PeriodEnd.After(d.PaidThrough) {
			d.PaidThrough = f.PeriodEnd
		}
		if d.Status == StatusNone {
			setStatus(d, StatusActive, f)
		}
		r.audit(factAudit(events.AuditFactApplied, f, ""))
		return true
	default:
		r.audit(factAudit(events.AuditFactSkipped, f, fmt.Sprintf("fact %s is not acted on", f.Kind)))
		return false
	}
}

// fillIdentity copies the customer's identity from f where r has none yet.
func fillIdentity(d *Desired, f billing.Fact) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&d.Email, f.Email)
	set(&d.CustomerName, f.CustomerName)
	set(&d.Customer, f.Customer)
	set(&d.Subscription, f.Subscription)
	set(&d.Checkout, f.CheckoutSession)
	if f.OneOff {
		d.OneOff = true
	}
	if f.Livemode {
		d.Livemode = true
	}
}

func setStatus(d *Desired, s Status, f billing.Fact) {
	d.Status, d.StatusAsOf, d.StatusEvent = s, f.Created, f.EventID
}
