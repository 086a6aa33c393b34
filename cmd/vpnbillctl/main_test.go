package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

const (
	pureAPIUser     = "reseller-ctl"
	pureAPIPassword = "pv-ctl-Pa55word!"
	vpnkiKey        = "vpnki-ctl-key-0123456789"
	plansYAML       = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
  - id: tunnel-monthly
    name: Tunnel, monthly
    stripe_prices: [price_tunnel]
    provider: vpnki
`
)

var credentialsKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))

type bundle struct {
	js       jetstream.JetStream
	topo     *events.Topology
	pure     *purevpnsim.Sim
	tunnels  *vpnkisim.Sim
	vpnkiURL string
	mail     *mailcatcher.Catcher
	environ  []string

	mu      sync.Mutex
	outputs []string // every stdout and stderr, for the secrets check
}

// setup runs an embedded JetStream server with vpnbill's streams, both
// provider simulators and an SMTP listener, and the environment a
// vpnbillctl process would get.
func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{}
	w := harness.NewWorld(t, harness.WorldOptions{
		PureVPN: purevpnsim.Options{User: pureAPIUser, Password: pureAPIPassword},
		VPNKI:   vpnkisim.Options{Key: vpnkiKey, Address: "vpn.example.net"},
		Mail:    mailcatcher.Options{Logger: zaptest.NewLogger(t)},
	})
	b.js, b.topo, b.pure, b.tunnels, b.vpnkiURL, b.mail = w.JS, w.Topology, w.PureVPN, w.VPNKI, w.VPNKIURL, w.Mail
	_, plans := harness.Plans(t, plansYAML)
	b.environ = []string{
		"NATS_URL=" + w.NATS.ClientURL(), "LOG_LEVEL=debug", "PLANS_FILE=" + plans,
		"PUREVPN_API_URL=" + w.PureVPNURL, "PUREVPN_API_USER=" + pureAPIUser, "PUREVPN_API_PASSWORD=" + pureAPIPassword,
		"VPNKI_API_URL=" + b.vpnkiURL, "VPNKI_API_KEY=" + vpnkiKey,
		"SMTP_URL=" + b.mail.URL(), "MAIL_FROM=VPN Shop <support@vpnshop.test>", "CREDENTIALS_KEY=" + credentialsKey,
	}
	t.Cleanup(func() { b.assertNoSecrets(t) })
	return b
}

// ctl runs vpnbillctl with args and returns its exit code and outputs.
func (b *bundle) ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := execute(ctx, args, b.environ, &stdout, &stderr)
	b.mu.Lock()
	b.outputs = append(b.outputs, stdout.String(), stderr.String())
	b.mu.Unlock()
	return code, stdout.String(), stderr.String()
}

// mustCtl runs vpnbillctl and fails the test unless it exits 0.
func (b *bundle) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := b.ctl(t, args...)
	if code != exitOK {
		t.Fatalf("vpnbillctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// assertNoSecrets checks that no output holds an API secret, the
// credentials key or a VPN password.
func (b *bundle) assertNoSecrets(t *testing.T) {
	sum := md5.Sum([]byte(pureAPIPassword))
	secrets := map[string]string{
		"PureVPN API password":    pureAPIPassword,
		"md5 of the API password": hex.EncodeToString(sum[:]),
		"VPNKI key":               vpnkiKey,
		"CREDENTIALS_KEY":         credentialsKey,
	}
	for _, a := range b.pure.Accounts() {
		secrets["VPN password of "+a.Username] = a.Password
	}
	for _, tn := range b.tunnels.Tunnels() {
		secrets["tunnel password of "+tn.Name] = tn.Password
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	all := strings.Join(b.outputs, "\n")
	for what, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("vpnbillctl printed the %s", what)
		}
	}
}

func (b *bundle) streamMsgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// putRecord writes r into KV ACCOUNTS as the worker would have.
func (b *bundle) putRecord(t *testing.T, r provisioning.Record) {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.topo.Accounts.Put(context.Background(), r.Key, data); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) record(t *testing.T, key string) *provisioning.Record {
	t.Helper()
	r, _, err := provisioning.NewStore(b.topo.Accounts).Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func stripeEvent(id, typ, email string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"object":"event","type":%q,"created":1700000000,"data":{"object":{"customer_email":%q}}}`, id, typ, email)
}

