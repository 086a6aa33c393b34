package worker_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Two handlers of one record at the same moment are normal: Stripe sends
// checkout.session.completed and the first invoice.paid within
// milliseconds, and a worker handles several messages at once. These tests
// deliver every fact of a moment at once, to two worker processes that
// each handle many messages at once, and expect exactly what the in-order
// run gets: no order parked in review, no second account, one welcome email.

// concurrentRuns is how many runs of each lifecycle, per provider,
// TestLifecyclesConcurrent plays with every phase's facts delivered at once:
// 50 in CI; VPNBILL_CONCURRENT_RUNS sets more for a longer soak.
var concurrentRuns = soakCount("VPNBILL_CONCURRENT_RUNS", 50)

const (
	// concurrentRunsAtOnce is how many runs of a lifecycle play at the same time.
	concurrentRunsAtOnce = 10
	// handlersPerProcess is each worker process's concurrency.
	handlersPerProcess = 8
	// deliverWithin bounds how long one delivery may keep being retried.
	deliverWithin = 30 * time.Second
)

// process is one worker process of a concurrent run: its own
// provisioning.Service, with its own lease owner, provider clients and
// mailer, over the run's store, JetStream, simulators and clock, handling
// at most handlersPerProcess deliveries at once.
type process struct {
	svc      *provisioning.Service
	handlers chan struct{}
	inFlight atomic.Int64
}

// newProcess is a worker process of run r with its own Owner.
func (w *world) newProcess(t *testing.T, r *run, owner string) *process {
	t.Helper()
	return &process{svc: w.newService(t, r, owner), handlers: make(chan struct{}, handlersPerProcess)}
}

// contention counts what the concurrent deliveries ran into.
type contention struct {
	leased   atomic.Int64 // deliveries that met another process's lease and were retried
	unknown  atomic.Int64 // refunds that came before their purchase and were retried
	overlaps atomic.Int64 // deliveries started while another ran in the same process
}

// concurrentRun is a run played by two worker processes at once.
type concurrentRun struct {
	*run
	seed  uint64
	procs [2]*process
}

func (w *world) newConcurrentRun(t *testing.T, start time.Time, seed uint64) *concurrentRun {
	t.Helper()
	r := w.newRun(t, start)
	cr := &concurrentRun{run: r, seed: seed}
	for i := range cr.procs {
		cr.procs[i] = w.newProcess(t, r, fmt.Sprintf("worker-%c-%s", 'a'+i, r.id))
	}
	return cr
}

// handle runs one handler in a random process, retrying as the consume
// loop would: a record leased by the other process, or a refund that came
// before its purchase, is delivered again (to either process) after a
// short delay. Any other error is the delivery's failure.
func (cr *concurrentRun) handle(rng *rand.Rand, st *contention, what string, fn func(*provisioning.Service) error) error {
	deadline := time.Now().Add(deliverWithin)
	for attempt := 1; ; attempt++ {
		p := cr.procs[rng.IntN(len(cr.procs))]
		p.handlers <- struct{}{}
		if p.inFlight.Add(1) > 1 {
			st.overlaps.Add(1)
		}
		err := fn(p.svc)
		p.inFlight.Add(-1)
		<-p.handlers
		var leased *provisioning.LeasedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &leased) && errors.Is(err, provisioning.ErrLeased),
			errors.Is(err, provisioning.ErrBusy): // the worker handles both again (events.Busy, events.BusyUntil)
			st.leased.Add(1)
		case errors.Is(err, provisioning.ErrUnknownAccount):
			st.unknown.Add(1)
		default:
			return fmt.Errorf("%s, delivery %d: %w", what, attempt, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %d deliveries in %s: %w", what, attempt, deliverWithin, err)
		}
		// The consume loop redelivers within a second; sooner here, to
		// keep the suite short.
		time.Sleep(time.Duration(1+rng.IntN(20)) * time.Millisecond)
	}
}

