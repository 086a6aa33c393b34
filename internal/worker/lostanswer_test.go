package worker_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// loseAnswer is bucket ACCOUNTS whose first write of record key carrying
// a create's intent is stored and then answered with a timeout, as when
// the stream's leader dies between storing a write and answering it.
type loseAnswer struct {
	jetstream.KeyValue
	key  string
	lost atomic.Bool
}

func (k *loseAnswer) lose(key string, data []byte, rev uint64, err error) (uint64, error) {
	if err == nil && key == k.key && bytes.Contains(data, []byte(`"step":{"name":"create"`)) && k.lost.CompareAndSwap(false, true) {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (k *loseAnswer) Create(ctx context.Context, key string, data []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := k.KeyValue.Create(ctx, key, data, opts...)
	return k.lose(key, data, rev, err)
}

func (k *loseAnswer) Update(ctx context.Context, key string, data []byte, last uint64) (uint64, error) {
	rev, err := k.KeyValue.Update(ctx, key, data, last)
	return k.lose(key, data, rev, err)
}

// failIndex is bucket ACCOUNTS whose first index write fails (JetStream
// away), after the fold beside it was stored.
type failIndex struct {
	jetstream.KeyValue
	failed atomic.Bool
}

func (k *failIndex) Put(ctx context.Context, key string, data []byte) (uint64, error) {
	if strings.HasPrefix(key, "idx.") && k.failed.CompareAndSwap(false, true) {
		return 0, nats.ErrTimeout
	}
	return k.KeyValue.Put(ctx, key, data)
}

// A purchase whose fold (lease and the create's intent) was stored but
// whose index write failed leaves neither behind: the redelivery creates
// the account once, without a review.
func TestFoldStoredButItsIndexNot(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "index-fails")
	topo := harness.Topology(t, js, events.Config{})
	mail := harness.Mail(t, mailcatcher.Options{})
	w := &world{js: ns, jsc: js, store: provisioning.NewStore(topo.Accounts), mail: mail}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := w.newRun(t, t0)
	kv := &failIndex{KeyValue: topo.Accounts}
	svc := lostAnswerService(t, r, js, mail, kv)
	ctx := context.Background()
	facts := purchase(r, t0, "std")
	if err := svc.Apply(ctx, facts[0]); !events.Unavailable(err) {
		t.Fatalf("checkout whose index write failed: %v, want JetStream unavailable (a retry)", err)
	}
	rec, _, err := w.store.Get(ctx, r.sub)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Step != nil || rec.Lease != nil {
		t.Fatalf("after the failed index write the record holds step %+v, lease %+v; want neither", rec.Step, rec.Lease)
	}
	for _, f := range facts {
		if err := svc.Apply(ctx, f); err != nil {
			t.Fatalf("%s: %v", f.EventID, err)
		}
	}
	rec, _, err = w.store.Get(ctx, r.sub)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Review != nil {
		t.Fatalf("record in review: %s", rec.Review.Reason)
	}
	if n, accounts := r.pure.Calls("create"), len(r.pure.Accounts()); n != 1 || accounts != 1 || rec.Emails["welcome.1"].Sent.IsZero() {
		t.Fatalf("%d creates, %d accounts, welcome sent %v; want 1, 1, sent", n, accounts, rec.Emails["welcome.1"].Sent)
	}
}

func lostAnswerService(t *testing.T, r *run, js jetstream.JetStream, mail *mailcatcher.Catcher, kv jetstream.KeyValue) *provisioning.Service {
	t.Helper()
	pc, err := purevpn.New(purevpn.Config{URL: harness.Serve(t, r.pure), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.New(notify.Config{URL: mail.URL(), From: "shop@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioning.NewSealer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return provisioning.New(provisioning.Config{Now: r.clock.Now, GracePeriod: new(grace), DeleteAfter: new(deleteAfter), Livemode: new(false)},
		provisioning.NewStore(kv), js, map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: pc, Now: r.clock.Now}},
		mailer, sealer, zap.NewNop())
}

// A purchase's fold takes the lease and writes the create's intent in one
// write. When that write is stored but its answer lost, the intent is
// withdrawn before the event is handed back: the redelivery creates the
// account once and sends the welcome, and nothing takes the intent for a
// create cut short by a crash (which would put a PureVPN record in review).
func TestFoldWithTheCreateIntentWhoseAnswerIsLost(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "lost-answer")
	topo := harness.Topology(t, js, events.Config{})
	mail := harness.Mail(t, mailcatcher.Options{})
	w := &world{js: ns, jsc: js, store: provisioning.NewStore(topo.Accounts), mail: mail}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := w.newRun(t, t0)
	kv := &loseAnswer{KeyValue: topo.Accounts, key: r.sub}
	svc := lostAnswerService(t, r, js, mail, kv)

	ctx := context.Background()
	facts := purchase(r, t0, "std")
	err := svc.Apply(ctx, facts[0])
	if !events.Unavailable(err) {
		t.Fatalf("checkout whose fold's answer was lost: %v, want JetStream unavailable (a retry)", err)
	}
	if !kv.lost.Load() {
		t.Fatal("no write carried the create's intent")
	}
	rec, _, err := w.store.Get(ctx, r.sub)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Step != nil {
		t.Fatalf("after the lost answer the record holds step %+v, want the intent withdrawn", rec.Step)
	}
	if n := r.pure.Calls("create"); n != 0 {
		t.Fatalf("%d creates before the redelivery, want 0", n)
	}

	// The redelivery and the invoice.
	for _, f := range facts {
		if err := svc.Apply(ctx, f); err != nil {
			t.Fatalf("%s: %v", f.EventID, err)
		}
	}
	rec, _, err = w.store.Get(ctx, r.sub)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Review != nil {
		t.Fatalf("record in review: %s", rec.Review.Reason)
	}
	if n, accounts := r.pure.Calls("create"), len(r.pure.Accounts()); n != 1 || accounts != 1 {
		t.Fatalf("%d creates, %d accounts; want 1 and 1", n, accounts)
	}
	if rec.Emails["welcome.1"].Sent.IsZero() {
		t.Fatal("the welcome is not recorded as sent")
	}
	var to []string
	for _, m := range mail.Messages() {
		to = append(to, m.To...)
	}
	if len(to) != 1 || to[0] != r.email {
		t.Fatalf("emails to %v, want the welcome once, to %s", to, r.email)
	}
}
