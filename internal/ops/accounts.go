package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// InReview is a record waiting for an operator's decision.
type InReview struct {
	Key    string    `json:"key"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
	Step   string    `json:"step"`
	Email  string    `json:"email"`
	Plan   string    `json:"plan"`
}

// Reviews lists the records in review, oldest first.
func (o *Ops) Reviews(ctx context.Context) ([]InReview, error) {
	st, err := o.store(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := st.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []InReview
	for _, r := range recs {
		if r.Review == nil {
			continue
		}
		out = append(out, InReview{Key: r.Key, Since: r.Review.Since, Reason: r.Review.Reason, Step: r.Review.Step,
			Email: r.Desired.Email, Plan: r.Desired.Plan.ID})
	}
	slices.SortFunc(out, func(a, b InReview) int { return a.Since.Compare(b.Since) })
	return out, nil
}

// Resolve applies an operator's decision to a record in review.
func (o *Ops) Resolve(ctx context.Context, key string, action provisioning.ReviewAction, username string) error {
	if o.Provisioner == nil {
		return fmt.Errorf("review resolve: provisioning is %w (plans, provider, SMTP, CREDENTIALS_KEY)", ErrNotConfigured)
	}
	return o.Provisioner.ResolveReview(ctx, key, action, username)
}

// Resend gives the customer of record key new credentials by email.
func (o *Ops) Resend(ctx context.Context, key string) error {
	if o.Provisioner == nil {
		return fmt.Errorf("resend: provisioning is %w (plans, provider, SMTP, CREDENTIALS_KEY)", ErrNotConfigured)
	}
	return o.Provisioner.ResetCredentials(ctx, key)
}

// Account is an account record as an operator sees it: everything but the
// sealed password, of which only its presence is shown.
type Account struct {
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	// Seat: which seat of its subscription or order this record is (1:
	// the first, whose key is the subscription's); Seats: how many are
	// paid for now; SeatOf: the first seat's key, for a further seat.
	Seat    int    `json:"seat"`
	Seats   int    `json:"seats"`
	SeatOf  string `json:"seat_of,omitempty"`
	Removed bool   `json:"seat_removed,omitempty"`
	Desired struct {
		Status       string    `json:"status"`
		Plan         string    `json:"plan"`
		Provider     string    `json:"provider"`
		PaidThrough  time.Time `json:"paid_through,omitzero"`
		SuspendAt    time.Time `json:"suspend_at,omitzero"`
		DeleteAt     time.Time `json:"delete_at,omitzero"`
		CancelAt     time.Time `json:"cancel_at,omitzero"`
		Email        string    `json:"email"`
		Customer     string    `json:"customer,omitempty"`
		Subscription string    `json:"subscription,omitempty"`
		Checkout     string    `json:"checkout_session,omitempty"`
		OneOff       bool      `json:"one_off,omitempty"`
		SubStatus    string    `json:"sub_status,omitempty"`
	} `json:"desired"`
	Actual struct {
		Provider          string    `json:"provider,omitempty"`
		Username          string    `json:"username,omitempty"`
		Server            string    `json:"server,omitempty"`
		Exists            bool      `json:"exists"`
		Enabled           bool      `json:"enabled"`
		Deleted           bool      `json:"deleted,omitempty"`
		Expiry            time.Time `json:"expiry,omitzero"`
		CreatedAt         time.Time `json:"created_at,omitzero"`
		Generation        int       `json:"generation,omitempty"`
		Resets            int       `json:"resets,omitempty"`
		CredentialsStored bool      `json:"credentials_stored"` // sealed, awaiting the email that carries them
	} `json:"actual"`
	Step      string               `json:"step,omitempty"`
	Review    *provisioning.Review `json:"review,omitempty"`
	RefundDue bool                 `json:"refund_due"`
	Emails    []Email              `json:"emails,omitempty"`
	Pending   []string             `json:"emails_pending,omitempty"`
}

// Email is one email sent (or failed for good).
type Email struct {
	ID        string    `json:"id"`
	MessageID string    `json:"message_id"`
	Sent      time.Time `json:"sent,omitzero"`
	Failed    string    `json:"failed,omitempty"`
}

func accountOf(r *provisioning.Record) Account {
	var a Account
	a.Key, a.Created = r.Key, r.Created
	d := r.Desired
	a.Seat, a.Seats, a.SeatOf, a.Removed = max(d.Seat, 1), max(d.SeatCount, 1), d.SeatOf, d.SeatRemoved
	a.Desired.Status, a.Desired.Plan, a.Desired.Provider = string(d.Status), d.Plan.ID, d.Plan.Provider
	a.Desired.PaidThrough, a.Desired.SuspendAt, a.Desired.DeleteAt, a.Desired.CancelAt = d.PaidThrough, d.SuspendAt, d.DeleteAt, d.CancelAt
	a.Desired.Email, a.Desired.Customer, a.Desired.Subscription, a.Desired.Checkout = d.Email, d.Customer, d.Subscription, d.Checkout
	a.Desired.OneOff, a.Desired.SubStatus = d.OneOff, d.SubStatus
	ac := r.Actual
	a.Actual.Provider, a.Actual.Username, a.Actual.Server = ac.Provider, ac.Username, ac.Server
	a.Actual.Exists, a.Actual.Enabled, a.Actual.Deleted = ac.Exists, ac.Enabled, ac.Deleted
	a.Actual.Expiry, a.Actual.CreatedAt, a.Actual.Generation, a.Actual.Resets = ac.Expiry, ac.CreatedAt, ac.Generation, ac.Resets
	a.Actual.CredentialsStored = len(ac.Password) > 0
	if r.Step != nil {
		a.Step = r.Step.Name
	}
	a.Review, a.RefundDue = r.Review, r.RefundDue
	for id, e := range r.Emails {
		a.Emails = append(a.Emails, Email{ID: id, MessageID: e.MessageID, Sent: e.Sent, Failed: e.Failed})
	}
	slices.SortFunc(a.Emails, func(x, y Email) int { return x.Sent.Compare(y.Sent) })
	for _, m := range r.Mail {
		a.Pending = append(a.Pending, m.ID)
	}
	return a
}

// Accounts finds the records of a subscription id, checkout session id
// (the record key, or the checkout of a subscription's record), record key
// (a seat's) or customer email (case-insensitive). A subscription's or
// order's further seats come after its first, each its own record.
func (o *Ops) Accounts(ctx context.Context, query string) ([]Account, error) {
	st, err := o.store(ctx)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(query, "@") {
		r, _, err := st.Get(ctx, query)
		if err == nil {
			out := []Account{accountOf(r)}
			for _, key := range r.SeatKeys() {
				seat, _, err := st.Get(ctx, key)
				if errors.Is(err, provisioning.ErrNotFound) {
					continue // not yet written: the worker writes it next
				}
				if err != nil {
					return nil, err
				}
				out = append(out, accountOf(seat))
			}
			return out, nil
		}
		if !errors.Is(err, provisioning.ErrNotFound) {
			return nil, err
		}
	}
	recs, err := st.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, r := range recs {
		d := r.Desired
		if strings.EqualFold(d.Email, query) || d.Checkout == query || d.Subscription == query {
			out = append(out, accountOf(r))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", query, provisioning.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b Account) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return a.Seat - b.Seat
	})
	return out, nil
}

// Session is one VPN connection.
type Session struct {
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
}

// Usage is an account's connections over a time range; Tunnel is its
// username.
type Usage struct {
	Key      string    `json:"key"`
	Tunnel   string    `json:"tunnel"`
	Sessions []Session `json:"sessions"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
}

