package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/console"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// The secrets of the test deployment: none may appear on any page.
const (
	pureAPIPassword = "purevpn-api-password-7f3a"
	webhookSecret   = "whsec_console_test_secret_91c2"
	operatorPass    = "operator-pass-5d1"
	financePass     = "finance-pass-8e4"
)

var stdPlan = billing.Plan{ID: "std", Name: "Standard", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}

// bundle is a console over a world with seeded data: a paid purchase
// (key), a purchase in review (reviewKey) and a dead letter (deadSeq).
type bundle struct {
	url       string
	w         *harness.World
	store     *provisioning.Store
	key       string
	email     string
	reviewKey string
	deadSeq   uint64
	secrets   []string // what no page may hold
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	w := harness.NewWorld(t, harness.WorldOptions{PureVPN: purevpnsim.Options{User: "reseller", Password: pureAPIPassword}})
	store := provisioning.NewStore(w.Topology.Accounts)
	pc, err := purevpn.New(purevpn.Config{URL: w.PureVPNURL, User: "reseller", Password: pureAPIPassword})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.New(notify.Config{URL: w.Mail.URL(), From: "shop@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioning.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	provs := map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: pc}}
	svc := provisioning.New(provisioning.Config{Livemode: new(false)}, store, w.JS, provs, mailer, sealer, zaptest.NewLogger(t))

	b := &bundle{w: w, store: store, key: "sub_paid", email: "paid@example.com", reviewKey: "sub_review"}
	now := time.Now().UTC()
	buy := func(sub, email string) {
		for i, f := range []billing.Fact{
			{Kind: billing.Purchase, EventID: "evt_" + sub + "_1", EventType: "checkout.session.completed", Created: now, Key: sub, Subscription: sub, Customer: "cus_" + sub,
				Email: email, Currency: "eur", Amount: 999, Plan: stdPlan, CheckoutSession: "cs_" + sub, Invoice: "in_" + sub},
			{Kind: billing.Purchase, EventID: "evt_" + sub + "_2", EventType: "invoice.paid", Created: now.Add(time.Second), Key: sub, Subscription: sub,
				Customer: "cus_" + sub, Email: email, Currency: "eur", Amount: 999, Plan: stdPlan, Invoice: "in_" + sub,
				Charge: "ch_" + sub, PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0)},
		} {
			if err := svc.Apply(ctx, f); err != nil {
				t.Fatalf("purchase %s, fact %d: %v", sub, i, err)
			}
		}
	}
	buy(b.key, b.email)
	if _, err := w.Mail.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	w.PureVPN.DropNext(1) // the create's answer is lost: the record goes to review
	buy(b.reviewKey, "review@example.com")
	if r, _, err := store.Get(ctx, b.reviewKey); err != nil || r.Review == nil {
		t.Fatalf("the second purchase must be in review: %v", err)
	}

	// A dead letter, as the consume loop stores one.
	h := nats.Header{}
	h.Set(events.HeaderDeadReason, "permanent: unknown plan gold")
	h.Set(events.HeaderDeadStream, events.StreamStripe)
	h.Set(events.HeaderDeadSubject, "stripe.event.invoice.paid")
	h.Set(events.HeaderDeadSeq, "42")
	h.Set(events.HeaderDeadCount, "1")
	ack, err := events.Publish(ctx, w.JS, "dead.stripe.event.invoice.paid", "dead:STRIPE:42",
		[]byte(`{"id":"evt_dead_1","type":"invoice.paid","created":1700000000}`), h)
	if err != nil {
		t.Fatal(err)
	}
	b.deadSeq = ack.Sequence

	rec, _, err := store.Get(ctx, b.key)
	if err != nil {
		t.Fatal(err)
	}
	b.secrets = []string{pureAPIPassword, webhookSecret, operatorPass, financePass, w.PureVPN.Accounts()[0].Password,
		string(rec.Actual.Password), fmt.Sprintf("%x", rec.Actual.Password)}

	b.serve(t, &ops.Ops{JS: w.JS, Provisioner: svc, Providers: provs})
	return b
}

// serve serves a console over o for b's users.
func (b *bundle) serve(t *testing.T, o *ops.Ops) {
	t.Helper()
	users := fmt.Sprintf("alice:operator:%s,fred:finance:%s", hash(t, operatorPass), hash(t, financePass))
	parsed, err := console.ParseUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{Users: parsed, SessionKey: bytes.Repeat([]byte{9}, 32)}, o, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	t.Cleanup(c.Close) // before the server closes: a reconcile in the background ends first
	b.url = srv.URL
}

func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// client is a plain HTTP client with its own cookies that does not follow redirects.
func (b *bundle) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches path and returns the status and body.
func (b *bundle) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(b.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *bundle) post(t *testing.T, c *http.Client, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(b.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// signIn signs c in as user and returns its CSRF token.
func (b *bundle) signIn(t *testing.T, c *http.Client, user, password string) string {
	t.Helper()
	_, page := b.get(t, c, "/signin")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the sign-in form has no CSRF token")
	}
	if status, _ := b.post(t, c, "/signin", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}}); status != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: status %d", user, status)
	}
	_, page = b.get(t, c, "/")
	m = csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("signed in as %s, the overview has no CSRF token", user)
	}
	return m[1]
}

