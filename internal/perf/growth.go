package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/embednats"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// GrowthOptions configures Growth.
type GrowthOptions struct {
	// Smoke runs tiny counts (1,000 and 10,000 account records, 10,000
	// audit events) in seconds, to show that every figure is produced;
	// its values say nothing of speed. Default false: the counts
	// (1,000 and 1,000,000 records, 10,000,000 audits, 100,000 records
	// beside them), which take minutes and several GB of disk.
	Smoke bool
	// NATSURL is a running nats-server with JetStream (file store) to
	// measure on. Default "": an embedded server with its store in Dir.
	NATSURL string
	// Dir is a directory the run may write to. Required.
	Dir string
}

// growthCounts are the sizes Growth measures at.
type growthCounts struct {
	small, large int // account records beside the events applied
	customers    int // customers whose renewals are applied, per size
	rounds       int // renewals applied per customer and size
	audits       int // audit events over the year the report reads a month of
	records      int // account records beside them
}

var (
	fullGrowth  = growthCounts{small: 1_000, large: 1_000_000, customers: 200, rounds: 5, audits: 10_000_000, records: 100_000}
	smokeGrowth = growthCounts{small: 1_000, large: 10_000, customers: 20, rounds: 2, audits: 10_000, records: 1_000}
)

// Growth measures how vpnbill's costs grow with its data, on NATS
// JetStream with vpnbill's topology, the PureVPN simulator (no latency)
// and an SMTP listener, all on loopback:
//
//   - the cost of applying one event (provisioning.Service.Apply of a
//     renewal, its provider calls and audits included) with 1,000,000
//     account records beside it, against the same with 1,000, measured in
//     alternating rounds in one run: target ratio ≤ 1.2;
//   - `vpnbillctl report` (ops.Ops.Report) for one month of a year of
//     10,000,000 audit events, beside 100,000 account records: target
//     ≤ 30 s; with the first report's cost (it examines the whole trail
//     once) and the records' read alone.
//
// JetStream stores every message at the time it receives it, so a year
// cannot be written in minutes with a year's stored times. The audits are
// written at the times they record, as the worker writes them, over the
// minutes the run takes; those minutes are the year, a twelfth of them a
// month, and the report's late rule is scaled alike (a day of a year
// becomes a day's share of the run). The report's work is that of a year's
// trail: it reads a month's window and the traffic since the previous
// report, whatever the times.
func Growth(ctx context.Context, opts GrowthOptions) ([]Figure, error) {
	if opts.Dir == "" {
		return nil, errors.New("growth: Dir is required")
	}
	c := fullGrowth
	if opts.Smoke {
		c = smokeGrowth
	}
	g, err := startGrowth(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer g.close()
	perEvent, err := g.perEvent(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("growth, per-event cost: %w", err)
	}
	report, err := g.report(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("growth, report: %w", err)
	}
	return append([]Figure{perEvent}, report...), nil
}

// growth is what the figures are measured on.
type growth struct {
	srv    *embednats.Server // nil with GrowthOptions.NATSURL
	nc     *nats.Conn
	js     jetstream.JetStream
	sim    *purevpnsim.Sim
	http   *http.Server
	simURL string
	mail   *mailcatcher.Catcher
}

const (
	simUser, simPassword = "reseller-growth", "growth-Pa55word!"
	// pendingPublishes bounds the asynchronous publishes in flight.
	pendingPublishes = 4096
)

var growthPlan = billing.Plan{ID: "std-monthly", Name: "Standard", Provider: string(providers.PureVPN), PackageType: "STANDARD", PeriodDays: 30}

func startGrowth(ctx context.Context, opts GrowthOptions) (_ *growth, err error) {
	g := &growth{}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	url := opts.NATSURL
	if url == "" {
		if g.srv, err = embednats.Start(embednats.Options{StoreDir: filepath.Join(opts.Dir, "nats")}); err != nil {
			return nil, err
		}
		url = g.srv.ClientURL()
	}
	if g.nc, err = nats.Connect(url, nats.Name("vpnbench-growth")); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if g.js, err = jetstream.New(g.nc, jetstream.WithPublishAsyncMaxPending(pendingPublishes)); err != nil {
		return nil, err
	}
	if _, err = events.Setup(ctx, g.js, events.Config{}); err != nil {
		return nil, err
	}
	g.sim = purevpnsim.New(purevpnsim.Options{User: simUser, Password: simPassword})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.http = &http.Server{Handler: g.sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.http.Serve(ln) }()
	g.simURL = "http://" + ln.Addr().String()
	g.mail = mailcatcher.New(mailcatcher.Options{})
	if err = g.mail.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *growth) close() {
	if g.mail != nil {
		_ = g.mail.Close()
	}
	if g.http != nil {
		_ = g.http.Close()
	}
	if g.nc != nil {
		g.nc.Close()
	}
	if g.srv != nil {
		g.srv.Stop()
	}
}

// service is a provisioning service over bucket kv, as a worker runs one.
func (g *growth) service(kv jetstream.KeyValue) (*provisioning.Service, error) {
	pc, err := purevpn.New(purevpn.Config{URL: g.simURL, User: simUser, Password: simPassword})
	if err != nil {
		return nil, err
	}
	mailer, err := notify.New(notify.Config{URL: g.mail.URL(), From: "VPN Shop <support@vpnshop.test>"}, nil)
	if err != nil {
		return nil, err
	}
	sealer, err := provisioning.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		return nil, err
	}
	return provisioning.New(provisioning.Config{}, provisioning.NewStore(kv), g.js,
		map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: pc}}, mailer, sealer, nil), nil
}

