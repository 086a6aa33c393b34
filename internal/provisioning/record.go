package provisioning

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
)

// Status is what the customer's service should be; the account core
// (internal/account) owns the statuses and their rules.
type Status = account.Status

// The desired statuses.
const (
	StatusNone      = account.StatusNone
	StatusActive    = account.StatusActive
	StatusSuspended = account.StatusSuspended
	StatusCanceled  = account.StatusCanceled
	StatusRefunded  = account.StatusRefunded
)

// Record is the account record of one subscription or one-off order, kept
// in KV ACCOUNTS under its Key. Every write is a compare-and-swap on the KV
// revision. Desired is what Stripe's facts say; Actual is what vpnbill has
// made true at the provider; Step is the provider or SMTP call in flight.
type Record struct {
	// Format is the stored format's version, FormatVersion when written.
	// A record without one was written before formats were versioned
	// (format 1) and is migrated when read (see Store.Get).
	Format  int       `json:"format"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	Desired Desired   `json:"desired"`
	Actual  Actual    `json:"actual"`
	// Lease: the worker driving this record now. Others wait until it lapses.
	Lease *Lease `json:"lease,omitempty"`
	// Step: the call whose intent was written and whose result was not. A
	// step found here without a live lease was cut short by a crash.
	Step *Step `json:"step,omitempty"`
	// LastStep: the attempt of the last step whose result was written, by
	// which a result written again (its first answer lost) knows it was.
	LastStep string `json:"last_step,omitempty"`
	// Review: an operator must decide (an uncertain create with no way to
	// prove what exists). Nothing is driven while it is set.
	Review *Review `json:"review,omitempty"`
	// Adopt: an uncertain create at a provider that can list what exists;
	// after Config.AdoptAfter the list is read and the tunnel adopted.
	Adopt *Step `json:"adopt,omitempty"`
	// Mail: emails owed, written with the change that owes them, sent in order.
	Mail []PendingEmail `json:"mail,omitempty"`
	// Emails sent (or failed for good), by email id.
	Emails map[string]SentEmail `json:"emails,omitempty"`
	// TimerAt: when the record's next timer is scheduled to fire.
	TimerAt time.Time `json:"timer_at,omitzero"`
	// Outbox: audit events written with the change they record, published
	// (with their deduplication id) and then cleared.
	Outbox []events.Audit `json:"outbox,omitempty"`
	// RefundDue: an operator gave up on delivering this order; finance
	// should refund it.
	RefundDue bool `json:"refund_due,omitempty"`
	// Applied: the newest Stripe event ids folded in, newest last, for
	// recognising a redelivery.
	Applied []string `json:"applied,omitempty"`
}

// FormatVersion is the version of the stored record format that this
// release writes. A change that removes, renames or re-types a stored field
// bumps it and adds a migration from the previous format to Store.Get.
//
//   - 1: the release before formats were versioned: no "format" field; the
//     plan stored with Go's field names ("ID", "PackageType", …).
//   - 2: every field has an explicit snake_case tag; the plan is a
//     PlanSnapshot.
//   - 3: a retired account names its provider ({"provider", "username"},
//     not a bare username).
const FormatVersion = 3

// PlanSnapshot is the plan a record was sold, as stored in the record: its
// own type with explicit tags, so that the plans file's configuration
// struct (billing.Plan) can change without changing stored records.
type PlanSnapshot struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Provider    string `json:"provider,omitempty"`
	PackageType string `json:"package_type,omitempty"`
	PeriodDays  int    `json:"period_days,omitempty"`
}

// SnapshotOf is the stored form of plan p.
func SnapshotOf(p billing.Plan) PlanSnapshot {
	return PlanSnapshot{ID: p.ID, Name: p.Name, Provider: p.Provider, PackageType: p.PackageType, PeriodDays: p.PeriodDays}
}

// Plan is the plan as the provider adapters take it.
func (p PlanSnapshot) Plan() billing.Plan {
	return billing.Plan{ID: p.ID, Name: p.Name, Provider: p.Provider, PackageType: p.PackageType, PeriodDays: p.PeriodDays}
}

// Desired is what the record's Stripe facts say the service should be.
type Desired struct {
	Plan     PlanSnapshot `json:"plan"`
	PlanAsOf time.Time    `json:"plan_as_of,omitzero"` // Stripe created time of the fact that set Plan
	// Status is derived (see derive) from the fields below it.
	Status      Status    `json:"status"`
	PaidThrough time.Time `json:"paid_through,omitzero"`
	// PaidAsOf: Stripe created time of the newest payment (purchase or renewal).
	PaidAsOf time.Time `json:"paid_as_of,omitzero"`
	// SubStatus, SubStatusAsOf: the subscription's newest Stripe status.
	SubStatus     string    `json:"sub_status,omitempty"`
	SubStatusAsOf time.Time `json:"sub_status_as_of,omitzero"`
	// Dunning: created times of past_due / unpaid / paused updates, oldest first.
	Dunning []time.Time `json:"dunning,omitempty"`
	// SuspendAt: for StatusSuspended, when the grace period ends and the
	// account is disabled.
	SuspendAt time.Time `json:"suspend_at,omitzero"`
	// DeleteAt: for StatusCanceled and StatusRefunded, when the account is deleted.
	DeleteAt time.Time `json:"delete_at,omitzero"`
	// CancelAt: the subscription is set to cancel at this period end.
	CancelAt time.Time `json:"cancel_at,omitzero"`
	// Payments: what the record was paid by, each with what was taken back
	// of it (refunds, disputes).
	Payments []Payment `json:"payments,omitempty"`
	// PayURL: the link where the customer can pay the newest unpaid
	// invoice (of the newest payment failure or action required), for the
	// suspension email; PayURLAsOf: that fact's Stripe created time.
	PayURL     string    `json:"pay_url,omitempty"`
	PayURLAsOf time.Time `json:"pay_url_as_of,omitzero"`
	// Purchased: a purchase or renewal was paid; service is owed.
	Purchased    bool   `json:"purchased,omitempty"`
	Email        string `json:"email,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	// Locale: the customer's language as Stripe gives it (the checkout's
	// locale; a newer customer.updated's preferred_locales), for the emails.
	Locale string `json:"locale,omitempty"`
	// EmailAsOf: Stripe created time of the customer.updated that set
	// Email and CustomerName (zero: they came with a purchase).
	EmailAsOf    time.Time `json:"email_as_of,omitzero"`
	Customer     string    `json:"customer,omitempty"`
	Subscription string    `json:"subscription,omitempty"`
	Checkout     string    `json:"checkout_session,omitempty"`
	OneOff       bool      `json:"one_off,omitempty"`
	Livemode     bool      `json:"livemode,omitempty"`
	// Version counts the facts folded into the record: a further seat's
	// copy of the desired state is replaced only by a newer one.
	Version int `json:"version,omitempty"`
	// Seats: the seats beyond the first (see seats.go), as the newest fact
	// that states the items says (SeatsAsOf); SeatCount: the seats paid
	// for now, the first included (0: one, as before seats were kept).
	Seats     []Seat    `json:"seats,omitempty"`
	SeatsAsOf time.Time `json:"seats_as_of,omitzero"`
	SeatCount int       `json:"seat_count,omitempty"`
	// Seat, SeatOf: in a further seat's record, its number (2 and up) and
	// the first record's key; SeatRemoved: the seat is no longer paid for.
	Seat        int    `json:"seat,omitempty"`
	SeatOf      string `json:"seat_of,omitempty"`
	SeatRemoved bool   `json:"seat_removed,omitempty"`
}

