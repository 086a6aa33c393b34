package worker_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
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
	f := newFaultyStore(t, func(accounts jetstream.KeyValue, _ string) jetstream.KeyValue {
		return &failIndex{KeyValue: accounts}
	})
	ctx := context.Background()
	if err := f.svc.Apply(ctx, f.facts[0]); !events.Unavailable(err) {
		t.Fatalf("checkout whose index write failed: %v, want JetStream unavailable (a retry)", err)
	}
	if rec := f.record(t); rec.Step != nil || rec.Lease != nil {
		t.Fatalf("after the failed index write the record holds step %+v, lease %+v; want neither", rec.Step, rec.Lease)
	}
	f.redeliverCreatesOnce(t)
}

// A purchase's fold takes the lease and writes the create's intent in one
// write. When that write is stored but its answer lost, the intent is
// withdrawn before the event is handed back: the redelivery creates the
// account once and sends the welcome, and nothing takes the intent for a
// create cut short by a crash (which would put a PureVPN record in review).
func TestFoldWithTheCreateIntentWhoseAnswerIsLost(t *testing.T) {
	t.Parallel()
	var kv *loseAnswer
	f := newFaultyStore(t, func(accounts jetstream.KeyValue, key string) jetstream.KeyValue {
		kv = &loseAnswer{KeyValue: accounts, key: key}
		return kv
	})
	if err := f.svc.Apply(context.Background(), f.facts[0]); !events.Unavailable(err) {
		t.Fatalf("checkout whose fold's answer was lost: %v, want JetStream unavailable (a retry)", err)
	}
	if !kv.lost.Load() {
		t.Fatal("no write carried the create's intent")
	}
	if rec := f.record(t); rec.Step != nil {
		t.Fatalf("after the lost answer the record holds step %+v, want the intent withdrawn", rec.Step)
	}
	if n := f.r.pure.Calls("create"); n != 0 {
		t.Fatalf("%d creates before the redelivery, want 0", n)
	}
	f.redeliverCreatesOnce(t)
}

// dropCreate is bucket ACCOUNTS whose first write of a new record key
// carrying a create's intent is lost before it is stored, its answer a
// timeout, as when the stream's leader dies before storing it.
type dropCreate struct {
	jetstream.KeyValue
	key     string
	dropped atomic.Bool
}

func (k *dropCreate) Create(ctx context.Context, key string, data []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if key == k.key && bytes.Contains(data, []byte(`"step":{"name":"create"`)) && k.dropped.CompareAndSwap(false, true) {
		return 0, nats.ErrTimeout
	}
	return k.KeyValue.Create(ctx, key, data, opts...)
}

// A new record's first write, the fold with the lease and the create's
// intent, lost before it was stored: the record cannot be found, which a
// read alone does not prove. The fold is then written without the intent
// and the lease, with compare-and-swap, at once (not after a minute of
// reads), and the redelivery creates the account once.
func TestFoldOfANewRecordLostBeforeStored(t *testing.T) {
	t.Parallel()
	var kv *dropCreate
	f := newFaultyStore(t, func(accounts jetstream.KeyValue, key string) jetstream.KeyValue {
		kv = &dropCreate{KeyValue: accounts, key: key}
		return kv
	})
	if err := f.svc.Apply(context.Background(), f.facts[0]); !events.Unavailable(err) {
		t.Fatalf("checkout whose first write was lost: %v, want JetStream unavailable (a retry)", err)
	}
	if !kv.dropped.Load() {
		t.Fatal("no write carried the create's intent")
	}
	rec := f.record(t)
	if rec.Step != nil || rec.Lease != nil || !slices.Contains(rec.Applied, f.facts[0].EventID) {
		t.Fatalf("after the lost first write: step %+v, lease %+v, applied %v; want the fold without either", rec.Step, rec.Lease, rec.Applied)
	}
	f.redeliverCreatesOnce(t)
}

// faultyStore is one purchase, and a provisioning service whose bucket
// ACCOUNTS is wrapped by a fault (over the real one, given the record's key).
type faultyStore struct {
	w     *world
	r     *run
	svc   *provisioning.Service
	facts []billing.Fact
}

func newFaultyStore(t *testing.T, fault func(accounts jetstream.KeyValue, key string) jetstream.KeyValue) *faultyStore {
	t.Helper()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "faulty-store")
	topo := harness.Topology(t, js, events.Config{})
	mail := harness.Mail(t, mailcatcher.Options{})
	w := &world{js: ns, jsc: js, store: provisioning.NewStore(topo.Accounts), mail: mail}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := w.newRun(t, t0)
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
	svc := provisioning.New(provisioning.Config{Now: r.clock.Now, GracePeriod: new(grace), DeleteAfter: new(deleteAfter), Livemode: new(false)},
		provisioning.NewStore(fault(topo.Accounts, r.sub)), js,
		map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: pc, Now: r.clock.Now}},
		mailer, sealer, zap.NewNop())
	return &faultyStore{w: w, r: r, svc: svc, facts: purchase(r, t0, "std")}
}

func (f *faultyStore) record(t *testing.T) *provisioning.Record {
	t.Helper()
	rec, _, err := f.w.store.Get(context.Background(), f.r.sub)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// redeliverCreatesOnce applies the purchase's facts again (the redelivery
// and the invoice) and fails unless the account was created once, without
// a review, and the welcome sent once.
func (f *faultyStore) redeliverCreatesOnce(t *testing.T) {
	t.Helper()
	for _, fact := range f.facts {
		if err := f.svc.Apply(context.Background(), fact); err != nil {
			t.Fatalf("%s: %v", fact.EventID, err)
		}
	}
	rec := f.record(t)
	if rec.Review != nil {
		t.Fatalf("record in review: %s", rec.Review.Reason)
	}
	if n, accounts := f.r.pure.Calls("create"), len(f.r.pure.Accounts()); n != 1 || accounts != 1 {
		t.Fatalf("%d creates, %d accounts; want 1 and 1", n, accounts)
	}
	if rec.Emails["welcome.1"].Sent.IsZero() {
		t.Fatal("the welcome is not recorded as sent")
	}
	var to []string
	for _, m := range f.w.mail.Messages() {
		to = append(to, m.To...)
	}
	if len(to) != 1 || to[0] != f.r.email {
		t.Fatalf("emails to %v, want the welcome once, to %s", to, f.r.email)
	}
}
