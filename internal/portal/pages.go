package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	netmail "net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/portal/link"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

// cookieName is the page's session cookie.
const cookieName = "vpnbill_portal"

var pageNames = []string{"account", "open", "ask", "message"}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page's template gets.
type view struct {
	Title  string
	Brand  string
	Base   string // the page's path prefix for forms and assets: "" or e.g. "/account"
	CSRF   string // the session's CSRF token, on a signed-in page
	Notice string // a line above the page: what just happened
	Error  string
	Data   any
}

func (p *Portal) prefix() string {
	if b := p.cfg.Links.Path(); b != "/" {
		return b
	}
	return ""
}

func (p *Portal) render(w http.ResponseWriter, status int, name string, v view) {
	v.Base, v.Brand = p.prefix(), p.cfg.Brand
	var buf bytes.Buffer
	if err := p.pages[name].Execute(&buf, v); err != nil {
		p.log.Error("portal: render", zap.String("page", name), zap.Error(err))
		http.Error(w, "The page could not be shown. Please try again later.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// askData is the form that asks for a fresh link, on every page without a
// session.
type askData struct {
	CanAsk bool // link requests are configured (Mailer)
	Email  string
}

// refused is the one answer to a link that is not valid: another
// record's, expired or tampered alike, and a valid one of a record that
// is gone.
func (p *Portal) refused(w http.ResponseWriter) {
	p.render(w, http.StatusForbidden, "ask", view{Title: "This link does not work",
		Error: "This link is not valid or has expired.", Data: askData{CanAsk: p.cfg.Mailer != nil}})
}

// ended answers a form posted without a live session.
func (p *Portal) ended(w http.ResponseWriter) {
	p.render(w, http.StatusForbidden, "ask", view{Title: "Your session has ended",
		Error: "Your session has ended: open the link from your email again.", Data: askData{CanAsk: p.cfg.Mailer != nil}})
}

// unavailable answers when the records cannot be read now.
func (p *Portal) unavailable(w http.ResponseWriter, err error) {
	p.log.Warn("portal: records not read", zap.Error(err))
	p.render(w, http.StatusServiceUnavailable, "message", view{Title: "Not available right now",
		Error: "Your account page is not available right now. Please try again in a few minutes."})
}

// session reads the request's session cookie: the record it opens and the
// cookie's token (which the CSRF tokens are derived from).
func (p *Portal) session(r *http.Request) (root, token string, ok bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return "", "", false
	}
	root, _, err = p.cfg.Links.Read(link.PurposeSession, ck.Value, p.cfg.Now())
	if err != nil {
		return "", "", false
	}
	return root, ck.Value, true
}

// setSession opens root's page in the browser until the session's end, and
// not beyond the link's.
func (p *Portal) setSession(w http.ResponseWriter, r *http.Request, root string, linkExpires time.Time) {
	now := p.cfg.Now()
	exp := now.Add(p.cfg.SessionFor)
	if linkExpires.Before(exp) {
		exp = linkExpires
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: p.cfg.Links.Mint(link.PurposeSession, root, exp), Path: p.cfg.Links.Path(),
		MaxAge: int(exp.Sub(now).Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.cfg.Links.Secure() || r.TLS != nil})
}

func (p *Portal) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: p.cfg.Links.Path(), MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: p.cfg.Links.Secure() || r.TLS != nil})
}

// page serves GET of the page. With a link's token (?t=) it opens a
// session for the link's record and moves to the clean URL; with a
// session it shows the record; without, the form that asks for a link.
//
// The move is a page that refreshes to the clean URL, not a redirect: a
// link is opened from a mail client or webmail, another site, and a
// browser does not send a SameSite=Strict cookie set there along a
// redirect that began on that site. The refresh starts from the page's
// own site, so the cookie goes with it.
func (p *Portal) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	if q := r.URL.Query(); q.Has("t") {
		root, exp, err := p.cfg.Links.Read(link.PurposeLink, q.Get("t"), p.cfg.Now())
		if err == nil {
			_, err = p.cfg.Ops.Customer(ctx, root)
		}
		switch {
		case errors.Is(err, link.ErrRefused), errors.Is(err, provisioning.ErrNotFound), errors.Is(err, ops.ErrNotASubscription):
			p.refused(w)
			return
		case err != nil:
			p.unavailable(w, err)
			return
		}
		p.setSession(w, r, root, exp)
		p.render(w, http.StatusOK, "open", view{Title: "Opening your account page"})
		return
	}
	root, token, ok := p.session(r)
	if !ok {
		p.render(w, http.StatusOK, "ask", view{Title: "Your VPN account", Data: askData{CanAsk: p.cfg.Mailer != nil}})
		return
	}
	c, err := p.cfg.Ops.Customer(ctx, root)
	if errors.Is(err, provisioning.ErrNotFound) {
		p.clearSession(w, r)
		p.refused(w)
		return
	}
	if err != nil {
		p.unavailable(w, err)
		return
	}
	p.account(ctx, w, http.StatusOK, c, token, nil, "", "")
}