// RetiredAccount is an account replaced by a plan change, still to delete.
type RetiredAccount struct {
	Provider string `json:"provider,omitempty"` // "": the record's provider (format 2 kept only usernames)
	Username string `json:"username"`
}

// UnmarshalJSON reads a retired account of format 3, or of format 2 (a
// bare username, at the record's provider: format 2 retired accounts only
// on plan changes within a provider).
func (a *RetiredAccount) UnmarshalJSON(b []byte) error {
	var username string
	if json.Unmarshal(b, &username) == nil {
		*a = RetiredAccount{Username: username}
		return nil
	}
	type plain RetiredAccount
	return json.Unmarshal(b, (*plain)(a))
}

// Actual is what exists at the provider, as far as vpnbill has seen.
type Actual struct {
	Provider string `json:"provider,omitempty"`
	Username string `json:"username,omitempty"` // the account's username or tunnel name
	Login    string `json:"login,omitempty"`    // the login, when it differs from Username
	Server   string `json:"server,omitempty"`   // the address to connect to, where the provider gives one
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
	// PlanID, PackageType, PeriodDays: the plan the account was made for.
	PlanID      string `json:"plan_id,omitempty"`
	PackageType string `json:"package_type,omitempty"`
	PeriodDays  int    `json:"period_days,omitempty"`
	// Deleted: the account was deleted for good (canceled, refunded, expired).
	Deleted bool `json:"deleted,omitempty"`
	// Resets counts operator credential resets; ResetPending: a VPNKI
	// tunnel was deleted for a reset and its replacement is owed.
	Resets       int  `json:"resets,omitempty"`
	ResetPending bool `json:"reset_pending,omitempty"`
	// Suspensions counts the times the account was suspended for non-payment.
	Suspensions int `json:"suspensions,omitempty"`
	// Retired: accounts replaced by a plan change, to delete, each at its
	// own provider (a plan change may move to another provider).
	Retired []RetiredAccount `json:"retired,omitempty"`
}

