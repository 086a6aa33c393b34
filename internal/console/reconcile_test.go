package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
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

const workerPlans = `
plans:
  - id: std
    name: Standard
    stripe_prices: [price_std]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
`

// liveBundle is a console over a world in which a worker handles what
// STRIPE holds, as in production: purchases arrive as Stripe events.
type liveBundle struct {
	*bundle
	pureAPI *purevpn.Client
}

// setupWorker runs a worker over a World and a console whose Ops have the
// providers and the operator's provisioning service, as cmd/console's.
func setupWorker(t *testing.T) *liveBundle {
	t.Helper()
	w := harness.NewWorld(t, harness.WorldOptions{PureVPN: purevpnsim.Options{User: "reseller", Password: pureAPIPassword}})
	plans, _ := harness.Plans(t, workerPlans)
	ctx, cancel := context.WithCancel(context.Background())
	_, wjs := harness.Connect(t, w.NATS, "worker")
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, wjs, worker.Config{
			Consumer:       events.ConsumerConfig{RetryBase: 100 * time.Millisecond, PauseFor: time.Second},
			Plans:          plans,
			PureVPN:        purevpn.Config{URL: w.PureVPNURL, User: "reseller", Password: pureAPIPassword},
			Mail:           notify.Config{URL: w.Mail.URL(), From: "shop@example.com"},
			CredentialsKey: bytes.Repeat([]byte{7}, 32),
		}, zaptest.NewLogger(t).Named("worker"))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

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
	store := provisioning.NewStore(w.Topology.Accounts)
	provs := map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: pc}}
	svc := provisioning.New(provisioning.Config{Owner: "console"}, store, w.JS, provs, mailer, sealer, zaptest.NewLogger(t).Named("console-svc"))
	b := &liveBundle{bundle: &bundle{w: w, store: store, secrets: []string{pureAPIPassword, operatorPass, financePass}}, pureAPI: pc}
	b.serve(t, &ops.Ops{JS: w.JS, Provisioner: svc, Providers: provs})
	return b
}

// buy stores a purchase's events in STRIPE as the webhook would (the
// checkout, then the first invoice.paid) and waits for the worker to
// settle them; it returns the record key and the account's username.
func (b *liveBundle) buy(t *testing.T, sub, email string) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	co, inv := "evt_co_"+sub, "evt_in_"+sub
	for _, e := range []struct {
		id, typ string
		body    []byte
	}{
		{co, "checkout.session.completed", stripetest.CheckoutCompleted(co, now, stripetest.Checkout{
			Subscription: sub, Email: email, Plan: "std", Paid: true, Amount: 999, Currency: "eur"})},
		{inv, "invoice.paid", stripetest.InvoicePaid(inv, now.Add(time.Second), stripetest.Invoice{
			Subscription: sub, Email: email, Price: "price_std", AmountPaid: 999, Paid: true, BillingReason: "subscription_create"})},
	} {
		if _, err := events.Publish(ctx, b.w.JS, "stripe.event."+e.typ, e.id, e.body, nil); err != nil {
			t.Fatal(err)
		}
	}
	b.settled(t)
	r, _, err := b.store.Get(ctx, sub)
	if err != nil || r.Actual.Username == "" {
		t.Fatalf("purchase %s: no account (%v)", sub, err)
	}
	b.secrets = append(b.secrets, mustAccount(t, b.w.PureVPN, r.Actual.Username).Password)
	return r.Actual.Username
}

func mustAccount(t *testing.T, sim *purevpnsim.Sim, username string) purevpnsim.Account {
	t.Helper()
	a, ok := sim.Account(username)
	if !ok {
		t.Fatalf("the simulator has no account %s", username)
	}
	return a
}

