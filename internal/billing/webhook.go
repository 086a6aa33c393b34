// Package billing owns the Stripe side of vpnbill: verifying webhook
// signatures, reading the event envelope, the plan catalog (Stripe price ids
// and lookup keys → plans), and translating a Stripe event of any API
// version vpnbill reads (ReadableVersions) into a domain Fact — news about
// what a customer's service should now be.
//
// It knows nothing of the providers' APIs, SMTP or NATS.
package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Errors of Verify, for the webhook to count and answer.
var (
	ErrNotSigned    = errors.New("no Stripe-Signature header")
	ErrBadSignature = errors.New("no valid signature for any configured secret")
	ErrTooOld       = errors.New("signature timestamp outside the tolerance")
)

// DefaultTolerance is how far a signature's timestamp may be from now.
const DefaultTolerance = 300 * time.Second

// Verifier checks Stripe-Signature headers against one or more endpoint
// secrets, so a secret can be rotated without dropping events.
type Verifier struct {
	secrets   []string
	tolerance time.Duration
	now       func() time.Time // nil: time.Now; tests set a fixed clock
}

// NewVerifier returns a Verifier for secrets (each "whsec_…"); a tolerance of
// 0 means DefaultTolerance.
func NewVerifier(secrets []string, tolerance time.Duration) (*Verifier, error) {
	var clean []string
	for _, s := range secrets {
		if s = strings.TrimSpace(s); s != "" {
			clean = append(clean, s)
		}
	}
	if len(clean) == 0 {
		return nil, errors.New("no webhook secret configured")
	}
	for i, s := range clean {
		if !strings.HasPrefix(s, "whsec_") {
			return nil, fmt.Errorf("webhook secret %d does not start with whsec_", i+1)
		}
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	return &Verifier{secrets: clean, tolerance: tolerance}, nil
}

// ParseSecrets splits a comma-separated STRIPE_WEBHOOK_SECRET value.
func ParseSecrets(v string) []string { return strings.Split(v, ",") }

// Verify reports whether payload carries a valid signature, made within the
// tolerance, by any configured secret. A header none of the secrets signed is
// ErrBadSignature whatever its timestamp; ErrTooOld is for a valid signature
// made too long ago (a replay, or a clock off by more than the tolerance).
func (v *Verifier) Verify(payload []byte, header string) error {
	if header == "" {
		return ErrNotSigned
	}
	for _, s := range v.secrets {
		// The signature first, the age after: stripe-go's
		// ValidatePayloadWithTolerance checks the age first, so a forged
		// header with an old (or no) "t=" would count as too old.
		err := webhook.ValidatePayloadIgnoringTolerance(payload, header, s)
		switch {
		case err == nil:
			return v.checkAge(header)
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader):
			return ErrBadSignature
		}
	}
	return ErrBadSignature
}

// checkAge checks the timestamp of a header whose signature is valid. It reads
// "t=" as stripe-go does (the last one counts; none is the zero time).
func (v *Verifier) checkAge(header string) error {
	var signed time.Time
	for _, pair := range strings.Split(header, ",") {
		if k, val, ok := strings.Cut(pair, "="); ok && k == "t" {
			ts, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return ErrBadSignature // stripe-go accepted no such header
			}
			signed = time.Unix(ts, 0)
		}
	}
	now := time.Now
	if v.now != nil {
		now = v.now
	}
	if now().Sub(signed) > v.tolerance {
		return ErrTooOld
	}
	return nil
}

// Envelope is what the webhook reads of an event; the worker reads the rest,
// by the fields of APIVersion (the endpoint's version when Stripe sent it).
type Envelope struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	APIVersion string `json:"api_version"`
}

// ErrMalformed means a payload is not a Stripe event vpnbill can read.
var ErrMalformed = errors.New("malformed Stripe event")