// bucket creates bucket name as events.Setup creates ACCOUNTS.
func (g *growth) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	return g.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 10, Storage: jetstream.FileStorage})
}

// sized is one side of the per-event comparison: a bucket of records, a
// service over it, and its customers with an account each.
type sized struct {
	records   int
	kv        jetstream.KeyValue
	svc       *provisioning.Service
	customers []string
	t0        time.Time
	applied   int
	took      time.Duration
}

// perEvent measures the cost of applying a renewal beside c.small and
// c.large account records, in alternating rounds.
func (g *growth) perEvent(ctx context.Context, c growthCounts) (Figure, error) {
	sides := []*sized{{records: c.small}, {records: c.large}}
	for i, s := range sides {
		var err error
		if s.kv, err = g.bucket(ctx, fmt.Sprintf("GROWTH_%d", s.records)); err != nil {
			return Figure{}, err
		}
		if s.svc, err = g.service(s.kv); err != nil {
			return Figure{}, err
		}
		fillKey := func(j int) string { return fmt.Sprintf("sub_fill%d_%07d", i, j) }
		if err := g.fill(ctx, s.kv, fillKey, s.records-c.customers); err != nil {
			return Figure{}, err
		}
		// The customers renewed below: bought through the service, so
		// their records, accounts and emails are real.
		s.t0 = time.Now().UTC().Truncate(time.Second)
		for j := range c.customers {
			key := fmt.Sprintf("sub_grow%d_%06d", i, j)
			s.customers = append(s.customers, key)
			for _, f := range purchaseFacts(key, s.t0) {
				if err := s.svc.Apply(ctx, f); err != nil {
					return Figure{}, fmt.Errorf("purchase %s: %w", key, err)
				}
			}
		}
	}
	for round := 1; round <= c.rounds; round++ {
		for _, s := range sides {
			start := time.Now()
			for _, key := range s.customers {
				if err := s.svc.Apply(ctx, renewalFact(key, s.t0, round)); err != nil {
					return Figure{}, fmt.Errorf("renew %s: %w", key, err)
				}
			}
			s.took += time.Since(start)
			s.applied += len(s.customers)
		}
	}
	for _, s := range sides {
		if err := g.js.DeleteKeyValue(ctx, s.kv.Bucket()); err != nil {
			return Figure{}, err
		}
	}
	ms := func(s *sized) float64 { return float64(s.took) / float64(s.applied) / float64(time.Millisecond) }
	small, large := sides[0], sides[1]
	f := Figure{
		Name:    fmt.Sprintf("growth: per-event cost with %s account records ÷ with %s", Number(float64(large.records)), Number(float64(small.records))),
		Unit:    "ms",
		Value:   ms(large),
		Ceiling: ms(small),
		Target:  "≤ 1.2",
		Note: fmt.Sprintf("one renewal applied at a time (provisioning.Service.Apply: fold, PureVPN lookup and renew, audits, timer) for %d customers, "+
			"%d rounds alternating between a bucket of %s records and one of %s: %s vs %s events; the zero-latency PureVPN simulator and an SMTP listener on loopback",
			c.customers, c.rounds, Number(float64(large.records)), Number(float64(small.records)), Number(float64(large.applied)), Number(float64(small.applied))),
	}
	f.Ratio = f.Value / f.Ceiling
	f.Met = f.Ratio <= 1.2
	return f, nil
}