// accountData is the page of a subscription.
type accountData struct {
	Email, Plan, Status, StatusNote, PaidThrough string
	Seats                                        []seatData
	Billing                                      bool // "Manage billing"
	Reveal                                       *revealData
}

type seatData struct {
	N              int
	Label          string // "Seat 2"; "" for the only seat
	Plan           string
	SignIn, Server string
	State          string
	Connect        template.HTML // "How to connect", in the emails' words
	CanReset       bool
	Usage          *usageData
	UsageNote      string
}

type usageData struct {
	Since    string
	Sessions int
	In, Out  string
}

// revealData is the one view of a new password: the response to the
// reset that set it, never stored, never in a URL.
type revealData struct {
	N                        int
	SignIn, Password, Server string
}

// account renders the page of c; reveal, if set, shows a new password.
func (p *Portal) account(ctx context.Context, w http.ResponseWriter, status int, c ops.Customer, token string, reveal *revealData, notice, errText string) {
	d := accountData{Email: c.Email, Plan: c.Plan, PaidThrough: date(c.PaidThrough), Reveal: reveal,
		Billing: p.cfg.Billing != nil && c.StripeCustomer != ""}
	d.Status, d.StatusNote = statusWords(c)
	for _, s := range c.Seats {
		sd := seatData{N: s.N, Plan: s.Plan, SignIn: s.SignIn, Server: s.Server, State: seatState(s),
			CanReset: p.cfg.Resetter != nil && s.Exists && !s.Removed && !s.Deleted}
		if len(c.Seats) > 1 {
			sd.Label = fmt.Sprintf("Seat %d", s.N)
		}
		if s.Exists {
			connect, err := p.cfg.Templates.Connect(notify.Data{Server: s.Server, Protocols: s.Protocols, App: s.App})
			if err != nil {
				p.log.Warn("portal: how to connect not rendered", zap.String("record", s.Key), zap.Error(err))
			}
			sd.Connect = connect
		}
		if s.Usage && s.Exists {
			sd.Usage, sd.UsageNote = p.usage(ctx, s.Key)
		}
		d.Seats = append(d.Seats, sd)
	}
	p.render(w, status, "account", view{Title: "Your VPN account", CSRF: p.cfg.Links.CSRF(token), Notice: notice, Error: errText, Data: d})
}

// usage reads a seat's connections over the last UsageFor.
func (p *Portal) usage(ctx context.Context, key string) (*usageData, string) {
	since := p.cfg.Now().Add(-p.cfg.UsageFor)
	u, err := p.cfg.Ops.Usage(ctx, key, since, time.Time{})
	if err != nil {
		p.log.Warn("portal: usage not read", zap.String("record", key), zap.Error(err))
		return nil, "Usage is not available right now."
	}
	return &usageData{Since: date(since), Sessions: len(u.Sessions), In: bytesWords(u.BytesIn), Out: bytesWords(u.BytesOut)}, ""
}

func statusWords(c ops.Customer) (status, note string) {
	switch provisioning.Status(c.Status) {
	case provisioning.StatusActive:
		status = "Active"
		if !c.CancelAt.IsZero() {
			note = "Your subscription is set to end on " + date(c.CancelAt) + "."
		}
	case provisioning.StatusSuspended:
		status, note = "Payment overdue", "Please update your payment method under Manage billing; the service resumes as soon as the payment is made."
	case provisioning.StatusCanceled:
		status = "Canceled"
		if !c.DeleteAt.IsZero() {
			note = "The accounts are deleted on " + date(c.DeleteAt) + "."
		}
	case provisioning.StatusRefunded:
		status = "Refunded"
	default:
		status = "Being set up"
	}
	return status, note
}