// play runs the phases: each fact of a phase delivered one to three times,
// every delivery released at the same moment, each to one of the two
// processes; once all have succeeded, the record's timer fires.
func (cr *concurrentRun) play(phases []phase, st *contention) error {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(cr.seed, 0))
	for n, ph := range phases {
		cr.clock.AdvanceTo(ph.at)
		var deliveries []billing.Fact
		for _, f := range ph.facts {
			for range 1 + rng.IntN(3) {
				deliveries = append(deliveries, f)
			}
		}
		start := make(chan struct{})
		errs := make([]error, len(deliveries))
		var wg sync.WaitGroup
		for i, f := range deliveries {
			drng := rand.New(rand.NewPCG(cr.seed, uint64(n)<<16|uint64(i)+1))
			wg.Go(func() {
				<-start
				errs[i] = cr.handle(drng, st, fmt.Sprintf("apply %s (%s)", f.EventID, f.Kind),
					func(svc *provisioning.Service) error { return svc.Apply(ctx, f) })
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("phase %d: %w", n, err)
		}
		for _, f := range ph.facts {
			if cr.key == "" && f.Key != "" {
				cr.key = f.Key
			}
		}
		// The timers of the record and of its further seats fire, each in
		// either process.
		keys := []string{cr.key}
		if rec, _, err := cr.w.store.Get(ctx, cr.key); err == nil {
			keys = append(keys, rec.SeatKeys()...)
		}
		for _, key := range keys {
			if err := cr.handle(rng, st, "timer: reconcile "+key,
				func(svc *provisioning.Service) error { return svc.Reconcile(ctx, key) }); err != nil {
				return fmt.Errorf("phase %d: %w", n, err)
			}
		}
	}
	return nil
}

// check compares the run with the in-order run and looks at its record:
// nothing in review, adoption or flight, every email sent once.
func (cr *concurrentRun) check(t *testing.T, provider string, want outcome) error {
	t.Helper()
	var errs []error
	got := cr.outcome(t, provider)
	if !slices.Equal(got.accounts, want.accounts) || !slices.Equal(got.emails, want.emails) || got.creates != want.creates {
		errs = append(errs, fmt.Errorf("differs from the in-order run:\n got  %+v\n want %+v", got, want))
	}
	welcome := func(o outcome) int {
		return len(slices.DeleteFunc(slices.Clone(o.emails), func(id string) bool { return !strings.HasPrefix(id, "<welcome.") }))
	}
	if g, w := welcome(got), welcome(want); g != w {
		errs = append(errs, fmt.Errorf("%d welcome emails, want %d", g, w))
	}
	if len(slices.Compact(slices.Clone(got.emails))) != len(got.emails) {
		errs = append(errs, fmt.Errorf("an email was sent twice: %v", got.emails))
	}
	// The record and each of its further seats' records are at rest.
	keys := []string{cr.key}
	for i := 0; i < len(keys); i++ {
		rec, _, err := cr.w.store.Get(context.Background(), keys[i])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("record %s: %w", keys[i], err))
			continue
		case rec.Review != nil:
			errs = append(errs, fmt.Errorf("record %s in review: %+v", keys[i], *rec.Review))
		case rec.Adopt != nil || rec.Step != nil || rec.Lease != nil || len(rec.Mail) > 0:
			errs = append(errs, fmt.Errorf("record %s not at rest: adopt %+v, step %+v, lease %+v, mail owed %v",
				keys[i], rec.Adopt, rec.Step, rec.Lease, rec.Mail))
		}
		if i == 0 {
			keys = append(keys, rec.SeatKeys()...)
		}
	}
	return errors.Join(errs...)
}

func TestLifecyclesConcurrent(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, prov := range []struct{ name, std, other string }{{"purevpn", "std", "sstp"}, {"vpnki", "tun", "tun-pro"}} {
		for _, lc := range lifecycles(prov.name, prov.std, prov.other) {
			t.Run(prov.name+"/"+lc.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t) // a world per lifecycle: outcome reads every email of its world
				in := w.newRun(t, t0)
				in.play(t, lc.phases(in, t0), nil)
				want := in.outcome(t, prov.name)
				checkLifecycle(t, prov.name, lc, want)
				if t.Failed() {
					return
				}

				h := fnv.New64a()
				_, _ = h.Write([]byte(prov.name + "/" + lc.name))
				base := h.Sum64()
				var st contention
				for first := 0; first < concurrentRuns; first += concurrentRunsAtOnce {
					var runs []*concurrentRun
					for i := first; i < min(first+concurrentRunsAtOnce, concurrentRuns); i++ {
						runs = append(runs, w.newConcurrentRun(t, t0, base+uint64(i)))
					}
					errs := make([]error, len(runs))
					var wg sync.WaitGroup
					for i, cr := range runs {
						wg.Go(func() {
							if errs[i] = cr.play(lc.phases(cr.run, t0), &st); errs[i] == nil {
								errs[i] = cr.check(t, prov.name, want)
							}
						})
					}
					wg.Wait()
					for i, err := range errs {
						if err != nil {
							t.Errorf("run %d (%s, seed %d): %v", first+i, runs[i].id, runs[i].seed, err)
						}
					}
					if t.Failed() {
						return
					}
				}
				t.Logf("%d concurrent runs: %d deliveries overlapped another in the same process, %d met the other process's lease, %d refunds came early",
					concurrentRuns, st.overlaps.Load(), st.leased.Load(), st.unknown.Load())
				if st.overlaps.Load() == 0 {
					t.Error("no two handlers ever ran at once in one process: the test proved nothing")
				}
			})
		}
	}
}

