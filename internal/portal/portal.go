// Package portal owns the customer's own page: a subscription's or order's
// plan, status, paid-through date, seats with their usernames, how to
// connect, VPNKI usage; "Reset password" for a seat (the new password shown
// once, and emailed), "Manage billing" (a Stripe Billing Portal session),
// and a form that emails a fresh link to an address. It is an
// http.Handler, served by cmd/console on its own public-facing listener
// (PORTAL_ADDR), which carries nothing of the operators' console.
//
// Access is by link: the worker puts a signed, expiring link to the page
// in every email (Links). Opening one sets a session cookie (HttpOnly,
// SameSite=Strict, Secure on HTTPS, Config.SessionFor) and moves to the
// page's clean URL, so the token is not left in the address bar; every
// form carries a CSRF token derived from the session. A link of another
// record, an expired one and a tampered one get one and the same answer.
// Nothing on a page tells whether an email address or a record exists.
//
// Every read goes through internal/ops and every action through the
// provisioning service, as the console's do; the page holds no rule of its
// own about records. No page holds a password, a sealed password or a
// token of another kind, except the one response that reveals a new
// password; no log line holds a token, a password or an email address.
package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/portal/link"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Resetter gives a seat's account new credentials, emails them and returns
// them (provisioning.Service.NewCredentials): credentials with a password
// and an error mean they were changed but the email is still to be sent.
type Resetter interface {
	NewCredentials(ctx context.Context, key string) (provisioning.Credentials, error)
}

// BillingPortal opens a Stripe Billing Portal session for a Stripe
// customer, returning to returnURL, and returns its URL
// (ops.StripeAPI.BillingPortal).
type BillingPortal interface {
	BillingPortal(ctx context.Context, customer, returnURL string) (string, error)
}

// Mailer sends one email (notify.Mailer).
type Mailer interface {
	Send(ctx context.Context, m notify.Message) error
}