// purchaseFacts are the facts of a subscription bought at t0: its checkout
// and its first invoice.
func purchaseFacts(key string, t0 time.Time) []billing.Fact {
	base := billing.Fact{Kind: billing.Purchase, Key: key, Subscription: key, Customer: "cus_" + key, Email: key + "@example.com",
		Currency: "eur", Amount: 999, Plan: growthPlan}
	checkout, invoice := base, base
	checkout.EventID, checkout.Created, checkout.CheckoutSession, checkout.Invoice = "evt_cs_"+key, t0, "cs_"+key, "in_"+key+"_0"
	invoice.EventID, invoice.Created, invoice.Invoice, invoice.Charge = "evt_in_"+key+"_0", t0.Add(2*time.Second), "in_"+key+"_0", "ch_"+key+"_0"
	invoice.PeriodStart, invoice.PeriodEnd = t0, t0.AddDate(0, 0, growthPlan.PeriodDays)
	return []billing.Fact{checkout, invoice}
}

// renewalFact is the invoice.paid of period n of the subscription bought at t0.
func renewalFact(key string, t0 time.Time, n int) billing.Fact {
	days := growthPlan.PeriodDays
	return billing.Fact{Kind: billing.Renewal, EventID: fmt.Sprintf("evt_in_%s_%d", key, n), Created: t0.AddDate(0, 0, n*days),
		Key: key, Subscription: key, Customer: "cus_" + key, Email: key + "@example.com", Currency: "eur", Amount: 999, Plan: growthPlan,
		Invoice: fmt.Sprintf("in_%s_%d", key, n), Charge: fmt.Sprintf("ch_%s_%d", key, n),
		PeriodStart: t0.AddDate(0, 0, n*days), PeriodEnd: t0.AddDate(0, 0, (n+1)*days)}
}

// customerKey is the record key of customer i of the year's audits.
func customerKey(i int) string { return fmt.Sprintf("sub_%07d", i) }

// fill writes n account records, under keys key(0)…key(n-1), into kv: an
// active subscription each, with its account, payments and emails, as the
// worker stores them. For speed they are encoded from one template and
// put by asynchronous publishes to the bucket's subjects (what a KV put is).
func (g *growth) fill(ctx context.Context, kv jetstream.KeyValue, key func(int) string, n int) error {
	const placeholder = "sub_template000000"
	tmpl, err := json.Marshal(templateRecord(placeholder, time.Now().UTC().Truncate(time.Second)))
	if err != nil {
		return err
	}
	p := newPublisher(g.js)
	for i := range n {
		k := key(i)
		if err := p.publish(ctx, "$KV."+kv.Bucket()+"."+k, bytes.ReplaceAll(tmpl, []byte(placeholder), []byte(k))); err != nil {
			return err
		}
	}
	return p.wait(ctx)
}

// templateRecord is an active subscription of a month, its account made
// and its welcome email sent, as the worker stores one.
func templateRecord(key string, at time.Time) provisioning.Record {
	plan := provisioning.SnapshotOf(growthPlan)
	return provisioning.Record{
		Format: provisioning.FormatVersion, Key: key, Created: at,
		Desired: provisioning.Desired{Plan: plan, PlanAsOf: at, Status: provisioning.StatusActive, PaidThrough: at.AddDate(0, 1, 0),
			PaidAsOf: at, SubStatus: "active", SubStatusAsOf: at, Purchased: true, Email: key + "@example.com", CustomerName: "Ada Lovelace",
			Customer: "cus_" + key, Subscription: key, Checkout: "cs_" + key, Livemode: true, Version: 3, SeatCount: 1,
			Payments: []provisioning.Payment{{ID: "in_" + key, Charge: "ch_" + key, PaymentIntent: "pi_" + key, PeriodEnd: at.AddDate(0, 1, 0), Amount: 999}}},
		Actual: provisioning.Actual{Provider: growthPlan.Provider, Username: "pv" + key, Exists: true, Enabled: true, Expiry: at.AddDate(0, 1, 0),
			Generation: 1, CreatedAt: at, PlanID: plan.ID, PackageType: plan.PackageType, PeriodDays: plan.PeriodDays},
		Emails:  map[string]provisioning.SentEmail{"welcome.1": {MessageID: "<welcome.1." + key + "@vpnbill>", Sent: at}},
		TimerAt: at.AddDate(0, 1, 3),
		Applied: []string{"evt_cs_" + key, "evt_in_" + key, "evt_sub_" + key},
	}
}

