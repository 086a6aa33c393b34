package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// Every reconcile run records its result in AUDIT, whoever runs it, and
// LastReconcile (and so the overview) reads the newest.
func TestReconcileRunIsRecorded(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx := context.Background()
	if _, ok, err := b.ops.LastReconcile(ctx); err != nil || ok {
		t.Fatalf("before any run: ok %t, err %v; want none", ok, err)
	}
	seedDrift(t, b)

	var seen []ReconcileProgress
	rep, err := b.ops.Reconcile(ctx, ReconcileOptions{Providers: b.providers, By: "console:alice",
		Progress: func(p ReconcileProgress) { seen = append(seen, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != rep.Records+1 || seen[0].Checked != 0 || seen[len(seen)-1] != (ReconcileProgress{Records: rep.Records,
		Checked: rep.Records, Drift: len(rep.Drift)}) {
		t.Errorf("progress = %+v, want 0 … %d records checked, ending with %d drift", seen, rep.Records, len(rep.Drift))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Checked < seen[i-1].Checked || seen[i].Drift < seen[i-1].Drift {
			t.Errorf("progress went back: %+v after %+v", seen[i], seen[i-1])
		}
	}

	run, ok, err := b.ops.LastReconcile(ctx)
	if err != nil || !ok {
		t.Fatalf("after a run: ok %t, err %v", ok, err)
	}
	fixable := 0
	for _, d := range rep.Drift {
		if d.Fixable() {
			fixable++
		}
	}
	if run.By != "console:alice" || run.Fix || run.Records != rep.Records || run.Tunnels != rep.Tunnels ||
		run.Drift != len(rep.Drift) || run.Unfixed != rep.Unfixed() || run.Fixable != fixable || fixable != 3 ||
		len(run.Rows) != len(rep.Drift) || run.Status() != "drift" || run.Kinds[DriftMissingAccount] != 1 {
		t.Errorf("recorded run %+v\nfor report %+v (%d fixable)", run, rep, fixable)
	}
	// It is an audit every reader of AUDIT decodes.
	s, err := b.js.Stream(ctx, events.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "audit.reconcile.run")
	if err != nil {
		t.Fatal(err)
	}
	a, err := events.DecodeAudit(m.Data)
	if err != nil || a.Kind != AuditReconcileRun || a.ID != run.ID || a.Status != "drift" ||
		!strings.HasPrefix(a.Reason, "console:alice: ") || a.Account != "" {
		t.Errorf("the run's audit: %+v (%v)", a, err)
	}

	// vpnbillctl's --fix run is the newest now, and the overview shows it.
	rep = b.fix(t, ReconcileOptions{By: "vpnbillctl"})
	run, _, err = b.ops.LastReconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if run.By != "vpnbillctl" || !run.Fix || run.Unfixed != rep.Unfixed() || run.Fixable != 0 || run.Drift != len(rep.Drift) {
		t.Errorf("the --fix run recorded as %+v", run)
	}
	if run.Unfixed > 0 && run.Rows[0].Fixed {
		t.Errorf("recorded rows start with a fixed one: %+v", run.Rows[0])
	}
	ov, err := b.ops.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ov.LastReconcile == nil || ov.LastReconcile.ID != run.ID {
		t.Errorf("the overview's last reconcile: %+v, want %s", ov.LastReconcile, run.ID)
	}

	// A canceled run is no run: nothing is recorded.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.ops.Reconcile(cctx, ReconcileOptions{Providers: b.providers, By: "canceled"}); err == nil {
		t.Error("a canceled run returned no error")
	}
	if last, _, _ := b.ops.LastReconcile(ctx); last.ID != run.ID {
		t.Errorf("a canceled run was recorded: %+v", last)
	}
}

// A recorded run keeps at most runRows rows, unfixed first, and its counts whole.
func TestRecordedRunRows(t *testing.T) {
	t.Parallel()
	var rep ReconcileReport
	for i := range runRows + 10 {
		d := Drift{Key: fmt.Sprintf("sub_%03d", i), Kind: DriftMissingAccount}
		if i%2 == 0 {
			d.Kind, d.Fixed = DriftExpiryShort, true
		}
		rep.Drift = append(rep.Drift, d)
	}
	run := newRun(ReconcileOptions{Fix: true}, time.Now(), time.Now(), rep, errors.New("nats: timeout"))
	if len(run.Rows) != runRows || run.RowsOmitted != 10 || run.Drift != runRows+10 || run.Unfixed != (runRows+10)/2 ||
		run.Rows[0].Fixed || !run.Rows[runRows-1].Fixed || run.By != "unknown" || run.Status() != "failed" ||
		run.Kinds[DriftExpiryShort] != (runRows+10)/2 {
		t.Errorf("run: %d rows, %d omitted, drift %d, unfixed %d, by %q, status %s", len(run.Rows), run.RowsOmitted, run.Drift,
			run.Unfixed, run.By, run.Status())
	}
}

// stripeMsg stores a Stripe event in STRIPE as the webhook does.
func storeEvent(t *testing.T, js jetstream.JetStream, id, typ, object string) uint64 {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"created":1700000000,"livemode":false,"data":{"object":{"id":%q}}}`, id, typ, object)
	ack, err := events.Publish(context.Background(), js, "stripe.event."+typ, id, []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func TestReplayEvent(t *testing.T) {
	t.Parallel()
	w := harness.NewWorld(t, harness.WorldOptions{})
	ctx := context.Background()
	clock := harness.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	o := &Ops{JS: w.JS, Now: clock.Now}
	storeEvent(t, w.JS, "evt_one", "invoice.paid", "in_1")
	seq := storeEvent(t, w.JS, "evt_two", "checkout.session.completed", "cs_2")
	storeEvent(t, w.JS, "evt_three", "invoice.paid", "in_3")

	r, err := o.ReplayEvent(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("replay:evt_two:%d", clock.Now().Unix())
	if r.MsgID != want || r.EventID != "evt_two" || r.NewSeq != 4 || r.Duplicate || r.Subject != "stripe.event.checkout.session.completed" {
		t.Errorf("replayed %+v, want %s stored at 4", r, want)
	}
	s, _ := w.JS.Stream(ctx, events.StreamStripe)
	orig, _ := s.GetMsg(ctx, seq)
	cp, err := s.GetMsg(ctx, 4)
	if err != nil || cp.Subject != orig.Subject || string(cp.Data) != string(orig.Data) || cp.Header.Get(nats.MsgIdHdr) != want {
		t.Errorf("the copy: %+v (%v)", cp, err)
	}
	// The same rule as Replay: within the same second it is a duplicate.
	if r, err := o.ReplayEvent(ctx, seq); err != nil || !r.Duplicate || r.NewSeq != 4 {
		t.Errorf("a second replay in the same second: %+v, %v; want a duplicate of 4", r, err)
	}
	if n, err := o.Replay(ctx, Since{Seq: seq}, nil); err != nil || n != 3 {
		t.Fatalf("replay --since: %d, %v", n, err)
	}
	if info, _ := s.Info(ctx); info.State.LastSeq != 5 { // evt_two and its copy are evt_two's replay of this second
		t.Errorf("STRIPE's last sequence %d, want 5 (only evt_three's replay is new)", info.State.LastSeq)
	}
	clock.Add(time.Second)
	if r, err := o.ReplayEvent(ctx, seq); err != nil || r.Duplicate || r.NewSeq != 6 {
		t.Errorf("a replay a second later: %+v, %v; want stored at 6", r, err)
	}
	for _, bad := range []uint64{0, 99} {
		if _, err := o.ReplayEvent(ctx, bad); !errors.Is(err, ErrNoEvent) {
			t.Errorf("ReplayEvent(%d): %v, want ErrNoEvent", bad, err)
		}
	}
}

func TestStripeEventsOutcomes(t *testing.T) {
	t.Parallel()
	w := harness.NewWorld(t, harness.WorldOptions{})
	ctx := context.Background()
	o := &Ops{JS: w.JS}
	storeEvent(t, w.JS, "evt_applied", "checkout.session.completed", "cs_1")
	storeEvent(t, w.JS, "evt_skipped", "invoice.paid", "in_2")
	storeEvent(t, w.JS, "evt_dead", "invoice.paid", "in_3")
	storeEvent(t, w.JS, "evt_pending", "customer.subscription.updated", "sub_4")
	copySeq, err := o.ReplayEvent(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []events.Audit{
		{ID: "a1", Kind: events.AuditFactApplied, Account: "sub_1", StripeEvent: "evt_applied"},
		{ID: "a2", Kind: events.AuditFactSkipped, Account: "sub_2", StripeEvent: "evt_skipped", Reason: "stale"},
		{ID: "a3", Kind: events.AuditDeadLettered, StripeEvent: "evt_dead", StripeType: "invoice.paid", Reason: "permanent: unknown plan"},
		{ID: "a4", Kind: events.AuditEmailSent, Account: "sub_4", StripeEvent: "evt_pending"}, // says nothing of the outcome
	} {
		if err := events.PublishAudit(ctx, w.JS, a); err != nil {
			t.Fatal(err)
		}
	}

	page, err := o.StripeEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]StripeEvent{}
	var order []uint64
	for _, e := range page.Events {
		got[e.MsgID] = e
		order = append(order, e.Seq)
	}
	if fmt.Sprint(order) != "[5 4 3 2 1]" || page.Older != 0 || page.Last != 5 {
		t.Fatalf("page: %v, older %d, last %d; want 5 … 1, no older", order, page.Older, page.Last)
	}
	for id, want := range map[string]Outcome{"evt_applied": OutcomeApplied, "evt_skipped": OutcomeSkipped,
		"evt_dead": OutcomeDeadLettered, "evt_pending": OutcomePending, copySeq.MsgID: OutcomeApplied} {
		if got[id].Outcome != want {
			t.Errorf("%s: %s, want %s", id, got[id].Outcome, want)
		}
	}
	if e := got["evt_applied"]; e.Type != "checkout.session.completed" || e.Object != "cs_1" || e.ID != "evt_applied" ||
		fmt.Sprint(e.Accounts) != "[sub_1]" || e.Copy() != "" || e.Created.Unix() != 1700000000 {
		t.Errorf("evt_applied: %+v", e)
	}
	if e := got[copySeq.MsgID]; e.Copy() != "replay" || e.ID != "evt_applied" {
		t.Errorf("the replay's copy: %+v", e)
	}
	if got["evt_skipped"].Detail != "stale" || got["evt_dead"].Detail != "permanent: unknown plan" {
		t.Errorf("details: %q, %q", got["evt_skipped"].Detail, got["evt_dead"].Detail)
	}

	// Paged by sequence, newest first.
	page, err = o.StripeEvents(ctx, 0, 2)
	if err != nil || len(page.Events) != 2 || page.Events[0].Seq != 5 || page.Older != 4 {
		t.Fatalf("first page of 2: %+v, %v", page, err)
	}
	page, err = o.StripeEvents(ctx, page.Older, 2)
	if err != nil || len(page.Events) != 2 || page.Events[0].Seq != 3 || page.Older != 2 {
		t.Fatalf("second page of 2: %+v, %v", page, err)
	}
	page, err = o.StripeEvents(ctx, page.Older, 2)
	if err != nil || len(page.Events) != 1 || page.Events[0].Seq != 1 || page.Older != 0 {
		t.Fatalf("last page: %+v, %v", page, err)
	}

	// Once the worker's consumer has acknowledged it, an event without an
	// outcome audit is handled, not pending.
	topo, err := events.Setup(ctx, w.JS, events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := topo.WorkerConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e, err := o.StripeEventAt(ctx, 4)
	if err != nil || e.Outcome != OutcomeNoChange || !e.Handled || e.ID != "evt_pending" {
		t.Errorf("the acknowledged event without an outcome: %+v, %v", e, err)
	}
	if _, err := o.StripeEventAt(ctx, 42); !errors.Is(err, ErrNoEvent) {
		t.Errorf("StripeEventAt(42): %v, want ErrNoEvent", err)
	}
}

// The account page's live state reads the provider and writes nothing.
func TestLiveStateReadsAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx := context.Background()
	month := time.Now().Add(29 * 24 * time.Hour)
	r := record("sub_off", pureStd, b.pureAccount(t, false), month) // disabled behind vpnbill's back
	b.put(t, r)
	b.put(t, record("sub_none", pureStd, "", month))
	b.put(t, record("sub_tn", tunnelStd, b.tunnel(t), month))
	_, rev, err := provisioning.NewStore(b.topo.Accounts).Get(ctx, "sub_off")
	if err != nil {
		t.Fatal(err)
	}
	b.ops.Providers = map[providers.Name]provisioning.Provider{providers.PureVPN: b.providers[providers.PureVPN]}
	updates := b.pure.Calls("update_account")

	seats, err := b.ops.LiveState(ctx, "sub_off", nil)
	if err != nil || len(seats) != 1 {
		t.Fatalf("live state: %+v, %v", seats, err)
	}
	s := seats[0]
	if !s.Checked || !s.Exists || s.Enabled || s.Expiry.IsZero() || !s.KeepsExpiry || !s.CanSuspend || s.Error != "" ||
		len(s.Drift) != 1 || s.Drift[0].Kind != DriftDisabledShouldBeEnabled {
		t.Errorf("live state of a disabled account: %+v", s)
	}
	if _, after, _ := provisioning.NewStore(b.topo.Accounts).Get(ctx, "sub_off"); after != rev || b.pure.Calls("update_account") != updates {
		t.Errorf("reading the live state changed something: revision %d → %d, update_account calls %d → %d",
			rev, after, updates, b.pure.Calls("update_account"))
	}
	if seats, err := b.ops.LiveState(ctx, "sub_none", nil); err != nil || seats[0].Note == "" || seats[0].Checked {
		t.Errorf("no account yet: %+v, %v", seats, err)
	}
	if seats, err := b.ops.LiveState(ctx, "sub_tn", nil); err != nil || seats[0].Error != "not configured" || seats[0].Checked {
		t.Errorf("a provider not configured: %+v, %v", seats, err)
	}
	down, err := purevpn.New(purevpn.Config{URL: "http://" + harness.RefusedAddr(t), User: simUser, Password: simPassword, RetryFor: new(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	b.ops.Providers = map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: down}}
	if seats, err := b.ops.LiveState(ctx, "sub_off", nil); err != nil || seats[0].Error != "not_sent" || strings.Contains(seats[0].Error, "127.0.0.1") {
		t.Errorf("an unreachable provider: %+v, %v", seats, err)
	}
	if _, err := b.ops.LiveState(ctx, "sub_nobody", nil); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("no record: %v", err)
	}
}