// deadLetter stores body in DEAD as the consume loop does.
func (b *bundle) deadLetter(t *testing.T, subject string, origSeq int, body []byte, reason string) {
	t.Helper()
	h := nats.Header{}
	h.Set(events.HeaderDeadReason, reason)
	h.Set(events.HeaderDeadStream, events.StreamStripe)
	h.Set(events.HeaderDeadSubject, subject)
	h.Set(events.HeaderDeadSeq, fmt.Sprint(origSeq))
	h.Set(events.HeaderDeadCount, "20")
	h.Set(events.HeaderDeadTime, time.Now().UTC().Format(time.RFC3339))
	if _, err := events.Publish(context.Background(), b.js, "dead."+subject, fmt.Sprintf("dead:%s:%d", events.StreamStripe, origSeq), body, h); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := stripeEvent("evt_dead1", "invoice.paid", "first-private@example.com")
	b.deadLetter(t, "stripe.event.invoice.paid", 7, first, "permanent: unknown plan price_zzz")
	b.deadLetter(t, "stripe.event.charge.refunded", 9, stripeEvent("evt_dead2", "charge.refunded", "x@example.com"), "gave up after 20 deliveries")

	out := b.mustCtl(t, "dead", "list")
	for _, want := range []string{"evt_dead1", "evt_dead2", "stripe.event.invoice.paid", "unknown plan price_zzz", "20"} {
		if !strings.Contains(out, want) {
			t.Errorf("dead list lacks %q:\n%s", want, out)
		}
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(b.mustCtl(t, "--json", "dead", "list")), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("dead list --json: %v, %d entries", err, len(listed))
	}

	show := b.mustCtl(t, "dead", "show", "1")
	if !strings.Contains(show, "evt_dead1") || !strings.Contains(show, "invoice.paid") || !strings.Contains(show, events.HeaderDeadReason) {
		t.Errorf("dead show lacks the event or its headers:\n%s", show)
	}
	if strings.Contains(show, "first-private@example.com") {
		t.Error("dead show printed the payload without --raw")
	}
	if raw := b.mustCtl(t, "dead", "show", "1", "--raw"); strings.TrimSpace(raw) != string(first) {
		t.Errorf("dead show --raw = %s, want the body", raw)
	}

	b.mustCtl(t, "dead", "retry", "1")
	if n := b.streamMsgs(t, events.StreamDead); n != 1 {
		t.Errorf("DEAD holds %d messages after a retry, want 1", n)
	}
	m, err := b.topo.Stripe.GetLastMsgForSubject(context.Background(), "stripe.event.invoice.paid")
	if err != nil {
		t.Fatalf("the retried event is not in STRIPE: %v", err)
	}
	if !bytes.Equal(m.Data, first) {
		t.Errorf("retried body = %s, want the original", m.Data)
	}
	if id := m.Header.Get(nats.MsgIdHdr); !strings.HasPrefix(id, "retry:STRIPE:7:") {
		t.Errorf("retried message id = %q, want retry:STRIPE:7:<unix>", id)
	}
	if m.Header.Get(events.HeaderDeadReason) != "" {
		t.Error("the retried message still carries the dead-letter headers")
	}

	if code, _, _ := b.ctl(t, "dead", "drop", "2"); code != exitUsage {
		t.Errorf("dead drop without --yes: exit %d, want %d", code, exitUsage)
	}
	if n := b.streamMsgs(t, events.StreamDead); n != 1 {
		t.Fatal("dead drop without --yes deleted the message")
	}
	b.mustCtl(t, "dead", "drop", "2", "--yes")
	if n := b.streamMsgs(t, events.StreamDead); n != 0 {
		t.Errorf("DEAD holds %d messages after drop, want 0", n)
	}
	if code, _, _ := b.ctl(t, "dead", "show", "2"); code != exitError {
		t.Errorf("dead show of a dropped message: exit %d, want %d", code, exitError)
	}
}

func TestDeadRetryAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 3 {
		b.deadLetter(t, "stripe.event.invoice.paid", i+1, stripeEvent(fmt.Sprintf("evt_all%d", i), "invoice.paid", ""), "boom")
	}
	out := b.mustCtl(t, "dead", "retry", "--all")
	if strings.Count(out, "retry:STRIPE:") != 3 {
		t.Errorf("dead retry --all output:\n%s", out)
	}
	if d, s := b.streamMsgs(t, events.StreamDead), b.streamMsgs(t, events.StreamStripe); d != 0 || s != 3 {
		t.Errorf("after retry --all: DEAD %d, STRIPE %d; want 0, 3", d, s)
	}
	if code, _, _ := b.ctl(t, "dead", "retry"); code != exitUsage {
		t.Errorf("dead retry without a sequence: exit %d, want %d", code, exitUsage)
	}
}

func reviewRecord(key, email string) provisioning.Record {
	now := time.Now().UTC()
	return provisioning.Record{Key: key, Created: now.Add(-time.Hour),
		Desired: provisioning.Desired{
			Plan:   provisioning.PlanSnapshot{ID: "std-monthly", Name: "Standard VPN, monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30},
			Status: provisioning.StatusActive, PaidThrough: now.Add(30 * 24 * time.Hour), PaidAsOf: now.Add(-time.Hour),
			Purchased: true, Email: email, Customer: "cus_" + key, Subscription: key, Checkout: "cs_" + key,
		},
		Review: &provisioning.Review{Reason: "create interrupted: the account may exist", Step: "create", Attempt: "att-1", Since: now.Add(-30 * time.Minute)},
	}
}

func TestReviewAccountsAndResend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putRecord(t, reviewRecord("sub_review1", "ann@example.com"))

	out := b.mustCtl(t, "review", "list")
	if !strings.Contains(out, "sub_review1") || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "std-monthly") {
		t.Errorf("review list:\n%s", out)
	}
	if code, _, _ := b.ctl(t, "review", "resolve", "sub_review1"); code != exitUsage {
		t.Errorf("resolve without a decision: exit %d, want %d", code, exitUsage)
	}

	b.mustCtl(t, "review", "resolve", "sub_review1", "--retry")
	accts := b.pure.Accounts()
	if len(accts) != 1 {
		t.Fatalf("PureVPN holds %d accounts after resolve --retry, want 1", len(accts))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := b.mail.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs[0].Text, accts[0].Password) {
		t.Error("the welcome email lacks the account's password")
	}
	if r := b.record(t, "sub_review1"); r.Review != nil || r.Actual.Username != accts[0].Username {
		t.Errorf("record after resolve: review %v, username %q", r.Review, r.Actual.Username)
	}
	if out := b.mustCtl(t, "review", "list"); strings.Contains(out, "sub_review1") {
		t.Errorf("review list still lists the resolved record:\n%s", out)
	}

	for _, q := range []string{"sub_review1", "ANN@example.com", "cs_sub_review1"} {
		out := b.mustCtl(t, "accounts", "show", q)
		for _, want := range []string{"sub_review1", accts[0].Username, "active", "std-monthly", "welcome.1"} {
			if !strings.Contains(out, want) {
				t.Errorf("accounts show %s lacks %q:\n%s", q, want, out)
			}
		}
	}
	var shown []map[string]any
	if err := json.Unmarshal([]byte(b.mustCtl(t, "--json", "accounts", "show", "sub_review1")), &shown); err != nil || len(shown) != 1 {
		t.Fatalf("accounts show --json: %v", err)
	}
	if code, _, _ := b.ctl(t, "accounts", "show", "nobody@example.com"); code != exitError {
		t.Errorf("accounts show of an unknown email: exit %d, want %d", code, exitError)
	}

	old := accts[0].Password
	b.mustCtl(t, "resend", "sub_review1")
	now, _ := b.pure.Account(accts[0].Username)
	if now.Password == old {
		t.Fatal("resend did not change the password at PureVPN")
	}
	msgs, err = b.mail.WaitFor(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs[1].Text, now.Password) || msgs[1].To[0] != "ann@example.com" {
		t.Errorf("the second email (%q to %v) lacks the new password", msgs[1].Subject, msgs[1].To)
	}
}

