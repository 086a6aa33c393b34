package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// The lifecycle suite drives provisioning through every lifecycle of the
// issue, for both providers, on real parts (JetStream KV and streams, the
// provider simulators over HTTP, an SMTP listener), with a clock the test
// moves. Each lifecycle is a list of phases: the Stripe facts that arrive
// around one moment, then the clock moves on (days: past a grace period, a
// renewal date, a retention period) and the record's timer fires.
//
// Ordering: within a phase, facts are delivered in random order, each one
// to three times. Reordering happens on Stripe's scale (seconds to
// minutes), not across a grace period: a payment that really arrived
// before the grace period ended must not suspend anyone, so "the same
// emails whatever the order" only holds within that scale.

const (
	grace       = 72 * time.Hour
	deleteAfter = 30 * 24 * time.Hour
)

// orderings is how many random orderings of each lifecycle are played:
// 100 in CI; VPNBILL_ORDERINGS sets more for a longer soak.
var orderings = soakCount("VPNBILL_ORDERINGS", 100)

// soakCount is the count in environment variable name, or def.
func soakCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var lifecyclePlans = []billing.Plan{
	{ID: "std", Name: "Standard", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30},
	{ID: "sstp", Name: "SSTP", Provider: "purevpn", PackageType: "SSTP", PeriodDays: 30},
	{ID: "tun", Name: "Tunnel", Provider: "vpnki", PackageType: "STANDARD", PeriodDays: 30},
	{ID: "tun-pro", Name: "Tunnel Pro", Provider: "vpnki", PackageType: "STANDARD", PeriodDays: 30},
}

func plan(id string) billing.Plan {
	for _, p := range lifecyclePlans {
		if p.ID == id {
			return p
		}
	}
	panic("no plan " + id)
}

// world is what every run shares: one JetStream server and one mailbox.
type world struct {
	js    *harness.NATSServer
	jsc   jetstream.JetStream // one connection for every run
	store *provisioning.Store
	mail  *mailcatcher.Catcher
	runs  atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, "lifecycle")
	topo := harness.Topology(t, js, events.Config{})
	mail := harness.Mail(t, mailcatcher.Options{})
	return &world{js: ns, jsc: js, store: provisioning.NewStore(topo.Accounts), mail: mail}
}

// run is one customer's lifecycle: its own simulator, service, ids and clock.
type run struct {
	w       *world
	id      string
	email   string
	sub     string
	clock   *harness.Clock
	svc     *provisioning.Service
	pure    *purevpnsim.Sim
	tunnels *vpnkisim.Sim
	seq     int
	key     string // the account record, once a fact has named it
}

func (w *world) newRun(t *testing.T, start time.Time) *run {
	t.Helper()
	n := w.runs.Add(1)
	r := &run{w: w, id: fmt.Sprintf("r%d", n), clock: harness.NewClock(start)}
	r.email = fmt.Sprintf("customer-%s@example.com", r.id)
	r.sub = "sub_" + r.id
	r.pure = purevpnsim.New(purevpnsim.Options{User: "u", Password: "p", Now: r.clock.Now})
	r.tunnels = vpnkisim.New(vpnkisim.Options{Key: "k", Address: "vpn.example.net", Now: r.clock.Now})
	r.svc = w.newService(t, r, "")
	return r
}

