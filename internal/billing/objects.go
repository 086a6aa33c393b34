package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The Stripe objects as vpnbill reads them from webhook events: only the
// fields it needs, by where each API version keeps them (see
// ReadsVersion). stripe-go's types speak one version (2023-10-16) and would
// read a basil invoice as one of no subscription; these read each version
// by its own fields.

// ref is an expandable field: an id, or the object it names (with its id).
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	id, _, err := idOrObject(b)
	*r = ref(id)
	return err
}

// price is a price field: an id, or the price object with its lookup key.
// A webhook's subscription items carry the object; from basil on an
// invoice line carries only the id (pricing.price_details.price).
type price struct {
	ID        string
	LookupKey string
	Product   string // the product's id, where the event says
	Object    bool   // the object, not only its id: LookupKey is known
}

func (p *price) UnmarshalJSON(b []byte) error {
	id, obj, err := idOrObject(b)
	if err != nil || obj == nil {
		*p = price{ID: id}
		return err
	}
	var o struct {
		LookupKey string `json:"lookup_key"`
		Product   ref    `json:"product"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		return err
	}
	*p = price{ID: id, LookupKey: o.LookupKey, Product: string(o.Product), Object: true}
	return nil
}

// keys are the price's id and lookup key, as the catalog knows prices,
// and its product's id, as the catalog knows other products.
func (p price) keys() []string {
	var keys []string
	for _, k := range []string{p.ID, p.LookupKey, p.Product} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// idOrObject reads an expandable field: null, an id string, or an object
// with a string id (returned as obj too).
func idOrObject(b []byte) (id string, obj json.RawMessage, err error) {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return "", nil, nil
	case bytes.HasPrefix(b, []byte(`"`)):
		err = json.Unmarshal(b, &id)
		return id, nil, err
	case bytes.HasPrefix(b, []byte("{")):
		var o struct {
			ID string `json:"id"`
		}
		err = json.Unmarshal(b, &o)
		return o.ID, b, err
	}
	return "", nil, errors.New("neither an id nor an object")
}

// list is a Stripe list object.
type list[T any] struct {
	Data []*T `json:"data"`
}

// period is a time span in Unix seconds.
type period struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// decode reads obj into v; what names the object for the error.
func (r reader) decode(obj json.RawMessage, v any, what string) error {
	if err := json.Unmarshal(obj, v); err != nil {
		return r.malformed(what, "", "%v", err)
	}
	return nil
}

