package portal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/portal"
	"github.com/vpnbill/vpnbill/internal/portal/link"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// The secrets of the test deployment: no response may hold one.
const pureAPIPassword = "purevpn-api-password-4c1e"

var (
	portalKey = bytes.Repeat([]byte{5}, 32)
	stdPlan   = billing.Plan{ID: "std", Name: "Standard VPN, monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
	tunPlan   = billing.Plan{ID: "tun", Name: "Tunnel, monthly", Provider: "vpnki"}
)

// options change a bundle's page.
type options struct {
	stripe       bool // Manage billing, against stripe-mock
	perMinute    int  // the per-IP limit of every request
	linksPerHour int
}

// bundle is a customer page over a world (NATS, both providers'
// simulators, an SMTP listener) where purchases are made through the
// provisioning service, as the worker makes them.
type bundle struct {
	w     *harness.World
	store *provisioning.Store
	svc   *provisioning.Service
	ops   *ops.Ops
	links *link.Links
	api   *ops.StripeAPI
	url   string // the server's root, http://127.0.0.1:port
	page  string // the page's URL, url + "/account"
	logs  *harness.Buffer
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	w := harness.NewWorld(t, harness.WorldOptions{PureVPN: purevpnsim.Options{User: "reseller", Password: pureAPIPassword}})
	b := &bundle{w: w, store: provisioning.NewStore(w.Topology.Accounts), logs: &harness.Buffer{}}
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(),
		zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), b.logs, zapcore.DebugLevel)))

	srv := httptest.NewUnstartedServer(nil)
	b.url = "http://" + srv.Listener.Addr().String()
	b.page = b.url + "/account"
	var err error
	if b.links, err = link.New(b.page, portalKey, 168*time.Hour); err != nil {
		t.Fatal(err)
	}
	pc := purevpn.Config{URL: w.PureVPNURL, User: "reseller", Password: pureAPIPassword}
	vc := vpnki.Config{URL: w.VPNKIURL, Key: "sim-key"}
	provs, err := worker.NewProviders(pc, vc, log)
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
	b.svc = provisioning.New(provisioning.Config{Livemode: new(false), PortalLink: b.links.Link}, b.store, w.JS, provs, mailer, sealer, log)
	vclient, err := vpnki.New(vc)
	if err != nil {
		t.Fatal(err)
	}
	b.ops = &ops.Ops{JS: w.JS, Provisioner: b.svc, UsageReaders: map[providers.Name]ops.UsageReader{providers.VPNKI: ops.VPNKIUsage{Client: vclient}}}
	cfg := portal.Config{Links: b.links, Ops: b.ops, Resetter: b.svc, Mailer: mailer, PerMinute: o.perMinute, LinksPerHour: o.linksPerHour,
		ClientIPHeader: "X-Forwarded-For"}
	if o.stripe {
		if b.api, err = ops.NewStripeAPI("sk_test_portal", harness.StripeMock(t)); err != nil {
			t.Fatal(err)
		}
		cfg.Billing = b.api
	}
	p, err := portal.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(func() { srv.Close(); p.Close() })
	return b
}

// buy makes a paid purchase of plan, seats accounts, as Stripe's checkout
// and first invoice.paid are translated: the welcome emails follow.
func (b *bundle) buy(t *testing.T, sub, email string, plan billing.Plan, seats int) {
	t.Helper()
	now := time.Now().UTC()
	for i, f := range []billing.Fact{
		{Kind: billing.Purchase, EventID: "evt_" + sub + "_1", EventType: "checkout.session.completed", Created: now, Key: sub, Subscription: sub,
			Customer: "cus_" + sub, Email: email, Currency: "eur", Amount: 999, Plan: plan, CheckoutSession: "cs_" + sub, Invoice: "in_" + sub},
		{Kind: billing.Purchase, EventID: "evt_" + sub + "_2", EventType: "invoice.paid", Created: now.Add(time.Second), Key: sub, Subscription: sub,
			Customer: "cus_" + sub, Email: email, Currency: "eur", Amount: 999, Plan: plan, Invoice: "in_" + sub, Charge: "ch_" + sub,
			PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), Items: []billing.Item{{Plan: plan, Seats: seats}}},
	} {
		if err := b.svc.Apply(context.Background(), f); err != nil {
			t.Fatalf("purchase %s, fact %d: %v", sub, i, err)
		}
	}
}