// newService is a worker process of run r: a provisioning service over the
// run's simulators (each process with its own HTTP connections), the
// world's store and mailbox, and the run's clock. owner "" is a new one.
func (w *world) newService(t *testing.T, r *run, owner string) *provisioning.Service {
	t.Helper()
	pc, err := purevpn.New(purevpn.Config{URL: harness.Serve(t, r.pure), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := vpnki.New(vpnki.Config{URL: harness.Serve(t, r.tunnels) + "/index.php", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.New(notify.Config{URL: w.mail.URL(), From: "shop@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioning.NewSealer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	// The runs serve test mode, as a deployment whose events are test-mode
	// ones does; a live-mode fact is of the other mode.
	return provisioning.New(provisioning.Config{Owner: owner, Now: r.clock.Now, GracePeriod: new(grace), DeleteAfter: new(deleteAfter),
		Livemode: new(false)},
		w.store, w.jsc, map[providers.Name]provisioning.Provider{
			providers.PureVPN: worker.PureVPN{Client: pc, Now: r.clock.Now},
			providers.VPNKI:   worker.VPNKI{Client: vc},
		}, mailer, sealer, zap.NewNop())
}

// fact builds a fact of this run's subscription.
func (r *run) fact(kind billing.Kind, at time.Time, mod func(*billing.Fact)) billing.Fact {
	r.seq++
	f := billing.Fact{Kind: kind, EventID: fmt.Sprintf("evt_%s_%02d", r.id, r.seq), Created: at,
		Key: r.sub, Subscription: r.sub, Customer: "cus_" + r.id, Email: r.email, Currency: "eur", Amount: 999}
	if mod != nil {
		mod(&f)
	}
	return f
}

type phase struct {
	at    time.Time
	facts []billing.Fact
}

type lifecycle struct {
	name   string
	phases func(r *run, t0 time.Time) []phase
	// want, checked on the in-order run: the provider state and emails.
	wantAccounts int      // accounts or tunnels existing at the end
	wantEnabled  bool     // PureVPN: the remaining account is enabled
	wantEmails   []string // email kinds, in any order
	wantCreates  int      // create calls at the provider
	// wantToNewAddress: the kinds of those emails that go to the address
	// the customer changed to (newAddress).
	wantToNewAddress []string
	// wantAt, if set: the accounts at each provider at the end.
	wantAt map[string]int
}

func month(t0 time.Time, n int) time.Time { return t0.AddDate(0, n, 0) }

// purchase is the two facts of one subscription purchase.
func purchase(r *run, t0 time.Time, planID string) []billing.Fact {
	p := plan(planID)
	return []billing.Fact{
		r.fact(billing.Purchase, t0, func(f *billing.Fact) { f.Plan = p; f.CheckoutSession = "cs_" + r.id; f.Invoice = "in_" + r.id + "_1" }),
		r.fact(billing.Purchase, t0.Add(2*time.Second), func(f *billing.Fact) {
			f.Plan, f.Invoice, f.Charge = p, "in_"+r.id+"_1", "ch_"+r.id+"_1"
			f.PeriodStart, f.PeriodEnd = t0, month(t0, 1)
		}),
	}
}

func renewal(r *run, t0 time.Time, n int, planID string) billing.Fact {
	return r.fact(billing.Renewal, month(t0, n), func(f *billing.Fact) {
		f.Plan, f.Invoice = plan(planID), fmt.Sprintf("in_%s_%d", r.id, n+1)
		f.PeriodStart, f.PeriodEnd = month(t0, n), month(t0, n+1)
	})
}

// refund is charge.refunded of the charge of the run's invoice n, with
// refunded the running total and full Stripe's flag.
func refund(r *run, at time.Time, n int, refunded int64, full bool) billing.Fact {
	return r.fact(billing.Refunded, at, func(f *billing.Fact) {
		f.Key, f.Charge, f.Amount, f.FullRefund = "", fmt.Sprintf("ch_%s_%d", r.id, n), refunded, full
	})
}

// refundFailed is charge.refund.updated of the refund (made at made) of
// the charge of the run's invoice n: it failed at at.
func refundFailed(r *run, at time.Time, n int, made time.Time, amount int64) billing.Fact {
	return r.fact(billing.RefundReverted, at, func(f *billing.Fact) {
		f.Key, f.Charge, f.Amount = "", fmt.Sprintf("ch_%s_%d", r.id, n), amount
		f.Refund, f.RefundCreated = fmt.Sprintf("re_%s_%d", r.id, n), made
	})
}

// dispute opens (Disputed) or closes (DisputeClosed, won or lost) a
// dispute of the charge of the run's first invoice.
func dispute(r *run, at time.Time, kind billing.Kind, won bool) billing.Fact {
	return r.fact(kind, at, func(f *billing.Fact) { f.Key, f.Charge, f.DisputeWon = "", "ch_"+r.id+"_1", won })
}

// seats is a subscription update to n seats of planID.
func seats(r *run, at time.Time, planID string, n int) billing.Fact {
	return r.fact(billing.SubscriptionState, at, func(f *billing.Fact) {
		f.Plan, f.SubStatus, f.CurrentPeriodEnd = plan(planID), "active", month(at, 1)
		f.Items = []billing.Item{{Plan: plan(planID), Seats: n}}
	})
}

func subState(r *run, at time.Time, status, planID string, cancelAtEnd bool, periodEnd time.Time) billing.Fact {
	return r.fact(billing.SubscriptionState, at, func(f *billing.Fact) {
		f.Plan, f.SubStatus, f.CancelAtPeriodEnd, f.CurrentPeriodEnd = plan(planID), status, cancelAtEnd, periodEnd
	})
}

func lifecycles(provider, std, other string) []lifecycle {
	vpnki := provider == "vpnki"
	pick := func(pure, tunnel int) int {
		if vpnki {
			return tunnel
		}
		return pure
	}
	planChangeEmails := []string{"welcome", "welcome"} // PureVPN: new credentials for the new package
	if vpnki {
		planChangeEmails = []string{"welcome"} // VPNKI: nothing changes at the provider
	}
	across := "tun" // a plan of the other provider
	if vpnki {
		across = "std"
	}
	return []lifecycle{
		{
			name: "purchase",
			phases: func(r *run, t0 time.Time) []phase {
				return []phase{{t0, purchase(r, t0, std)}}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "renew three times",
			phases: func(r *run, t0 time.Time) []phase {
				return []phase{
					{t0, purchase(r, t0, std)},
					{month(t0, 1), []billing.Fact{renewal(r, t0, 1, std)}},
					{month(t0, 2), []billing.Fact{renewal(r, t0, 2, std)}},
					{month(t0, 3), []billing.Fact{renewal(r, t0, 3, std)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "payment fails, suspended, paid, resumed",
			phases: func(r *run, t0 time.Time) []phase {
				due := month(t0, 1)
				return []phase{
					{t0, purchase(r, t0, std)},
					{due, []billing.Fact{
						r.fact(billing.PaymentFailed, due, func(f *billing.Fact) { f.Invoice = "in_" + r.id + "_2"; f.InvoiceURL = "https://pay.example/in2" }),
						subState(r, due.Add(time.Second), "past_due", std, false, month(t0, 2)),
					}},
					{due.Add(grace + time.Hour), nil}, // the grace period ends: suspended
					{due.Add(grace + 2*time.Hour), []billing.Fact{
						renewal(r, t0, 1, std),
						subState(r, due.Add(grace+2*time.Hour+time.Second), "active", std, false, month(t0, 2)),
					}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "payment_failed", "suspended", "resumed"},
			wantCreates: pick(1, 2), // VPNKI has no suspend: its tunnel is deleted and made again
		},
		{
			// The dunning update may arrive before the purchase it follows.
			name: "past due right after purchase, suspended by the clock",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(10 * time.Second)
				facts := append(purchase(r, t0, std),
					r.fact(billing.PaymentFailed, at, func(f *billing.Fact) { f.Invoice = "in_" + r.id + "_9" }),
					subState(r, at, "past_due", std, false, month(t0, 1)))
				return []phase{{at, facts}, {at.Add(grace + time.Hour), nil}}
			},
			// PureVPN: disabled, kept; VPNKI: no suspend, the tunnel is deleted.
			wantAccounts: pick(1, 0), wantEmails: []string{"welcome", "payment_failed", "suspended"}, wantCreates: 1,
		},
		{
			name: "cancel",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(10 * 24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{subState(r, at, "canceled", std, false, month(t0, 1)), r.fact(billing.Canceled, at.Add(time.Second), nil)}},
					{at.Add(deleteAfter + time.Hour), nil},
				}
			},
			wantAccounts: 0, wantEmails: []string{"welcome", "canceled", "deleted"}, wantCreates: 1,
		},
		{
			name: "cancel at period end",
			phases: func(r *run, t0 time.Time) []phase {
				at, end := t0.Add(5*24*time.Hour), month(t0, 1)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{subState(r, at, "active", std, true, end)}},
					{end, []billing.Fact{r.fact(billing.Canceled, end, nil)}},
					{end.Add(deleteAfter + time.Hour), nil},
				}
			},
			wantAccounts: 0, wantEmails: []string{"welcome", "ending", "canceled", "deleted"}, wantCreates: 1,
		},
		{
			// A full refund of the invoice of the current period takes the
			// service back until a later period is paid; Stripe's own
			// events decide any cancellation.
			name: "refund of the current invoice",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(48 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{refund(r, at, 1, 999, true)}},
					{at.Add(deleteAfter + time.Hour), nil},
				}
			},
			// PureVPN: disabled, kept; VPNKI (no suspend): the tunnel is deleted.
			wantAccounts: pick(1, 0), wantEmails: []string{"welcome", "suspended"}, wantCreates: 1,
		},
		{
			name: "refund of the current invoice, then a renewal",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(48 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{refund(r, at, 1, 999, true)}},
					{month(t0, 1), []billing.Fact{renewal(r, t0, 1, std)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "suspended", "resumed"},
			wantCreates: pick(1, 2), // VPNKI: a new tunnel
		},
		{
			// A refund that fails gives the payment back: the suspension it
			// caused is lifted (Stripe sends no new charge.refunded).
			name: "a refund that fails",
			phases: func(r *run, t0 time.Time) []phase {
				at, failed := t0.Add(48*time.Hour), t0.Add(5*24*time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{refund(r, at, 1, 999, true)}},
					{failed, []billing.Fact{refundFailed(r, failed, 1, at, 999)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "suspended", "resumed"},
			wantCreates: pick(1, 2), // VPNKI: a new tunnel
		},
		{
			// A one-off order refunded ends, but not for good: its refund
			// failing brings it back before its retention ends.
			name: "a one-off order's refund that fails",
			phases: func(r *run, t0 time.Time) []phase {
				p := plan(std)
				at, failed := t0.Add(48*time.Hour), t0.Add(5*24*time.Hour)
				oneoff := r.fact(billing.Purchase, t0, func(f *billing.Fact) {
					f.Key, f.Subscription, f.OneOff, f.CheckoutSession = "cs_"+r.id, "", true, "cs_"+r.id
					f.Plan, f.PaymentIntent, f.PeriodStart, f.PeriodEnd = p, "pi_"+r.id, t0, t0.AddDate(0, 0, p.PeriodDays)
				})
				refunded := r.fact(billing.Refunded, at, func(f *billing.Fact) {
					f.Key, f.Subscription, f.Charge, f.PaymentIntent, f.FullRefund = "", "", "ch_"+r.id, "pi_"+r.id, true
				})
				reverted := r.fact(billing.RefundReverted, failed, func(f *billing.Fact) {
					f.Key, f.Subscription, f.Charge, f.PaymentIntent = "", "", "ch_"+r.id, "pi_"+r.id
					f.Refund, f.RefundCreated = "re_"+r.id, at
				})
				return []phase{{t0, []billing.Fact{oneoff}}, {at, []billing.Fact{refunded}}, {failed, []billing.Fact{reverted}}}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "canceled", "resumed"},
			wantCreates: pick(1, 2), // VPNKI: a new tunnel
		},
		{
			// A refund that fails after the order's retention ended (its
			// account deleted) brings it back too: a new account for what
			// is left of the period paid.
			name: "a one-off order's refund that fails after its account was deleted",
			phases: func(r *run, t0 time.Time) []phase {
				p := plan(std)
				p.PeriodDays = 365
				at := t0.Add(48 * time.Hour)
				failed := at.Add(deleteAfter + 24*time.Hour)
				oneoff := r.fact(billing.Purchase, t0, func(f *billing.Fact) {
					f.Key, f.Subscription, f.OneOff, f.CheckoutSession = "cs_"+r.id, "", true, "cs_"+r.id
					f.Plan, f.PaymentIntent, f.PeriodStart, f.PeriodEnd = p, "pi_"+r.id, t0, t0.AddDate(0, 0, p.PeriodDays)
				})
				refunded := r.fact(billing.Refunded, at, func(f *billing.Fact) {
					f.Key, f.Subscription, f.Charge, f.PaymentIntent, f.FullRefund = "", "", "ch_"+r.id, "pi_"+r.id, true
				})
				reverted := r.fact(billing.RefundReverted, failed, func(f *billing.Fact) {
					f.Key, f.Subscription, f.Charge, f.PaymentIntent = "", "", "ch_"+r.id, "pi_"+r.id
					f.Refund, f.RefundCreated = "re_"+r.id, at
				})
				return []phase{
					{t0, []billing.Fact{oneoff}},
					{at, []billing.Fact{refunded}},
					{at.Add(deleteAfter + time.Hour), nil}, // the retention ends: deleted
					{failed, []billing.Fact{reverted}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "canceled", "deleted", "resumed"}, wantCreates: 2,
		},
		{
			name: "refund of an older invoice",
			phases: func(r *run, t0 time.Time) []phase {
				at := month(t0, 1).Add(24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{month(t0, 1), []billing.Fact{renewal(r, t0, 1, std)}},
					{at, []billing.Fact{refund(r, at, 1, 999, true)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			// Stripe's running total: the second refund makes it whole.
			name: "partial refunds adding up to the total",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(48 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{refund(r, at, 1, 400, false)}},
					{at.Add(time.Hour), []billing.Fact{refund(r, at.Add(time.Hour), 1, 999, false)}},
				}
			},
			wantAccounts: pick(1, 0), wantEmails: []string{"welcome", "suspended"}, wantCreates: 1,
		},
		{
			// The refund may be handled while its purchase is: the
			// record is found through the payment's index before the
			// purchase is folded into it, and must wait for it.
			name: "a partial refund arriving with its purchase",
			phases: func(r *run, t0 time.Time) []phase {
				return []phase{{t0, append(purchase(r, t0, std), refund(r, t0.Add(3*time.Second), 1, 400, false))}}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "a partial refund",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(48 * time.Hour)
				return []phase{{t0, purchase(r, t0, std)}, {at, []billing.Fact{refund(r, at, 1, 400, false)}}}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "dispute won",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(20 * 24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{dispute(r, at, billing.Disputed, false)}},
					{at.Add(10 * 24 * time.Hour), []billing.Fact{dispute(r, at.Add(10*24*time.Hour), billing.DisputeClosed, true)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "suspended", "resumed"}, wantCreates: pick(1, 2),
		},
		{
			name: "dispute lost",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(20 * 24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{dispute(r, at, billing.Disputed, false)}},
					{at.Add(10 * 24 * time.Hour), []billing.Fact{dispute(r, at.Add(10*24*time.Hour), billing.DisputeClosed, false)}},
				}
			},
			wantAccounts: pick(1, 0), wantEmails: []string{"welcome", "suspended"}, wantCreates: 1,
		},
		{
			name: "plan change",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(7 * 24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{subState(r, at, "active", other, false, month(t0, 1))}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: planChangeEmails, wantCreates: pick(2, 1),
		},
		{
			// An account at the new provider, its credentials emailed, then
			// the old account deleted at the old provider.
			name: "plan change to the other provider",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(7 * 24 * time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{subState(r, at, "active", across, false, month(t0, 1))}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "welcome"}, wantCreates: 2,
			wantAt: map[string]int{"purevpn": pick(0, 1), "vpnki": pick(1, 0)},
		},
		{
			name: "one-off order expires",
			phases: func(r *run, t0 time.Time) []phase {
				p := plan(std)
				oneoff := r.fact(billing.Purchase, t0, func(f *billing.Fact) {
					f.Key, f.Subscription, f.OneOff, f.CheckoutSession = "cs_"+r.id, "", true, "cs_"+r.id
					f.Plan, f.PaymentIntent, f.PeriodStart, f.PeriodEnd = p, "pi_"+r.id, t0, t0.AddDate(0, 0, p.PeriodDays)
				})
				end := t0.AddDate(0, 0, p.PeriodDays).Add(grace + time.Hour)
				return []phase{{t0, []billing.Fact{oneoff}}, {end, nil}}
			},
			wantAccounts: 0, wantEmails: []string{"welcome", "deleted"}, wantCreates: 1,
		},
		{
			name: "a free one-off order",
			phases: func(r *run, t0 time.Time) []phase {
				p := plan(std)
				free := r.fact(billing.Purchase, t0, func(f *billing.Fact) {
					f.Key, f.Subscription, f.OneOff, f.CheckoutSession, f.Amount = "cs_"+r.id, "", true, "cs_"+r.id, 0
					f.Plan, f.PeriodStart, f.PeriodEnd = p, t0, t0.AddDate(0, 0, p.PeriodDays)
				})
				return []phase{{t0, []billing.Fact{free}}}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "trial, then paid",
			phases: func(r *run, t0 time.Time) []phase {
				end := t0.AddDate(0, 0, 14)
				return []phase{
					{t0, trial(r, t0, std, end)},
					{end, []billing.Fact{r.fact(billing.Renewal, end, func(f *billing.Fact) {
						f.Plan, f.Invoice, f.PeriodStart, f.PeriodEnd = plan(std), "in_"+r.id+"_2", end, end.AddDate(0, 1, 0)
					})}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			name: "trial lapses unpaid",
			phases: func(r *run, t0 time.Time) []phase {
				end := t0.AddDate(0, 0, 14)
				return []phase{
					{t0, trial(r, t0, std, end)},
					{end, []billing.Fact{
						r.fact(billing.PaymentFailed, end, func(f *billing.Fact) { f.Invoice = "in_" + r.id + "_2" }),
						subState(r, end.Add(time.Second), "past_due", std, false, end.AddDate(0, 1, 0)),
					}},
					{end.Add(grace + time.Hour), nil},
				}
			},
			wantAccounts: pick(1, 0), wantEmails: []string{"welcome", "payment_failed", "suspended"}, wantCreates: 1,
		},
		{
			name: "payment action required",
			phases: func(r *run, t0 time.Time) []phase {
				due := month(t0, 1)
				return []phase{
					{t0, purchase(r, t0, std)},
					{due, []billing.Fact{r.fact(billing.PaymentActionRequired, due, func(f *billing.Fact) {
						f.Invoice, f.InvoiceURL = "in_"+r.id+"_2", "https://pay.example/in2"
					})}},
					{due.Add(time.Hour), []billing.Fact{renewal(r, t0, 1, std)}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "payment_action"}, wantCreates: 1,
		},
		{
			// Each seat is an account, emailed its own credentials; the
			// newest seat is removed when the quantity goes down, and
			// deleted after the retention.
			name: "seats 1 → 3 → 2",
			phases: func(r *run, t0 time.Time) []phase {
				up, down := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
				return []phase{
					{t0, purchase(r, t0, std)},
					{up, []billing.Fact{seats(r, up, std, 3)}},
					{down, []billing.Fact{seats(r, down, std, 2)}},
					{down.Add(deleteAfter + time.Hour), nil},
				}
			},
			wantAccounts: 2, wantEnabled: true, wantEmails: []string{"welcome", "welcome", "welcome", "seat_removed"}, wantCreates: 3,
		},
		{
			// Facts of the other mode (live, while test mode is served)
			// never reach the provider or the customer: a refund and a
			// cancellation that would otherwise end the service.
			name: "an event of the other mode",
			phases: func(r *run, t0 time.Time) []phase {
				at := t0.Add(48 * time.Hour)
				live := func(f billing.Fact) billing.Fact { f.Livemode = true; return f }
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{live(refund(r, at, 1, 999, true)), live(r.fact(billing.Canceled, at.Add(time.Second), nil))}},
					{at.Add(deleteAfter + time.Hour), nil},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome"}, wantCreates: 1,
		},
		{
			// Later emails go to the customer's new address (see outcome).
			name: "email change",
			phases: func(r *run, t0 time.Time) []phase {
				at, due := t0.Add(5*24*time.Hour), month(t0, 1)
				return []phase{
					{t0, purchase(r, t0, std)},
					{at, []billing.Fact{r.fact(billing.CustomerChanged, at, func(f *billing.Fact) {
						f.Key, f.Subscription, f.Email = "", "", newAddress(r)
					})}},
					{due, []billing.Fact{r.fact(billing.PaymentFailed, due, func(f *billing.Fact) {
						f.Email, f.Invoice = "", "in_"+r.id+"_2"
					})}},
				}
			},
			wantAccounts: 1, wantEnabled: true, wantEmails: []string{"welcome", "payment_failed"}, wantCreates: 1,
			wantToNewAddress: []string{"payment_failed"},
		},
	}
}

// trial is the two facts of a subscription that starts with a free trial
// until end: its checkout and its first invoice, both of 0.
func trial(r *run, t0 time.Time, planID string, end time.Time) []billing.Fact {
	p := plan(planID)
	return []billing.Fact{
		r.fact(billing.Purchase, t0, func(f *billing.Fact) {
			f.Plan, f.CheckoutSession, f.Invoice, f.Amount = p, "cs_"+r.id, "in_"+r.id+"_1", 0
		}),
		r.fact(billing.Purchase, t0.Add(2*time.Second), func(f *billing.Fact) {
			f.Plan, f.Invoice, f.Amount, f.PeriodStart, f.PeriodEnd = p, "in_"+r.id+"_1", 0, t0, end
		}),
	}
}

// newAddress is the address a run's customer changes to.
func newAddress(r *run) string { return "new-" + r.email }

// outcome is what a customer and the provider end up with.
type outcome struct {
	accounts []string // provider state, projected without usernames
	emails   []string // email ids, without the run's ids
	creates  int
}

func (r *run) outcome(t *testing.T, provider string) outcome {
	t.Helper()
	var o outcome
	// Both providers: a plan change may move the service from one to the
	// other (a lifecycle of one provider leaves the other empty).
	for _, a := range r.pure.Accounts() {
		o.accounts = append(o.accounts, fmt.Sprintf("%s enabled=%v expiry=%s", a.PackageType, a.Enabled, a.Expiry.Format(time.DateOnly)))
	}
	for range r.tunnels.Tunnels() {
		o.accounts = append(o.accounts, "tunnel")
	}
	o.creates = r.pure.Calls("create") + r.tunnels.Calls("add_tunnel")
	slices.Sort(o.accounts)
	for _, m := range r.w.mail.Messages() {
		if len(m.To) != 1 || (m.To[0] != r.email && m.To[0] != newAddress(r)) {
			continue
		}
		id := strings.ReplaceAll(strings.ReplaceAll(m.MessageID, r.id, "*"), "cs_*", "sub_*")
		if m.To[0] == newAddress(r) {
			id += " to the new address"
		}
		o.emails = append(o.emails, id)
	}
	slices.Sort(o.emails)
	return o
}

// play runs the lifecycle's phases, shuffling and repeating deliveries
// within each phase when rng is set.
func (r *run) play(t *testing.T, phases []phase, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	for _, ph := range phases {
		r.clock.AdvanceTo(ph.at)
		var deliveries []billing.Fact
		for _, f := range ph.facts {
			n := 1
			if rng != nil {
				n = 1 + rng.IntN(3)
			}
			for range n {
				deliveries = append(deliveries, f)
			}
		}
		if rng != nil {
			rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		}
		for i := 0; i < len(deliveries); i++ {
			err := r.svc.Apply(ctx, deliveries[i])
			if errors.Is(err, provisioning.ErrUnknownAccount) && i < 100 {
				deliveries = append(deliveries, deliveries[i]) // redelivered later, as JetStream would
				continue
			}
			if err != nil {
				t.Fatalf("apply %s (%s): %v", deliveries[i].EventID, deliveries[i].Kind, err)
			}
		}
		for _, f := range ph.facts {
			if r.key == "" && f.Key != "" {
				r.key = f.Key
			}
		}
		// The timers of the record and of its further seats fire.
		keys := []string{r.key}
		if rec, _, err := r.w.store.Get(ctx, r.key); err == nil {
			keys = append(keys, rec.SeatKeys()...)
		}
		for _, key := range keys {
			if err := r.svc.Reconcile(ctx, key); err != nil {
				t.Fatalf("timer: reconcile %s: %v", key, err)
			}
		}
	}
}

func TestLifecycles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, prov := range []struct{ name, std, other string }{{"purevpn", "std", "sstp"}, {"vpnki", "tun", "tun-pro"}} {
		for _, lc := range lifecycles(prov.name, prov.std, prov.other) {
			t.Run(prov.name+"/"+lc.name, func(t *testing.T) {
				t.Parallel()
				in := w.newRun(t, t0)
				in.play(t, lc.phases(in, t0), nil)
				want := in.outcome(t, prov.name)
				checkLifecycle(t, prov.name, lc, want)

				rng := rand.New(rand.NewPCG(uint64(len(lc.name)), uint64(len(prov.name))))
				for i := range orderings {
					r := w.newRun(t, t0)
					r.play(t, lc.phases(r, t0), rng)
					got := r.outcome(t, prov.name)
					if !slices.Equal(got.accounts, want.accounts) || !slices.Equal(got.emails, want.emails) || got.creates != want.creates {
						t.Fatalf("ordering %d differs from the in-order run:\n got  %+v\n want %+v", i, got, want)
					}
				}
			})
		}
	}
}

// checkLifecycle asserts the in-order run did what the lifecycle means.
func checkLifecycle(t *testing.T, provider string, lc lifecycle, o outcome) {
	t.Helper()
	if len(o.accounts) != lc.wantAccounts {
		t.Errorf("accounts at %s = %v, want %d", provider, o.accounts, lc.wantAccounts)
	}
	for _, a := range o.accounts {
		if lc.wantEnabled && strings.Contains(a, "enabled=") && !strings.Contains(a, "enabled=true") {
			t.Errorf("account = %s, want every account enabled", a)
		}
	}
	var kinds, toNew []string
	for _, id := range o.emails {
		kind := strings.SplitN(strings.Trim(id, "<"), ".", 2)[0]
		kinds = append(kinds, kind)
		if strings.HasSuffix(id, " to the new address") {
			toNew = append(toNew, kind)
		}
	}
	if !slices.Equal(toNew, lc.wantToNewAddress) {
		t.Errorf("emails to the new address = %v, want %v", toNew, lc.wantToNewAddress)
	}
	want := slices.Clone(lc.wantEmails)
	slices.Sort(kinds)
	slices.Sort(want)
	if !slices.Equal(kinds, want) {
		t.Errorf("emails = %v, want kinds %v", o.emails, want)
	}
	for prov, n := range lc.wantAt {
		at := 0
		for _, a := range o.accounts {
			if (a == "tunnel") == (prov == "vpnki") {
				at++
			}
		}
		if at != n {
			t.Errorf("accounts at %s = %d, want %d (%v)", prov, at, n, o.accounts)
		}
	}
	if o.creates != lc.wantCreates {
		t.Errorf("creates at %s = %d, want %d", provider, o.creates, lc.wantCreates)
	}
}
