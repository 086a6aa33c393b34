package billing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"
)

// Plan is one product a customer can buy, as the plans file declares it.
type Plan struct {
	// ID names the plan; checkout metadata "plan" may carry it.
	ID string `yaml:"id"`
	// Name is shown to the customer.
	Name string `yaml:"name"`
	// StripePrices are the Stripe price ids or lookup keys that buy this plan.
	StripePrices []string `yaml:"stripe_prices"`
	// Provider names the provider that makes the plan's accounts, as
	// providers.Name spells it. Required; which names exist, the catalog's
	// PlanCheck says.
	Provider string `yaml:"provider"`
	// PackageType is the kind of account, at a provider that sells several
	// (its PlanCheck says which). Default STANDARD.
	PackageType string `yaml:"package_type"`
	// PeriodDays is the term of a one-off order, and the period bought at a
	// provider that sells accounts by period (its PlanCheck says which).
	// Default 30.
	PeriodDays int `yaml:"period_days"`
	// Trial says what a subscription that starts with a free trial gets:
	// TrialProvision (the default) provisions it at checkout; TrialWait
	// waits for the first paid invoice.
	Trial string `yaml:"trial"`
	// Price, if set, is what the plan costs in Stripe: `vpnbillctl stripe
	// setup --plans` creates each lookup key of StripePrices that Stripe
	// lacks as a price of this amount, and the checkout links take OneOff
	// for the session's mode. Optional; the worker never reads it (what a
	// customer paid is what Stripe says).
	Price *PlanPrice `yaml:"price"`
}

// PlanPrice is a plan's price in Stripe's terms.
type PlanPrice struct {
	// Amount in the currency's minor unit: 999 is 9.99 EUR. Required, at least 1.
	Amount int64 `yaml:"amount"`
	// Currency is a three-letter ISO 4217 code in lower case (eur, usd). Required.
	Currency string `yaml:"currency"`
	// OneOff makes it a one-time price (a Checkout in payment mode, the
	// term PeriodDays). Default false: a subscription renewing every
	// PeriodDays.
	OneOff bool `yaml:"one_off"`
}

var currencyCode = regexp.MustCompile(`^[a-z]{3}$`)

// The trial options of a plan.
const (
	TrialProvision = "provision"
	TrialWait      = "wait"
)

// PlanCheck says whether a plan's provider exists and can sell the plan:
// nil, or an error naming the field at fault (e.g. `provider must be …`).
// The provider adapters supply it (registry.CheckPlan); billing knows no
// provider. The catalog says which plan an error is about.
type PlanCheck func(Plan) error

// Catalog maps plan ids and Stripe prices to plans, and knows the other
// products the shop sells.
type Catalog struct {
	plans   []Plan
	byID    map[string]*Plan
	byPrice map[string]*Plan
	// other: price ids, lookup keys and product ids that are not VPN.
	other map[string]bool
}

var planID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// LoadCatalog reads a plans file; every plan must pass checks (see NewCatalog).
func LoadCatalog(path string, checks ...PlanCheck) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plans file: %w", err)
	}
	c, err := ParseCatalog(data, checks...)
	if err != nil {
		return nil, fmt.Errorf("plans file %s: %w", path, err)
	}
	return c, nil
}

