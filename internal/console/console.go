// Package console owns the operators' web console (cmd/console): sign-in
// (password users from configuration, or an authenticating proxy's user
// header when configured) with failed password sign-ins limited per name
// and per IP (limit.go), sessions in a signed cookie, the roles operator
// (acts) and finance (reads), CSRF tokens on every form, the audit of every
// action in stream AUDIT (kind console.action), and the pages, rendered on
// the server with html/template from embedded templates: the overview (with
// the last reconcile's drift), accounts (with the provider's live view of
// each seat), reviews, dead letters, reconcile (one background run at a
// time, its progress on a self-refreshing page, then the safe fixes),
// recent Stripe events with their outcomes and replay, and the finance
// report. No page runs a script.
//
// Every page reads and every action acts through internal/ops, as
// vpnbillctl does; the console holds no rule of its own about records,
// dead letters or the report. No page shows a password, a sealed password,
// an API key or a webhook secret: the console never reads them (ops
// returns records without their sealed password).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ops"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures a Console.
type Config struct {
	// Users: who may sign in with a password (ParseUsers). Optional if
	// ProxyUserHeader is set.
	Users map[string]User
	// SessionKey signs the session cookies and CSRF tokens; at least 32 bytes.
	SessionKey []byte
	// ProxyUserHeader, if set, is the request header an authenticating
	// proxy puts the signed-in user in: a request carrying it is that
	// user's, with ProxyRole. Set it only when every request reaches the
	// console through that proxy. Default: not trusted.
	ProxyUserHeader string
	ProxyRole       Role
	// SecureCookie marks the cookie Secure on plain HTTP too (behind a
	// proxy that terminates TLS). Default false: Secure only on TLS.
	SecureCookie bool
	// SessionFor is how long a sign-in lasts. Default 12h.
	SessionFor time.Duration
	// Grace is the worker's GRACE_PERIOD, for the reconcile page and the
	// account page's live state (when an unpaid account is due for
	// suspension). Nil: the worker's default (72h); zero is zero.
	Grace *time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.SessionFor == 0 {
		c.SessionFor = 12 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if len(c.SessionKey) < 32 {
		errs = append(errs, fmt.Errorf("session key: %d bytes, want at least 32", len(c.SessionKey)))
	}
	if len(c.Users) == 0 && c.ProxyUserHeader == "" {
		errs = append(errs, errors.New("no users and no proxy user header: nobody could sign in"))
	}
	if c.ProxyUserHeader != "" {
		if _, err := ParseRole(string(c.ProxyRole)); err != nil {
			errs = append(errs, fmt.Errorf("proxy role: %w", err))
		}
	}
	if c.SessionFor < 0 {
		errs = append(errs, fmt.Errorf("session duration %s is negative", c.SessionFor))
	}
	return errors.Join(errs...)
}

// Console is the console's http.Handler.
type Console struct {
	cfg    Config
	ops    *ops.Ops
	log    *zap.Logger
	signer signer
	pages  map[string]*template.Template
	mux    *http.ServeMux
	limits signinLimits
	recon  *reconcileJob
	// ctx ends at Close: the background reconcile runs under it.
	ctx    context.Context
	cancel context.CancelFunc
	jobs   sync.WaitGroup
}

// New returns the console over o (its JS publishes the audits; its
// Provisioner, if set, lets operators resend credentials and resolve
// reviews). log nil: no logs.
func New(cfg Config, o *ops.Ops, log *zap.Logger) (*Console, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	limits, err := newSigninLimits(cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c := &Console{cfg: cfg, ops: o, log: log, signer: signer{key: cfg.SessionKey}, limits: limits, recon: &reconcileJob{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Close stops a reconcile running in the background, if any, and waits
// for it to end. The console serves on after Close, but starts no
// reconcile.
func (c *Console) Close() {
	c.recon.close()
	c.cancel()
	c.jobs.Wait()
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /healthz", c.healthz)
	m.HandleFunc("GET /readyz", c.readyz)
	m.HandleFunc("GET /signin", c.signinPage)
	m.HandleFunc("POST /signin", c.signin)
	m.HandleFunc("POST /signout", c.signedIn(c.signout))
	m.HandleFunc("GET /{$}", c.signedIn(c.overview))
	m.HandleFunc("GET /accounts", c.signedIn(c.search))
	m.HandleFunc("GET /accounts/{key}", c.signedIn(c.account))
	m.HandleFunc("POST /accounts/{key}/resend", c.operator(c.resend))
	m.HandleFunc("POST /accounts/{key}/resolve", c.operator(c.resolve))
	m.HandleFunc("GET /reviews", c.signedIn(c.reviews))
	m.HandleFunc("GET /dead", c.signedIn(c.deadList))
	m.HandleFunc("GET /dead/{seq}", c.signedIn(c.deadShow))
	m.HandleFunc("POST /dead/{seq}/retry", c.operator(c.deadRetry))
	m.HandleFunc("POST /dead/{seq}/drop", c.operator(c.deadDrop))
	m.HandleFunc("GET /report", c.signedIn(c.report))
	m.HandleFunc("GET /report.csv", c.signedIn(c.reportCSV))
	m.HandleFunc("GET /reconcile", c.signedIn(c.reconcilePage))
	m.HandleFunc("POST /reconcile", c.operator(c.reconcileStart))
	m.HandleFunc("POST /reconcile/fix", c.operator(c.reconcileFix))
	m.HandleFunc("GET /events", c.signedIn(c.eventList))
	m.HandleFunc("GET /events/{seq}", c.signedIn(c.eventShow))
	m.HandleFunc("POST /events/{seq}/replay", c.operator(c.eventReplay))
	c.mux = m
}

// identity is the signed-in user of a request.
type identity struct {
	Name    string
	Role    Role
	session session
}

func (id identity) CanAct() bool { return id.Role == RoleOperator }

type ctxKey struct{}

func identityOf(r *http.Request) identity {
	id, _ := r.Context().Value(ctxKey{}).(identity)
	return id
}

// who returns the request's user, if signed in: by the proxy's header when
// that is trusted (a session cookie is issued or renewed for its CSRF
// token), else by a valid session cookie of a configured user.
func (c *Console) who(w http.ResponseWriter, r *http.Request) (identity, bool) {
	now := c.cfg.Now()
	sess, valid := session{}, false
	if ck, err := r.Cookie(cookieName); err == nil {
		sess, valid = c.signer.decode(ck.Value, now)
	}
	if c.cfg.ProxyUserHeader != "" {
		name := strings.TrimSpace(r.Header.Get(c.cfg.ProxyUserHeader))
		if name != "" {
			if !valid || sess.User != name {
				sess = session{User: name, ID: newSessionID(), Expires: now.Add(c.cfg.SessionFor)}
				c.setCookie(w, r, sess)
			}
			return identity{Name: name, Role: c.cfg.ProxyRole, session: sess}, true
		}
	}
	if !valid || sess.User == "" {
		return identity{}, false
	}
	u, ok := c.cfg.Users[sess.User]
	if !ok { // removed from the configuration since
		return identity{}, false
	}
	return identity{Name: u.Name, Role: u.Role, session: sess}, true
}

// signedIn serves h to signed-in users only: a GET without a session is
// sent to the sign-in page, anything else refused. A POST must carry the
// session's CSRF token.
func (c *Console) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := c.who(w, r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && !c.signer.checkCSRF(id.session, r.PostFormValue("csrf")) {
			c.log.Warn("console: a form without its CSRF token refused", zap.String("user", id.Name), zap.String("path", r.URL.Path))
			http.Error(w, "this form is stale or was not sent from the console: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	}
}

// operator serves h to signed-in operators only.
func (c *Console) operator(h http.HandlerFunc) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if id := identityOf(r); !id.CanAct() {
			c.log.Warn("console: an action refused to a read-only user", zap.String("user", id.Name), zap.String("path", r.URL.Path))
			http.Error(w, "your role ("+string(id.Role)+") can read, not act", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

// audited publishes the console.action audit of an action on record, then
// runs it; an action whose audit is not stored is not taken. A failure is
// audited too. why is the operator's reason, required.
func (c *Console) audited(r *http.Request, action, record, why string, act func(ctx context.Context) error) error {
	return c.auditedAs(r, events.Audit{Account: record, Status: action}, why, act)
}

// auditedAs is audited with more of the audit given: a.Account is the
// record, a.Status the action; a Stripe event acted on is named in
// a.StripeEvent and a.StripeType.
func (c *Console) auditedAs(r *http.Request, a events.Audit, why string, act func(ctx context.Context) error) error {
	id := identityOf(r)
	why = strings.TrimSpace(why)
	if why == "" {
		return errNoReason
	}
	ctx := r.Context()
	now := c.cfg.Now().UTC()
	action, record := a.Status, a.Account
	a.ID = fmt.Sprintf("%s:%s:%s:%d:%s", events.AuditConsoleAction, action, record, now.UnixNano(), newSessionID()[:8])
	a.Kind, a.Time, a.Reason = events.AuditConsoleAction, now, id.Name+": "+why
	if err := events.PublishAudit(ctx, c.ops.JS, a); err != nil {
		return fmt.Errorf("the action was not taken: its audit could not be stored: %w", err)
	}
	c.log.Info("console: action", zap.String("user", id.Name), zap.String("action", action), zap.String("record", record))
	if err := act(ctx); err != nil {
		failed := a
		failed.ID, failed.Status, failed.Reason = a.ID+":failed", action+".failed", id.Name+": "+err.Error()
		if aerr := events.PublishAudit(ctx, c.ops.JS, failed); aerr != nil {
			c.log.Warn("console: the failure's audit was not stored", zap.Error(aerr))
		}
		return err
	}
	return nil
}

var errNoReason = errors.New("say why: the reason is kept in the audit trail")

// healthz answers 200 while the process serves: the liveness probe. It
// needs no sign-in and says nothing but "ok".
func (c *Console) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when JetStream answers (the console can read the
// streams and records), else 503: the readiness probe. It needs no sign-in
// and names nothing of the deployment.
func (c *Console) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := c.ops.JS.AccountInfo(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("jetstream unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