// PendingEmail is an email owed to the customer.
type PendingEmail struct {
	ID         string      `json:"id"` // unique per record: kind and what it is about
	Kind       notify.Kind `json:"kind"`
	Gen        int         `json:"gen,omitempty"` // the account generation whose credentials it carries
	AmountDue  string      `json:"amount_due,omitempty"`
	InvoiceURL string      `json:"invoice_url,omitempty"`
	// At is the date the email is about where it is not the record's
	// paid-through time (a trial's end).
	At time.Time `json:"at,omitzero"`
}

// Lease marks the one acquisition driving a record: the worker process
// (Owner) and which of its passes (Token). A lease written by a release
// without tokens has Token "".
type Lease struct {
	Owner string    `json:"owner"`
	Token string    `json:"token,omitempty"`
	Until time.Time `json:"until"`
}

// Step is a call in flight: its intent is written, its result is not.
type Step struct {
	Name    string    `json:"name"`    // e.g. "create", "email.welcome.1"
	Attempt string    `json:"attempt"` // unique per attempt
	Owner   string    `json:"owner"`
	Started time.Time `json:"started"`
}

// State is the record as the account core's rules see it.
func (r *Record) State() account.State {
	d, a := &r.Desired, &r.Actual
	st := account.State{
		Status: d.Status, OneOff: d.OneOff, PaidThrough: d.PaidThrough, SuspendAt: d.SuspendAt, DeleteAt: d.DeleteAt,
		Plan: account.Plan{ID: d.Plan.ID, Provider: d.Plan.Provider, PackageType: d.Plan.PackageType, PeriodDays: d.Plan.PeriodDays},
		Account: account.Account{Exists: a.Exists, Enabled: a.Enabled, Deleted: a.Deleted, Provider: a.Provider,
			PlanID: a.PlanID, PackageType: a.PackageType, PeriodDays: a.PeriodDays, Expiry: a.Expiry, Generation: a.Generation},
		Retired:  len(a.Retired),
		InReview: r.Review != nil,
	}
	for _, m := range r.Mail {
		st.Mail = append(st.Mail, m.ID)
	}
	if r.Adopt != nil {
		st.AdoptSince = r.Adopt.Started
	}
	return st
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
	if a.Seat == 0 {
		a.Seat = r.Desired.Seat
	}
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	r.Outbox = append(r.Outbox, a)
}

// factAudit is the audit event of a fact, with its Stripe ids.
func factAudit(kind events.AuditKind, f billing.Fact, reason string) events.Audit {
	return events.Audit{
		ID:              fmt.Sprintf("%s:%s:%s", kind, f.Key, f.EventID),
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
		Seats:           billing.Seats(f.Items),
		Reason:          reason,
	}
}

// policy is the part of the configuration the fold needs.
type policy struct{ grace, deleteAfter time.Duration }

