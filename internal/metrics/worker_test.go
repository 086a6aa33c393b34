package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

// Secrets the hooks see; none may reach the exposition.
const (
	pureUser     = "reseller-metrics"
	purePassword = "pv-Metrics-Pa55word!"
	vpnkiKey     = "vpnki-metrics-key-0123456789abcdef"
	smtpUser     = "mailer"
	smtpPassword = "smtp-Metrics-Pa55"
)

// world is the real parts the worker's hooks are fed from: a JetStream
// message stamped by the webhook, both provider simulators, an SMTP server.
type world struct {
	*bundle
	w        *metrics.Worker
	msg      jetstream.Msg // a Stripe event as the webhook stores it
	pure     *purevpn.Client
	vpnki    *vpnki.Client
	mail     metrics.Mailer
	catcher  *mailcatcher.Catcher
	pureSim  *purevpnsim.Sim
	vpnkiSim *vpnkisim.Sim
}

func setupWorld(t *testing.T) *world {
	t.Helper()
	b := setup(t)
	w, err := metrics.NewWorker(b.reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterJetStream(b.reg, b.js, 0); err != nil {
		t.Fatal(err)
	}
	x := &world{bundle: b, w: w}
	ctx := context.Background()

	// A stored Stripe event, received by the webhook a little while ago.
	hdr := nats.Header{}
	hdr.Set(ingest.HeaderReceived, time.Now().Add(-2*time.Second).UTC().Format(time.RFC3339Nano))
	if _, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", "evt_metrics1", []byte(`{"id":"evt_metrics1"}`), hdr); err != nil {
		t.Fatal(err)
	}
	cons, err := b.topo.WorkerConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		x.msg = m
	}
	if x.msg == nil {
		t.Fatal("no message fetched")
	}

	var pureURL, vpnkiURL string
	x.pureSim, pureURL = harness.PureVPN(t, purevpnsim.Options{User: pureUser, Password: purePassword})
	if x.pure, err = purevpn.New(purevpn.Config{URL: pureURL, User: pureUser, Password: purePassword,
		Observe: w.Provider(providers.PureVPN, purevpn.Methods(), nil)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.pure.CloseIdleConnections)

	x.vpnkiSim, vpnkiURL = harness.VPNKI(t, vpnkisim.Options{Key: vpnkiKey})
	if x.vpnki, err = vpnki.New(vpnki.Config{URL: vpnkiURL, Key: vpnkiKey,
		Observe: w.Provider(providers.VPNKI, vpnki.Methods(), nil)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.vpnki.CloseIdleConnections)

	x.catcher = harness.Mail(t, mailcatcher.Options{
		Username: smtpUser, Password: smtpPassword,
		RejectRcpt: func(addr string) *smtp.SMTPError {
			switch {
			case strings.HasPrefix(addr, "nobody@"):
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
			case strings.HasPrefix(addr, "later@"):
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
			return nil
		},
	})
	smtpURL := "smtp://" + smtpUser + ":" + smtpPassword + "@" + x.catcher.Addr()
	mailer, err := notify.New(notify.Config{URL: smtpURL, From: "VPN Shop <shop@example.com>", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.mail = w.Mailer(mailer)
	return x
}

// exercise records through every hook: one of each outcome a test asserts.
func (x *world) exercise(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var seen []string
	cc := x.w.Consumer(events.ConsumerWorker, events.ConsumerConfig{
		Observe: func(_ jetstream.Msg, outcome string, _ time.Duration) { seen = append(seen, outcome) },
	})
	tc := x.w.Consumer(events.ConsumerTimers, events.ConsumerConfig{})
	cc.Observe(x.msg, "ack", 30*time.Millisecond)
	cc.Observe(x.msg, "dead", 40*time.Millisecond)
	cc.Observe(x.msg, "retry", 10*time.Millisecond)
	tc.Observe(x.msg, "ack", 5*time.Millisecond) // timers: no receipt-to-done
	tc.Observe(x.msg, "something new", time.Millisecond)
	if strings.Join(seen, ",") != "ack,dead,retry" {
		t.Errorf("the consumer's own Observe saw %v, want ack, dead, retry: it must still be called", seen)
	}

	cc.OnSystemic(errors.New("purevpn create: unauthorized"), true)
	if !x.w.Paused() {
		t.Error("Paused() = false while the worker consumer is paused")
	}

	acct, err := x.pure.Create(ctx, purevpn.Standard, purevpn.Period30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.pure.Status(ctx, acct.Username); err != nil {
		t.Fatal(err)
	}
	x.pureSim.FailNext(1, http.StatusForbidden) // the caller's IP is not allow-listed
	if _, err := x.pure.Status(ctx, acct.Username); !errors.Is(err, providers.ErrUnauthorized) {
		t.Fatalf("status refused with 403: %v, want unauthorized", err)
	}
	if _, err := x.vpnki.AddTunnel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := x.vpnki.Tunnels(ctx); err != nil {
		t.Fatal(err)
	}

	msg := x.messageTo
	if err := x.mail.Send(ctx, msg("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := x.mail.Send(ctx, msg("nobody@example.com")); !notify.IsPermanent(err) {
		t.Fatalf("send to an unknown mailbox: %v, want permanent", err)
	}
	if err := x.mail.Send(ctx, msg("later@example.com")); err == nil || notify.IsPermanent(err) {
		t.Fatalf("send to a greylisting server: %v, want temporary", err)
	}
}

// messageTo is a welcome email, credentials and all.
func (x *world) messageTo(to string) notify.Message {
	return notify.Message{To: to, Subject: "Your VPN", Text: "username u1, password " + purePassword,
		MessageID: "<welcome.1.sub_m@vpnbill>"}
}

func TestWorkerHooksAreScraped(t *testing.T) {
	t.Parallel()
	x := setupWorld(t)
	x.exercise(t)
	text := x.scrape(t)
	want(t, text, map[string]float64{
		`vpnbill_worker_events_total{consumer="worker",outcome="ack"}`:    1,
		`vpnbill_worker_events_total{consumer="worker",outcome="dead"}`:   1,
		`vpnbill_worker_events_total{consumer="worker",outcome="retry"}`:  1,
		`vpnbill_worker_events_total{consumer="worker",outcome="paused"}`: 0,
		`vpnbill_worker_events_total{consumer="timers",outcome="ack"}`:    1,
		`vpnbill_worker_events_total{consumer="timers",outcome="other"}`:  1,
		`vpnbill_worker_handle_seconds_count{consumer="worker"}`:          3,
		`vpnbill_worker_dead_letters_total{consumer="worker"}`:            1,
		`vpnbill_worker_dead_letters_total{consumer="timers"}`:            0,
		// ack and dead of stream STRIPE, received 2s before: in the 2.5s bucket, not the 1s one.
		`vpnbill_worker_receipt_to_done_seconds_count`:                                          2,
		`vpnbill_worker_receipt_to_done_seconds_bucket{le="1"}`:                                 0,
		`vpnbill_worker_paused{consumer="worker"}`:                                              1,
		`vpnbill_worker_paused{consumer="timers"}`:                                              0,
		`vpnbill_worker_systemic_pauses_total{consumer="worker"}`:                               1,
		`vpnbill_provider_calls_total{class="ok",method="create",provider="purevpn"}`:           1,
		`vpnbill_provider_calls_total{class="ok",method="status",provider="purevpn"}`:           1,
		`vpnbill_provider_calls_total{class="unauthorized",method="status",provider="purevpn"}`: 1,
		`vpnbill_provider_calls_total{class="ok",method="add_tunnel",provider="vpnki"}`:         1,
		`vpnbill_provider_calls_total{class="ok",method="tunnels",provider="vpnki"}`:            1,
		`vpnbill_provider_call_seconds_count{method="status",provider="purevpn"}`:               2,
		`vpnbill_worker_emails_sent_total`:                                                      1,
		`vpnbill_worker_emails_failed_total{class="permanent"}`:                                 1,
		`vpnbill_worker_emails_failed_total{class="temporary"}`:                                 1,
		`vpnbill_consumer_ack_pending{consumer="worker",stream="STRIPE"}`:                       1, // the fetched message, never acked here
		`vpnbill_jetstream_read_ok{source="accounts"}`:                                          1,
		`vpnbill_jetstream_read_ok{source="worker"}`:                                            1,
	})
	if v, ok := sample(text, `vpnbill_worker_receipt_to_done_seconds_bucket{le="2.5"}`); !ok || v != 2 {
		t.Errorf("receipt-to-done of events received 2s before: %v in the 2.5s bucket, want 2", v)
	}

	// Pulling resumes: the gauge drops, the pause count stays.
	x.w.Consumer(events.ConsumerWorker, events.ConsumerConfig{}).OnSystemic(nil, false)
	if x.w.Paused() {
		t.Error("Paused() = true after pulling resumed")
	}
	want(t, x.scrape(t), map[string]float64{
		`vpnbill_worker_paused{consumer="worker"}`:                0,
		`vpnbill_worker_systemic_pauses_total{consumer="worker"}`: 1,
	})
}
