package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AuditVersion is the version of the audit event contract. A change that
// removes or renames a field, or changes its meaning, bumps it.
const AuditVersion = 1

// AuditKind names what an audit event records. It is also the subject
// suffix: audit.<kind>.
type AuditKind string

// The audit event kinds.
const (
	AuditFactApplied    AuditKind = "fact.applied"    // a Stripe fact changed what the account should be
	AuditFactSkipped    AuditKind = "fact.skipped"    // a Stripe fact was stale, duplicate or irrelevant (Reason says which)
	AuditAccountCreated AuditKind = "account.created" // an account or tunnel now exists at the provider
	AuditAccountRenewed AuditKind = "account.renewed"
	AuditSuspended      AuditKind = "account.suspended"
	AuditResumed        AuditKind = "account.resumed"
	AuditDeleted        AuditKind = "account.deleted"
	AuditPlanChanged    AuditKind = "account.plan_changed"
	AuditEmailSent      AuditKind = "email.sent"
	AuditReviewNeeded   AuditKind = "review.needed"
	AuditReviewResolved AuditKind = "review.resolved" // an operator decided: Reason is adopt, retry or give-up
	AuditDeadLettered   AuditKind = "dead.lettered"
)

// Audit is one audit event, version 1. It never holds a password, a
// password hash, an API key or a full payload.
type Audit struct {
	V       int       `json:"v"`    // AuditVersion
	ID      string    `json:"id"`   // unique and deterministic: the deduplication id
	Kind    AuditKind `json:"kind"` //
	Time    time.Time `json:"time"` // when vpnbill did it (UTC)
	Account string    `json:"account"`

	StripeEvent     string    `json:"stripe_event,omitempty"`
	StripeType      string    `json:"stripe_type,omitempty"`
	StripeCreated   time.Time `json:"stripe_created,omitzero"`
	Customer        string    `json:"customer,omitempty"`
	Email           string    `json:"email,omitempty"`
	Subscription    string    `json:"subscription,omitempty"`
	CheckoutSession string    `json:"checkout_session,omitempty"`
	Invoice         string    `json:"invoice,omitempty"`
	Charge          string    `json:"charge,omitempty"`
	Amount          int64     `json:"amount,omitempty"`   // minor units, as Stripe gave it
	Currency        string    `json:"currency,omitempty"` // ISO code, lower case, as Stripe gave it
	Livemode        bool      `json:"livemode,omitempty"`

	Plan     string `json:"plan,omitempty"`
	Provider string `json:"provider,omitempty"`
	Username string `json:"username,omitempty"` // PureVPN username or VPNKI tunnel
	// Seats: the VPN seats a payment paid for (fact events of purchases and
	// renewals; 0 where the event does not say); Seat: which seat of its
	// subscription an account event is about (0: the first, or the only).
	Seats       int       `json:"seats,omitempty"`
	Seat        int       `json:"seat,omitempty"`
	PeriodStart time.Time `json:"period_start,omitzero"`
	PeriodEnd   time.Time `json:"period_end,omitzero"` // the service period delivered or paid
	Status      string    `json:"status,omitempty"`    // the account's desired status after this event
	MessageID   string    `json:"message_id,omitempty"`
	EmailKind   string    `json:"email_kind,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

// AuditSubject is the subject an audit event of kind is stored under.
func AuditSubject(kind AuditKind) string { return auditSubjectPrefix + string(kind) }

// PublishAudit stores a, with a.ID as the deduplication id, so a replay or a
// retry after a crash does not count twice within the duplicate window.
func PublishAudit(ctx context.Context, js jetstream.JetStream, a Audit) error {
	_, err := PublishAudits(ctx, js, []Audit{a})
	return err
}

// auditAckWithin bounds the wait for JetStream to acknowledge audits.
const auditAckWithin = 10 * time.Second

// PublishAudits stores audits as PublishAudit does, all at once: each is
// sent without waiting for the one before it to be acknowledged, so n
// audits cost about one round trip, not n. It returns the ids of those
// JetStream acknowledged; an error says some may not be stored (they are
// published again by whoever retries, deduplicated by their id).
func PublishAudits(ctx context.Context, js jetstream.JetStream, audits []Audit) ([]string, error) {
	futures := make([]jetstream.PubAckFuture, len(audits))
	var errs []error
	for i, a := range audits {
		a.V = AuditVersion
		if a.Time.IsZero() {
			a.Time = time.Now()
		}
		a.Time = a.Time.UTC()
		data, err := json.Marshal(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("audit %s: %w", a.ID, err))
			continue
		}
		if a.ID == "" {
			errs = append(errs, fmt.Errorf("publish %s: empty message id", AuditSubject(a.Kind)))
			continue
		}
		msg := &nats.Msg{Subject: AuditSubject(a.Kind), Data: data}
		if futures[i], err = js.PublishMsgAsync(msg, jetstream.WithMsgID(a.ID)); err != nil {
			errs = append(errs, fmt.Errorf("publish %s: %w: %w", msg.Subject, ErrNotStored, err))
		}
	}
	var stored []string
	timeout := time.NewTimer(auditAckWithin)
	defer timeout.Stop()
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
			stored = append(stored, audits[i].ID)
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publish audit %s: %w: %w", audits[i].ID, ErrNotStored, err))
		case <-ctx.Done():
			return stored, fmt.Errorf("publish audit %s: %w: %w", audits[i].ID, ErrNotStored, ctx.Err())
		case <-timeout.C:
			return stored, fmt.Errorf("publish audit %s: %w: no acknowledgement within %s", audits[i].ID, ErrNotStored, auditAckWithin)
		}
	}
	return stored, errors.Join(errs...)
}

// DecodeAudit parses a stored audit event.
func DecodeAudit(data []byte) (Audit, error) {
	var a Audit
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("decode audit: %w", err)
	}
	if a.V != AuditVersion {
		return a, fmt.Errorf("decode audit: version %d, want %d", a.V, AuditVersion)
	}
	return a, nil
}