// ParseEnvelope decodes and checks the envelope of a Stripe event.
func ParseEnvelope(payload []byte) (Envelope, error) {
	if e, ok := scanEnvelope(payload); ok {
		return e, e.check()
	}
	var e Envelope
	if err := json.Unmarshal(payload, &e); err != nil {
		return e, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, e.check()
}

// check checks what an envelope must hold.
func (e Envelope) check() error {
	switch {
	case !strings.HasPrefix(e.ID, "evt_") || len(e.ID) > 255 || strings.ContainsAny(e.ID, " \t\r\n"):
		return fmt.Errorf("%w: id %q is not an event id", ErrMalformed, truncate(e.ID, 40))
	case e.Type == "" || len(e.Type) > 100 || strings.ContainsAny(e.Type, " \t\r\n*>"):
		return fmt.Errorf("%w: type %q", ErrMalformed, truncate(e.Type, 40))
	case e.Created <= 0:
		return fmt.Errorf("%w: no created time", ErrMalformed)
	}
	return nil
}

// CreatedTime is the event's creation time.
func (e Envelope) CreatedTime() time.Time { return time.Unix(e.Created, 0).UTC() }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// The Stripe event types vpnbill acts on.
const (
	EventCheckoutCompleted      = "checkout.session.completed"
	EventCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed    = "checkout.session.async_payment_failed"
	EventInvoicePaid            = "invoice.paid"
	EventInvoicePaymentFailed   = "invoice.payment_failed"
	EventSubscriptionUpdated    = "customer.subscription.updated"
	EventSubscriptionDeleted    = "customer.subscription.deleted"
	EventChargeRefunded         = "charge.refunded"
	EventChargeDisputeCreated   = "charge.dispute.created"
	// EventInvoicePaymentPaid links an invoice to the payment intent or
	// charge that paid it: from API version basil on, neither the invoice
	// nor the charge names the other.
	EventInvoicePaymentPaid = "invoice_payment.paid"
	// EventInvoicePaymentActionRequired: a payment needs the customer to
	// confirm it (3-D Secure).
	EventInvoicePaymentActionRequired = "invoice.payment_action_required"
	// EventSubscriptionTrialWillEnd: Stripe's notice three days before a
	// trial ends.
	EventSubscriptionTrialWillEnd = "customer.subscription.trial_will_end"
	// EventCustomerUpdated: the customer's email address or name may have
	// changed; later emails use the new ones.
	EventCustomerUpdated = "customer.updated"
	// EventCustomerDeleted: the customer was deleted at Stripe; audited.
	EventCustomerDeleted = "customer.deleted"
	// EventDisputeClosed: a dispute ended, won or lost.
	EventDisputeClosed = "charge.dispute.closed"
	// EventDisputeFundsReinstated: the disputed funds came back to the
	// merchant: as good as won.
	EventDisputeFundsReinstated = "charge.dispute.funds_reinstated"
	// EventChargeRefundUpdated: a refund changed; one that failed or was
	// canceled no longer takes its amount back.
	EventChargeRefundUpdated = "charge.refund.updated"
)

// HandledTypes lists, in a stable order, the event types the Stripe endpoint
// must be subscribed to, whatever its API version.
var HandledTypes = []string{
	EventCheckoutCompleted,
	EventCheckoutAsyncSucceeded,
	EventCheckoutAsyncFailed,
	EventInvoicePaid,
	EventInvoicePaymentFailed,
	EventSubscriptionUpdated,
	EventSubscriptionDeleted,
	EventChargeRefunded,
	EventChargeDisputeCreated,
	EventInvoicePaymentPaid,
	EventInvoicePaymentActionRequired,
	EventSubscriptionTrialWillEnd,
	EventCustomerUpdated,
	EventCustomerDeleted,
	EventDisputeClosed,
	EventDisputeFundsReinstated,
	EventChargeRefundUpdated,
}

// Handled reports whether vpnbill acts on events of type t.
func Handled(t string) bool {
	for _, h := range HandledTypes {
		if h == t {
			return true
		}
	}
	return false
}
