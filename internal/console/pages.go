package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

// pageNames are the templates of templates/, each rendered inside layout.html.
var pageNames = []string{"signin", "overview", "search", "account", "reviews", "dead", "deadshow", "report", "reconcile",
	"events", "event", "error"}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"money": func(minor int64, currency string) string {
		sign := ""
		if minor < 0 {
			sign, minor = "-", -minor
		}
		return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, strings.ToUpper(currency))
	},
	"pathEscape": url.PathEscape,
	"set":        func(t time.Time) bool { return !t.IsZero() },
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page's template gets.
type view struct {
	Title string
	Nav   string // the menu entry to highlight
	User  identity
	CSRF  string
	Done  string // a confirmation of the action just taken
	Error string
	Data  any
	// Refresh: reload the page every Refresh seconds (a job is running).
	Refresh int
}

// done are the confirmations an action's redirect may ask for (?done=):
// fixed texts, so a link cannot make the console say anything else.
var done = map[string]string{
	"resent":            "New credentials were set and emailed to the customer.",
	"resolved":          "The review was resolved.",
	"retried":           "The dead letter was published again and removed from DEAD.",
	"dropped":           "The dead letter was deleted.",
	"reconcile-started": "The reconcile started: this page shows its progress, then its result.",
	"fix-started":       "The reconcile with the safe fixes started: this page shows its progress, then what it fixed.",
	"replayed":          "The event was published again: the worker handles it like any other (the newest row).",
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.User = identityOf(r)
	if v.User.Name != "" {
		v.CSRF = c.signer.csrf(v.User.session)
	}
	if v.Done == "" {
		v.Done = done[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, v); err != nil {
		c.log.Error("console: render", zap.String("page", name), zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows err on the error page with status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		c.log.Error("console: request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Error: err.Error()})
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.who(w, r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.showSignin(w, r, http.StatusOK, "")
}

// showSignin renders the form with a fresh anonymous session, whose CSRF
// token the form carries.
func (c *Console) showSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	sess := session{ID: newSessionID(), Expires: c.cfg.Now().Add(time.Hour)}
	c.setCookie(w, r, sess)
	var buf bytes.Buffer
	v := view{Title: "Sign in", CSRF: c.signer.csrf(sess), Error: msg,
		Data: map[string]any{"Next": safeNext(r.FormValue("next")), "Passwords": len(c.cfg.Users) > 0}}
	if err := c.pages["signin"].Execute(&buf, v); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// safeNext keeps a redirect target inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/"
	}
	return next
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	now := c.cfg.Now()
	var anon session
	ok := false
	if ck, err := r.Cookie(cookieName); err == nil {
		anon, ok = c.signer.decode(ck.Value, now)
	}
	if !ok || !c.signer.checkCSRF(anon, r.PostFormValue("csrf")) {
		c.showSignin(w, r, http.StatusForbidden, "The sign-in form expired or was not sent from the console: try again.")
		return
	}
	name := r.PostFormValue("user")
	if wait, refused := c.limits.refused(r, name); refused {
		secs := ratelimit.RetryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.log.Warn("console: sign-in refused: too many failures", zap.String("user", name), zap.String("client", clientIP(r)))
		c.showSignin(w, r, http.StatusTooManyRequests,
			fmt.Sprintf("Too many failed sign-ins: try again in %d minutes.", (secs+59)/60))
		return
	}
	u, ok := authenticate(c.cfg.Users, name, r.PostFormValue("password"))
	if !ok {
		c.limits.failed(r, name)
		c.log.Warn("console: sign-in refused", zap.String("user", name))
		c.showSignin(w, r, http.StatusUnauthorized, "Unknown user or wrong password.")
		return
	}
	c.limits.succeeded(name)
	// A new session id on sign-in: a token seen before it is worth nothing.
	c.setCookie(w, r, session{User: u.Name, ID: newSessionID(), Expires: now.Add(c.cfg.SessionFor)})
	c.log.Info("console: signed in", zap.String("user", u.Name), zap.String("role", string(u.Role)))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.clearCookie(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ov, err := c.ops.Overview(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	c.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: ov})
}

func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.FormValue("q"))
	data := map[string]any{"Q": q}
	v := view{Title: "Accounts", Nav: "accounts", Data: data}
	if q == "" {
		c.render(w, r, http.StatusOK, "search", v)
		return
	}
	accts, err := c.ops.Accounts(r.Context(), q)
	if errors.Is(err, provisioning.ErrNotFound) {
		accts, err = c.ops.AccountsByUsername(r.Context(), q)
	}
	switch {
	case errors.Is(err, provisioning.ErrNotFound):
		v.Error = "No account matches " + strconvQuote(q) + "."
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	case len(accts) == 1:
		http.Redirect(w, r, "/accounts/"+url.PathEscape(accts[0].Key), http.StatusSeeOther)
		return
	}
	data["Accounts"] = accts
	c.render(w, r, http.StatusOK, "search", v)
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// timelineLimit: the latest audits an account page shows.
const timelineLimit = 200

// liveTimeout bounds the account page's status calls to the provider.
const liveTimeout = 5 * time.Second

func (c *Console) account(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	accts, err := c.ops.Accounts(r.Context(), key)
	if errors.Is(err, provisioning.ErrNotFound) || (err == nil && accts[0].Key != key) {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("no account record %s", key))
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	timeline, err := c.ops.Timeline(r.Context(), key, timelineLimit)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	// Newest first.
	for i, j := 0, len(timeline)-1; i < j; i, j = i+1, j-1 {
		timeline[i], timeline[j] = timeline[j], timeline[i]
	}
	data := map[string]any{"Account": accts[0], "Seats": accts[1:], "Timeline": timeline, "CanProvision": c.ops.Provisioner != nil}
	// The provider's view, read now (status calls only: the record is not
	// written), within liveTimeout.
	lctx, cancel := context.WithTimeout(r.Context(), liveTimeout)
	live, err := c.ops.LiveState(lctx, key, c.cfg.Grace)
	cancel()
	if err != nil {
		c.log.Warn("console: live state", zap.String("account", key), zap.Error(err))
		data["LiveError"] = "the record could not be read again"
	}
	data["Live"] = live
	c.render(w, r, http.StatusOK, "account", view{Title: "Account " + key, Nav: "accounts", Data: data})
}

func (c *Console) resend(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	err := c.audited(r, "resend", key, r.PostFormValue("why"), func(ctx context.Context) error { return c.ops.Resend(ctx, key) })
	if c.actionFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/accounts/"+url.PathEscape(key)+"?done=resent", http.StatusSeeOther)
}

func (c *Console) resolve(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	action := provisioning.ReviewAction(r.PostFormValue("action"))
	switch action {
	case provisioning.ReviewAdopt, provisioning.ReviewRetry, provisioning.ReviewGiveUp:
	default:
		c.fail(w, r, http.StatusBadRequest, fmt.Errorf("unknown review action %q: adopt, retry or give-up", action))
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	if action == provisioning.ReviewAdopt && username == "" {
		c.fail(w, r, http.StatusBadRequest, errors.New("adopt needs the username the account has at the provider"))
		return
	}
	err := c.audited(r, "review."+string(action), key, r.PostFormValue("why"), func(ctx context.Context) error {
		return c.ops.Resolve(ctx, key, action, username)
	})
	if c.actionFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/accounts/"+url.PathEscape(key)+"?done=resolved", http.StatusSeeOther)
}

// actionFailed shows an action's error, if any: a missing reason is the
// operator's to fix (400), a record not found 404, a missing part of the
// configuration 503, anything else 500.
func (c *Console) actionFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errNoReason):
		c.fail(w, r, http.StatusBadRequest, err)
	case errors.Is(err, provisioning.ErrNotFound), errors.Is(err, ops.ErrNoDeadLetter):
		c.fail(w, r, http.StatusNotFound, err)
	case errors.Is(err, provisioning.ErrNoReview):
		c.fail(w, r, http.StatusConflict, err)
	case errors.Is(err, ops.ErrNotConfigured):
		c.fail(w, r, http.StatusServiceUnavailable, err)
	default:
		c.fail(w, r, http.StatusInternalServerError, err)
	}
	return true
}