func seatState(s ops.CustomerSeat) string {
	switch {
	case s.Deleted:
		return "Deleted"
	case s.Removed && !s.DeleteAt.IsZero():
		return "Removed from your plan; deleted on " + date(s.DeleteAt)
	case s.Removed:
		return "Removed from your plan"
	case s.Exists && s.Enabled:
		return "Active"
	case s.Exists:
		return "Disabled"
	default:
		return "Not active"
	}
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 January 2006")
}

func bytesWords(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// signedIn checks a form's session and CSRF token, answering for it if
// either is missing; it returns the session's record and token.
func (p *Portal) signedIn(w http.ResponseWriter, r *http.Request) (root, token string, ok bool) {
	root, token, ok = p.session(r)
	if !ok {
		p.ended(w)
		return "", "", false
	}
	if !p.cfg.Links.CheckCSRF(token, r.PostFormValue("csrf")) {
		p.log.Warn("portal: a form without its CSRF token refused", zap.String("record", root))
		p.render(w, http.StatusForbidden, "message", view{Title: "This form is stale",
			Error: "This form is stale or was not sent from your account page: reload the page and try again."})
		return "", "", false
	}
	return root, token, true
}

// reset sets a new password for one seat and shows it, once, in this
// response: it is neither stored nor put in a URL, and it is emailed.
func (p *Portal) reset(w http.ResponseWriter, r *http.Request) {
	root, token, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	if p.cfg.Resetter == nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	c, err := p.cfg.Ops.Customer(ctx, root)
	if err != nil {
		p.unavailable(w, err)
		return
	}
	n, _ := strconv.Atoi(r.PostFormValue("seat"))
	var seat *ops.CustomerSeat
	for i := range c.Seats {
		if s := &c.Seats[i]; s.N == n && s.Exists && !s.Removed && !s.Deleted {
			seat = s
		}
	}
	if seat == nil {
		p.account(ctx, w, http.StatusBadRequest, c, token, nil, "", "That seat has no account to set a new password for.")
		return
	}
	if wait, ok := p.resets.Allow(root); !ok {
		tooMany(w, wait)
		return
	}
	creds, err := p.audited(ctx, seat.Key, "password.reset", func(ctx context.Context) (provisioning.Credentials, error) {
		return p.cfg.Resetter.NewCredentials(ctx, seat.Key)
	})
	if err != nil {
		p.log.Error("portal: password reset", zap.String("record", seat.Key), zap.Bool("changed", creds.Password != ""), zap.Error(err))
	}
	if after, rerr := p.cfg.Ops.Customer(ctx, root); rerr == nil {
		c = after // a new VPNKI tunnel's name
	}
	if creds.Password == "" {
		p.account(ctx, w, http.StatusBadGateway, c, token, nil, "",
			"We could not set a new password just now. Please try again in a few minutes; if it keeps failing, contact us.")
		return
	}
	p.log.Info("portal: password reset", zap.String("record", seat.Key))
	notice := "Your new password is set. It is shown here once and was sent to " + c.Email + "."
	if err != nil {
		notice = "Your new password is set. It is shown here once; the email with it follows shortly."
	}
	p.account(ctx, w, http.StatusOK, c, token, &revealData{N: seat.N, SignIn: creds.SignIn(), Password: creds.Password, Server: creds.Server}, notice, "")
}

// audited publishes the customer.action audit of action on record, then
// takes it; an action whose audit is not stored is not taken. A failure
// is audited too.
func (p *Portal) audited(ctx context.Context, record, action string, act func(context.Context) (provisioning.Credentials, error)) (provisioning.Credentials, error) {
	now := p.cfg.Now().UTC()
	a := events.Audit{ID: fmt.Sprintf("%s:%s:%s:%d:%s", events.AuditCustomerAction, action, record, now.UnixNano(), nonce()),
		Kind: events.AuditCustomerAction, Time: now, Account: record, Status: action, Reason: "customer"}
	if err := events.PublishAudit(ctx, p.cfg.Ops.JS, a); err != nil {
		return provisioning.Credentials{}, fmt.Errorf("not taken: its audit could not be stored: %w", err)
	}
	creds, err := act(ctx)
	if err != nil {
		failed := a
		failed.ID, failed.Status, failed.Reason = a.ID+":failed", action+".failed", "customer: "+err.Error()
		if creds.Password != "" {
			failed.Status = action + ".incomplete" // changed; what followed failed
		}
		if aerr := events.PublishAudit(ctx, p.cfg.Ops.JS, failed); aerr != nil {
			p.log.Warn("portal: the failure's audit was not stored", zap.Error(aerr))
		}
	}
	return creds, err
}

// billing opens a Stripe Billing Portal session for the record's customer
// and sends the browser there.
func (p *Portal) billing(w http.ResponseWriter, r *http.Request) {
	root, token, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	c, err := p.cfg.Ops.Customer(ctx, root)
	if err != nil {
		p.unavailable(w, err)
		return
	}
	if p.cfg.Billing == nil || c.StripeCustomer == "" {
		http.NotFound(w, r)
		return
	}
	to, err := p.cfg.Billing.BillingPortal(ctx, c.StripeCustomer, p.cfg.Links.URL())
	if err != nil {
		p.log.Error("portal: billing portal session not created", zap.String("record", root), zap.Error(err))
		p.account(ctx, w, http.StatusBadGateway, c, token, nil, "", "The billing page could not be opened just now. Please try again in a few minutes.")
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// signout ends the session.
func (p *Portal) signout(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := p.signedIn(w, r); !ok {
		return
	}
	p.clearSession(w, r)
	http.Redirect(w, r, p.cfg.Links.Path(), http.StatusSeeOther)
}

// askedText is the one answer to a link request, whatever the address.
const askedText = "If we have an account for that address, we have sent a link to it. It may take a few minutes to arrive."

// askLink takes a request for a fresh link. It answers the same, at once,
// whether vpnbill knows the address or not: the records are searched and
// the email sent afterwards, by send.
func (p *Portal) askLink(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Mailer == nil {
		http.NotFound(w, r)
		return
	}
	addr := strings.TrimSpace(r.PostFormValue("email"))
	if a, err := netmail.ParseAddress(addr); err != nil || a.Address != addr || len(addr) > 254 {
		p.render(w, http.StatusBadRequest, "ask", view{Title: "Your VPN account", Error: "Please enter an email address.",
			Data: askData{CanAsk: true, Email: addr}})
		return
	}
	if wait, ok := p.linksPerIP.Allow(ratelimit.ClientIP(r, p.cfg.ClientIPHeader)); !ok {
		tooMany(w, wait)
		return
	}
	if wait, ok := p.linksPerAddress.Allow(strings.ToLower(addr)); !ok {
		tooMany(w, wait)
		return
	}
	select {
	case p.queue <- addr:
	default:
		p.log.Warn("portal: a link request was dropped: too many waiting")
	}
	p.render(w, http.StatusOK, "message", view{Title: "Check your email", Notice: askedText})
}

// send emails the links asked for, one request at a time, until ctx ends.
func (p *Portal) send(ctx context.Context) {
	defer p.sender.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case addr := <-p.queue:
			p.sendLinks(ctx, addr)
		}
	}
}

// maxLinks bounds the links one request sends (one per subscription or
// order of the address, the newest first).
const maxLinks = 5

// sendLinks emails a link to the page of each subscription or order of
// addr; an address of none gets nothing.
func (p *Portal) sendLinks(ctx context.Context, addr string) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	accounts, err := p.cfg.Ops.Accounts(ctx, addr)
	if errors.Is(err, provisioning.ErrNotFound) {
		return
	}
	if err != nil {
		p.log.Warn("portal: link request: records not searched", zap.Error(errors.New(strings.ReplaceAll(err.Error(), addr, "<address>"))))
		return
	}
	var roots []string
	for i := len(accounts) - 1; i >= 0 && len(roots) < maxLinks; i-- { // newest first
		root, _ := provisioning.SeatOf(accounts[i].Key)
		if accounts[i].SeatOf != "" {
			root = accounts[i].SeatOf
		}
		if !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
	}
	for _, root := range roots {
		c, err := p.cfg.Ops.Customer(ctx, root)
		if err != nil || !strings.EqualFold(c.Email, addr) {
			continue
		}
		now := p.cfg.Now()
		msg, err := p.cfg.Templates.Render(notify.PortalLink, notify.Data{To: c.Email, PlanName: c.Plan, Locale: c.Locale,
			PortalURL: p.cfg.Links.Link(root, now), MessageID: fmt.Sprintf("<%s.%s.%s@%s>", notify.PortalLink, root, nonce(), p.cfg.MailDomain)})
		if err != nil {
			p.log.Error("portal: link email not rendered", zap.String("record", root), zap.Error(err))
			continue
		}
		if err := p.cfg.Mailer.Send(ctx, msg); err != nil {
			p.log.Warn("portal: link email not sent", zap.String("record", root), zap.Error(err))
			continue
		}
		p.log.Info("portal: link sent", zap.String("record", root))
	}
}

func nonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
