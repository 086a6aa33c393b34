// Package stripetest builds realistic Stripe webhook events for tests and
// the demo: each starts from Stripe's own sample object for API version
// 2023-10-16 (samples/, from stripe-mock's fixtures), with the ids, amounts,
// status, metadata and times a scenario needs set on it, wrapped in an event
// envelope and signed as Stripe signs it.
package stripetest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

//go:embed samples/objects-2023-10-16.json
var samplesJSON []byte

var samples = sync.OnceValue(func() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(samplesJSON, &m); err != nil {
		panic(fmt.Sprintf("stripetest: samples: %v", err)) // the embedded file is ours
	}
	return m
})

// sample returns a fresh copy of Stripe's sample object of kind.
func sample(kind string) map[string]any {
	raw, ok := samples()[kind]
	if !ok {
		panic("stripetest: no sample " + kind)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		panic(err)
	}
	return obj
}

var seq atomic.Int64

// ID returns a unique Stripe-style id with prefix, e.g. ID("evt").
func ID(prefix string) string {
	return fmt.Sprintf("%s_test%010d%d", prefix, seq.Add(1), time.Now().UnixNano()%1e6)
}

// Event wraps obj as an event of type typ, id id, created at created.
func Event(id, typ string, created time.Time, obj map[string]any) []byte {
	ev := map[string]any{
		"id": id, "object": "event", "api_version": "2023-10-16",
		"created": created.Unix(), "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"type":    typ,
		"data":    map[string]any{"object": obj},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// Sign returns the Stripe-Signature header of payload with secret at time t.
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: t,
	}).Header
}

// Post signs payload now and posts it to url, returning the response.
func Post(client *http.Client, url string, payload []byte, secret string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", Sign(payload, secret, time.Now()))
	return client.Do(req)
}

// Checkout describes a checkout session.
type Checkout struct {
	ID           string // default a new cs_ id
	Subscription string // set: mode=subscription; empty: mode=payment (one-off)
	Customer     string // default a new cus_ id
	Email        string
	Name         string
	Plan         string // metadata "plan"; empty: none
	Paid         bool   // payment_status paid (else unpaid)
	Amount       int64
	Currency     string // default "eur"
	Created      time.Time
}

// CheckoutSession returns the checkout.session object c describes.
func CheckoutSession(c Checkout) map[string]any {
	o := sample("checkout.session")
	if c.ID == "" {
		c.ID = ID("cs")
	}
	if c.Customer == "" {
		c.Customer = ID("cus")
	}
	if c.Currency == "" {
		c.Currency = "eur"
	}
	o["id"] = c.ID
	o["customer"] = c.Customer
	o["customer_details"].(map[string]any)["email"] = c.Email
	o["customer_details"].(map[string]any)["name"] = nilIfEmpty(c.Name)
	o["amount_total"], o["amount_subtotal"], o["currency"] = c.Amount, c.Amount, c.Currency
	o["status"] = "complete"
	o["payment_status"] = "unpaid"
	if c.Paid {
		o["payment_status"] = "paid"
	}
	meta := map[string]any{}
	if c.Plan != "" {
		meta["plan"] = c.Plan
	}
	o["metadata"] = meta
	if c.Subscription != "" {
		o["mode"], o["subscription"], o["payment_intent"] = "subscription", c.Subscription, nil
		o["invoice"] = ID("in")
	} else {
		o["mode"], o["subscription"], o["payment_intent"] = "payment", nil, ID("pi")
	}
	if !c.Created.IsZero() {
		o["created"] = c.Created.Unix()
	}
	return o
}

// CheckoutCompleted returns a signed-ready checkout.session.completed event.
func CheckoutCompleted(eventID string, created time.Time, c Checkout) []byte {
	if c.Created.IsZero() {
		c.Created = created
	}
	return Event(eventID, "checkout.session.completed", created, CheckoutSession(c))
}

// CheckoutAsyncSucceeded returns a checkout.session.async_payment_succeeded
// event: the delayed payment (a bank debit) of a completed session arrived,
// so the session is paid whatever c.Paid says. The session is created an
// hour before the event unless c.Created says otherwise.
func CheckoutAsyncSucceeded(eventID string, created time.Time, c Checkout) []byte {
	if c.Created.IsZero() {
		c.Created = created.Add(-time.Hour)
	}
	c.Paid = true
	return Event(eventID, "checkout.session.async_payment_succeeded", created, CheckoutSession(c))
}

// CheckoutAsyncFailed returns a checkout.session.async_payment_failed event:
// the delayed payment of a completed session failed, so the session stays
// unpaid whatever c.Paid says. The session is created an hour before the
// event unless c.Created says otherwise.
func CheckoutAsyncFailed(eventID string, created time.Time, c Checkout) []byte {
	if c.Created.IsZero() {
		c.Created = created.Add(-time.Hour)
	}
	c.Paid = false
	return Event(eventID, "checkout.session.async_payment_failed", created, CheckoutSession(c))
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// child returns o[key] as an object, replacing whatever else is there (a
// null in the sample) with a new empty one, so builders never panic.
func child(o map[string]any, key string) map[string]any {
	if m, ok := o[key].(map[string]any); ok {
		return m
	}
	m := map[string]any{}
	o[key] = m
	return m
}

// firstOf returns the first element of the list object o[key].data, or a
// new empty object when the sample has none; the list then holds exactly it.
func firstOf(o map[string]any, key string) map[string]any {
	list := child(o, key)
	var first map[string]any
	if data, ok := list["data"].([]any); ok && len(data) > 0 {
		first, _ = data[0].(map[string]any)
	}
	if first == nil {
		first = map[string]any{}
	}
	list["data"] = []any{first}
	list["has_more"] = false
	return first
}

// decimal is n as Stripe writes a *_decimal amount.
func decimal(n int64) string { return strconv.FormatInt(n, 10) }

// orNow is t, or the current time (to the second) when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().Truncate(time.Second)
	}
	return t
}