func (c *Console) reviews(w http.ResponseWriter, r *http.Request) {
	rs, err := c.ops.Reviews(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	c.render(w, r, http.StatusOK, "reviews", view{Title: "Reviews", Nav: "reviews", Data: rs})
}

func (c *Console) deadList(w http.ResponseWriter, r *http.Request) {
	ds, err := c.ops.DeadLetters(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	c.render(w, r, http.StatusOK, "dead", view{Title: "Dead letters", Nav: "dead", Data: ds})
}

func (c *Console) deadSeq(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a sequence of stream DEAD", r.PathValue("seq")))
		return 0, false
	}
	return seq, true
}

// deadHeaders are the headers of a dead letter the page shows: the dead
// letter's own, and the ids; never the rest (a header may carry anything).
var deadHeaders = []string{events.HeaderDeadSubject, events.HeaderDeadStream, events.HeaderDeadSeq, events.HeaderDeadCount,
	events.HeaderDeadTime, events.HeaderDeadReason, "Nats-Msg-Id"}

func (c *Console) deadShow(w http.ResponseWriter, r *http.Request) {
	seq, ok := c.deadSeq(w, r)
	if !ok {
		return
	}
	d, err := c.ops.DeadLetter(r.Context(), seq)
	if errors.Is(err, ops.ErrNoDeadLetter) {
		c.fail(w, r, http.StatusNotFound, err)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var headers [][2]string
	for _, k := range deadHeaders {
		if v := d.Header.Get(k); v != "" {
			headers = append(headers, [2]string{k, v})
		}
	}
	c.render(w, r, http.StatusOK, "deadshow", view{Title: fmt.Sprintf("Dead letter %d", seq), Nav: "dead",
		Data: map[string]any{"D": d, "Headers": headers}})
}

func (c *Console) deadRetry(w http.ResponseWriter, r *http.Request) {
	seq, ok := c.deadSeq(w, r)
	if !ok {
		return
	}
	err := c.audited(r, "dead.retry", fmt.Sprintf("dead:%d", seq), r.PostFormValue("why"), func(ctx context.Context) error {
		_, err := c.ops.RetryDead(ctx, seq)
		return err
	})
	if c.actionFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/dead?done=retried", http.StatusSeeOther)
}

func (c *Console) deadDrop(w http.ResponseWriter, r *http.Request) {
	seq, ok := c.deadSeq(w, r)
	if !ok {
		return
	}
	err := c.audited(r, "dead.drop", fmt.Sprintf("dead:%d", seq), r.PostFormValue("why"), func(ctx context.Context) error {
		return c.ops.DropDead(ctx, seq)
	})
	if c.actionFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/dead?done=dropped", http.StatusSeeOther)
}

// reportRange reads ?from= and ?to= (dates, or RFC 3339 times); the
// default is the current month so far.
func (c *Console) reportRange(r *http.Request) (from, to time.Time, err error) {
	now := c.cfg.Now().UTC()
	from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to = from.AddDate(0, 1, 0)
	parse := func(name string, def time.Time) (time.Time, error) {
		s := strings.TrimSpace(r.FormValue(name))
		if s == "" {
			return def, nil
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%s %q: want a date (2006-01-02) or an RFC 3339 time", name, s)
	}
	if from, err = parse("from", from); err != nil {
		return
	}
	if to, err = parse("to", to); err != nil {
		return
	}
	if !to.After(from) {
		err = errors.New("the end of the range must be after its start")
	}
	return
}

func (c *Console) report(w http.ResponseWriter, r *http.Request) {
	from, to, err := c.reportRange(r)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, err)
		return
	}
	rep, err := c.ops.Report(r.Context(), from, to)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
	if from.Truncate(24*time.Hour) != from || to.Truncate(24*time.Hour) != to {
		q = url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	}
	c.render(w, r, http.StatusOK, "report", view{Title: "Finance report", Nav: "report", Data: map[string]any{
		"Report": rep, "From": q.Get("from"), "To": q.Get("to"), "CSV": "/report.csv?" + q.Encode(),
	}})
}

func (c *Console) reportCSV(w http.ResponseWriter, r *http.Request) {
	from, to, err := c.reportRange(r)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, err)
		return
	}
	rep, err := c.ops.Report(r.Context(), from, to)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var buf bytes.Buffer
	if err := ops.WriteReportCSV(&buf, rep); err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	name := fmt.Sprintf("vpnbill-report-%s-%s.csv", from.UTC().Format("20060102T150405Z"), to.UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = buf.WriteTo(w)
}