// ParseCatalog parses and validates plans-file YAML; unknown fields are
// errors, and every plan must pass checks (see NewCatalog).
func ParseCatalog(data []byte, checks ...PlanCheck) (*Catalog, error) {
	var doc struct {
		Plans []Plan `yaml:"plans"`
		// OtherProducts and OtherPrices: what the shop sells besides VPN
		// (product ids; price ids or lookup keys).
		OtherProducts []string `yaml:"other_products"`
		OtherPrices   []string `yaml:"other_prices"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (or one of only comments) is no YAML document at all:
	// io.EOF, which would read as "parse: EOF"; it declares no plans.
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %w", err)
	}
	c, err := NewCatalog(doc.Plans, checks...)
	if err != nil {
		return nil, err
	}
	return c, c.setOther(doc.OtherProducts, doc.OtherPrices)
}

// setOther notes the products and prices the shop sells besides VPN. One
// that a plan lists is an error: it cannot be both.
func (c *Catalog) setOther(products, prices []string) error {
	c.other = map[string]bool{}
	var errs []error
	for _, list := range []struct {
		name string
		keys []string
	}{{"other_products", products}, {"other_prices", prices}} {
		for _, k := range list.keys {
			switch {
			case k == "":
				errs = append(errs, fmt.Errorf("%s: an empty entry", list.name))
			case c.byPrice[k] != nil:
				errs = append(errs, fmt.Errorf("%s: %q is a price of plan %s", list.name, k, c.byPrice[k].ID))
			default:
				c.other[k] = true
			}
		}
	}
	return errors.Join(errs...)
}

// Other reports whether key (a price id, lookup key or product id) is one
// of the other products the shop sells: not VPN, no service to provide.
func (c *Catalog) Other(key string) bool { return c.other[key] }

// NewCatalog validates plans and indexes them. Each plan with a provider
// must pass every check, after the defaults are applied: pass
// registry.CheckPlan so that a plan naming no provider vpnbill has, or a
// package type or period its provider does not sell, is refused here.
// Without checks any provider name is taken.
func NewCatalog(plans []Plan, checks ...PlanCheck) (*Catalog, error) {
	c := &Catalog{byID: map[string]*Plan{}, byPrice: map[string]*Plan{}}
	var errs []error
	if len(plans) == 0 {
		errs = append(errs, errors.New("no plans"))
	}
	c.plans = make([]Plan, len(plans))
	copy(c.plans, plans)
	for i := range c.plans {
		p := &c.plans[i]
		if p.PackageType == "" {
			p.PackageType = "STANDARD"
		}
		if p.PeriodDays == 0 {
			p.PeriodDays = 30
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		if p.Trial == "" {
			p.Trial = TrialProvision
		}
		where := fmt.Sprintf("plan %d (%s)", i+1, p.ID)
		if !planID.MatchString(p.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1-64 letters, digits, '_', '.', '-'", where))
		} else if c.byID[p.ID] != nil {
			errs = append(errs, fmt.Errorf("%s: duplicate id", where))
		}
		c.byID[p.ID] = p
		if p.PeriodDays < 0 {
			errs = append(errs, fmt.Errorf("%s: period_days must be a number of days, not %d", where, p.PeriodDays))
		}
		if p.Provider == "" {
			errs = append(errs, fmt.Errorf("%s: provider is required", where))
		} else {
			for _, check := range checks {
				if err := check(*p); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
		}
		switch p.Trial {
		case TrialProvision, TrialWait:
		default:
			errs = append(errs, fmt.Errorf("%s: trial must be provision or wait, not %q", where, p.Trial))
		}
		if pr := p.Price; pr != nil {
			if pr.Amount < 1 {
				errs = append(errs, fmt.Errorf("%s: price amount must be at least 1 (minor units: 999 is 9.99), not %d", where, pr.Amount))
			}
			if !currencyCode.MatchString(pr.Currency) {
				errs = append(errs, fmt.Errorf("%s: price currency must be a lower-case ISO code (eur, usd), not %q", where, pr.Currency))
			}
		}
		for _, price := range p.StripePrices {
			if price == "" {
				errs = append(errs, fmt.Errorf("%s: empty stripe price", where))
				continue
			}
			if other := c.byPrice[price]; other != nil {
				errs = append(errs, fmt.Errorf("%s: stripe price %q already belongs to plan %s", where, price, other.ID))
			}
			c.byPrice[price] = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// ByID returns the plan with id.
func (c *Catalog) ByID(id string) (Plan, bool) {
	p, ok := c.byID[id]
	if !ok {
		return Plan{}, false
	}
	return *p, true
}

// ByPrice returns the plan a Stripe price id or lookup key buys.
func (c *Catalog) ByPrice(priceIDOrLookupKey string) (Plan, bool) {
	p, ok := c.byPrice[priceIDOrLookupKey]
	if !ok {
		return Plan{}, false
	}
	return *p, true
}

// Plans returns every plan, in file order.
func (c *Catalog) Plans() []Plan { return append([]Plan(nil), c.plans...) }