// mails waits for n emails to email and returns them.
func (b *bundle) mails(t *testing.T, email string, n int) []mailcatcher.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		got := slices.DeleteFunc(b.w.Mail.Messages(), func(m mailcatcher.Received) bool { return !slices.Contains(m.To, email) })
		if len(got) >= n {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("emails to %s: %d, want %d", email, len(got), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var linkRE = regexp.MustCompile(`https?://\S+/account\?t=[A-Za-z0-9_-]+`)

// linkIn is the customer page link of an email's text part.
func linkIn(t *testing.T, m mailcatcher.Received) string {
	t.Helper()
	l := linkRE.FindString(m.Text)
	if l == "" {
		t.Fatalf("email %q has no link to the customer page:\n%s", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+l+`"`) {
		t.Errorf("email %q: the HTML part lacks the link of the text part", m.Subject)
	}
	return l
}

// client is an HTTP client with its own cookies that does not follow redirects.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, header ...string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(data)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// open opens link with c (its session cookie set) and returns the page
// and its CSRF token.
func (b *bundle) open(t *testing.T, c *http.Client, link string) (string, string) {
	t.Helper()
	a := do(t, c, http.MethodGet, link, nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `http-equiv="refresh"`) {
		t.Fatalf("GET the link: %d\n%s", a.status, a.body)
	}
	a = do(t, c, http.MethodGet, b.page, nil)
	m := csrfField.FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		t.Fatalf("GET the page after the link: %d, CSRF token %v\n%s", a.status, m != nil, a.body)
	}
	return a.body, m[1]
}

// customerActions are the customer.action audits of record key.
func (b *bundle) customerActions(t *testing.T, key string) []events.Audit {
	t.Helper()
	tl, err := b.ops.Timeline(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(tl, func(a events.Audit) bool { return a.Kind != events.AuditCustomerAction })
}

// A token whose key is changed keeps no valid MAC: it is another record's
// token only in name.
func retarget(t *testing.T, token, key string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	body := append(append([]byte{}, raw[:9]...), key...)
	return base64.RawURLEncoding.EncodeToString(append(body, raw[len(raw)-32:]...))
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("t")
}

func TestLinksRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.buy(t, "sub_ann", "ann@example.com", stdPlan, 1)
	b.buy(t, "sub_bob", "bob@example.com", stdPlan, 2)
	ann := linkIn(t, b.mails(t, "ann@example.com", 1)[0])
	now := time.Now()

	other, err := link.New(b.page, bytes.Repeat([]byte{6}, 32), time.Hour) // another deployment's key
	if err != nil {
		t.Fatal(err)
	}
	annToken := tokenOf(t, ann)
	tampered := []byte(annToken)
	tampered[len(tampered)/2] ^= 1
	refused := map[string]string{
		"another record's":       retarget(t, annToken, "sub_bob"),
		"expired":                tokenOf(t, b.links.Link("sub_ann", now.Add(-169*time.Hour))),
		"tampered":               string(tampered),
		"another key's":          tokenOf(t, other.Link("sub_ann", now)),
		"a session's, as a link": b.links.Mint(link.PurposeSession, "sub_ann", now.Add(time.Hour)),
		"a seat's":               b.links.Mint(link.PurposeLink, "sub_bob-seat2", now.Add(time.Hour)),
		"of no record":           tokenOf(t, b.links.Link("sub_nobody", now)),
		"empty":                  "",
		"not base64":             "%%%",
	}
	var first *answer
	for name, token := range refused {
		c := client()
		a := do(t, c, http.MethodGet, b.page+"?t="+url.QueryEscape(token), nil)
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "This link is not valid or has expired.") {
			t.Errorf("%s token: %d, want 403 and the refusal\n%s", name, a.status, a.body)
		}
		if first == nil {
			first = &a
		} else if a.body != first.body {
			t.Errorf("%s token: the answer differs from another refused token's", name)
		}
		if len(a.header.Values("Set-Cookie")) > 0 {
			t.Errorf("%s token: a cookie was set", name)
		}
		if page := do(t, c, http.MethodGet, b.page, nil); strings.Contains(page.body, "ann@example.com") || strings.Contains(page.body, "bob@example.com") {
			t.Errorf("%s token: the page shows a record", name)
		}
	}

	// Ann's own link opens Ann's page, and nothing of Bob's; her session
	// cannot reset a seat she does not have (Bob's seat 2).
	c := client()
	page, csrf := b.open(t, c, ann)
	if !strings.Contains(page, "ann@example.com") || strings.Contains(page, "bob@example.com") || strings.Contains(page, "sub_bob") {
		t.Error("Ann's page must show Ann's record only")
	}
	before := b.w.PureVPN.Calls("change_password")
	if a := do(t, c, http.MethodPost, b.page+"/reset", url.Values{"csrf": {csrf}, "seat": {"2"}}); a.status != http.StatusBadRequest {
		t.Errorf("reset of a seat Ann does not have: %d, want 400", a.status)
	}
	if b.w.PureVPN.Calls("change_password") != before {
		t.Error("a refused reset changed a password")
	}
	// A form without its CSRF token, or with another session's, is refused.
	bob := client()
	_, bobCSRF := b.open(t, bob, linkIn(t, b.mails(t, "bob@example.com", 2)[0]))
	for name, form := range map[string]url.Values{
		"no token":                {"seat": {"1"}},
		"another session's token": {"seat": {"1"}, "csrf": {bobCSRF}},
	} {
		if a := do(t, c, http.MethodPost, b.page+"/reset", form); a.status != http.StatusForbidden {
			t.Errorf("reset with %s: %d, want 403", name, a.status)
		}
	}
	// Without a session nothing is acted on.
	if a := do(t, client(), http.MethodPost, b.page+"/reset", url.Values{"csrf": {csrf}, "seat": {"1"}}); a.status != http.StatusForbidden {
		t.Errorf("reset without a session: %d, want 403", a.status)
	}
	if b.w.PureVPN.Calls("change_password") != before {
		t.Error("a refused form changed a password")
	}
}

// The session is a cookie of the page's path, HttpOnly and SameSite=Strict;
// the token leaves the address bar.
func TestLinkOpensASession(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.buy(t, "sub_ann", "ann@example.com", stdPlan, 1)
	welcome := b.mails(t, "ann@example.com", 1)[0]
	a := do(t, client(), http.MethodGet, linkIn(t, welcome), nil)
	cookies := (&http.Response{Header: a.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want the session's", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/account" || ck.MaxAge <= 0 || ck.MaxAge > 1800 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/account, at most 30 minutes", ck)
	}
	if ck.Value == tokenOf(t, linkIn(t, welcome)) {
		t.Error("the session cookie is the link's token")
	}
	if !strings.Contains(a.body, `content="0;url=/account"`) || strings.Contains(a.body, "?t=") {
		t.Errorf("the link must move to the clean URL:\n%s", a.body)
	}
	for _, h := range []struct{ name, want string }{
		{"Referrer-Policy", "no-referrer"}, {"X-Frame-Options", "DENY"}, {"Cache-Control", "no-store"},
		{"Content-Security-Policy", "frame-ancestors 'none'"}, {"X-Content-Type-Options", "nosniff"},
	} {
		if !strings.Contains(a.header.Get(h.name), h.want) {
			t.Errorf("%s: %q, want %q", h.name, a.header.Get(h.name), h.want)
		}
	}
	// Every email links to the page, the welcome and the later ones.
	if !strings.Contains(welcome.Text, "Manage your account") {
		t.Errorf("the welcome email lacks the Manage your account line:\n%s", welcome.Text)
	}
}

func TestLinkRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, options{linksPerHour: 2})
	b.buy(t, "sub_ann", "ann@example.com", stdPlan, 1)
	b.mails(t, "ann@example.com", 1)

	ask := func(addr, ip string) answer {
		return do(t, client(), http.MethodPost, b.page+"/link", url.Values{"email": {addr}}, "X-Forwarded-For", "198.51.100.7, "+ip)
	}
	// The unknown address first: the requests are sent in order, so once
	// Ann's link arrives, the unknown address's request was handled.
	unknown := ask("nobody@example.com", "203.0.113.2")
	known := ask("Ann@Example.com", "203.0.113.1")
	if known.status != http.StatusOK || known.body != unknown.body || known.status != unknown.status {
		t.Errorf("the answers differ: %d and %d\n%s\n%s", known.status, unknown.status, known.body, unknown.body)
	}
	if !strings.Contains(known.body, "If we have an account for that address, we have sent a link to it.") {
		t.Errorf("answer:\n%s", known.body)
	}
	mails := b.mails(t, "ann@example.com", 2)
	m := mails[1]
	if !strings.HasPrefix(m.MessageID, "<portal_link.sub_ann.") || m.Subject != "Your link to your VPN account" {
		t.Fatalf("second email to Ann: %s %q, want the portal link", m.MessageID, m.Subject)
	}
	page, _ := b.open(t, client(), linkIn(t, m))
	if !strings.Contains(page, "Standard VPN, monthly") {
		t.Error("the emailed link does not open Ann's page")
	}
	for _, msg := range b.w.Mail.Messages() {
		if slices.Contains(msg.To, "nobody@example.com") {
			t.Error("an address of no record was emailed")
		}
	}

	// Per client IP: 2 an hour.
	if a := ask("x1@example.com", "203.0.113.9"); a.status != http.StatusOK {
		t.Fatalf("first request of an IP: %d", a.status)
	}
	ask("x2@example.com", "203.0.113.9")
	a := ask("x3@example.com", "203.0.113.9")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("third request of an IP within the hour: %d, Retry-After %q; want 429 with Retry-After", a.status, a.header.Get("Retry-After"))
	}
	// Per address, from any IP: Ann's address was asked for once above.
	ask("ann@example.com", "203.0.113.20")
	if a := ask("ANN@example.com", "203.0.113.21"); a.status != http.StatusTooManyRequests {
		t.Errorf("third request for one address: %d, want 429", a.status)
	}
	if a := ask("not an address", "203.0.113.30"); a.status != http.StatusBadRequest {
		t.Errorf("a request without an address: %d, want 400", a.status)
	}
}

func TestEveryRequestIsRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, options{perMinute: 5})
	c := client()
	for i := range 5 {
		if a := do(t, c, http.MethodGet, b.page, nil); a.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, a.status)
		}
	}
	a := do(t, c, http.MethodGet, b.page+"?t=x", nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("sixth request within a minute: %d, want 429 with Retry-After", a.status)
	}
	if a := do(t, c, http.MethodGet, b.page, nil, "X-Forwarded-For", "203.0.113.50"); a.status != http.StatusOK {
		t.Errorf("another client (its proxy's word): %d, want 200", a.status)
	}
}

// Reset of a VPNKI tunnel: a new tunnel, whose name and password are shown
// once and emailed; the page shows the tunnel's usage and how to connect.
func TestResetAndUsageOfATunnel(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.buy(t, "sub_tun", "tina@example.com", tunPlan, 1)
	welcome := b.mails(t, "tina@example.com", 1)[0]
	old := b.w.VPNKI.Tunnels()[0]
	if err := b.w.VPNKI.Connect(old.Name, "10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := b.w.VPNKI.Disconnect(old.Name, 3<<20, 1<<20); err != nil {
		t.Fatal(err)
	}
	c := client()
	page, csrf := b.open(t, c, linkIn(t, welcome))
	for _, want := range []string{"Tunnel, monthly", "Active", "1 connection, 3.0 MiB received, 1.0 MiB sent", "PPTP, L2TP/IPsec or OpenVPN"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, old.Password) {
		t.Error("the page shows the tunnel's password")
	}

	a := do(t, c, http.MethodPost, b.page+"/reset", url.Values{"csrf": {csrf}, "seat": {"1"}})
	if a.status != http.StatusOK {
		t.Fatalf("reset: %d\n%s", a.status, a.body)
	}
	tunnels := b.w.VPNKI.Tunnels()
	if len(tunnels) != 1 || tunnels[0].Name == old.Name {
		t.Fatalf("the tunnel must be replaced: %+v", tunnels)
	}
	now := tunnels[0]
	signIn := now.Login
	if signIn == "" {
		signIn = now.Name
	}
	if !strings.Contains(a.body, `<code id="new-password">`+now.Password+`</code>`) || !strings.Contains(a.body, `<code id="new-username">`+signIn+`</code>`) {
		t.Errorf("the reveal lacks the new tunnel's credentials:\n%s", a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the reveal's Cache-Control %q, want no-store", a.header.Get("Cache-Control"))
	}
	mails := b.mails(t, "tina@example.com", 2)
	if !strings.HasPrefix(mails[1].MessageID, "<credentials_reset.") || !strings.Contains(mails[1].Text, now.Password) {
		t.Errorf("the credentials_reset email must carry the new password: %s", mails[1].MessageID)
	}
	if page := do(t, c, http.MethodGet, b.page, nil); strings.Contains(page.body, now.Password) || !strings.Contains(page.body, signIn) {
		t.Error("after the reveal the page must show the new username and not the password")
	}
	if acts := b.customerActions(t, "sub_tun"); len(acts) != 1 || acts[0].Status != "password.reset" || acts[0].Reason != "customer" {
		t.Errorf("customer actions audited: %+v, want one password.reset by the customer", acts)
	}
	if strings.Contains(b.logs.String(), now.Password) || strings.Contains(b.logs.String(), tokenOf(t, linkIn(t, welcome))) {
		t.Error("a log line holds the password or the link's token")
	}
}

// Manage billing opens a Stripe Billing Portal session (stripe-mock) for
// the record's customer and answers 303 to it.
func TestManageBilling(t *testing.T) {
	t.Parallel()
	b := setup(t, options{stripe: true})
	b.buy(t, "sub_ann", "ann@example.com", stdPlan, 1)
	c := client()
	page, csrf := b.open(t, c, linkIn(t, b.mails(t, "ann@example.com", 1)[0]))
	if !strings.Contains(page, `id="billing-submit"`) {
		t.Fatal("no Manage billing button with a Stripe API key")
	}
	want, err := b.api.BillingPortal(context.Background(), "cus_sub_ann", b.page)
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, c, http.MethodPost, b.page+"/billing", url.Values{"csrf": {csrf}})
	t.Logf("Manage billing: %d to %s", a.status, a.header.Get("Location"))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != want {
		t.Errorf("Manage billing: %d to %q, want 303 to the session's URL %q", a.status, a.header.Get("Location"), want)
	}
	if a := do(t, c, http.MethodPost, b.page+"/billing", url.Values{}); a.status != http.StatusForbidden {
		t.Errorf("Manage billing without the CSRF token: %d, want 403", a.status)
	}

	// Without a key there is no button, and no route behind it.
	nb := setup(t, options{})
	nb.buy(t, "sub_bob", "bob@example.com", stdPlan, 1)
	c = client()
	page, csrf = nb.open(t, c, linkIn(t, nb.mails(t, "bob@example.com", 1)[0]))
	if strings.Contains(page, "billing-submit") {
		t.Error("Manage billing is offered without a Stripe API key")
	}
	if a := do(t, c, http.MethodPost, nb.page+"/billing", url.Values{"csrf": {csrf}}); a.status != http.StatusNotFound {
		t.Errorf("Manage billing without a key: %d, want 404", a.status)
	}
}