// report measures the finance report for one month of a year of c.audits
// audit events, beside c.records account records.
func (g *growth) report(ctx context.Context, c growthCounts) ([]Figure, error) {
	kv, err := g.js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, err
	}
	if err := g.fill(ctx, kv, customerKey, c.records); err != nil {
		return nil, err
	}
	start := time.Now()
	recs, err := provisioning.NewStore(kv).Records(ctx)
	if err != nil {
		return nil, err
	}
	gets := time.Since(start)
	if len(recs) < c.records {
		return nil, fmt.Errorf("%d records read, %d written", len(recs), c.records)
	}

	// The year: months 0–10; the first report (of month 9: it examines
	// the whole trail); month 11; then the monthly report, of month 10,
	// run a month after the previous one.
	y := &year{g: g, audits: c.audits, customers: c.records}
	if err := y.publish(ctx, 0, 11); err != nil {
		return nil, err
	}
	o := &ops.Ops{JS: g.js}
	rule := y.rule()
	firstTrail := y.published
	start = time.Now()
	_, first, err := o.ReportWith(ctx, y.bounds[9], y.bounds[10], rule)
	if err != nil {
		return nil, err
	}
	firstTook := time.Since(start)
	if err := y.publish(ctx, 11, 12); err != nil {
		return nil, err
	}
	start = time.Now()
	rep, st, err := o.ReportWith(ctx, y.bounds[10], y.bounds[11], rule)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	start = time.Now()
	if _, _, err := o.ReportWith(ctx, y.bounds[0].Add(-time.Hour), y.bounds[0].Add(-30*time.Minute), rule); err != nil {
		return nil, err
	}
	recordsOnly := time.Since(start)

	month := Figure{
		Name:    fmt.Sprintf("growth: report for one month with %s audit events", Number(float64(y.published))),
		Unit:    "s",
		Value:   took.Seconds(),
		Ceiling: 30,
		Target:  "≤ 30 s",
		Note: fmt.Sprintf("ops.Ops.ReportWith of month 11 of 12 (%s audits a month; %s of the year's payments audited two months late), run a month after the previous report, beside %s account records: "+
			"%s audits decoded from its window, %s stored since the previous report, %s late copies; %d rows, %d mismatches. "+
			"The months are twelfths of the minutes the audits took to write, the late rule scaled alike (a day is %s)",
			Number(float64(y.published/12)), Number(float64(y.late)), Number(float64(len(recs))), Number(float64(st.Window)), Number(float64(st.CaughtUp)),
			Number(float64(st.Late)), len(rep.Rows), rep.Mismatches, rule.After.Round(time.Millisecond)),
	}
	month.Ratio, month.Met = month.Value/month.Ceiling, month.Value <= month.Ceiling
	firstFig := Figure{
		Name:  fmt.Sprintf("growth: first report after the upgrade (examines a trail of %s audit events once)", Number(float64(firstTrail))),
		Unit:  "s",
		Value: firstTook.Seconds(),
		Note: fmt.Sprintf("the first report examines every audit stored before it (%s of the kinds it reads) and copies the late ones (%s) to AUDIT_LATE; every later report examines only what was stored since the previous one",
			Number(float64(first.CaughtUp)), Number(float64(first.Copied))),
	}
	recordsFig := Figure{
		Name:    fmt.Sprintf("growth: report with %s account records (a range without audits: the records alone)", Number(float64(len(recs)))),
		Unit:    "s",
		Value:   recordsOnly.Seconds(),
		Ceiling: 30,
		Target:  "≤ 30 s",
		Note:    fmt.Sprintf("the records are read by one watch of the bucket; a KV get per record (provisioning.Store.Records, as the report read them before) takes %s s", Number(gets.Seconds())),
	}
	recordsFig.Ratio, recordsFig.Met = recordsFig.Value/recordsFig.Ceiling, recordsFig.Value <= recordsFig.Ceiling
	return []Figure{month, firstFig, recordsFig}, nil
}

// year writes a year of audits, a twelfth a month, each at the time it
// records (but for the late ones), month after month.
type year struct {
	g         *growth
	audits    int // in twelve months
	customers int
	bounds    []time.Time // bounds[m]: when month m began; the last, when the last month written ended
	published int
	late      int // payments audited late
}