// The purchase burst, end to end: 500 customers buy at once; each one's
// checkout.session.completed and first invoice.paid reach the webhook at
// the same moment; two worker processes (this test binary, re-executed),
// sixteen handlers each, take them from JetStream.

const (
	burstSubscriptions = 500
	burstConcurrency   = 16
	burstHTTPConns     = 64
	burstWithin        = 60 * time.Second
)

// TestBurstWorkerProcess is a worker process of TestPurchaseBurst; it does
// nothing unless started by it.
func TestBurstWorkerProcess(t *testing.T) {
	if os.Getenv("VPNBILL_BURST_WORKER") != "1" {
		return
	}
	concurrency, err := strconv.Atoi(os.Getenv("WORKER_CONCURRENCY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "WORKER_CONCURRENCY:", err)
		os.Exit(1)
	}
	// The lease's owner defaults to hostname-pid-random: one per process.
	runWorkerProcess(events.ConsumerConfig{RetryBase: 200 * time.Millisecond, Concurrency: concurrency},
		provisioning.Config{AdoptAfter: time.Second})
}

// startBurstWorker runs a worker process of TestPurchaseBurst.
func (w *procWorld) startBurstWorker(t *testing.T) *exec.Cmd {
	t.Helper()
	return w.startProcess(t, "TestBurstWorkerProcess", "VPNBILL_BURST_WORKER=1", "WORKER_CONCURRENCY="+strconv.Itoa(burstConcurrency))
}

// burstPurchase is one customer's purchase: the two events Stripe sends.
type burstPurchase struct {
	sub, email        string
	checkout, invoice []byte
}

func newBurstPurchase(i int, plan, price, version string, now time.Time) burstPurchase {
	p := burstPurchase{sub: stripetest.ID("sub"), email: fmt.Sprintf("burst%03d@example.com", i)}
	cus, inv := stripetest.ID("cus"), stripetest.ID("in")
	session := stripetest.CheckoutSession(stripetest.Checkout{Subscription: p.sub, Customer: cus, Email: p.email,
		Plan: plan, Paid: true, Amount: 500, Currency: "eur", Created: now, Version: version})
	session["invoice"] = inv // the session's first invoice is the one paid below
	p.checkout = stripetest.VersionedEvent(version, stripetest.ID("evt"), billing.EventCheckoutCompleted, now, session)
	p.invoice = stripetest.InvoicePaid(stripetest.ID("evt"), now, stripetest.Invoice{ID: inv, Subscription: p.sub,
		Customer: cus, Email: p.email, BillingReason: "subscription_create", Price: price, AmountDue: 500,
		Currency: "eur", Charge: stripetest.ID("ch"), PaymentIntent: stripetest.ID("pi"), Version: version})
	return p
}

func TestPurchaseBurst(t *testing.T) {
	t.Parallel()
	// PureVPN's burst in the oldest API version read, VPNKI's in the newest.
	for _, tc := range []struct{ provider, plan, price, version string }{
		{"purevpn", "std", "price_std", stripetest.Versions[0]},
		{"vpnki", "tun", "price_tun", stripetest.Versions[len(stripetest.Versions)-1]},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			w := newProcWorld(t)
			nc, js := harness.Connect(t, w.ns, "burst-webhook")
			verifier, err := billing.NewVerifier([]string{webhookSecret}, 0)
			if err != nil {
				t.Fatal(err)
			}
			hook := httptest.NewServer(ingest.New(ingest.Config{}, verifier, nc, js, zap.NewNop()))
			t.Cleanup(hook.Close)

			// One after the other: nats-server (v2.15.2) races with itself
			// when one process creates a consumer while another updates
			// the stream (each worker's events.Setup does).
			var workers []*exec.Cmd
			for n := 1; n <= 2; n++ {
				workers = append(workers, w.startBurstWorker(t))
				w.waitPulling(t, n)
			}

			now := time.Now()
			purchases := make([]burstPurchase, burstSubscriptions)
			for i := range purchases {
				purchases[i] = newBurstPurchase(i, tc.plan, tc.price, tc.version, now)
			}
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				MaxConnsPerHost: burstHTTPConns, MaxIdleConnsPerHost: burstHTTPConns}}
			t.Cleanup(client.CloseIdleConnections)
			start := make(chan struct{})
			errs := make([]error, 2*len(purchases))
			var wg sync.WaitGroup
			for i, p := range purchases {
				for j, payload := range [][]byte{p.checkout, p.invoice} {
					wg.Go(func() {
						<-start
						resp, err := stripetest.Post(client, hook.URL+"/stripe/webhook", payload, webhookSecret)
						if err != nil {
							errs[2*i+j] = fmt.Errorf("%s: %w", p.sub, err)
							return
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							errs[2*i+j] = fmt.Errorf("%s: webhook answered %d", p.sub, resp.StatusCode)
						}
					})
				}
			}
			began := time.Now()
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("posting the burst: %v", err)
			}

			store := w.burstSettled(t, purchases)
			for _, cmd := range workers {
				stop(t, cmd)
			}

			var accounts, creates int
			if tc.provider == "purevpn" {
				accounts, creates = len(w.pure.Accounts()), w.pure.Calls("create")
			} else {
				accounts, creates = len(w.tunnels.Tunnels()), w.tunnels.Calls("add_tunnel")
			}
			if accounts != burstSubscriptions || creates != burstSubscriptions {
				t.Errorf("%s: %d accounts from %d creates, want %d and %d", tc.provider, accounts, creates, burstSubscriptions, burstSubscriptions)
			}
			emails := map[string][]string{}
			for _, m := range w.mail.Messages() {
				emails[strings.Join(m.To, ",")] = append(emails[strings.Join(m.To, ",")], m.MessageID)
			}
			var review, unwelcomed, twice []string
			for _, p := range purchases {
				ids := emails[p.email]
				delete(emails, p.email)
				switch {
				case len(ids) == 0 || !strings.HasPrefix(ids[0], "<welcome."):
					unwelcomed = append(unwelcomed, fmt.Sprintf("%s: %v", p.email, ids))
				case len(ids) > 1:
					twice = append(twice, fmt.Sprintf("%s: %v", p.email, ids))
				}
				if r, _, err := store.Get(context.Background(), p.sub); err != nil {
					t.Errorf("record %s: %v", p.sub, err)
				} else if r.Review != nil {
					review = append(review, p.sub)
				}
			}
			if len(unwelcomed) > 0 {
				t.Errorf("%d of %d customers got no welcome email, e.g. %v", len(unwelcomed), burstSubscriptions, unwelcomed[:min(3, len(unwelcomed))])
			}
			if len(twice) > 0 {
				t.Errorf("%d of %d customers got more than one email, e.g. %v", len(twice), burstSubscriptions, twice[:min(3, len(twice))])
			}
			if len(emails) > 0 {
				t.Errorf("emails to no customer of the burst: %v", emails)
			}
			if len(review) > 0 {
				t.Errorf("%d of %d records in review, e.g. %v", len(review), burstSubscriptions, review[:min(3, len(review))])
			}
			dead, err := w.js.Stream(context.Background(), events.StreamDead)
			if err != nil {
				t.Fatal(err)
			}
			if info, err := dead.Info(context.Background()); err != nil {
				t.Fatal(err)
			} else if info.State.Msgs != 0 {
				t.Errorf("stream %s holds %d dead letters, want none", events.StreamDead, info.State.Msgs)
			}
			t.Logf("%d purchases, %d events: %s from the first post to the last check", burstSubscriptions, 2*burstSubscriptions, time.Since(began).Round(time.Millisecond))
		})
	}
}