// Config configures a Portal.
type Config struct {
	// Links makes and reads the page's links (PORTAL_URL, PORTAL_KEY,
	// PORTAL_LINK_TTL). Required.
	Links *link.Links
	// Ops reads the records (Customer, Accounts by email, Usage) and
	// stores the audits (its JS). Required.
	Ops *ops.Ops
	// Resetter resets a seat's password. Default nil: no "Reset password".
	Resetter Resetter
	// Billing opens Stripe Billing Portal sessions (STRIPE_API_KEY).
	// Default nil: no "Manage billing".
	Billing BillingPortal
	// Mailer sends the portal_link emails a customer asks for, rendered
	// with Templates (nil: the embedded ones, unbranded), which also word
	// "How to connect". Default nil: no link requests.
	Mailer    Mailer
	Templates *notify.Templates
	// Brand is the shop's name (MAIL_BRAND), shown atop every page.
	// Default "": none.
	Brand string
	// MailDomain is the right-hand side of the Message-IDs. Default "vpnbill".
	MailDomain string
	// ClientIPHeader, if set, is the header a reverse proxy in front of
	// the page puts the client's address in (X-Forwarded-For: its last
	// entry), for the rate limits. Default: the connection's address.
	ClientIPHeader string
	// SessionFor is how long the page stays open after a link is opened.
	// Default 30m.
	SessionFor time.Duration
	// PerMinute is how many requests one client IP may make a minute, all
	// routes together. Default 60.
	PerMinute int
	// LinksPerHour is how many fresh links one client IP may ask for an
	// hour, and how many may be asked for one email address. Default 5.
	LinksPerHour int
	// ResetsPerHour is how many password resets one subscription may take
	// an hour. Default 5.
	ResetsPerHour int
	// UsageFor is the span of VPNKI usage shown, up to now. Default 720h (30 days).
	UsageFor time.Duration
	// Timeout bounds what one request waits for (records, provider,
	// Stripe). Default 30s.
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.MailDomain == "" {
		c.MailDomain = "vpnbill"
	}
	if c.SessionFor <= 0 {
		c.SessionFor = 30 * time.Minute
	}
	if c.PerMinute <= 0 {
		c.PerMinute = 60
	}
	if c.LinksPerHour <= 0 {
		c.LinksPerHour = 5
	}
	if c.ResetsPerHour <= 0 {
		c.ResetsPerHour = 5
	}
	if c.UsageFor <= 0 {
		c.UsageFor = 720 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Links == nil {
		errs = append(errs, errors.New("links: required (PORTAL_URL, PORTAL_KEY)"))
	}
	if c.Ops == nil || c.Ops.JS == nil {
		errs = append(errs, errors.New("ops with JetStream: required"))
	}
	return errors.Join(errs...)
}

// Portal is the customer page's http.Handler. Close it to stop its
// sending of link emails.
type Portal struct {
	cfg   Config
	log   *zap.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux

	// The limits (Config.PerMinute, LinksPerHour, ResetsPerHour), in
	// memory: each console process limits on its own. Keyed by the client
	// IP (perIP, linksPerIP), the email address in lower case
	// (linksPerAddress) and the subscription (resets).
	perIP, linksPerIP, linksPerAddress, resets *ratelimit.Buckets

	// The link emails, sent one at a time by send, so that asking takes
	// as long for an address vpnbill knows as for one it does not.
	queue  chan string
	stop   context.CancelFunc
	sender sync.WaitGroup
}

// queueLen bounds the link requests waiting to be sent; more are dropped
// (logged): the limits make that rare, and the customer asks again.
const queueLen = 64

// New returns the page configured by cfg. log nil: no logs.
func New(cfg Config, log *zap.Logger) (*Portal, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := &Portal{cfg: cfg, log: log, queue: make(chan string, queueLen)}
	var errs [4]error
	p.perIP, errs[0] = perKey(cfg.PerMinute, time.Minute, cfg.Now)
	p.linksPerIP, errs[1] = perKey(cfg.LinksPerHour, time.Hour, cfg.Now)
	p.linksPerAddress, errs[2] = perKey(cfg.LinksPerHour, time.Hour, cfg.Now)
	p.resets, errs[3] = perKey(cfg.ResetsPerHour, time.Hour, cfg.Now)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	var err error
	if p.pages, err = parsePages(); err != nil {
		return nil, err
	}
	p.routes()
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.sender.Add(1)
	go p.send(ctx)
	return p, nil
}

// perKey is a limit per key of n a per, n at once.
func perKey(n int, per time.Duration, now func() time.Time) (*ratelimit.Buckets, error) {
	return ratelimit.NewBuckets(ratelimit.BucketsConfig{Burst: n, Refill: n, Per: per, Now: now})
}

// Close stops sending link emails, after the one being sent.
func (p *Portal) Close() {
	p.stop()
	p.sender.Wait()
}

// ServeHTTP serves the page with its security headers, within the client
// IP's rate limit.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Forms post to the page only; "Manage billing" is answered with a
	// redirect to Stripe's https page, which form-action governs too.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the link's token must not leave in a Referer
	h.Set("Cache-Control", "no-store")
	if wait, ok := p.perIP.Allow(ratelimit.ClientIP(r, p.cfg.ClientIPHeader)); !ok {
		tooMany(w, wait)
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	}
	p.mux.ServeHTTP(w, r)
}

func (p *Portal) routes() {
	m := http.NewServeMux()
	base := p.cfg.Links.Path() // "/" or e.g. "/account"
	prefix := base
	if base == "/" {
		prefix = ""
	}
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET "+prefix+"/static/", http.StripPrefix(prefix+"/static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+prefix+"/{$}", p.page)
	if base != "/" {
		m.HandleFunc("GET "+base, p.page)
	}
	m.HandleFunc("POST "+prefix+"/reset", p.reset)
	m.HandleFunc("POST "+prefix+"/billing", p.billing)
	m.HandleFunc("POST "+prefix+"/link", p.askLink)
	m.HandleFunc("POST "+prefix+"/signout", p.signout)
	p.mux = m
}

// tooMany answers 429 with when to try again.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
	http.Error(w, "Too many requests: please try again in a moment.", http.StatusTooManyRequests)
}