// fold applies fact f to r's desired state. It is a pure function of the
// record, the fact and the policy, and the status it derives depends only
// on the newest facts by Stripe's created time, never on arrival order:
// folding a fact twice is the same as once, and a fact older than the one
// that set a field does not change it. A cancellation is final for its
// record whatever its order; a refund or dispute takes back the payment it
// is about while it is in force (see takeBack: a one-off order's refund
// ends the order until the refund fails).
func fold(r *Record, f billing.Fact, pol policy) {
	r.markApplied(f.EventID)
	d := &r.Desired
	d.Version++
	fillIdentity(d, f)
	c := f.Created
	setPlan := func() {
		if f.Plan.ID != "" && (d.Plan.ID == "" || c.After(d.PlanAsOf)) {
			d.Plan, d.PlanAsOf = SnapshotOf(f.Plan), c
		}
	}
	switch f.Kind {
	case billing.Purchase, billing.Renewal:
		setPlan()
		setSeats(d, f, pol)
		d.Purchased = true
		if id := f.Invoice; id != "" || f.OneOff {
			if f.OneOff {
				id = f.CheckoutSession
			}
			p := d.payment(id)
			p.link(f)
			if !f.PeriodEnd.IsZero() { // a subscription's checkout: its invoice says
				p.PeriodEnd, p.Amount = f.PeriodEnd, f.Amount
			}
		}
		if f.PeriodEnd.After(d.PaidThrough) {
			d.PaidThrough = f.PeriodEnd
		}
		if c.After(d.PaidAsOf) {
			d.PaidAsOf = c
		}
	case billing.PurchaseFailed:
		r.audit(factAudit(events.AuditFactSkipped, f, "asynchronous payment failed: nothing is owed"))
		return
	case billing.PaymentFailed:
		setPayURL(d, f)
		id := "payment_failed." + f.Invoice
		if f.Invoice != "" && !r.hasEmail(id) && !r.owes(id) {
			r.Mail = append(r.Mail, PendingEmail{ID: id, Kind: notify.PaymentFailed,
				AmountDue: formatAmount(f.Amount, f.Currency), InvoiceURL: f.InvoiceURL})
		}
	case billing.PaymentActionRequired:
		setPayURL(d, f)
		id := "payment_action." + f.Invoice
		if f.Invoice != "" && !d.Status.Final() && !r.hasEmail(id) && !r.owes(id) {
			r.Mail = append(r.Mail, PendingEmail{ID: id, Kind: notify.PaymentAction,
				AmountDue: formatAmount(f.Amount, f.Currency), InvoiceURL: f.InvoiceURL})
		}
	case billing.CustomerChanged:
		if c.After(d.EmailAsOf) {
			if f.Email != "" {
				d.Email = f.Email
			}
			if f.CustomerName != "" {
				d.CustomerName = f.CustomerName
			}
			if f.Locale != "" {
				d.Locale = f.Locale
			}
			d.EmailAsOf = c
		}
	case billing.TrialEnding:
		// Stripe sends the notice once per trial; its end names it.
		id := fmt.Sprintf("%s.%d", notify.TrialEnding, f.TrialEnd.Unix())
		if d.Purchased && !d.Status.Final() && !r.hasEmail(id) && !r.owes(id) {
			r.Mail = append(r.Mail, PendingEmail{ID: id, Kind: notify.TrialEnding, At: f.TrialEnd})
		}
	case billing.SubscriptionState:
		if c.After(d.PlanAsOf) {
			d.CancelAt = time.Time{}
			if f.CancelAtPeriodEnd {
				d.CancelAt = f.CurrentPeriodEnd
			}
			endingNotice(r)
		}
		setPlan()
		setSeats(d, f, pol)
		if !c.Before(d.SubStatusAsOf) {
			d.SubStatus, d.SubStatusAsOf = f.SubStatus, c
		}
		switch f.SubStatus {
		case "past_due", "unpaid", "paused":
			d.Dunning = append(d.Dunning, c)
			slices.SortFunc(d.Dunning, func(a, b time.Time) int { return a.Compare(b) })
			if len(d.Dunning) > maxDunning {
				d.Dunning = d.Dunning[len(d.Dunning)-maxDunning:]
			}
		case "canceled", "incomplete_expired":
			final(d, StatusCanceled, f, pol)
		}
	case billing.PaymentLinked:
		d.payment(f.Invoice).link(f)
	case billing.Canceled:
		final(d, StatusCanceled, f, pol)
	case billing.Refunded, billing.RefundReverted, billing.Disputed, billing.DisputeClosed:
		takeBack(d, f, pol)
	}
	derive(d, f, pol)
	r.audit(factAudit(events.AuditFactApplied, f, ""))
}