// monthKinds are the audits of one customer's month: a renewal
// paid (invoice.paid, its payment linked, the subscription updated, two
// Stripe redeliveries skipped), the account renewed (created, the first
// month) and two emails.
var monthKinds = []struct {
	kind  events.AuditKind
	stype string
}{
	{events.AuditFactApplied, billing.EventInvoicePaid},
	{events.AuditFactApplied, billing.EventInvoicePaymentPaid},
	{events.AuditFactApplied, billing.EventSubscriptionUpdated},
	{events.AuditFactSkipped, billing.EventInvoicePaid},
	{events.AuditFactSkipped, billing.EventSubscriptionUpdated},
	{events.AuditAccountRenewed, ""},
	{events.AuditEmailSent, ""},
	{events.AuditEmailSent, ""},
}

// rule is the report's late rule in the time scale of the months written
// so far.
func (y *year) rule() ops.LateRule {
	months := len(y.bounds) - 1
	scale := float64(y.bounds[months].Sub(y.bounds[0])) / float64(months) / float64(30*24*time.Hour)
	return ops.LateRule{After: time.Duration(float64(ops.DefaultLateRule().After) * scale), Early: time.Duration(float64(ops.DefaultLateRule().Early) * scale)}
}

// publish writes months [from, to). One payment in a thousand is late: it
// records a time two months before the month it is written in.
func (y *year) publish(ctx context.Context, from, to int) error {
	perMonth := y.audits / 12
	p := newPublisher(y.g.js)
	for m := from; m < to; m++ {
		y.bounds = append(y.bounds[:m], time.Now().UTC())
		for i := range perMonth {
			n := m*perMonth + i
			mk := monthKinds[n%len(monthKinds)]
			customer := (n / len(monthKinds)) % y.customers
			key := customerKey(customer)
			now := time.Now().UTC()
			a := events.Audit{V: events.AuditVersion, ID: fmt.Sprintf("%s:%s:%d", mk.kind, key, n), Kind: mk.kind, Time: now, Account: key}
			if mk.stype != "" {
				a.StripeEvent, a.StripeType, a.StripeCreated = "evt_"+strconv.Itoa(n), mk.stype, now
				a.Customer, a.Email, a.Subscription, a.Livemode = "cus_"+key, key+"@example.com", key, true
			}
			switch {
			case mk.stype == billing.EventInvoicePaid && mk.kind == events.AuditFactApplied:
				a.Invoice, a.Amount, a.Currency, a.Plan = "in_"+strconv.Itoa(n), 999, "eur", growthPlan.ID
				a.PeriodStart, a.PeriodEnd, a.Seats = now, now.AddDate(0, 1, 0), 1
				if n%(1000*len(monthKinds)) == 0 && m >= 2 {
					a.StripeCreated = y.bounds[m-2].Add(now.Sub(y.bounds[m]))
					y.late++
				}
			case mk.kind == events.AuditAccountRenewed && m == 0:
				a.Kind, a.Provider, a.Username, a.PeriodStart = events.AuditAccountCreated, growthPlan.Provider, "pv"+key, now
				a.ID = fmt.Sprintf("%s:%s:1", a.Kind, key)
				fallthrough
			case mk.kind == events.AuditAccountRenewed:
				a.PeriodEnd = now.AddDate(0, 1, 0)
			case mk.kind == events.AuditEmailSent:
				a.EmailKind, a.MessageID = "renewed", "<"+strconv.Itoa(n)+"@vpnbill>"
			}
			data, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if err := p.publish(ctx, events.AuditSubject(a.Kind), data); err != nil {
				return err
			}
			y.published++
		}
		if err := p.wait(ctx); err != nil {
			return err
		}
	}
	y.bounds = append(y.bounds[:to], time.Now().UTC())
	return nil
}

// publisher publishes asynchronously, at most pendingPublishes at a time,
// and checks every acknowledgement.
type publisher struct {
	js      jetstream.JetStream
	pending []jetstream.PubAckFuture
}

func newPublisher(js jetstream.JetStream) *publisher {
	return &publisher{js: js, pending: make([]jetstream.PubAckFuture, 0, pendingPublishes)}
}

func (p *publisher) publish(ctx context.Context, subject string, data []byte) error {
	if len(p.pending) == cap(p.pending) {
		if err := p.wait(ctx); err != nil {
			return err
		}
	}
	f, err := p.js.PublishAsync(subject, data)
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	p.pending = append(p.pending, f)
	return nil
}

// wait waits for every acknowledgement due.
func (p *publisher) wait(ctx context.Context) error {
	defer func() { p.pending = p.pending[:0] }()
	for _, f := range p.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