// checkoutSession is what vpnbill reads of a checkout session: the same
// fields in every version. A session carries no line items in any.
type checkoutSession struct {
	ID              string `json:"id"`
	Mode            string `json:"mode"`
	PaymentStatus   string `json:"payment_status"`
	AmountTotal     int64  `json:"amount_total"`
	Currency        string `json:"currency"`
	Customer        ref    `json:"customer"`
	CustomerEmail   string `json:"customer_email"`
	CustomerDetails *struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"customer_details"`
	PaymentIntent ref               `json:"payment_intent"`
	Invoice       ref               `json:"invoice"`
	Subscription  ref               `json:"subscription"`
	Metadata      map[string]string `json:"metadata"`
	Locale        string            `json:"locale"`
}

// invoice is what vpnbill reads of an invoice: the fields every version
// has; readInvoice fills the rest from where the version keeps them.
type invoice struct {
	ID               string `json:"id"`
	Customer         ref    `json:"customer"`
	CustomerEmail    string `json:"customer_email"`
	CustomerName     string `json:"customer_name"`
	Currency         string `json:"currency"`
	HostedInvoiceURL string `json:"hosted_invoice_url"`
	AmountDue        int64  `json:"amount_due"`
	AmountPaid       int64  `json:"amount_paid"`
	BillingReason    string `json:"billing_reason"`

	// By version.
	subscription  string // "" for an invoice of no subscription
	noSub         error  // why subscription is "": ErrIgnored or ErrMalformed
	charge        string // 2023-10-16, acacia only
	paymentIntent string // 2023-10-16, acacia only
	lines         []invoiceLine
}

// invoiceLine is an invoice line as vpnbill reads it in any version.
type invoiceLine struct {
	subscription bool   // a line of a subscription item, not an invoice item
	price        price  // zero when the line names none
	priceField   string // where the version keeps the price, for errors
	period       period
	quantity     int64
	proration    bool
}

// readInvoice reads an invoice of r's version, in one pass over its JSON
// (an invoice is the largest object vpnbill reads).
func (r reader) readInvoice(obj json.RawMessage) (invoice, error) {
	if r.basil {
		return r.readInvoiceBasil(obj)
	}
	var old struct {
		invoice
		Subscription  ref `json:"subscription"`
		Charge        ref `json:"charge"`
		PaymentIntent ref `json:"payment_intent"`
		Lines         list[struct {
			Type      string `json:"type"`
			Price     price  `json:"price"`
			Period    period `json:"period"`
			Quantity  int64  `json:"quantity"`
			Proration bool   `json:"proration"`
		}] `json:"lines"`
	}
	if err := r.decode(obj, &old, "invoice"); err != nil {
		return invoice{}, err
	}
	inv := old.invoice
	if inv.ID == "" {
		return inv, r.malformed("invoice", "", "no id")
	}
	inv.subscription, inv.charge, inv.paymentIntent = string(old.Subscription), string(old.Charge), string(old.PaymentIntent)
	if inv.subscription == "" {
		inv.noSub = r.noSubscription(&inv, "subscription")
	}
	for i, l := range old.Lines.Data {
		if l != nil {
			inv.lines = append(inv.lines, invoiceLine{subscription: l.Type == "subscription", price: l.Price,
				priceField: fmt.Sprintf("lines.data[%d].price", i), period: l.Period, quantity: l.Quantity, proration: l.Proration})
		}
	}
	return inv, nil
}

// readInvoiceBasil reads what basil moved: the subscription under parent,
// the line's price under pricing and its kind under parent. The invoice no
// longer names its payment: invoice_payment objects do.
func (r reader) readInvoiceBasil(obj json.RawMessage) (invoice, error) {
	var b struct {
		invoice
		Parent *struct {
			Type                string `json:"type"`
			SubscriptionDetails *struct {
				Subscription ref `json:"subscription"`
			} `json:"subscription_details"`
		} `json:"parent"`
		Lines list[struct {
			Parent *struct {
				Type                   string `json:"type"`
				SubscriptionItemDetail *struct {
					Proration bool `json:"proration"`
				} `json:"subscription_item_details"`
			} `json:"parent"`
			Quantity int64 `json:"quantity"`
			Pricing  *struct {
				PriceDetails *struct {
					Price   price `json:"price"`
					Product ref   `json:"product"`
				} `json:"price_details"`
			} `json:"pricing"`
			Period period `json:"period"`
		}] `json:"lines"`
	}
	if err := r.decode(obj, &b, "invoice"); err != nil {
		return invoice{}, err
	}
	inv := b.invoice
	if inv.ID == "" {
		return inv, r.malformed("invoice", "", "no id")
	}
	switch {
	case b.Parent == nil:
		inv.noSub = r.noSubscription(&inv, "parent")
	case b.Parent.Type == "subscription_details":
		if d := b.Parent.SubscriptionDetails; d != nil {
			inv.subscription = string(d.Subscription)
		}
		if inv.subscription == "" {
			inv.noSub = r.malformed("invoice", inv.ID, "no parent.subscription_details.subscription")
		}
	case b.Parent.Type == "quote_details":
		inv.noSub = fmt.Errorf("%w: invoice %s is of a quote (parent.type quote_details), not of a subscription", ErrIgnored, inv.ID)
	default:
		inv.noSub = r.malformed("invoice", inv.ID, "parent.type %q is not one vpnbill knows", b.Parent.Type)
	}
	for i, l := range b.Lines.Data {
		if l == nil {
			continue
		}
		line := invoiceLine{subscription: l.Parent != nil && l.Parent.Type == "subscription_item_details",
			priceField: fmt.Sprintf("lines.data[%d].pricing.price_details.price", i), period: l.Period, quantity: l.Quantity}
		if line.subscription && l.Parent.SubscriptionItemDetail != nil {
			line.proration = l.Parent.SubscriptionItemDetail.Proration
		}
		if l.Pricing != nil && l.Pricing.PriceDetails != nil {
			line.price = l.Pricing.PriceDetails.Price
			if line.price.Product == "" {
				line.price.Product = string(l.Pricing.PriceDetails.Product)
			}
		}
		inv.lines = append(inv.lines, line)
	}
	return inv, nil
}

// noSubscription is why an invoice names no subscription (field is where
// the version would): a one-off or manual invoice buys no service, but one
// billed for a subscription (billing_reason subscription_*) must name it.
func (r reader) noSubscription(inv *invoice, field string) error {
	if strings.HasPrefix(inv.BillingReason, "subscription") {
		return r.malformed("invoice", inv.ID, "billing_reason %s but no %s", inv.BillingReason, field)
	}
	return fmt.Errorf("%w: invoice %s belongs to no subscription (billing_reason %q)", ErrIgnored, inv.ID, inv.BillingReason)
}

// subscription is what vpnbill reads of a subscription: the fields every
// version has, and the current period end from where the version keeps it.
// Every version keeps the price (and quantity) on the items.
type subscription struct {
	ID                string `json:"id"`
	Customer          ref    `json:"customer"`
	Status            string `json:"status"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
	TrialEnd          int64  `json:"trial_end"` // every version; 0: no trial
	Items             list[struct {
		Price    price `json:"price"`
		Quantity int64 `json:"quantity"`
	}] `json:"items"`

	currentPeriodEnd int64 // 0 when the version's field is missing
	periodField      string
}

