package ops

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/stripe/stripe-go/v76"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// EndpointVersion is the API version `stripe setup` creates the webhook
// endpoint with: the first version of the newest family vpnbill reads
// (billing.ReadableVersions). Stripe renders every event the endpoint
// receives in it.
func EndpointVersion() string { return billing.ReadableVersions[len(billing.ReadableVersions)-1] }

// EndpointSetup is what `stripe setup` makes of the webhook endpoint.
type EndpointSetup struct {
	// URL is the endpoint's address, https://<host>/stripe/webhook. Required.
	URL string
	// Recreate deletes the endpoint of URL and creates it again when its API
	// version cannot stay: the account's default (which vpnbill cannot
	// know) or a version vpnbill does not read. Stripe cannot change an
	// endpoint's version, and the new endpoint has a new signing secret.
	// Default false: such an endpoint is reported, not touched.
	Recreate bool
}

// The actions of EndpointResult and CatalogRow.
const (
	ActionCreated   = "created"
	ActionRecreated = "recreated" // deleted and created again (EndpointSetup.Recreate)
	ActionUpdated   = "updated"
	ActionUnchanged = "unchanged"
	ActionMissing   = "missing"  // needs attention: Stripe lacks it, and setup cannot make it
	ActionMismatch  = "mismatch" // needs attention: Stripe's differs from the plans file, and setup cannot change it
)

// EndpointResult is what SetupEndpoint did.
type EndpointResult struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Action string `json:"action"` // created, recreated, updated or unchanged
	// Changes lists what an update changed, e.g. "enabled_events: +invoice_payment.paid".
	Changes []string `json:"changes,omitempty"`
	// APIVersion is the endpoint's API version; empty: the account's default.
	APIVersion    string   `json:"api_version"`
	EnabledEvents []string `json:"enabled_events"`
	// Secret is the endpoint's signing secret (whsec_…). Stripe returns it
	// only when it creates an endpoint; otherwise it is empty.
	Secret string `json:"secret,omitempty"`
	// Problems are what setup did not fix, each with how to.
	Problems []string `json:"problems,omitempty"`
	// Duplicates are the other endpoints with the same URL: each delivers
	// every event again (harmless: the webhook stores an event once).
	Duplicates []string `json:"duplicates,omitempty"`
}

// CheckEndpointURL returns an error unless raw is an absolute http(s) URL
// with a host, as Stripe needs.
func CheckEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("--url %q: want the webhook's public address, https://<host>/stripe/webhook", raw)
	}
	return nil
}

// SetupEndpoint creates the webhook endpoint of s.URL, or updates the one
// that exists, so that it sends exactly billing.HandledTypes, in
// EndpointVersion when it is created. An existing endpoint keeps its
// API version if vpnbill reads it (changing it needs a new endpoint; see
// EndpointSetup.Recreate); a disabled one is enabled. Running it again
// changes nothing: an endpoint that is as it should be is not written.
func (s *StripeAPI) SetupEndpoint(ctx context.Context, es EndpointSetup) (EndpointResult, error) {
	if err := CheckEndpointURL(es.URL); err != nil {
		return EndpointResult{}, err
	}
	params := &stripe.WebhookEndpointListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	var matches []*stripe.WebhookEndpoint
	it := s.endpoints.List(params)
	for it.Next() {
		if we := it.WebhookEndpoint(); we.URL == es.URL {
			matches = append(matches, we)
		}
	}
	if err := it.Err(); err != nil {
		return EndpointResult{}, stripeFailure("list webhook endpoints", err)
	}
	if len(matches) == 0 {
		return s.createEndpoint(ctx, es.URL, ActionCreated)
	}
	we := matches[0]
	var dups []string
	for _, d := range matches[1:] {
		dups = append(dups, d.ID)
	}
	if !endpointVersionOK(we.APIVersion) && es.Recreate {
		dp := &stripe.WebhookEndpointParams{}
		dp.Context = ctx
		if _, err := s.endpoints.Del(we.ID, dp); err != nil {
			return EndpointResult{}, stripeFailure("delete webhook endpoint "+we.ID, err)
		}
		r, err := s.createEndpoint(ctx, es.URL, ActionRecreated)
		r.Changes = append(r.Changes, fmt.Sprintf("deleted %s (api_version %s)", we.ID, versionName(we.APIVersion)))
		r.Duplicates = dups
		return r, err
	}
	r := EndpointResult{ID: we.ID, URL: we.URL, Action: ActionUnchanged, APIVersion: we.APIVersion, EnabledEvents: we.EnabledEvents, Duplicates: dups}
	if update, changes := endpointUpdate(we); update != nil {
		update.Context = ctx
		got, err := s.endpoints.Update(we.ID, update)
		if err != nil {
			return r, stripeFailure("update webhook endpoint "+we.ID, err)
		}
		r.Action, r.Changes, r.EnabledEvents = ActionUpdated, changes, got.EnabledEvents
	}
	if !endpointVersionOK(we.APIVersion) {
		r.Problems = append(r.Problems, fmt.Sprintf("api_version is %s, which vpnbill cannot rely on; Stripe cannot change an endpoint's version: "+
			"run again with --recreate (deletes the endpoint and creates it with %s and a new signing secret: put that in STRIPE_WEBHOOK_SECRET beside the old one)",
			versionName(we.APIVersion), EndpointVersion()))
	}
	return r, nil
}

