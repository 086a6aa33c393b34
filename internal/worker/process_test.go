package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// These tests run the worker as a separate process (this test binary,
// re-executed), so a failpoint can end it with os.Exit — a crash, not a
// returned error — at every step boundary.

const crashExit = 3

// processEvents: short ack wait so a crashed worker's message comes back soon.
var processEvents = events.Config{AckWait: 2 * time.Second, MaxDeliver: 50}

const processPlans = `
plans:
  - id: std
    stripe_prices: [price_std]
    provider: purevpn
  - id: tun
    stripe_prices: [price_tun]
    provider: vpnki
`

// TestWorkerProcess is the worker process of these tests; it does nothing
// unless started by them.
func TestWorkerProcess(t *testing.T) {
	if os.Getenv("VPNBILL_TEST_WORKER") != "1" {
		return
	}
	crashAt := os.Getenv("CRASH_AT")
	runWorkerProcess(events.ConsumerConfig{RetryBase: 200 * time.Millisecond, Concurrency: 8}, provisioning.Config{
		LeaseFor:   3 * time.Second,
		AdoptAfter: time.Second,
		Failpoint: func(name string) {
			if name == crashAt {
				os.Exit(crashExit)
			}
		},
	})
}

// runWorkerProcess is the body of a worker process these tests start
// (startProcess): worker.Run on the world's addresses, read from the
// environment, with consumer and prov. It exits, 0 after a clean shutdown.
func runWorkerProcess(consumer events.ConsumerConfig, prov provisioning.Config) {
	exitOn := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	nc, err := natsConnect(os.Getenv("NATS_URL"))
	exitOn(err)
	js, err := jetstream.New(nc)
	exitOn(err)
	plans, err := billing.ParseCatalog([]byte(processPlans))
	exitOn(err)
	ctx, stop := signalContext()
	defer stop()
	exitOn(worker.Run(ctx, js, worker.Config{
		Events:         processEvents,
		Consumer:       consumer,
		Provisioning:   prov,
		Plans:          plans,
		PureVPN:        purevpn.Config{URL: os.Getenv("PUREVPN_URL"), User: "u", Password: "p"},
		VPNKI:          vpnki.Config{URL: os.Getenv("VPNKI_URL"), Key: "k"},
		Mail:           notify.Config{URL: os.Getenv("SMTP_URL"), From: "shop@example.com"},
		CredentialsKey: bytes.Repeat([]byte{9}, 32),
	}, zap.NewNop()))
	os.Exit(0)
}

type procWorld struct {
	ns      *harness.NATSServer
	js      jetstream.JetStream
	pure    *purevpnsim.Sim
	pureURL string
	tunnels *vpnkisim.Sim
	vpnURL  string
	mail    *mailcatcher.Catcher
}

func newProcWorld(t *testing.T) *procWorld {
	t.Helper()
	w := harness.NewWorld(t, harness.WorldOptions{
		Events:  processEvents,
		PureVPN: purevpnsim.Options{User: "u", Password: "p"},
		VPNKI:   vpnkisim.Options{Key: "k", Address: "vpn.example.net"},
	})
	return &procWorld{ns: w.NATS, js: w.JS, pure: w.PureVPN, pureURL: w.PureVPNURL,
		tunnels: w.VPNKI, vpnURL: w.VPNKIURL, mail: w.Mail}
}

// start runs a worker process; crashAt names a failpoint, or "".
func (w *procWorld) start(t *testing.T, crashAt string) *exec.Cmd {
	t.Helper()
	return w.startProcess(t, "TestWorkerProcess", "VPNBILL_TEST_WORKER=1", "CRASH_AT="+crashAt)
}

// startProcess runs this test binary's test (a worker process) with env
// added to the world's addresses; the process is killed at the end of the
// test unless it was waited for.
func (w *procWorld) startProcess(t *testing.T, test string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...),
		"NATS_URL="+w.ns.ClientURL(), "PUREVPN_URL="+w.pureURL, "VPNKI_URL="+w.vpnURL, "SMTP_URL="+w.mail.URL())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// stop asks a worker to shut down gracefully and waits.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker did not stop cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("worker did not stop within 30s of SIGTERM")
	}
}

func (w *procWorld) publishCheckout(t *testing.T, plan, email string) string {
	t.Helper()
	sub := stripetest.ID("sub")
	evID := stripetest.ID("evt")
	payload := stripetest.CheckoutCompleted(evID, time.Now(), stripetest.Checkout{
		Subscription: sub, Email: email, Plan: plan, Paid: true, Amount: 500, Currency: "eur"})
	subject, _ := events.StripeSubject(billing.EventCheckoutCompleted)
	if _, err := events.Publish(context.Background(), w.js, subject, evID, payload, nil); err != nil {
		t.Fatal(err)
	}
	return sub
}

func (w *procWorld) record(t *testing.T, key string) *provisioning.Record {
	t.Helper()
	return storedRecord(t, w.js, key)
}

// storedRecord is the account record of key as stored, or nil if there is none.
func storedRecord(t *testing.T, js jetstream.JetStream, key string) *provisioning.Record {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), events.BucketAccounts)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		return nil
	}
	var r provisioning.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// waitRecord waits until the record is at rest: nothing in flight, nothing owed.
func (w *procWorld) waitRecord(t *testing.T, key string, done func(r *provisioning.Record) bool) *provisioning.Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := w.record(t, key)
		if r != nil && r.Step == nil && r.Lease == nil && len(r.Mail) == 0 && r.Adopt == nil && done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %s not at rest in 60s: %+v", key, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAcked waits until the worker consumer has acknowledged every event.