// ErrNoUsage means the record's provider keeps no usage statistics.
var ErrNoUsage = errors.New("the provider has no usage API")

// Usage reads the sessions of record key's account between from and to
// (zero: the beginning of time, now), at a provider that keeps them, with
// its UsageReader.
func (o *Ops) Usage(ctx context.Context, key string, from, to time.Time) (Usage, error) {
	st, err := o.store(ctx)
	if err != nil {
		return Usage{}, err
	}
	r, _, err := st.Get(ctx, key)
	if err != nil {
		return Usage{}, err
	}
	provider := r.Actual.Provider
	if provider == "" {
		provider = r.Desired.Plan.Provider
	}
	if !providers.CapabilitiesOf(providers.Name(provider)).Usage {
		return Usage{}, fmt.Errorf("%s is a %s account: %w", key, provider, ErrNoUsage)
	}
	if r.Actual.Username == "" {
		return Usage{}, fmt.Errorf("%s has no account at %s", key, provider)
	}
	reader := o.UsageReaders[providers.Name(provider)]
	if reader == nil {
		return Usage{}, fmt.Errorf("usage: %s is %w", provider, ErrNotConfigured)
	}
	sessions, err := reader.Sessions(ctx, r.Actual.Username, from, to)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Key: key, Tunnel: r.Actual.Username, Sessions: []Session{}}
	for _, s := range sessions {
		u.Sessions = append(u.Sessions, s)
		u.BytesIn += s.BytesIn
		u.BytesOut += s.BytesOut
	}
	return u, nil
}