func (s *StripeAPI) createEndpoint(ctx context.Context, u, action string) (EndpointResult, error) {
	p := &stripe.WebhookEndpointParams{
		URL:           stripe.String(u),
		EnabledEvents: stripe.StringSlice(billing.HandledTypes),
		APIVersion:    stripe.String(EndpointVersion()),
		Description:   stripe.String("vpnbill: VPN accounts from Stripe billing"),
	}
	p.Context = ctx
	we, err := s.endpoints.New(p)
	if err != nil {
		return EndpointResult{}, stripeFailure("create webhook endpoint", err)
	}
	return EndpointResult{ID: we.ID, URL: we.URL, Action: action, APIVersion: we.APIVersion, EnabledEvents: we.EnabledEvents, Secret: we.Secret}, nil
}

// endpointVersionOK reports whether an endpoint of API version v may stay:
// a version vpnbill reads. Empty (the account's default) may not: it is
// whatever the account's default is, now or after someone changes it.
func endpointVersionOK(v string) bool { return v != "" && billing.ReadsVersion(v) }

func versionName(v string) string {
	if v == "" {
		return "the account's default"
	}
	return v
}

// endpointUpdate is the update that makes we send exactly the handled
// types, enabled, and what it changes; nil if we is so already.
func endpointUpdate(we *stripe.WebhookEndpoint) (*stripe.WebhookEndpointParams, []string) {
	var changes []string
	p := &stripe.WebhookEndpointParams{}
	want := slices.Sorted(slices.Values(billing.HandledTypes))
	have := slices.Compact(slices.Sorted(slices.Values(we.EnabledEvents)))
	if !slices.Equal(want, have) {
		var add, drop []string
		for _, t := range want {
			if !slices.Contains(have, t) {
				add = append(add, "+"+t)
			}
		}
		for _, t := range have {
			if !slices.Contains(want, t) {
				drop = append(drop, "-"+t)
			}
		}
		changes = append(changes, "enabled_events: "+strings.Join(append(add, drop...), " "))
		p.EnabledEvents = stripe.StringSlice(billing.HandledTypes)
	}
	if we.Status == "disabled" {
		changes = append(changes, "enabled (was disabled)")
		p.Disabled = stripe.Bool(false)
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return p, changes
}

// MetadataPlan is the product metadata key naming the plan a product
// sells: `stripe setup --plans` finds a plan's product by it.
const MetadataPlan = "vpnbill_plan"

// CatalogRow is one thing SetupCatalog looked at: a plan's product, or one
// of its stripe_prices entries.
type CatalogRow struct {
	Plan   string `json:"plan"`
	Object string `json:"object"` // "product", or "price <stripe_prices entry>"
	ID     string `json:"id,omitempty"`
	Action string `json:"action"` // created, updated, unchanged, missing or mismatch
	Detail string `json:"detail,omitempty"`
}

// Attention reports whether the row needs an operator: Stripe lacks it
// or differs, and setup cannot fix that.
func (r CatalogRow) Attention() bool { return r.Action == ActionMissing || r.Action == ActionMismatch }

// SetupCatalog makes Stripe's products and prices match plans, the plans
// file's:
//
//   - A plan's product is the one whose metadata vpnbill_plan is the plan's
//     id, else the one product of the plan's existing prices. Its name is
//     kept equal to the plan's (on a product tagged with the plan), and an
//     untagged one is tagged. A plan that needs a price made and has no
//     product gets one.
//   - Each stripe_prices entry is a price id or a lookup key. A lookup key
//     Stripe lacks is created as a price of the plan's Price (amount,
//     currency; recurring every period_days unless one_off); without a
//     Price it is reported missing, as is a price id Stripe lacks (ids are
//     Stripe's to choose).
//   - A price found by lookup key whose amount, currency or interval differ
//     from the plan's Price is reported, never changed: a Stripe price's
//     amount is fixed, and moving the lookup key to a new price would leave
//     existing subscriptions on a price no plan lists.
//
// Running it again changes nothing: what is as it should be is not written.
// It returns the rows so far and the error of the first call that failed.
func (s *StripeAPI) SetupCatalog(ctx context.Context, plans []billing.Plan) ([]CatalogRow, error) {
	var entries []string
	for _, p := range plans {
		entries = append(entries, p.StripePrices...)
	}
	found, err := s.resolvePrices(ctx, entries)
	if err != nil {
		return nil, err
	}
	products, err := s.allProducts(ctx)
	if err != nil {
		return nil, err
	}
	var rows []CatalogRow
	for _, p := range plans {
		r, err := s.setupPlan(ctx, p, found, products)
		rows = append(rows, r...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// catalogProducts are the account's products, by id and by the plan their
// metadata names.
type catalogProducts struct {
	byID   map[string]*stripe.Product
	byPlan map[string]*stripe.Product
}

func (s *StripeAPI) allProducts(ctx context.Context) (catalogProducts, error) {
	c := catalogProducts{byID: map[string]*stripe.Product{}, byPlan: map[string]*stripe.Product{}}
	params := &stripe.ProductListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := s.products.List(params)
	for it.Next() {
		pr := it.Product()
		c.byID[pr.ID] = pr
		if plan := pr.Metadata[MetadataPlan]; plan != "" && c.byPlan[plan] == nil {
			c.byPlan[plan] = pr
		}
	}
	if err := it.Err(); err != nil {
		return c, stripeFailure("list products", err)
	}
	return c, nil
}

// foundPrice is a stripe_prices entry found in Stripe, and whether by its
// lookup key (rather than its id).
type foundPrice struct {
	price    *stripe.Price
	byLookup bool
}

// resolvePrices finds each entry (a price id or a lookup key) in Stripe:
// entries that look like ids ("price_…") by id first, the others by lookup
// key first (ten to a request), each then the other way. An entry found
// neither way is absent from the map.
func (s *StripeAPI) resolvePrices(ctx context.Context, entries []string) (map[string]foundPrice, error) {
	found := map[string]foundPrice{}
	var keys []string
	for _, e := range entries {
		if !looksLikePriceID(e) && !slices.Contains(keys, e) {
			keys = append(keys, e)
		}
	}
	byKey, err := s.pricesByLookupKey(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if _, done := found[e]; done {
			continue
		}
		if pr := byKey[e]; pr != nil {
			found[e] = foundPrice{price: pr, byLookup: true}
			continue
		}
		pr, err := s.priceByID(ctx, e)
		if err != nil {
			return nil, err
		}
		if pr != nil {
			found[e] = foundPrice{price: pr}
			continue
		}
		if looksLikePriceID(e) { // not an id after all: perhaps a lookup key
			more, err := s.pricesByLookupKey(ctx, []string{e})
			if err != nil {
				return nil, err
			}
			if pr := more[e]; pr != nil {
				found[e] = foundPrice{price: pr, byLookup: true}
			}
		}
	}
	return found, nil
}

// looksLikePriceID reports whether a stripe_prices entry has the form of
// a Stripe price id rather than a lookup key.
func looksLikePriceID(s string) bool { return strings.HasPrefix(s, "price_") }

// pricesByLookupKey returns the prices that carry keys, by lookup key.
func (s *StripeAPI) pricesByLookupKey(ctx context.Context, keys []string) (map[string]*stripe.Price, error) {
	out := map[string]*stripe.Price{}
	for batch := range slices.Chunk(keys, 10) { // Stripe takes up to 10 lookup keys a request
		params := &stripe.PriceListParams{LookupKeys: stripe.StringSlice(batch)}
		params.Context = ctx
		params.Limit = stripe.Int64(100)
		it := s.prices.List(params)
		for it.Next() {
			// Only a price that carries the key is its: never trust a
			// filter blindly.
			if pr := it.Price(); pr.LookupKey != "" && slices.Contains(batch, pr.LookupKey) {
				out[pr.LookupKey] = pr
			}
		}
		if err := it.Err(); err != nil {
			return nil, stripeFailure("list prices by lookup key", err)
		}
	}
	return out, nil
}

// priceByID reads price id; nil, nil if Stripe has no such price.
func (s *StripeAPI) priceByID(ctx context.Context, id string) (*stripe.Price, error) {
	params := &stripe.PriceParams{}
	params.Context = ctx
	pr, err := s.prices.Get(id, params)
	if err != nil {
		if err = stripeFailure("read price "+id, err); notFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return pr, nil
}

func (s *StripeAPI) setupPlan(ctx context.Context, p billing.Plan, found map[string]foundPrice, products catalogProducts) ([]CatalogRow, error) {
	var rows []CatalogRow
	prod := products.byPlan[p.ID]
	if prod == nil {
		prod = commonProduct(p, found, products)
	}
	var missingKeys bool
	for _, e := range p.StripePrices {
		if _, ok := found[e]; !ok && !looksLikePriceID(e) {
			missingKeys = true
		}
	}
	switch {
	case prod == nil && p.Price != nil && missingKeys:
		params := &stripe.ProductParams{Name: stripe.String(p.Name), Metadata: map[string]string{MetadataPlan: p.ID}}
		params.Context = ctx
		created, err := s.products.New(params)
		if err != nil {
			return rows, stripeFailure("create the product of plan "+p.ID, err)
		}
		prod = created
		products.byID[created.ID], products.byPlan[p.ID] = created, created
		rows = append(rows, CatalogRow{Plan: p.ID, Object: "product", ID: created.ID, Action: ActionCreated, Detail: fmt.Sprintf("%q", p.Name)})
	case prod != nil:
		row, err := s.tagProduct(ctx, p, prod)
		rows = append(rows, row)
		if err != nil {
			return rows, err
		}
	}
	for _, e := range p.StripePrices {
		row := CatalogRow{Plan: p.ID, Object: "price " + e}
		f, ok := found[e]
		switch {
		case !ok && looksLikePriceID(e):
			row.Action, row.Detail = ActionMissing, "Stripe has no such price (in this key's mode): fix or remove the id in stripe_prices"
		case !ok && p.Price == nil:
			row.Action, row.Detail = ActionMissing, "no price has this lookup key: give the plan a price (amount, currency) and run again, or create it in Stripe"
		case !ok:
			pr, err := s.createPrice(ctx, p, e, prod.ID)
			if err != nil {
				return append(rows, row), err
			}
			found[e] = foundPrice{price: pr, byLookup: true}
			row.ID, row.Action, row.Detail = pr.ID, ActionCreated, describePrice(pr)
		default:
			row.ID, row.Action, row.Detail = f.price.ID, ActionUnchanged, describePrice(f.price)
			if !f.price.Active {
				row.Detail += ", archived (not for sale; kept for the subscriptions on it)"
			}
			if f.byLookup && p.Price != nil {
				if diff := priceDiff(*p.Price, p.PeriodDays, f.price); diff != "" {
					row.Action = ActionMismatch
					row.Detail = diff + ": a Stripe price's amount cannot change. To change it, give the plan a new lookup key " +
						"(setup creates it) and keep this one in stripe_prices for the subscriptions on it"
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// commonProduct is the one product the plan's existing prices share, or nil.
func commonProduct(p billing.Plan, found map[string]foundPrice, products catalogProducts) *stripe.Product {
	var id string
	for _, e := range p.StripePrices {
		f, ok := found[e]
		if !ok || f.price.Product == nil || f.price.Product.ID == "" {
			continue
		}
		if id != "" && id != f.price.Product.ID {
			return nil // several: none is the plan's
		}
		id = f.price.Product.ID
	}
	if id == "" {
		return nil
	}
	if pr := products.byID[id]; pr != nil {
		return pr
	}
	return &stripe.Product{ID: id} // not listed (e.g. another account's view): used, never written
}

// tagProduct tags prod with the plan if it is untagged, and names it after
// the plan if it is the plan's.
func (s *StripeAPI) tagProduct(ctx context.Context, p billing.Plan, prod *stripe.Product) (CatalogRow, error) {
	row := CatalogRow{Plan: p.ID, Object: "product", ID: prod.ID, Action: ActionUnchanged, Detail: fmt.Sprintf("%q", prod.Name)}
	if prod.Name == "" && prod.Metadata == nil { // known by id only
		return row, nil
	}
	params := &stripe.ProductParams{}
	var changes []string
	tag := prod.Metadata[MetadataPlan]
	if tag == "" {
		params.Metadata = map[string]string{MetadataPlan: p.ID}
		changes = append(changes, MetadataPlan+"="+p.ID)
		tag = p.ID
	}
	switch {
	case tag != p.ID:
		row.Detail += fmt.Sprintf(" (the product of plan %s too)", tag)
	case prod.Name != p.Name:
		params.Name = stripe.String(p.Name)
		changes = append(changes, fmt.Sprintf("name %q (was %q)", p.Name, prod.Name))
	}
	if len(changes) == 0 {
		return row, nil
	}
	params.Context = ctx
	if _, err := s.products.Update(prod.ID, params); err != nil {
		return row, stripeFailure("update product "+prod.ID, err)
	}
	row.Action, row.Detail = ActionUpdated, strings.Join(changes, ", ")
	return row, nil
}

func (s *StripeAPI) createPrice(ctx context.Context, p billing.Plan, lookupKey, productID string) (*stripe.Price, error) {
	params := &stripe.PriceParams{
		Product:    stripe.String(productID),
		Currency:   stripe.String(p.Price.Currency),
		UnitAmount: stripe.Int64(p.Price.Amount),
		LookupKey:  stripe.String(lookupKey),
		Nickname:   stripe.String(p.Name),
		Metadata:   map[string]string{MetadataPlan: p.ID},
	}
	if !p.Price.OneOff {
		interval, count := stripeInterval(p.PeriodDays)
		params.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String(interval), IntervalCount: stripe.Int64(count)}
	}
	params.Context = ctx
	pr, err := s.prices.New(params)
	if err != nil {
		return nil, stripeFailure(fmt.Sprintf("create price %s of plan %s", lookupKey, p.ID), err)
	}
	return pr, nil
}

// stripeInterval is Stripe's recurring interval for a period of days: a
// year for 365, months for multiples of 30, weeks for multiples of 7,
// else days.
func stripeInterval(days int) (interval string, count int64) {
	switch {
	case days == 365:
		return "year", 1
	case days%30 == 0:
		return "month", int64(days / 30)
	case days%7 == 0:
		return "week", int64(days / 7)
	default:
		return "day", int64(days)
	}
}

// priceDiff says how pr differs from the plan's price (want, every
// periodDays), or "" if it does not.
func priceDiff(want billing.PlanPrice, periodDays int, pr *stripe.Price) string {
	wantPrice := &stripe.Price{Currency: stripe.Currency(want.Currency), UnitAmount: want.Amount}
	if !want.OneOff {
		interval, count := stripeInterval(periodDays)
		wantPrice.Recurring = &stripe.PriceRecurring{Interval: stripe.PriceRecurringInterval(interval), IntervalCount: count}
	}
	have, wanted := describePrice(pr), describePrice(wantPrice)
	if have == wanted {
		return ""
	}
	return fmt.Sprintf("Stripe's is %s, the plans file's %s", have, wanted)
}

// describePrice is "9.99 EUR every month", "30.00 USD every 3 months",
// "3.00 USD once".
func describePrice(pr *stripe.Price) string {
	s := fmt.Sprintf("%d.%02d %s", pr.UnitAmount/100, pr.UnitAmount%100, strings.ToUpper(string(pr.Currency)))
	if r := pr.Recurring; r != nil {
		if r.IntervalCount <= 1 {
			return s + " every " + string(r.Interval)
		}
		return fmt.Sprintf("%s every %d %ss", s, r.IntervalCount, r.Interval)
	}
	return s + " once"
}