// pages are every GET page of the console, for b.
func (b *bundle) pages() []string {
	return []string{"/", "/accounts", "/accounts?q=" + url.QueryEscape(b.email), "/accounts/" + b.key, "/accounts/" + b.reviewKey,
		"/reviews", "/dead", fmt.Sprintf("/dead/%d", b.deadSeq), "/report", "/report.csv", "/reconcile", "/events"}
}

func TestNothingWithoutSigningIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	for _, p := range b.pages() {
		resp, err := c.Get(b.url + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
			t.Errorf("GET %s signed out: %d to %q, want 303 to the sign-in page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/accounts/" + b.key + "/resend", "/accounts/" + b.reviewKey + "/resolve",
		fmt.Sprintf("/dead/%d/retry", b.deadSeq), fmt.Sprintf("/dead/%d/drop", b.deadSeq),
		"/reconcile", "/reconcile/fix", "/events/1/replay"} {
		if status, _ := b.post(t, c, p, url.Values{"why": {"x"}, "action": {"retry"}}); status != http.StatusForbidden {
			t.Errorf("POST %s signed out: %d, want 403", p, status)
		}
	}
	// A wrong password and a forged cookie do not sign in.
	_, page := b.get(t, c, "/signin")
	m := csrfField.FindStringSubmatch(page)
	if status, _ := b.post(t, c, "/signin", url.Values{"csrf": {m[1]}, "user": {"alice"}, "password": {"guess"}}); status != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d, want 401", status)
	}
	u, _ := url.Parse(b.url)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "vpnbill_console", Value: "eyJ1IjoiYWxpY2UiLCJpZCI6IngiLCJleHAiOiIyMDk5LTAxLTAxVDAwOjAwOjAwWiJ9.AAAA"}})
	if status, _ := b.get(t, c, "/"); status != http.StatusSeeOther {
		t.Errorf("a forged cookie: %d, want 303 to the sign-in page", status)
	}
	if n := len(b.w.Mail.Messages()); n != 1 {
		t.Errorf("emails = %d, want only the welcome", n)
	}
}

// The probes' endpoints answer without signing in, and say nothing of the
// deployment: /healthz while the process serves, /readyz while JetStream
// answers (503 once it does not).
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		status, body := b.get(t, c, p)
		if status != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s signed out: %d %q, want 200 \"ok\"", p, status, body)
		}
	}
	b.w.NATS.Stop() // stopping it early is allowed; the cleanup stops it again
	if status, _ := b.get(t, c, "/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with JetStream down: %d, want 503", status)
	}
	if status, _ := b.get(t, c, "/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz with JetStream down: %d, want 200 (the process still serves)", status)
	}
}

func TestFinanceCannotActAndCSRFIsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fin := b.client(t)
	token := b.signIn(t, fin, "fred", financePass)
	_, page := b.get(t, fin, "/accounts/"+b.key)
	if strings.Contains(page, `id="resend"`) || strings.Contains(page, "/resend") {
		t.Error("a finance user's account page offers the resend action")
	}
	_, page = b.get(t, fin, "/accounts/"+b.reviewKey)
	if strings.Contains(page, `id="resolve"`) {
		t.Error("a finance user's account page offers the review resolutions")
	}
	// A forged POST with a valid token of the finance session is refused.
	for _, p := range []string{"/accounts/" + b.key + "/resend", "/accounts/" + b.reviewKey + "/resolve",
		fmt.Sprintf("/dead/%d/retry", b.deadSeq), fmt.Sprintf("/dead/%d/drop", b.deadSeq)} {
		if status, _ := b.post(t, fin, p, url.Values{"csrf": {token}, "why": {"x"}, "action": {"retry"}}); status != http.StatusForbidden {
			t.Errorf("finance POST %s: %d, want 403", p, status)
		}
	}

	op := b.client(t)
	opToken := b.signIn(t, op, "alice", operatorPass)
	for name, form := range map[string]url.Values{
		"no token":                  {"why": {"customer asked"}},
		"another session's token":   {"why": {"customer asked"}, "csrf": {token}},
		"a token of no session":     {"why": {"customer asked"}, "csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		"a token sent in the query": {"why": {"customer asked"}},
	} {
		path := "/accounts/" + b.key + "/resend"
		if name == "a token sent in the query" {
			path += "?csrf=" + url.QueryEscape(opToken)
		}
		if status, _ := b.post(t, op, path, form); status != http.StatusForbidden {
			t.Errorf("operator POST with %s: %d, want 403", name, status)
		}
	}
	if n := len(b.w.Mail.Messages()); n != 1 {
		t.Errorf("emails = %d after refused actions, want only the welcome", n)
	}
	if r, _, err := b.store.Get(context.Background(), b.reviewKey); err != nil || r.Review == nil {
		t.Error("a refused resolution resolved the review")
	}
	// The operator's own token works (the action needs a reason).
	if status, _ := b.post(t, op, "/accounts/"+b.key+"/resend", url.Values{"csrf": {opToken}}); status != http.StatusBadRequest {
		t.Errorf("resend without a reason: %d, want 400", status)
	}
}

func TestNoPageHoldsASecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, who := range []struct{ user, pass string }{{"alice", operatorPass}, {"fred", financePass}} {
		c := b.client(t)
		b.signIn(t, c, who.user, who.pass)
		for _, p := range b.pages() {
			status, body := b.get(t, c, p)
			if status != http.StatusOK && status != http.StatusSeeOther { // a search with one match opens it
				t.Errorf("%s: GET %s: %d", who.user, p, status)
			}
			for _, s := range b.secrets {
				if s != "" && strings.Contains(body, s) {
					t.Errorf("%s: GET %s holds a secret", who.user, p)
				}
			}
		}
	}
}

// browser is a headless Chromium session of its own (cookies included)
// on the console at base.
type browser struct {
	*harness.Browser
	t    *testing.T
	base string
}

func (b *bundle) browser(t *testing.T) *browser {
	t.Helper()
	return &browser{Browser: harness.NewBrowser(t, harness.BrowserOptions{Width: 1280}), t: t, base: b.url}
}

func (br *browser) signIn(user, password string) {
	br.t.Helper()
	br.Do("sign in as "+user,
		chromedp.Navigate(br.base+"/"),
		chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", user),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#whoami"))
}

