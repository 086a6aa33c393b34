package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
	stripeprice "github.com/stripe/stripe-go/v76/price"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

// CheckoutConfig configures the checkout links, GET /buy/<plan id>.
type CheckoutConfig struct {
	// Plans is the plan catalog (PLANS_FILE). Required.
	Plans *billing.Catalog
	// APIKey is STRIPE_API_KEY: it creates Checkout Sessions and reads
	// prices by lookup key. Required.
	APIKey string
	// APIURL overrides Stripe's API address (STRIPE_API_URL; tests,
	// proxies). Default: Stripe's.
	APIURL string
	// SuccessURL and CancelURL are where Stripe sends the customer after
	// paying or going back (CHECKOUT_SUCCESS_URL, CHECKOUT_CANCEL_URL):
	// absolute http(s) URLs. SuccessURL may hold {CHECKOUT_SESSION_ID},
	// which Stripe replaces. Required.
	SuccessURL, CancelURL string
	// PerMinute is how many checkout links one client IP may open a
	// minute, after a first Burst. Default 6.
	PerMinute int
	// Burst is how many links a client IP may open at once. Default 5.
	Burst int
	// Timeout bounds the Stripe calls of one request. Default 20s.
	Timeout time.Duration
	// Now is the clock of the rate limit. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c CheckoutConfig) WithDefaults() CheckoutConfig {
	if c.PerMinute <= 0 {
		c.PerMinute = 6
	}
	if c.Burst <= 0 {
		c.Burst = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate returns one error per invalid field, joined, or nil.
func (c CheckoutConfig) validate() error {
	var errs []error
	if c.Plans == nil {
		errs = append(errs, errors.New("PLANS_FILE: required for checkout links"))
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("STRIPE_API_KEY: required for checkout links"))
	}
	for _, u := range []struct{ name, val string }{{"CHECKOUT_SUCCESS_URL", c.SuccessURL}, {"CHECKOUT_CANCEL_URL", c.CancelURL}} {
		if err := checkRedirectURL(u.val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	return errors.Join(errs...)
}

func checkRedirectURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(strings.ReplaceAll(raw, "{CHECKOUT_SESSION_ID}", "x"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// Checkout serves GET /buy/<plan id>[?email=…][&locale=…]: it creates a
// Stripe Checkout Session for the plan's price, with metadata "plan" (which
// the worker reads), and answers 303 to the session's page.
//
// The price is the first of the plan's stripe_prices: a price id (price_…)
// as it is, a lookup key read through the Stripe API (the active price of
// that key). The mode is payment for a plan whose price is one_off in the
// plans file, else subscription. email prefills the customer's address;
// locale (en, de, fr-CA, …, or auto) is the language of Stripe's page,
// which Stripe keeps on the session, so the emails follow it.
//
// Answers: 303 to Stripe; 400 an invalid email or locale; 404 no such
// plan; 405 not GET; 429 too many links from one client IP (Retry-After);
// 502 Stripe failed (the body says so, and names nothing of the request).
type Checkout struct {
	cfg      CheckoutConfig
	sessions session.Client
	prices   stripeprice.Client
	limit    *ratelimit.Buckets // per client IP
	log      *zap.Logger
}

// NewCheckout validates cfg (after WithDefaults) and returns the handler.
func NewCheckout(cfg CheckoutConfig, log *zap.Logger) (*Checkout, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("checkout links: %w", err)
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: cfg.Timeout},
		MaxNetworkRetries: stripe.Int64(1),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIURL != "" {
		bc.URL = stripe.String(cfg.APIURL)
	}
	limit, err := ratelimit.NewBuckets(ratelimit.BucketsConfig{Burst: cfg.Burst, Refill: cfg.PerMinute, Per: time.Minute, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("checkout links: %w", err)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	return &Checkout{
		cfg:      cfg,
		sessions: session.Client{B: backend, Key: cfg.APIKey},
		prices:   stripeprice.Client{B: backend, Key: cfg.APIKey},
		limit:    limit,
		log:      log,
	}, nil
}

// checkoutLocale is what Stripe Checkout's locale may look like: auto, a
// language, or a language and region (Stripe says which it supports).
var checkoutLocale = regexp.MustCompile(`^(auto|[a-z]{2}(-[A-Z]{2}|-[0-9]{3})?)$`)

func (c *Checkout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		say(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	ip := ratelimit.ClientIP(r, "")
	if wait, ok := c.limit.Allow(ip); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		say(w, http.StatusTooManyRequests, "too many checkout requests, try again shortly")
		return
	}
	plan, ok := c.cfg.Plans.ByID(r.PathValue("plan"))
	if !ok || len(plan.StripePrices) == 0 {
		say(w, http.StatusNotFound, "no such plan")
		return
	}
	q := r.URL.Query()
	email := q.Get("email")
	if email != "" {
		if a, err := netmail.ParseAddress(email); err != nil || a.Address != email {
			say(w, http.StatusBadRequest, "email is not an email address")
			return
		}
	}
	locale := q.Get("locale")
	if locale != "" && !checkoutLocale.MatchString(locale) {
		say(w, http.StatusBadRequest, "locale is not a language tag (en, de, fr-CA, auto)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	s, err := c.create(ctx, plan, email, locale)
	if err != nil {
		c.log.Error("checkout session not created", zap.String("plan", plan.ID), zap.String("remote", ip), zap.Error(err))
		say(w, http.StatusBadGateway, "the payment page could not be opened (Stripe did not answer as expected); please try again later")
		return
	}
	c.log.Info("checkout session created", zap.String("plan", plan.ID), zap.String("checkout", s.ID))
	http.Redirect(w, r, s.URL, http.StatusSeeOther)
}

// create creates the Checkout Session of plan.
func (c *Checkout) create(ctx context.Context, plan billing.Plan, email, locale string) (*stripe.CheckoutSession, error) {
	price, err := c.price(ctx, plan.StripePrices[0])
	if err != nil {
		return nil, err
	}
	mode := stripe.CheckoutSessionModeSubscription
	if plan.Price != nil && plan.Price.OneOff {
		mode = stripe.CheckoutSessionModePayment
	}
	params := &stripe.CheckoutSessionParams{
		Mode:       stripe.String(string(mode)),
		LineItems:  []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(1)}},
		SuccessURL: stripe.String(c.cfg.SuccessURL),
		CancelURL:  stripe.String(c.cfg.CancelURL),
		Metadata:   map[string]string{"plan": plan.ID},
	}
	if mode == stripe.CheckoutSessionModeSubscription {
		params.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{Metadata: map[string]string{"plan": plan.ID}}
	}
	if email != "" {
		params.CustomerEmail = stripe.String(email)
	}
	if locale != "" {
		params.Locale = stripe.String(locale)
	}
	params.Context = ctx
	s, err := c.sessions.New(params)
	if err != nil {
		return nil, billingError("create a checkout session", err)
	}
	if u, perr := url.Parse(s.URL); perr != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("stripe: checkout session %s has no page URL", s.ID)
	}
	return s, nil
}

// price is the price id of key: key itself if it is a price id, else the
// active price whose lookup key it is.
func (c *Checkout) price(ctx context.Context, key string) (string, error) {
	if strings.HasPrefix(key, "price_") {
		return key, nil
	}
	params := &stripe.PriceListParams{LookupKeys: []*string{stripe.String(key)}, Active: stripe.Bool(true)}
	params.Context = ctx
	params.Limit = stripe.Int64(1)
	it := c.prices.List(params)
	if it.Next() {
		return it.Price().ID, nil
	}
	if err := it.Err(); err != nil {
		return "", billingError("read the price of lookup key "+key, err)
	}
	return "", fmt.Errorf("stripe: no active price has lookup key %q", key)
}

// billingError is err of a Stripe API call, what, with only the status and
// code of a Stripe error: Stripe's messages may quote the request.
func billingError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Errorf("stripe: %s: HTTP %d %s", what, se.HTTPStatusCode, se.Code)
	}
	return fmt.Errorf("stripe: %s: %w", what, err)
}

// say answers code with a line of plain text, for a person's browser.
func say(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, text)
}