// Only the page's routes are served: nothing else answers but 404.
func TestOnlyThePagesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, p := range []string{"/", "/signin", "/accounts", "/dead", "/report", "/healthz", "/account/x", "/accountx"} {
		if a := do(t, client(), http.MethodGet, b.url+p, nil); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, a.status)
		}
	}
	if a := do(t, client(), http.MethodGet, b.page+"/static/portal.css", nil); a.status != http.StatusOK {
		t.Errorf("the style sheet: %d", a.status)
	}
}

// No response but the reveal holds the new password, and none holds a
// secret of the deployment, the sealed password or the link's token; no
// log line holds the password or the token.
func TestNoResponseHoldsASecret(t *testing.T) {
	t.Parallel()
	b := setup(t, options{stripe: true})
	b.buy(t, "sub_ann", "ann@example.com", stdPlan, 1)
	welcome := b.mails(t, "ann@example.com", 1)[0]
	l := linkIn(t, welcome)
	c := client()
	var answers []answer
	keep := func(a answer) answer { answers = append(answers, a); return a }
	keep(do(t, c, http.MethodGet, l, nil))
	page := keep(do(t, c, http.MethodGet, b.page, nil))
	csrf := csrfField.FindStringSubmatch(page.body)[1]
	reveal := do(t, c, http.MethodPost, b.page+"/reset", url.Values{"csrf": {csrf}, "seat": {"1"}})
	password := b.w.PureVPN.Accounts()[0].Password
	if !strings.Contains(reveal.body, password) {
		t.Fatalf("the reveal lacks the new password (%d)", reveal.status)
	}
	if reveal.header.Get("Cache-Control") != "no-store" || len(reveal.header.Values("Set-Cookie")) > 0 {
		t.Error("the reveal must be no-store and set no cookie")
	}
	rec, _, err := b.store.Get(context.Background(), "sub_ann")
	if err != nil {
		t.Fatal(err)
	}
	keep(do(t, c, http.MethodGet, b.page, nil))
	keep(do(t, c, http.MethodGet, b.page+"/static/portal.css", nil))
	keep(do(t, c, http.MethodPost, b.page+"/billing", url.Values{"csrf": {csrf}}))
	keep(do(t, c, http.MethodPost, b.page+"/reset", url.Values{"csrf": {"forged"}, "seat": {"1"}}))
	keep(do(t, c, http.MethodPost, b.page+"/link", url.Values{"email": {"ann@example.com"}}))
	keep(do(t, client(), http.MethodGet, b.page, nil))
	keep(do(t, client(), http.MethodGet, b.page+"?t=x", nil))
	keep(do(t, c, http.MethodPost, b.page+"/signout", url.Values{"csrf": {csrf}}))
	secrets := map[string]string{"the new password": password, "the PureVPN API password": pureAPIPassword,
		"the link's token": tokenOf(t, l), "the key": string(portalKey), "the Stripe key": "sk_test_portal"}
	if len(rec.Actual.Password) > 0 {
		secrets["the sealed password"] = string(rec.Actual.Password)
		secrets["the sealed password (base64)"] = base64.StdEncoding.EncodeToString(rec.Actual.Password)
	}
	for i, a := range answers {
		for name, s := range secrets {
			all := a.body + fmt.Sprint(a.header)
			if strings.Contains(all, s) {
				t.Errorf("answer %d (%d) holds %s", i, a.status, name)
			}
		}
	}
	for _, name := range []string{"the new password", "the link's token", "the PureVPN API password"} {
		if strings.Contains(b.logs.String(), secrets[name]) {
			t.Errorf("a log line holds %s", name)
		}
	}
	if strings.Contains(b.logs.String(), "ann@example.com") {
		t.Error("a log line holds the customer's address")
	}
}