// waitPulling waits until n worker processes are pulling from stream STRIPE.
func (w *procWorld) waitPulling(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := w.js.Consumer(context.Background(), events.StreamStripe, events.ConsumerWorker)
		if err == nil {
			if ci, err := c.Info(context.Background()); err == nil && ci.NumWaiting >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d worker processes not pulling in 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// burstSettled waits until the workers have settled every event and every
// purchase's record is at rest (nothing in flight, owed or being adopted),
// or burstWithin has passed, which is an error. It returns the store.
func (w *procWorld) burstSettled(t *testing.T, purchases []burstPurchase) *provisioning.Store {
	t.Helper()
	ctx := context.Background()
	kv, err := w.js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		t.Fatal(err)
	}
	store := provisioning.NewStore(kv)
	deadline := time.Now().Add(burstWithin)
	var state string
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		c, err := w.js.Consumer(ctx, events.StreamStripe, events.ConsumerWorker)
		if err != nil {
			t.Fatal(err)
		}
		ci, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.AckFloor.Stream < uint64(2*len(purchases)) {
			state = fmt.Sprintf("%d events pending, %d unacknowledged, acked through %d of %d",
				ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream, 2*len(purchases))
			continue
		}
		busy := 0
		for _, p := range purchases {
			r, _, err := store.Get(ctx, p.sub)
			if err != nil || r.Step != nil || r.Lease != nil || r.Adopt != nil || len(r.Mail) > 0 {
				busy++
			}
		}
		if busy == 0 {
			return store
		}
		state = fmt.Sprintf("every event acknowledged; %d records not at rest", busy)
	}
	t.Errorf("the burst did not settle in %s: %s", burstWithin, state)
	return store
}