const maxDunning = 16

// setPayURL keeps the link of the newest unpaid invoice.
func setPayURL(d *Desired, f billing.Fact) {
	if f.InvoiceURL != "" && !f.Created.Before(d.PayURLAsOf) {
		d.PayURL, d.PayURLAsOf = f.InvoiceURL, f.Created
	}
}

// endingNotice owes the customer "your plan ends on …" once per date a
// subscription is set to cancel at, and drops a notice not yet sent whose
// date no longer holds (the cancellation was undone or moved).
func endingNotice(r *Record) {
	d := &r.Desired
	r.Mail = slices.DeleteFunc(r.Mail, func(m PendingEmail) bool { return m.Kind == notify.Ending && !m.At.Equal(d.CancelAt) })
	if d.CancelAt.IsZero() || !d.Purchased || d.Status.Final() {
		return
	}
	id := fmt.Sprintf("%s.%d", notify.Ending, d.CancelAt.Unix())
	if !r.hasEmail(id) && !r.owes(id) {
		r.Mail = append(r.Mail, PendingEmail{ID: id, Kind: notify.Ending, At: d.CancelAt})
	}
}

// derive sets the status from the newest facts: a subscription whose
// newest Stripe status is a dunning one, newer than its newest payment, is
// suspended from the first dunning after that payment plus the grace period.
func derive(d *Desired, f billing.Fact, pol policy) {
	if d.Status == StatusCanceled || d.Status == StatusRefunded {
		return
	}
	if !d.Purchased {
		d.Status = StatusNone
		return
	}
	// The payment of the latest period was taken back (refunded in full,
	// disputed and not won): the service is suspended at once, until a
	// later period is paid. A one-off order has no later period: refunded,
	// or its dispute lost, it ends.
	if p := d.latestPayment(); p != nil && p.void() {
		if d.OneOff && p.Dispute != "open" {
			final(d, StatusRefunded, billing.Fact{Created: p.VoidAsOf}, pol)
			return
		}
		d.Status, d.SuspendAt = StatusSuspended, p.VoidAsOf
		return
	}
	switch d.SubStatus {
	case "past_due", "unpaid", "paused":
		if d.SubStatusAsOf.After(d.PaidAsOf) {
			for _, t := range d.Dunning {
				if t.After(d.PaidAsOf) {
					d.Status, d.SuspendAt = StatusSuspended, t.Add(pol.grace)
					return
				}
			}
		}
	}
	d.Status, d.SuspendAt = StatusActive, time.Time{}
}

// final ends the record: canceled, or refunded (which also covers a
// dispute, and overrides a cancellation). The deletion time counts from the
// earliest final fact, whatever order they came in.
func final(d *Desired, s Status, f billing.Fact, pol policy) {
	if del := f.Created.Add(pol.deleteAfter); d.DeleteAt.IsZero() || del.Before(d.DeleteAt) {
		d.DeleteAt = del
	}
	if d.Status != StatusRefunded {
		d.Status = s
	}
	d.SuspendAt = time.Time{}
}

// owes reports whether email id is pending.
func (r *Record) owes(id string) bool {
	return slices.ContainsFunc(r.Mail, func(m PendingEmail) bool { return m.ID == id })
}

// formatAmount renders minor units as "9.99 EUR".
func formatAmount(minor int64, currency string) string {
	if currency == "" {
		return ""
	}
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, strings.ToUpper(currency))
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
	set(&d.Locale, f.Locale)
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

// hasEmail reports whether email id was sent (or failed for good).
func (r *Record) hasEmail(id string) bool { _, ok := r.Emails[id]; return ok }