func (w *procWorld) waitAcked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := w.js.Consumer(context.Background(), events.StreamStripe, events.ConsumerWorker)
		if err == nil {
			ci, err := c.Info(context.Background())
			if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.Delivered.Consumer > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("events not acknowledged in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCrashAtEveryStepBoundary(t *testing.T) {
	t.Parallel()
	type want struct {
		accounts, creates, emails int
		review                    bool
	}
	cases := []struct {
		provider, plan, crashAt string
		want                    want
	}{
		// PureVPN cannot list accounts: an interrupted create is never re-sent; an operator decides.
		{"purevpn", "std", "intent.create", want{accounts: 0, creates: 0, emails: 0, review: true}},
		{"purevpn", "std", "call.create", want{accounts: 1, creates: 1, emails: 0, review: true}},
		{"purevpn", "std", "result.create", want{accounts: 1, creates: 1, emails: 1}},
		{"purevpn", "std", "email.welcome", want{accounts: 1, creates: 1, emails: 2}}, // at most one duplicate, same Message-ID
		{"purevpn", "std", "result.email.welcome.1", want{accounts: 1, creates: 1, emails: 1}},
		{"purevpn", "std", "before.ack", want{accounts: 1, creates: 1, emails: 1}},
		// VPNKI lists tunnels: the orphan of an interrupted create is found and deleted, then one is made.
		{"vpnki", "tun", "intent.create", want{accounts: 1, creates: 1, emails: 1}},
		{"vpnki", "tun", "call.create", want{accounts: 1, creates: 2, emails: 1}},
		{"vpnki", "tun", "result.create", want{accounts: 1, creates: 1, emails: 1}},
		{"vpnki", "tun", "email.welcome", want{accounts: 1, creates: 1, emails: 2}},
		{"vpnki", "tun", "result.email.welcome.1", want{accounts: 1, creates: 1, emails: 1}},
		{"vpnki", "tun", "before.ack", want{accounts: 1, creates: 1, emails: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.provider+"/"+tc.crashAt, func(t *testing.T) {
			t.Parallel()
			w := newProcWorld(t)
			sub := w.publishCheckout(t, tc.plan, "crash@example.com")

			crashed := w.start(t, tc.crashAt)
			err := crashed.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != crashExit {
				t.Fatalf("worker did not crash at %s: %v", tc.crashAt, err)
			}

			restarted := w.start(t, "")
			r := w.waitRecord(t, sub, func(r *provisioning.Record) bool {
				return r.Review != nil || (r.Actual.Exists && r.Emails["welcome.1"].Sent.After(time.Time{}))
			})
			w.waitAcked(t)
			stop(t, restarted)

			var accounts, creates int
			if tc.provider == "purevpn" {
				accounts, creates = len(w.pure.Accounts()), w.pure.Calls("create")
			} else {
				accounts, creates = len(w.tunnels.Tunnels()), w.tunnels.Calls("add_tunnel")
			}
			msgs := w.mail.Messages()
			if accounts != tc.want.accounts || creates != tc.want.creates || len(msgs) != tc.want.emails || (r.Review != nil) != tc.want.review {
				t.Errorf("accounts %d, creates %d, emails %d, review %v; want %+v", accounts, creates, len(msgs), r.Review != nil, tc.want)
			}
			for _, m := range msgs {
				if m.MessageID != msgs[0].MessageID {
					t.Errorf("a duplicate email must carry the same Message-ID: %s vs %s", m.MessageID, msgs[0].MessageID)
				}
			}
		})
	}
}

func TestTwoWorkerProcessesFiveHundredOrders(t *testing.T) {
	t.Parallel()
	const orders = 500
	w := newProcWorld(t)
	// The second starts once the first pulls: two processes declaring the
	// topology at the same instant trip a data race inside the embedded
	// nats-server (v2.15.2) that -race reports in this test process.
	a := w.start(t, "")
	w.waitPulling(t, 1)
	b := w.start(t, "")
	for i := range orders {
		plan := "std"
		if i%2 == 1 {
			plan = "tun"
		}
		w.publishCheckout(t, plan, fmt.Sprintf("customer%03d@example.com", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := w.mail.WaitFor(ctx, orders); err != nil {
		t.Fatalf("emails: %d of %d: %v", len(w.mail.Messages()), orders, err)
	}
	stop(t, a)
	stop(t, b)

	if n, c := len(w.pure.Accounts()), w.pure.Calls("create"); n != orders/2 || c != orders/2 {
		t.Errorf("PureVPN: %d accounts from %d creates, want %d", n, c, orders/2)
	}
	if n, c := len(w.tunnels.Tunnels()), w.tunnels.Calls("add_tunnel"); n != orders/2 || c != orders/2 {
		t.Errorf("VPNKI: %d tunnels from %d creates, want %d", n, c, orders/2)
	}
	seen := map[string]bool{}
	for _, m := range w.mail.Messages() {
		if seen[m.To[0]] {
			t.Errorf("%s emailed twice", m.To[0])
		}
		seen[m.To[0]] = true
	}
	if len(seen) != orders {
		t.Errorf("%d customers emailed, want %d", len(seen), orders)
	}
}

func natsConnect(url string) (*nats.Conn, error) {
	return nats.Connect(url, nats.MaxReconnects(-1))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}