func TestOperatorInTheBrowser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	ctx := context.Background()

	br.Do("open the console", chromedp.Navigate(br.base+"/"), chromedp.WaitVisible("#user"))
	loc, _ := chromedp.Run(br.Ctx, chromedp.Location())
	if !strings.Contains(loc, "/signin") {
		t.Fatalf("signed out, the console opened %s, want the sign-in page", loc)
	}
	br.Shot("console-signin")
	br.signIn("alice", operatorPass)
	if got := br.Text("#whoami"); got != "alice (operator)" {
		t.Errorf("signed in as %q", got)
	}
	if d, r := br.Text("#dead-count"), br.Text("#review-count"); d != "1" || r != "1" {
		t.Errorf("overview: %s dead letters, %s reviews; want 1 and 1", d, r)
	}
	if n, _ := strconv.Atoi(br.Text("#events-hour")); n != 0 {
		t.Errorf("overview: %d events in the last hour, want 0 (none went through STRIPE)", n)
	}
	br.Shot("console-overview")

	// Search by email: one match opens the account.
	br.Do("search", chromedp.Navigate(br.base+"/accounts"), chromedp.WaitVisible("#q"),
		chromedp.SendKeys("#q", b.email), chromedp.Click("#search"), chromedp.WaitVisible("#record"))
	if got := br.Text("#email"); got != b.email {
		t.Errorf("the account found by email shows %q", got)
	}
	user := b.w.PureVPN.Accounts()[0].Username
	if got := br.Text("#username"); got != user {
		t.Errorf("username %q, want %q", got, user)
	}
	if tl := br.Text("#timeline"); !strings.Contains(tl, "account.created") || !strings.Contains(tl, "fact.applied") || !strings.Contains(tl, "email.sent") {
		t.Errorf("the timeline lacks the purchase's audits:\n%s", tl)
	}
	br.Shot("console-account")

	// Search by username finds the same record.
	br.Do("search by username", chromedp.Navigate(br.base+"/accounts?q="+url.QueryEscape(user)), chromedp.WaitVisible("#record"))
	if got := br.Text("#email"); got != b.email {
		t.Errorf("the account found by username shows %q", got)
	}

	// Resend credentials: the customer gets a new password by email.
	before := b.w.PureVPN.Accounts()[0].Password
	br.Do("resend", chromedp.SendKeys("#resend-why", "customer lost the welcome email"), chromedp.Click("#resend-submit"),
		chromedp.WaitVisible(".done"))
	mails, err := b.w.Mail.WaitFor(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := b.w.PureVPN.Accounts()[0].Password
	if now == before || mails[1].To[0] != b.email || !strings.Contains(mails[1].Text, now) {
		t.Errorf("resend: the second email must carry the account's new password")
	}
	if strings.Contains(br.HTML(), now) {
		t.Error("the account page shows the new password")
	}
	if tl := br.Text("#timeline"); !strings.Contains(tl, "console.action") || !strings.Contains(tl, "alice: customer lost the welcome email") {
		t.Errorf("the timeline lacks the console's audit of the resend:\n%s", tl)
	}

	// Resolve the review: retry creates the account.
	br.Do("open the review", chromedp.Navigate(br.base+"/reviews"), chromedp.WaitVisible("#reviews"))
	br.Shot("console-reviews")
	br.Do("resolve", chromedp.Navigate(br.base+"/accounts/"+b.reviewKey), chromedp.WaitVisible("#resolve"),
		chromedp.Click("#resolve-retry"), chromedp.SendKeys("#resolve-why", "checked: no account at PureVPN"),
		chromedp.Click("#resolve-submit"), chromedp.WaitVisible(".done"))
	if r, _, err := b.store.Get(ctx, b.reviewKey); err != nil || r.Review != nil || !r.Actual.Exists {
		t.Errorf("after retry the record must be out of review with an account: %v", err)
	}

	// Retry the dead letter: it goes back to its subject and leaves DEAD.
	br.Do("open the dead letters", chromedp.Navigate(br.base+"/dead"), chromedp.WaitVisible("#dead"))
	br.Shot("console-dead")
	br.Do("show the dead letter", chromedp.Navigate(fmt.Sprintf("%s/dead/%d", br.base, b.deadSeq)), chromedp.WaitVisible("#deadletter"))
	if got := br.Text("#dead-reason"); got != "permanent: unknown plan gold" {
		t.Errorf("dead letter reason %q", got)
	}
	br.Shot("console-deadletter")
	br.Do("retry", chromedp.SendKeys("#retry-why", "plan gold added"), chromedp.Click("#retry-submit"), chromedp.WaitVisible(".done"))
	if ds, err := (&ops.Ops{JS: b.w.JS}).DeadLetters(ctx); err != nil || len(ds) != 0 {
		t.Errorf("after retry DEAD holds %d (%v)", len(ds), err)
	}

	// The finance report: the table's totals, and the CSV's equal the audits.
	br.Do("report", chromedp.Navigate(br.base+"/report"), chromedp.WaitVisible("#totals"))
	totals := br.Text("#totals")
	if !strings.Contains(totals, "19.98 EUR") {
		t.Errorf("the report's totals must hold the two purchases (2 × 9.99 EUR):\n%s", totals)
	}
	br.Shot("console-report")
	c := b.client(t)
	b.signIn(t, c, "alice", operatorPass)
	_, csvURL := b.get(t, c, "/report")
	m := regexp.MustCompile(`href="(/report\.csv\?[^"]+)"`).FindStringSubmatch(csvURL)
	if m == nil {
		t.Fatal("the report page has no CSV link")
	}
	status, body := b.get(t, c, strings.ReplaceAll(m[1], "&amp;", "&"))
	if status != http.StatusOK {
		t.Fatalf("CSV: %d", status)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range rows {
		if r[0] == "total" {
			n, _ := strconv.ParseInt(r[8], 10, 64)
			total += n
		}
	}
	if paid := auditedPayments(t, b); total != paid || paid == 0 {
		t.Errorf("the CSV's totals %d, the audited payments %d", total, paid)
	}

	// Signing out ends the session.
	br.Do("sign out", chromedp.Navigate(br.base+"/"), chromedp.WaitVisible("#whoami"),
		chromedp.Click(`header form button`), chromedp.WaitVisible("#user"))
}

// auditedPayments sums the amounts of the invoices paid, by the applied
// payment facts in AUDIT (a purchase's checkout and its first invoice.paid
// are one payment).
func auditedPayments(t *testing.T, b *bundle) int64 {
	t.Helper()
	paid := map[string]int64{}
	for _, acct := range []string{b.key, b.reviewKey} {
		tl, err := (&ops.Ops{JS: b.w.JS}).Timeline(context.Background(), acct, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range tl {
			if a.Kind == events.AuditFactApplied && (a.StripeType == "invoice.paid" || a.StripeType == "checkout.session.completed") {
				paid[a.Invoice] = a.Amount
			}
		}
	}
	var sum int64
	for _, amount := range paid {
		sum += amount
	}
	return sum
}

func TestFinanceInTheBrowser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	br.signIn("fred", financePass)
	br.Do("account", chromedp.Navigate(br.base+"/accounts/"+b.key), chromedp.WaitVisible("#record"))
	if strings.Contains(br.HTML(), "resend-submit") {
		t.Error("a finance user sees the resend button")
	}
	br.Do("dead letter", chromedp.Navigate(fmt.Sprintf("%s/dead/%d", br.base, b.deadSeq)), chromedp.WaitVisible("#deadletter"))
	if h := br.HTML(); strings.Contains(h, "retry-submit") || strings.Contains(h, "drop-submit") {
		t.Error("a finance user sees the dead letter's actions")
	}
}