func TestReviewGiveUpFlagsRefund(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putRecord(t, reviewRecord("sub_giveup", "bob@example.com"))
	b.mustCtl(t, "review", "resolve", "sub_giveup", "--give-up")
	if r := b.record(t, "sub_giveup"); !r.RefundDue || r.Review != nil {
		t.Errorf("after give-up: refund due %t, review %v", r.RefundDue, r.Review)
	}
	if len(b.pure.Accounts()) != 0 {
		t.Error("give-up created an account")
	}
	if out := b.mustCtl(t, "accounts", "show", "bob@example.com"); !strings.Contains(out, "refund due") || !strings.Contains(out, "true") {
		t.Errorf("accounts show does not say the refund is due:\n%s", out)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i := range 5 {
		id := fmt.Sprintf("evt_replay%d", i)
		if _, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", id, stripeEvent(id, "invoice.paid", ""), nil); err != nil {
			t.Fatal(err)
		}
	}
	out := b.mustCtl(t, "--json", "replay", "--since", "3")
	var got map[string]int
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["replayed"] != 3 {
		t.Fatalf("replay --since 3 = %s (%v), want 3 replayed", out, err)
	}
	if n := b.streamMsgs(t, events.StreamStripe); n != 8 {
		t.Errorf("STRIPE holds %d messages, want 8", n)
	}
	m, err := b.topo.Stripe.GetMsg(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(nats.MsgIdHdr); !strings.HasPrefix(id, "replay:evt_replay2:") || !bytes.Equal(m.Data, stripeEvent("evt_replay2", "invoice.paid", "")) {
		t.Errorf("first replayed message: id %q, body %s", id, m.Data)
	}
	out = b.mustCtl(t, "replay", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if !strings.Contains(out, "8") {
		t.Errorf("replay --since an hour ago: %s, want 8", out)
	}
	if code, _, _ := b.ctl(t, "replay", "--since", "yesterday"); code != exitUsage {
		t.Errorf("replay --since yesterday: exit %d, want %d", code, exitUsage)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := vpnki.New(vpnki.Config{URL: b.vpnkiURL, Key: vpnkiKey})
	if err != nil {
		t.Fatal(err)
	}
	tun, err := c.AddTunnel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.tunnels.Connect(tun.Tunnel, "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if err := b.tunnels.Disconnect(tun.Tunnel, 123456, 654321); err != nil {
		t.Fatal(err)
	}
	r := reviewRecord("sub_tunnel", "tom@example.com")
	r.Review = nil
	r.Desired.Plan = provisioning.PlanSnapshot{ID: "tunnel-monthly", Provider: "vpnki", PeriodDays: 30}
	r.Actual = provisioning.Actual{Provider: "vpnki", Username: tun.Tunnel, Exists: true, Enabled: true, Generation: 1}
	b.putRecord(t, r)

	out := b.mustCtl(t, "usage", "sub_tunnel", "--from", "2020-01-01")
	if !strings.Contains(out, "123456") || !strings.Contains(out, "654321") {
		t.Errorf("usage lacks the session's traffic:\n%s", out)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(b.mustCtl(t, "--json", "usage", "sub_tunnel")), &u); err != nil || u["bytes_in"] != float64(123456) {
		t.Errorf("usage --json: %v %v", u, err)
	}

	b.putRecord(t, reviewRecord("sub_pure", "pat@example.com"))
	if code, _, errOut := b.ctl(t, "usage", "sub_pure"); code != exitError || !strings.Contains(errOut, "no usage API") {
		t.Errorf("usage of a PureVPN record: exit %d, %s", code, errOut)
	}
}

func audit(t *testing.T, js jetstream.JetStream, a events.Audit) {
	t.Helper()
	if err := events.PublishAudit(context.Background(), js, a); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	pay := func(account, invoice string, amount int64, currency string) {
		audit(t, b.js, events.Audit{ID: "fact.applied:" + account + ":evt_" + invoice, Kind: events.AuditFactApplied, Time: at,
			Account: account, StripeEvent: "evt_" + invoice, StripeType: "invoice.paid", StripeCreated: at, Subscription: account,
			Invoice: invoice, Amount: amount, Currency: currency, Plan: "std-monthly", PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0)})
	}
	created := func(account, username string) {
		audit(t, b.js, events.Audit{ID: "account.created:" + account + ":1", Kind: events.AuditAccountCreated, Time: at.Add(time.Minute),
			Account: account, Provider: "purevpn", Username: username, PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0)})
	}
	pay("sub_a", "in_a", 999, "eur")
	created("sub_a", "pvA")
	pay("sub_b", "in_b", 1999, "eur")
	created("sub_b", "pvB")
	pay("sub_c", "in_c", 1500, "usd") // paid, never provisioned
	created("sub_x", "pvX")           // provisioned, never paid
	pay("sub_old", "in_old", 5000, "eur")
	// outside the range:
	audit(t, b.js, events.Audit{ID: "fact.applied:sub_old:evt_in_feb", Kind: events.AuditFactApplied, Time: at.AddDate(0, -1, 0),
		Account: "sub_old", StripeType: "invoice.paid", StripeCreated: at.AddDate(0, -1, 0), Invoice: "in_feb", Amount: 7777, Currency: "eur"})
	created("sub_old", "pvOld")
	canceled := reviewRecord("sub_gone", "gone@example.com")
	canceled.Review = nil
	canceled.Desired.Status = provisioning.StatusCanceled
	canceled.Actual = provisioning.Actual{Provider: "purevpn", Username: "pvGone", Exists: true, Enabled: true}
	b.putRecord(t, canceled)

	code, out, _ := b.ctl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01", "--format", "json")
	if code != exitProblems {
		t.Errorf("report with mismatches: exit %d, want %d", code, exitProblems)
	}
	var rep struct {
		Rows []struct {
			Status, Account, Invoice, Username string
			Amount                             int64
		}
		Totals []struct {
			Currency string
			Payments int
			Amount   int64
		}
		Mismatches int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report json: %v\n%s", err, out)
	}
	totals := map[string]int64{}
	for _, tot := range rep.Totals {
		totals[tot.Currency] = tot.Amount
	}
	if totals["eur"] != 999+1999+5000 || totals["usd"] != 1500 || len(totals) != 2 {
		t.Errorf("totals = %v, want eur 7998, usd 1500", totals)
	}
	status := map[string]string{}
	for _, r := range rep.Rows {
		status[r.Account] = r.Status
	}
	want := map[string]string{"sub_a": "ok", "sub_b": "ok", "sub_old": "ok", "sub_c": "paid_not_provisioned",
		"sub_x": "provisioned_not_paid", "sub_gone": "canceled_still_enabled"}
	for account, s := range want {
		if status[account] != s {
			t.Errorf("row of %s: status %q, want %q", account, status[account], s)
		}
	}
	if len(rep.Rows) != len(want) || rep.Mismatches != 3 {
		t.Errorf("%d rows, %d mismatches; want %d, 3: %+v", len(rep.Rows), rep.Mismatches, len(want), rep.Rows)
	}

	_, table, _ := b.ctl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01")
	for _, w := range []string{"total EUR: 79.98 (3 payments)", "total USD: 15.00 (1 payments)", "paid_not_provisioned", "pvA"} {
		if !strings.Contains(table, w) {
			t.Errorf("report table lacks %q:\n%s", w, table)
		}
	}
	_, csvOut, _ := b.ctl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01", "--format", "csv")
	if !strings.HasPrefix(csvOut, "status,time,account,") || !strings.Contains(csvOut, "total,,,,,,,,7998,EUR") {
		t.Errorf("report csv:\n%s", csvOut)
	}
	if code, _, _ := b.ctl(t, "report", "--from", "2024-01-01", "--to", "2024-02-01"); code != exitProblems {
		// the canceled-but-enabled record is a problem whatever the range
		t.Errorf("report of an empty range with a canceled enabled record: exit %d", code)
	}
	if code, _, _ := b.ctl(t, "report", "--from", "2025-03-01"); code != exitUsage {
		t.Errorf("report without --to: exit %d, want %d", code, exitUsage)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"nonsense"}, {"dead"}, {"dead", "show"}, {"dead", "show", "x"}, {"--nope"}, {"report", "--format", "xml", "--from", "2025-01-01", "--to", "2025-02-01"}} {
		var out, errOut bytes.Buffer
		if code := execute(context.Background(), args, nil, &out, &errOut); code != exitUsage {
			t.Errorf("vpnbillctl %v: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
}
