package worker_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

const (
	webhookSecret   = "whsec_e2eTestSecretDoNotLog0123456789"
	pureAPIUser     = "reseller-e2e"
	pureAPIPassword = "pv-api-Pa55word!"
	testPlans       = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std_monthly, std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
  - id: sstp-quarterly
    name: SSTP VPN, quarterly
    stripe_prices: [price_sstp_q]
    provider: purevpn
    package_type: SSTP
    period_days: 90
`
)

// eventsConfig shortens the duplicate window so a test can outlive it.
var eventsConfig = events.Config{DuplicateWindow: time.Second}

type bundle struct {
	ns   *harness.NATSServer
	js   jetstream.JetStream
	sim  *purevpnsim.Sim
	mail *mailcatcher.Catcher
	hook *httptest.Server
	logs *harness.Buffer // every log line, for the secrets check
}

// setup runs the whole product on real parts: an embedded JetStream server,
// the PureVPN simulator, an SMTP listener, the webhook and a worker.
func setup(t *testing.T, opts ...func(*worker.Config)) *bundle {
	t.Helper()
	b := &bundle{logs: &harness.Buffer{}}
	core := zapcore.NewTee(
		zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(),
		zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), b.logs, zap.DebugLevel),
	)
	log := zap.New(core)

	// The webhook has the world's connection to itself, as in production.
	w := harness.NewWorld(t, harness.WorldOptions{
		Events:  eventsConfig,
		PureVPN: purevpnsim.Options{User: pureAPIUser, Password: pureAPIPassword},
		Mail:    mailcatcher.Options{Logger: log.Named("mailcatcher")},
	})
	b.ns, b.js, b.sim, b.mail = w.NATS, w.JS, w.PureVPN, w.Mail
	ctx, cancel := context.WithCancel(context.Background())
	verifier, err := billing.NewVerifier([]string{"whsec_previousSecretStillValid", webhookSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.hook = httptest.NewServer(ingest.New(ingest.Config{PublishTimeout: 2 * time.Second}, verifier, w.NC, w.JS, log.Named("webhook")))
	t.Cleanup(b.hook.Close)

	// The worker, on its own connection.
	_, wjs := harness.Connect(t, b.ns, "test-worker")
	plans, _ := harness.Plans(t, testPlans)
	wcfg := worker.Config{
		Events:         eventsConfig,
		Consumer:       events.ConsumerConfig{RetryBase: 100 * time.Millisecond, PauseFor: time.Second},
		Plans:          plans,
		PureVPN:        purevpn.Config{URL: w.PureVPNURL, User: pureAPIUser, Password: pureAPIPassword},
		Mail:           notify.Config{URL: b.mail.URL(), From: "VPN Shop <support@vpnshop.test>"},
		CredentialsKey: bytes.Repeat([]byte{7}, 32),
	}
	for _, o := range opts {
		o(&wcfg)
	}
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, wjs, wcfg, log.Named("worker")) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	t.Cleanup(b.assertNoSecretsLogged(t))
	return b
}

// assertNoSecretsLogged returns a check, run at cleanup, that no log line
// holds the API password, its md5, the webhook secret or a VPN password.
func (b *bundle) assertNoSecretsLogged(t *testing.T) func() {
	return func() {
		sum := md5.Sum([]byte(pureAPIPassword))
		secrets := map[string]string{
			"PureVPN API password":    pureAPIPassword,
			"md5 of the API password": hex.EncodeToString(sum[:]),
			"webhook secret":          webhookSecret,
		}
		for _, a := range b.sim.Accounts() {
			secrets["VPN password of "+a.Username] = a.Password
		}
		logs := b.logs.String()
		if len(logs) == 0 {
			t.Error("no log output captured: the secrets check would prove nothing")
		}
		for what, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("the logs hold the %s", what)
			}
		}
	}
}

// stored posts a signed event to the webhook as Stripe would and fails
// the test unless it was answered 200.
func (b *bundle) stored(t *testing.T, payload []byte) {
	t.Helper()
	if code, body := b.post(t, payload, webhookSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, body)
	}
}

func (b *bundle) post(t *testing.T, payload []byte, secret string, at time.Time) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.hook.URL+"/stripe/webhook", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Stripe-Signature", stripetest.Sign(payload, secret, at))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *bundle) stripeMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), events.StreamStripe)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitSettled waits until the worker has acknowledged everything in STRIPE.
func (b *bundle) waitSettled(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := b.js.Stream(ctx, events.StreamStripe)
		if err == nil {
			si, _ := s.Info(ctx)
			c, cerr := b.js.Consumer(ctx, events.StreamStripe, events.ConsumerWorker)
			if si != nil && cerr == nil {
				ci, err := c.Info(ctx)
				if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= si.State.LastSeq {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("worker did not settle every event in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bundle) audits(t *testing.T) []events.Audit {
	t.Helper()
	ctx := context.Background()
	cons, err := b.js.OrderedConsumer(ctx, events.StreamAudit, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Audit
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			a, err := events.DecodeAudit(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		if n == 0 {
			return out
		}
	}
}

func checkout(plan, email string) (eventID string, c stripetest.Checkout) {
	return stripetest.ID("evt"), stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: email, Name: "Ada Lovelace",
		Plan: plan, Paid: true, Amount: 999, Currency: "eur",
	}
}

func TestPaidCheckoutCreatesOneAccountAndOneEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evID, c := checkout("sstp-quarterly", "ada@example.com")
	payload := stripetest.CheckoutCompleted(evID, time.Now(), c)

	// Stripe retries, and the same event arrives three times.
	for i := range 3 {
		if code, body := b.post(t, payload, webhookSecret, time.Now()); code != http.StatusOK {
			t.Fatalf("post %d: %d %s", i+1, code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.mail.WaitFor(ctx, 1); err != nil {
		t.Fatalf("no welcome email: %v", err)
	}
	b.waitSettled(t)

	accounts := b.sim.Accounts()
	if len(accounts) != 1 || b.sim.Calls("create") != 1 {
		t.Fatalf("accounts at PureVPN = %d, create calls = %d; want 1 and 1", len(accounts), b.sim.Calls("create"))
	}
	acct := accounts[0]
	if acct.PackageType != "SSTP" {
		t.Errorf("package type = %s, want the plan's SSTP", acct.PackageType)
	}
	var createForm []string
	for _, call := range b.sim.CallLog() {
		if call.Method == "create" {
			createForm = []string{call.Params.Get("package_type"), call.Params.Get("period")}
		}
	}
	if createForm == nil || createForm[0] != "SSTP" || createForm[1] != "#90" {
		t.Errorf("create sent package_type, period = %v; want SSTP, #90", createForm)
	}
	if days := time.Until(acct.Expiry).Hours() / 24; days < 89 || days > 91 {
		t.Errorf("account expires in %.1f days, want 90", days)
	}

	msgs := b.mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("emails = %d, want 1", len(msgs))
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "ada@example.com" {
		t.Errorf("email to %v, want ada@example.com", m.To)
	}
	for what, s := range map[string]string{"username": acct.Username, "password": acct.Password} {
		if !strings.Contains(m.Text, s) || !strings.Contains(m.HTML, s) {
			t.Errorf("the email's text and HTML must hold the %s the provider issued", what)
		}
	}
	if m.MessageID == "" {
		t.Error("the email has no Message-ID")
	}

	// The record holds the credentials sealed, never in clear, and the
	// password is dropped once the welcome email is sent.
	kv, err := b.js.KeyValue(context.Background(), events.BucketAccounts)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(context.Background(), c.Subscription)
	if err != nil {
		t.Fatalf("no account record under the subscription id: %v", err)
	}
	var rec provisioning.Record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Actual.Username != acct.Username || !rec.Actual.Exists {
		t.Errorf("record actual = %+v, want the account %s", rec.Actual, acct.Username)
	}
	if len(rec.Actual.Password) != 0 {
		t.Error("the record still holds the password after the welcome email was sent")
	}
	history, err := kv.History(context.Background(), c.Subscription)
	if err != nil {
		t.Fatal(err)
	}
	sealedSeen := false
	for _, h := range history {
		if bytes.Contains(h.Value(), []byte(acct.Password)) {
			t.Error("a revision of the record holds the VPN password in clear")
		}
		var r provisioning.Record
		if json.Unmarshal(h.Value(), &r) == nil && len(r.Actual.Password) > 0 {
			sealedSeen = true
		}
	}
	if !sealedSeen {
		t.Error("no revision held the sealed password between create and email")
	}

	// The audit trail says what happened, with the Stripe ids, and no password.
	var created, emailed int
	for _, a := range b.audits(t) {
		raw, _ := json.Marshal(a)
		if bytes.Contains(raw, []byte(acct.Password)) {
			t.Errorf("audit %s holds the VPN password", a.ID)
		}
		switch a.Kind {
		case events.AuditAccountCreated:
			created++
			if a.Username != acct.Username || a.Subscription != c.Subscription || a.Plan != "sstp-quarterly" || a.Provider != "purevpn" {
				t.Errorf("account.created audit = %+v", a)
			}
		case events.AuditEmailSent:
			emailed++
		}
	}
	if created != 1 || emailed != 1 {
		t.Errorf("audit: %d account.created, %d email.sent; want 1 and 1", created, emailed)
	}

	// Days later, outside the duplicate window, Stripe posts the same event
	// again: it is stored anew, and still makes one account, one email.
	time.Sleep(eventsConfig.DuplicateWindow + 500*time.Millisecond)
	if code, body := b.post(t, payload, webhookSecret, time.Now()); code != http.StatusOK || !strings.Contains(body, `"stored"`) {
		t.Fatalf("re-post after purge: %d %s; want it stored anew", code, body)
	}
	b.waitSettled(t)
	if n, calls, mails := len(b.sim.Accounts()), b.sim.Calls("create"), len(b.mail.Messages()); n != 1 || calls != 1 || mails != 1 {
		t.Errorf("after the late duplicate: accounts %d, create calls %d, emails %d; want 1, 1, 1", n, calls, mails)
	}
}

func TestWebhookRejectsWhatItCannotTrust(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evID, c := checkout("std-monthly", "eve@example.com")
	payload := stripetest.CheckoutCompleted(evID, time.Now(), c)

	if code, body := b.post(t, payload, "whsec_notOurSecret", time.Now()); code != http.StatusBadRequest {
		t.Errorf("wrong secret: %d %s, want 400", code, body)
	}
	if code, body := b.post(t, payload, webhookSecret, time.Now().Add(-301*time.Second)); code != http.StatusBadRequest || !strings.Contains(body, "tolerance") {
		t.Errorf("timestamp 301 s old: %d %s, want 400 naming the tolerance", code, body)
	}
	resp, err := http.Post(b.hook.URL+"/stripe/webhook", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unsigned: %d, want 400", resp.StatusCode)
	}
	big := append([]byte(`{"id":"evt_big","pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	big = append(big, `"}`...)
	if code, _ := b.post(t, big, webhookSecret, time.Now()); code != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB body: %d, want 413", code)
	}
	// An event type vpnbill does not act on is answered 200 and not stored.
	other := stripetest.Event(stripetest.ID("evt"), "customer.created", time.Now(), map[string]any{"id": "cus_x", "object": "customer"})
	if code, body := b.post(t, other, webhookSecret, time.Now()); code != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Errorf("unhandled type: %d %s, want 200 ignored", code, body)
	}
	if n := b.stripeMsgs(t); n != 0 {
		t.Errorf("stream STRIPE holds %d events, want none", n)
	}
	if len(b.sim.Accounts()) != 0 {
		t.Error("an account was created from an untrusted request")
	}
}

func TestJetStreamDownAnswers503ThenTheRetryIsProcessedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evID, c := checkout("std-monthly", "grace@example.com")
	payload := stripetest.CheckoutCompleted(evID, time.Now(), c)

	b.ns.Stop()
	if code, body := b.post(t, payload, webhookSecret, time.Now()); code != http.StatusServiceUnavailable {
		t.Fatalf("JetStream down: %d %s, want 503", code, body)
	}
	resp, err := http.Get(b.hook.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with JetStream down: %d, want 503", resp.StatusCode)
	}

	b.ns.Restart(t)
	// Stripe retries until the endpoint takes it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := b.post(t, payload, webhookSecret, time.Now())
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook still answers %d %s after JetStream came back", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.mail.WaitFor(ctx, 1); err != nil {
		t.Fatalf("no welcome email after recovery: %v", err)
	}
	b.waitSettled(t)
	if n, calls, mails := len(b.sim.Accounts()), b.sim.Calls("create"), len(b.mail.Messages()); n != 1 || calls != 1 || mails != 1 {
		t.Errorf("accounts %d, create calls %d, emails %d; want 1, 1, 1", n, calls, mails)
	}
}

// The clock alone drives a suspension: once the grace period passes after
// a subscription went past_due, a JetStream scheduled timer fires and the
// account is disabled and the customer told, with no further Stripe event.
func TestGracePeriodEndsByTimer(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *worker.Config) { c.Provisioning.GracePeriod = new(2 * time.Second) })
	evID, c := checkout("std-monthly", "late@example.com")
	now := time.Now()
	if code, body := b.post(t, stripetest.CheckoutCompleted(evID, now, c), webhookSecret, now); code != http.StatusOK {
		t.Fatalf("checkout: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.mail.WaitFor(ctx, 1); err != nil {
		t.Fatalf("no welcome email: %v", err)
	}
	now = time.Now()
	pastDue := stripetest.SubscriptionUpdated(stripetest.ID("evt"), now.Add(time.Second), stripetest.Subscription{
		ID: c.Subscription, Customer: c.Customer, Status: "past_due", Price: "price_std_monthly",
		CurrentPeriodStart: now, CurrentPeriodEnd: now.AddDate(0, 1, 0)})
	if code, body := b.post(t, pastDue, webhookSecret, now); code != http.StatusOK {
		t.Fatalf("past_due: %d %s", code, body)
	}
	msgs, err := b.mail.WaitFor(ctx, 2)
	if err != nil {
		kv, _ := b.js.KeyValue(context.Background(), events.BucketAccounts)
		e, _ := kv.Get(context.Background(), c.Subscription)
		var r provisioning.Record
		_ = json.Unmarshal(e.Value(), &r)
		t.Fatalf("no suspension email: %v; %d emails; status %s suspend at %v; account exists %v enabled %v gen %d; mail owed %v; sent %v; lease %v step %v; timer %v",
			err, len(b.mail.Messages()), r.Desired.Status, r.Desired.SuspendAt, r.Actual.Exists, r.Actual.Enabled, r.Actual.Generation,
			r.Mail, r.Emails, r.Lease, r.Step, r.TimerAt)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.MessageID)
	}
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0].MessageID, "<welcome.") || !strings.HasPrefix(msgs[1].MessageID, "<suspended.") {
		t.Errorf("emails %v, want the welcome then the suspension", ids)
	}
	accts := b.sim.Accounts()
	if len(accts) != 1 || accts[0].Enabled {
		t.Errorf("after the grace period the one account must be disabled: %d accounts, enabled %v", len(accts), len(accts) == 1 && accts[0].Enabled)
	}
}

// An order for a plan the catalog lacks cannot be processed: it goes to
// stream DEAD with the reason, nothing is created, and the queue moves on.
func TestUnknownPlanIsDeadLettered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evID, c := checkout("no-such-plan", "lost@example.com")
	if code, body := b.post(t, stripetest.CheckoutCompleted(evID, time.Now(), c), webhookSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, body)
	}
	b.waitSettled(t)
	s, err := b.js.Stream(context.Background(), events.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), "dead.stripe.event.checkout.session.completed")
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if reason := m.Header.Get(events.HeaderDeadReason); !strings.Contains(reason, "no-such-plan") || !strings.Contains(reason, "unknown plan") {
		t.Errorf("dead letter reason %q must name the unknown plan", reason)
	}
	if !bytes.Contains(m.Data, []byte(evID)) {
		t.Error("the dead letter must hold the original event")
	}
	if len(b.sim.Accounts()) != 0 || len(b.mail.Messages()) != 0 {
		t.Error("nothing may be created or sent for an unknown plan")
	}
	var audited bool
	for _, a := range b.audits(t) {
		if a.Kind == events.AuditDeadLettered && a.StripeEvent == evID && strings.Contains(a.Reason, "unknown plan") {
			audited = true
		}
	}
	if !audited {
		t.Error("the dead letter must be in the audit trail with the event id and the reason")
	}
}