// readSubscription reads a subscription of r's version.
func (r reader) readSubscription(obj json.RawMessage) (subscription, error) {
	var s subscription
	if err := r.decode(obj, &s, "subscription"); err != nil {
		return s, err
	}
	if s.ID == "" {
		return s, r.malformed("subscription", "", "no id")
	}
	if !r.basil {
		var old struct {
			CurrentPeriodEnd int64 `json:"current_period_end"`
		}
		err := r.decode(obj, &old, "subscription "+s.ID)
		s.currentPeriodEnd, s.periodField = old.CurrentPeriodEnd, "current_period_end"
		return s, err
	}
	// Basil keeps the period on each item; the subscription's is the
	// latest (one item per subscription is what vpnbill sells).
	var b struct {
		Items list[struct {
			CurrentPeriodEnd int64 `json:"current_period_end"`
		}] `json:"items"`
	}
	err := r.decode(obj, &b, "subscription "+s.ID)
	s.periodField = "items.data[].current_period_end"
	for _, it := range b.Items.Data {
		if it != nil {
			s.currentPeriodEnd = max(s.currentPeriodEnd, it.CurrentPeriodEnd)
		}
	}
	return s, err
}

// charge is what vpnbill reads of a charge; readCharge adds its invoice
// where the version names it.
type charge struct {
	ID             string `json:"id"`
	Customer       ref    `json:"customer"`
	PaymentIntent  ref    `json:"payment_intent"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Refunded       bool   `json:"refunded"`
	Currency       string `json:"currency"`

	invoice string // 2023-10-16, acacia only
}

// readCharge reads a charge of r's version.
func (r reader) readCharge(obj json.RawMessage) (charge, error) {
	var c charge
	if err := r.decode(obj, &c, "charge"); err != nil {
		return c, err
	}
	if c.ID == "" {
		return c, r.malformed("charge", "", "no id")
	}
	if r.basil {
		return c, nil // an invoice_payment links it to its invoice
	}
	var old struct {
		Invoice ref `json:"invoice"`
	}
	err := r.decode(obj, &old, "charge "+c.ID)
	c.invoice = string(old.Invoice)
	return c, err
}

// dispute is what vpnbill reads of a dispute: the same in every version.
type dispute struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
}

// invoicePayment is what vpnbill reads of an invoice_payment: the payment
// (a payment intent or a charge) of an invoice. The object came with basil
// and has the same fields in every version since; an invoice_payment.paid
// event of an older version is read the same way.
type invoicePayment struct {
	ID         string `json:"id"`
	Invoice    ref    `json:"invoice"`
	AmountPaid int64  `json:"amount_paid"`
	Currency   string `json:"currency"`
	Payment    struct {
		Type          string `json:"type"`
		PaymentIntent ref    `json:"payment_intent"`
		Charge        ref    `json:"charge"`
	} `json:"payment"`
}
