package worker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// modeOrder is one checkout posted in a mode test.
type modeOrder struct {
	event, sub, email string
	live              bool
	payload           []byte
}

func newModeOrder(live bool, plan, email string) modeOrder {
	evID, c := checkout(plan, email)
	payload := stripetest.CheckoutCompleted(evID, time.Now(), c)
	if live {
		payload = stripetest.Live(payload)
	}
	return modeOrder{event: evID, sub: c.Subscription, email: email, live: live, payload: payload}
}

// postConcurrently posts every order at once, as Stripe does when it delivers a burst.
func (b *bundle) postConcurrently(t *testing.T, orders []modeOrder) {
	t.Helper()
	var wg sync.WaitGroup
	for _, o := range orders {
		wg.Go(func() { b.stored(t, o.payload) })
	}
	wg.Wait()
}

// modeOutcome checks what a deployment serving live (servedLive) did with
// orders: an account, a welcome email and no skip for each order of that
// mode; nothing but a skipped audit, naming both modes and the fix, for
// each of the other; no dead letter.
func (b *bundle) modeOutcome(t *testing.T, orders []modeOrder, servedLive bool, wantSource string) {
	t.Helper()
	ctx := context.Background()
	served, other := 0, 0
	for _, o := range orders {
		if o.live == servedLive {
			served++
		} else {
			other++
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := b.mail.WaitFor(wctx, served); err != nil {
		t.Fatalf("%d welcome emails: %v", served, err)
	}
	b.waitSettled(t)

	if n := len(b.sim.Accounts()); n != served || b.sim.Calls("create") != served {
		t.Errorf("accounts at PureVPN %d, create calls %d; want %d: one per order of the mode served", n, b.sim.Calls("create"), served)
	}
	var mailedTo []string
	for _, m := range b.mail.Messages() {
		mailedTo = append(mailedTo, m.To...)
	}
	skipped := map[string]events.Audit{}
	for _, a := range b.audits(t) {
		if a.Kind == events.AuditFactSkipped {
			skipped[a.StripeEvent] = a
		}
	}
	store := provisioning.NewStore(b.accountsKV(t))
	for _, o := range orders {
		r, _, err := store.Get(ctx, o.sub)
		a, wasSkipped := skipped[o.event]
		if o.live == servedLive {
			if err != nil || !r.Actual.Exists || !slices.Contains(mailedTo, o.email) || wasSkipped {
				t.Errorf("order %s of the mode served: record %v (%v), emailed %v, skipped %v; want provisioned and emailed",
					o.event, r != nil && r.Actual.Exists, err, slices.Contains(mailedTo, o.email), wasSkipped)
			}
			continue
		}
		if !errors.Is(err, provisioning.ErrNotFound) || slices.Contains(mailedTo, o.email) {
			t.Errorf("order %s of the other mode: record (%v), emailed %v; want neither", o.event, err, slices.Contains(mailedTo, o.email))
		}
		eventMode, servedMode := provisioning.ModeName(o.live), provisioning.ModeName(servedLive)
		if !wasSkipped || a.Livemode != o.live || a.Account != o.sub ||
			!strings.Contains(a.Reason, eventMode+"-mode event, and this deployment serves "+servedMode+" mode") ||
			!strings.Contains(a.Reason, wantSource) || !strings.Contains(a.Reason, "STRIPE_MODE="+eventMode) {
			t.Errorf("order %s of the other mode: skipped audit %v %+v; want one naming the account, both modes, %q and the fix",
				o.event, wasSkipped, a, wantSource)
		}
	}
	for _, o := range orders {
		if o.live != servedLive && !slices.ContainsFunc(strings.Split(b.logs.String(), "\n"), func(line string) bool {
			return strings.Contains(line, `"level":"warn"`) && strings.Contains(line, `"msg":"event of the other Stripe mode skipped"`) &&
				strings.Contains(line, `"event":"`+o.event+`"`) && strings.Contains(line, `"type":"checkout.session.completed"`)
		}) {
			t.Errorf("no warning logged for order %s of the other mode, with its id and type", o.event)
		}
	}
	if n := len(mailedTo); n != served {
		t.Errorf("%d emails, want %d", n, served)
	}
	dead, err := b.js.Stream(ctx, events.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dead.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("stream DEAD: %v, %v; want no dead letter", info, err)
	}
}

func (b *bundle) accountsKV(t *testing.T) jetstream.KeyValue {
	t.Helper()
	kv, err := b.js.KeyValue(context.Background(), events.BucketAccounts)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// A live deployment (STRIPE_MODE=live) is sent test-mode events, by
// accident (a test endpoint's secret in STRIPE_WEBHOOK_SECRET, `stripe
// listen`), among live ones: the test-mode ones reach no provider and no
// customer, not even one naming a plan the catalog lacks (no dead letter
// either); each is acknowledged, audited as skipped with the fix, and
// counted. The live ones are provisioned.
func TestLiveDeploymentSkipsTestModeEvents(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	m, err := metrics.NewWorker(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *worker.Config) { c.Livemode = new(true); c.Metrics = m })
	orders := []modeOrder{
		newModeOrder(false, "std-monthly", "tess@example.com"),
		newModeOrder(true, "std-monthly", "liv@example.com"),
		newModeOrder(false, "no-such-plan", "tom@example.com"), // would be a dead letter in test mode
		newModeOrder(true, "sstp-quarterly", "lena@example.com"),
	}
	b.postConcurrently(t, orders)
	b.modeOutcome(t, orders, true, "as STRIPE_MODE or STRIPE_API_KEY says")

	if v, _ := gathered(t, reg, "vpnbill_worker_events_other_mode_total", map[string]string{"mode": "test"}); v != 2 {
		t.Errorf("vpnbill_worker_events_other_mode_total{mode=test} = %v, want 2", v)
	}
	if v, ok := gathered(t, reg, "vpnbill_worker_events_other_mode_total", map[string]string{"mode": "live"}); !ok || v != 0 {
		t.Errorf("vpnbill_worker_events_other_mode_total{mode=live} = %v (exists %v), want 0", v, ok)
	}
	// Configured, the worker pins nothing.
	if _, pinned, err := provisioning.NewStore(b.accountsKV(t)).PinnedMode(context.Background()); pinned || err != nil {
		t.Errorf("a mode was pinned (%v, %v) though the configuration decides it", pinned, err)
	}
}

// With STRIPE_MODE unset and no STRIPE_API_KEY, the first events a
// deployment processes, live and test ones arriving at once, pin one mode
// (whichever came first): those of that mode are provisioned, the others
// skipped. A later event of the other mode is skipped too.
func TestUnsetModeIsPinnedByTheFirstEvent(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	m, err := metrics.NewWorker(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *worker.Config) { c.Metrics = m })
	var first []modeOrder
	for i := range 6 {
		first = append(first, newModeOrder(i%2 == 0, "std-monthly", stripetest.ID("buyer")+"@example.com"))
	}
	b.postConcurrently(t, first)
	b.waitSettled(t)
	pin, pinned, err := provisioning.NewStore(b.accountsKV(t)).PinnedMode(context.Background())
	if err != nil || !pinned || !slices.ContainsFunc(first, func(o modeOrder) bool { return o.event == pin.Event && o.live == pin.Live() }) {
		t.Fatalf("pin %+v (%v, %v); want the mode of one of the first events, naming it", pin, pinned, err)
	}
	t.Logf("pinned %s by %s", pin.Mode, pin.Event)

	// Later: one more of each mode.
	later := []modeOrder{
		newModeOrder(!pin.Live(), "std-monthly", "late-other@example.com"),
		newModeOrder(pin.Live(), "std-monthly", "late-served@example.com"),
	}
	b.postConcurrently(t, later)
	b.modeOutcome(t, append(first, later...), pin.Live(), "pinned in bucket ACCOUNTS by its first event")

	other := provisioning.ModeName(!pin.Live())
	if v, _ := gathered(t, reg, "vpnbill_worker_events_other_mode_total", map[string]string{"mode": other}); v != 4 {
		t.Errorf("vpnbill_worker_events_other_mode_total{mode=%s} = %v, want 4", other, v)
	}
	if v, _ := gathered(t, reg, "vpnbill_worker_events_other_mode_total", map[string]string{"mode": pin.Mode}); v != 0 {
		t.Errorf("vpnbill_worker_events_other_mode_total{mode=%s} = %v, want 0", pin.Mode, v)
	}
}