// settled waits until the worker has acknowledged everything in STRIPE.
func (b *liveBundle) settled(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := b.w.JS.Stream(ctx, events.StreamStripe)
		if err == nil {
			si, _ := s.Info(ctx)
			c, cerr := b.w.JS.Consumer(ctx, events.StreamStripe, events.ConsumerWorker)
			if si != nil && cerr == nil {
				ci, err := c.Info(ctx)
				if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= si.State.LastSeq {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not settle STRIPE in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// textNow returns the text of the first element sel matches now, or "".
func (br *browser) textNow(sel string) string {
	br.t.Helper()
	s, err := chromedp.Run(br.Ctx, chromedp.Evaluate[string](fmt.Sprintf(`(function(){const e=document.querySelector(%q);return e?e.innerText:""})()`, sel)))
	if err != nil {
		return "" // the page is being replaced (a refresh): ask again
	}
	return s
}

// waitText waits until the text of sel holds want, navigating to reload
// (if set) between looks; on timeout it fails with a screenshot.
func (br *browser) waitText(sel, want, reload string, within time.Duration) string {
	br.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := br.textNow(sel)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			br.Do(fmt.Sprintf("wait for %q in %s (have %q)", want, sel, got),
				chromedp.Func(func(context.Context, *chromedp.Target) error { return errors.New("timed out") }))
		}
		if reload != "" {
			_ = chromedp.Do(br.Ctx, chromedp.Navigate(reload))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// An operator finds an account disabled behind vpnbill's back and another
// deleted, starts a reconcile, sees its progress and then the drift,
// applies the safe fixes: the disabled account is enabled again, the
// deleted one is reported and not made again (the safe fixes never
// create). The overview shows the run, the account page the provider's
// live state.
func TestReconcileInTheBrowser(t *testing.T) {
	t.Parallel()
	b := setupWorker(t)
	ctx := context.Background()
	offUser := b.buy(t, "sub_off", "off@example.com")
	goneUser := b.buy(t, "sub_gone", "gone@example.com")
	if err := b.pureAPI.UpdateAccount(ctx, offUser, false); err != nil {
		t.Fatal(err)
	}
	if err := b.pureAPI.DeleteAccount(ctx, goneUser); err != nil {
		t.Fatal(err)
	}
	br := b.browser(t)
	br.signIn("alice", operatorPass)

	// The account page shows what the provider holds now.
	br.Do("account", chromedp.Navigate(br.base+"/accounts/sub_off"), chromedp.WaitVisible("#live"))
	if en, d := br.Text("#live .live-enabled"), br.Text("#live .live-drift"); en != "no" || !strings.Contains(d, "disabled_should_be_enabled") {
		t.Errorf("live state of the disabled account: enabled %q, drift %q", en, d)
	}
	br.Do("account gone", chromedp.Navigate(br.base+"/accounts/sub_gone"), chromedp.WaitVisible("#live"))
	if ex := br.Text("#live .live-exists"); ex != "no" {
		t.Errorf("live state of the deleted account: exists %q", ex)
	}
	if r, _, _ := b.store.Get(ctx, "sub_off"); !r.Actual.Enabled {
		t.Error("opening the account page wrote the provider's state into the record")
	}

	// Slow status calls, so that the run's progress shows.
	b.w.PureVPN.SetLatency(700 * time.Millisecond)
	br.Do("start", chromedp.Navigate(br.base+"/reconcile"), chromedp.WaitVisible("#reconcile-start"),
		chromedp.SendKeys("#reconcile-why", "weekly check"), chromedp.Click("#reconcile-submit"), chromedp.WaitVisible("#progress"))
	br.waitText("#progress-text", "of 2 records checked", "", 10*time.Second)
	br.Shot("console-reconcile-progress")
	drift := br.waitText("#drift", "missing_account", "", 30*time.Second)
	if !strings.Contains(drift, "disabled_should_be_enabled") || !strings.Contains(drift, "a safe fix") {
		t.Errorf("the drift table:\n%s", drift)
	}
	if by := br.Text("#run-by"); by != "console:alice" {
		t.Errorf("run by %q", by)
	}
	br.Shot("console-reconcile")

	br.Do("fix", chromedp.SendKeys("#fix-why", "re-enable what the panel disabled"), chromedp.Click("#fix-submit"), chromedp.WaitVisible(".done"))
	br.waitText("#run-by", "with the safe fixes", "", 30*time.Second)
	drift = br.Text("#drift")
	if !strings.Contains(drift, "fixed: resumed (enabled) at the provider") || !strings.Contains(drift, "missing_account") {
		t.Errorf("the drift table after the fixes:\n%s", drift)
	}
	b.w.PureVPN.SetLatency(0)
	if !mustAccount(t, b.w.PureVPN, offUser).Enabled {
		t.Error("the safe fixes left the disabled account disabled")
	}
	if _, ok := b.w.PureVPN.Account(goneUser); ok || len(b.w.PureVPN.Accounts()) != 1 {
		t.Errorf("the safe fixes made an account: %d at the simulator", len(b.w.PureVPN.Accounts()))
	}

	// The overview shows the last run's drift.
	br.Do("overview", chromedp.Navigate(br.base+"/"), chromedp.WaitVisible("#last-reconcile"))
	if d, u, by := br.Text("#reconcile-drift"), br.Text("#reconcile-unfixed"), br.Text("#reconcile-by"); d != "2" || u != "1" ||
		by != "console:alice (with the safe fixes)" {
		t.Errorf("overview's last reconcile: drift %s, unfixed %s, by %q; want 2, 1, alice's fix run", d, u, by)
	}

	// Both actions are audited: who, what, why.
	tl, err := (&ops.Ops{JS: b.w.JS}).Timeline(ctx, "reconcile", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range tl {
		if a.Kind == events.AuditConsoleAction {
			got = append(got, a.Status+" "+a.Reason)
		}
	}
	if strings.Join(got, "|") != "reconcile alice: weekly check|reconcile.fix alice: re-enable what the panel disabled" {
		t.Errorf("console.action audits: %q", got)
	}
}

// An operator sees a purchase's events with their outcome, replays one,
// and the worker handles the copy without doing anything twice.
func TestEventsInTheBrowser(t *testing.T) {
	t.Parallel()
	b := setupWorker(t)
	ctx := context.Background()
	user := b.buy(t, "sub_ev", "ev@example.com")
	if _, err := b.w.Mail.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	br := b.browser(t)
	br.signIn("alice", operatorPass)

	br.Do("events", chromedp.Navigate(br.base+"/events"), chromedp.WaitVisible("#events"))
	rows := br.Text("#events tbody")
	for _, want := range []string{"evt_co_sub_ev", "evt_in_sub_ev", "checkout.session.completed", "invoice.paid", "sub_ev"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the events page lacks %q:\n%s", want, rows)
		}
	}
	for _, seq := range []int{1, 2} {
		if o := br.Text(fmt.Sprintf(`tr[data-seq="%d"] .outcome`, seq)); o != "applied" {
			t.Errorf("event %d: outcome %q, want applied", seq, o)
		}
	}
	br.Shot("console-events")

	br.Do("open the checkout event", chromedp.Click(`tr[data-event="evt_co_sub_ev"] a`), chromedp.WaitVisible("#event"))
	if id, o := br.Text("#event-id"), br.Text("#event-outcome"); id != "evt_co_sub_ev" || o != "applied" {
		t.Errorf("the event page: %s %s", id, o)
	}
	before, _, err := b.store.Get(ctx, "sub_ev")
	if err != nil {
		t.Fatal(err)
	}
	br.Do("replay", chromedp.SendKeys("#replay-why", "checking the mapping fix"), chromedp.Click("#replay-submit"), chromedp.WaitVisible(".done"))
	b.settled(t)
	br.Do("events after the replay", chromedp.Navigate(br.base+"/events"), chromedp.WaitVisible(`tr[data-seq="3"]`))
	if o, h, c := br.Text(`tr[data-seq="3"] .outcome`), br.Text(`tr[data-seq="3"] .handled`), br.Text(`tr[data-seq="3"] .copy`); o != "applied" || h != "yes" || c != "replay" {
		t.Errorf("the replay's row: outcome %q, handled %q, copy %q; want applied, yes, replay", o, h, c)
	}

	// Handled, and nothing doubled: one account, one email, the record's
	// facts as before.
	if n := len(b.w.PureVPN.Accounts()); n != 1 || b.w.PureVPN.Calls("create") != 1 {
		t.Errorf("after the replay: %d accounts, %d creates; want 1 and 1", n, b.w.PureVPN.Calls("create"))
	}
	if n := len(b.w.Mail.Messages()); n != 1 {
		t.Errorf("emails after the replay: %d, want the welcome only", n)
	}
	after, _, err := b.store.Get(ctx, "sub_ev")
	if err != nil || after.Actual.Username != user || after.Actual.Generation != before.Actual.Generation ||
		!after.Desired.PaidThrough.Equal(before.Desired.PaidThrough) {
		t.Errorf("the record changed: %+v → %+v (%v)", before.Actual, after.Actual, err)
	}
	br.Do("the account's timeline", chromedp.Navigate(br.base+"/accounts/sub_ev"), chromedp.WaitVisible("#timeline"))
	if tl := br.Text("#timeline"); !strings.Contains(tl, "event.replay") || !strings.Contains(tl, "alice: checking the mapping fix") ||
		!strings.Contains(tl, "evt_co_sub_ev") {
		t.Errorf("the timeline lacks the replay's audit:\n%s", tl)
	}
}

// The new pages need sign-in; finance reads them and cannot act; forms
// need their CSRF token and a reason; one reconcile runs at a time.
func TestReconcileAndReplayRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	evt := []byte(`{"id":"evt_sec_1","object":"event","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_sec"}}}`)
	if _, err := events.Publish(ctx, b.w.JS, "stripe.event.invoice.paid", "evt_sec_1", evt, nil); err != nil {
		t.Fatal(err)
	}
	stripeLast := func() uint64 {
		s, _ := b.w.JS.Stream(ctx, events.StreamStripe)
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	posts := []string{"/reconcile", "/reconcile/fix", "/events/1/replay"}

	anon := b.client(t)
	for _, p := range []string{"/reconcile", "/events", "/events/1"} {
		resp, err := anon.Get(b.url + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
			t.Errorf("GET %s signed out: %d to %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	fin := b.client(t)
	finToken := b.signIn(t, fin, "fred", financePass)
	for _, p := range []string{"/reconcile", "/events", "/events/1"} {
		status, body := b.get(t, fin, p)
		if status != http.StatusOK || strings.Contains(body, `id="reconcile-start"`) || strings.Contains(body, `id="replay"`) ||
			strings.Contains(body, `id="reconcile-fix"`) {
			t.Errorf("finance GET %s: %d, or it offers an action", p, status)
		}
	}
	for _, p := range posts {
		if status, _ := b.post(t, fin, p, url.Values{"csrf": {finToken}, "why": {"x"}}); status != http.StatusForbidden {
			t.Errorf("finance POST %s: %d, want 403", p, status)
		}
	}

	op := b.client(t)
	opToken := b.signIn(t, op, "alice", operatorPass)
	for _, p := range posts {
		if status, _ := b.post(t, op, p, url.Values{"why": {"x"}}); status != http.StatusForbidden {
			t.Errorf("operator POST %s without a CSRF token: %d, want 403", p, status)
		}
		if status, _ := b.post(t, op, p, url.Values{"csrf": {finToken}, "why": {"x"}}); status != http.StatusForbidden {
			t.Errorf("operator POST %s with another session's token: %d, want 403", p, status)
		}
		if status, _ := b.post(t, op, p, url.Values{"csrf": {opToken}}); status != http.StatusBadRequest {
			t.Errorf("operator POST %s without a reason: %d, want 400", p, status)
		}
	}
	if _, ok, _ := (&ops.Ops{JS: b.w.JS}).LastReconcile(ctx); ok || stripeLast() != 1 {
		t.Fatalf("a refused action acted: a reconcile recorded %t, STRIPE's last sequence %d", ok, stripeLast())
	}
	if status, _ := b.post(t, op, "/events/99/replay", url.Values{"csrf": {opToken}, "why": {"x"}}); status != http.StatusNotFound {
		t.Errorf("replay of no event: %d, want 404", status)
	}

	// One run at a time.
	b.w.PureVPN.SetLatency(time.Second)
	if status, _ := b.post(t, op, "/reconcile", url.Values{"csrf": {opToken}, "why": {"check"}}); status != http.StatusSeeOther {
		t.Fatalf("start: %d, want 303", status)
	}
	if status, _ := b.post(t, op, "/reconcile", url.Values{"csrf": {opToken}, "why": {"again"}}); status != http.StatusConflict {
		t.Errorf("a second start while one runs: %d, want 409", status)
	}
	if _, body := b.get(t, op, "/reconcile"); !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, `id="progress"`) {
		t.Error("the page of a running reconcile neither refreshes nor shows progress")
	}
	b.w.PureVPN.SetLatency(0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if run, ok, _ := (&ops.Ops{JS: b.w.JS}).LastReconcile(ctx); ok {
			if run.By != "console:alice" || run.Records != 2 {
				t.Errorf("recorded run: %+v", run)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the console's reconcile was not recorded in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The replay goes through.
	if status, _ := b.post(t, op, "/events/1/replay", url.Values{"csrf": {opToken}, "why": {"x"}}); status != http.StatusSeeOther || stripeLast() != 2 {
		t.Errorf("replay: %d, STRIPE's last sequence %d; want 303 and 2", status, stripeLast())
	}
}

// After signinUserFailures wrong passwords for one name, that name is
// refused (429, Retry-After), its right password too; other names are
// not, until the client's IP has signinIPFailures failures.
func TestSignInIsRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	attempt := func(user, password string) (int, string) {
		t.Helper()
		c := b.client(t) // a fresh sign-in form each time, from the same IP
		_, page := b.get(t, c, "/signin")
		m := csrfField.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("the sign-in form has no CSRF token")
		}
		resp, err := c.PostForm(b.url+"/signin", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 5 {
		if status, _ := attempt("alice", "guess"+strconv.Itoa(i)); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, status)
		}
	}
	status, retry := attempt("alice", operatorPass)
	if secs, err := strconv.Atoi(retry); status != http.StatusTooManyRequests || err != nil || secs <= 0 || secs > 15*60 {
		t.Fatalf("after 5 failures, the right password: %d, Retry-After %q; want 429 within 15 minutes", status, retry)
	}
	if status, _ := attempt("fred", financePass); status != http.StatusSeeOther {
		t.Errorf("another user from the same IP: %d, want 303 (signed in)", status)
	}
	for i := range 14 { // 5 failures for alice (the refusal is not one) and 14 more: 19
		if status, _ := attempt(fmt.Sprintf("nobody%d", i), "x"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d from the IP: %d, want 401", i+6, status)
		}
	}
	if status, _ := attempt("nobody-last", "x"); status != http.StatusUnauthorized {
		t.Fatalf("the 20th failure: %d, want 401", status)
	}
	if status, retry := attempt("fred", financePass); status != http.StatusTooManyRequests || retry == "" {
		t.Errorf("after 20 failures from the IP: %d, Retry-After %q; want 429", status, retry)
	}
}
