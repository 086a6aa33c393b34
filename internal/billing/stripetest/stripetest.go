// Package stripetest builds realistic Stripe webhook events for tests and
// the demo: each starts from Stripe's own sample object for the event's API
// version family (samples/, from Stripe's OpenAPI fixtures), with the ids,
// amounts, status, metadata and times a scenario needs set on it, wrapped
// in an event envelope naming that api_version and signed as Stripe signs
// it. Every builder's input has a Version; empty is DefaultVersion.
package stripetest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// DefaultVersion is the API version of a builder whose Version is empty:
// the one stripe-go v76 speaks.
const DefaultVersion = "2023-10-16"

// Versions lists one API version of each family the builders speak, oldest
// first: 2023-10-16, acacia, basil, clover, dahlia — the versions of
// Stripe's samples in samples/.
//
// A builder's Version may be any version string: the object starts from the
// sample of the version's family (by name: "2025-04-30.basil" from basil's;
// an unnamed version from 2023-10-16's; a family the samples lack from the
// newest), so a test can build an event of a version vpnbill does not read.
var Versions = []string{
	"2023-10-16",
	"2024-12-18.acacia",
	"2025-07-30.basil",
	"2025-12-15.clover",
	"2026-07-29.dahlia",
}

// basilDate is the first version of basil: from it on an invoice names its
// subscription under parent and no longer its payment, an invoice line its
// price under pricing, a subscription its period on its items, and a charge
// no longer its invoice.
const basilDate = "2025-03-31"

//go:embed samples/objects-*.json
var sampleFiles embed.FS

// samples are the sample objects by sample version, then by kind.
var samples = sync.OnceValue(func() map[string]map[string]json.RawMessage {
	all := map[string]map[string]json.RawMessage{}
	for _, v := range Versions {
		b, err := sampleFiles.ReadFile("samples/objects-" + v + ".json")
		if err != nil {
			panic(fmt.Sprintf("stripetest: samples of %s: %v", v, err)) // the embedded files are ours
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("stripetest: samples of %s: %v", v, err))
		}
		all[v] = m
	}
	return all
})

// sampleVersion is the version of the samples a builder of version v
// starts from.
func sampleVersion(v string) string {
	if v == "" {
		return DefaultVersion
	}
	_, family, _ := strings.Cut(v, ".")
	for _, s := range Versions {
		if _, f, _ := strings.Cut(s, "."); f == family {
			return s
		}
	}
	return Versions[len(Versions)-1]
}

// basil reports whether objects of version v have basil's shape.
func basil(v string) bool { return sampleVersion(v) >= basilDate }

// sample returns a fresh copy of Stripe's sample object of kind for version
// v. An object newer than v's family (invoice_payment before basil) is the
// sample of the first family that has it: Stripe adds new objects to every
// version.
func sample(v, kind string) map[string]any {
	sv := sampleVersion(v)
	for _, s := range Versions {
		if s < sv {
			continue
		}
		if raw, ok := samples()[s][kind]; ok {
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				panic(err)
			}
			return obj
		}
	}
	panic("stripetest: no sample " + kind)
}

var seq atomic.Int64

// ID returns a unique Stripe-style id with prefix, e.g. ID("evt").
func ID(prefix string) string {
	return fmt.Sprintf("%s_test%010d%d", prefix, seq.Add(1), time.Now().UnixNano()%1e6)
}

// Event wraps obj as an event of type typ, id id, created at created, of
// API version DefaultVersion.
func Event(id, typ string, created time.Time, obj map[string]any) []byte {
	return VersionedEvent("", id, typ, created, obj)
}

// VersionedEvent wraps obj as an event of API version version (empty:
// DefaultVersion), type typ, id id, created at created.
func VersionedEvent(version, id, typ string, created time.Time, obj map[string]any) []byte {
	if version == "" {
		version = DefaultVersion
	}
	ev := map[string]any{
		"id": id, "object": "event", "api_version": version,
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

// Live returns event (one of this package's events) as Stripe sends it in
// live mode: "livemode" true on the envelope and on its data.object (where
// the object has the field). Every builder makes test-mode events.
func Live(event []byte) []byte {
	var ev map[string]any
	d := json.NewDecoder(bytes.NewReader(event))
	d.UseNumber() // ids and amounts stay as they were
	if err := d.Decode(&ev); err != nil {
		panic("stripetest: Live: " + err.Error()) // the events are ours
	}
	ev["livemode"] = true
	if data, ok := ev["data"].(map[string]any); ok {
		if obj, ok := data["object"].(map[string]any); ok {
			if _, has := obj["livemode"]; has {
				obj["livemode"] = true
			}
		}
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
	// Free: nothing to pay (a free trial, a 100% coupon): payment_status
	// no_payment_required, amount 0.
	Free     bool
	Amount   int64
	Currency string // default "eur"
	Created  time.Time
	Version  string // API version; default DefaultVersion
}

// CheckoutSession returns the checkout.session object c describes. Its
// fields are the same in every version.
func CheckoutSession(c Checkout) map[string]any {
	o := sample(c.Version, "checkout.session")
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
	switch {
	case c.Free:
		o["payment_status"] = "no_payment_required"
		o["amount_total"], o["amount_subtotal"] = 0, 0
	case c.Paid:
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
	return VersionedEvent(c.Version, eventID, "checkout.session.completed", created, CheckoutSession(c))
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
	return VersionedEvent(c.Version, eventID, "checkout.session.async_payment_succeeded", created, CheckoutSession(c))
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
	return VersionedEvent(c.Version, eventID, "checkout.session.async_payment_failed", created, CheckoutSession(c))
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
