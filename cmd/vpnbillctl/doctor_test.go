package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
)

const webhookSecret = "whsec_doctorCheck0123456789abcdefABCDEF"

// doctorBundle is a deployment doctor finds healthy: setup's world with
// the worker's consumers, stripe-mock behind the recording proxy holding
// the plans' prices, and the environment that points at all of it.
type doctorBundle struct {
	*bundle
	stripe *stripeProxy
}

func setupDoctor(t *testing.T) *doctorBundle {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.topo.WorkerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.topo.TimerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	p := newStripeProxy(t)
	p.addPrice("price_std_monthly", "", "prod_std", 999, "eur", "month")
	p.addPrice("price_tunnel", "", "prod_tunnel", 500, "eur", "month")
	b.environ = append(b.environ, "STRIPE_API_KEY="+setupKey, "STRIPE_API_URL="+p.URL, "STRIPE_WEBHOOK_SECRET="+webhookSecret)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, s := range []string{setupKey, webhookSecret, "0123456789abcdefABCDEF"} {
			if strings.Contains(strings.Join(b.outputs, "\n"), s) {
				t.Errorf("doctor printed a Stripe secret (%s…)", s[:10])
			}
		}
	})
	return &doctorBundle{bundle: b, stripe: p}
}

// doctor runs `vpnbillctl --json doctor` with environ changed by set
// (NAME=value pairs replacing or adding to the bundle's) and returns its
// exit code and findings by name.
func (d *doctorBundle) doctor(t *testing.T, args []string, set ...string) (int, map[string]ops.Check) {
	t.Helper()
	saved := d.environ
	defer func() { d.environ = saved }()
	d.environ = withEnv(saved, set...)
	code, out, errOut := d.ctl(t, append([]string{"--json", "doctor"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	checks := map[string]ops.Check{}
	for _, c := range rep.Checks {
		checks[c.Name] = c
	}
	if rep.Attention != ops.Attention(rep.Checks) {
		t.Errorf("attention = %d, but %d checks need it", rep.Attention, ops.Attention(rep.Checks))
	}
	return code, checks
}

// withEnv is environ with each NAME=value of set replacing NAME's value
// (or added); NAME= with no value removes it.
func withEnv(environ []string, set ...string) []string {
	out := append([]string(nil), environ...)
	for _, kv := range set {
		name, value, _ := strings.Cut(kv, "=")
		kept := out[:0]
		for _, e := range out {
			if !strings.HasPrefix(e, name+"=") {
				kept = append(kept, e)
			}
		}
		out = kept
		if value != "" {
			out = append(out, kv)
		}
	}
	return out
}

// The checks of a deployment with everything configured.
var allChecks = []string{
	"nats", "jetstream", "stream STRIPE", "stream AUDIT", "stream DEAD", "stream TIMERS", "stream AUDIT_LATE", "bucket ACCOUNTS",
	"consumer worker on STRIPE", "consumer timers on TIMERS", "jetstream sync", "smtp", "provider purevpn", "provider vpnki",
	"stripe mode", "stripe: list events", "stripe: read checkout line items", "stripe: read prices", "webhook secret",
	"plans vs stripe prices", "clock vs stripe",
}

func TestDoctorHealthy(t *testing.T) {
	t.Parallel()
	d := setupDoctor(t)
	code, checks := d.doctor(t, nil)
	if code != exitOK {
		t.Errorf("exit %d, want %d: %v", code, exitOK, checks)
	}
	if len(checks) != len(allChecks) {
		t.Errorf("%d checks, want %d", len(checks), len(allChecks))
	}
	for _, name := range allChecks {
		c, ok := checks[name]
		want := ops.CheckOK
		if name == "jetstream sync" { // a user outside the system account, no --nats-monitor
			want = ops.CheckUnknown
		}
		if !ok || c.Status != want {
			t.Errorf("%s: %+v, want %s", name, c, want)
		}
	}
	if c := checks["jetstream sync"]; !strings.Contains(c.Fix, "--nats-monitor") {
		t.Errorf("an unknown sync setting does not say how to check it: %+v", c)
	}
	if w := d.stripe.writes(0); len(w) != 0 {
		t.Errorf("doctor wrote to Stripe: %v", w)
	}
	if n := len(d.mail.Messages()); n != 0 {
		t.Errorf("doctor sent %d emails", n)
	}
	if a := d.pure.Accounts(); len(a) != 0 {
		t.Errorf("doctor made %d PureVPN accounts", len(a))
	}
	assertValid(t, d.stripe)

	// The table: one row per check, and the summary.
	code, out, _ := d.ctl(t, "doctor")
	if code != exitOK || !strings.Contains(out, "CHECK") || !strings.Contains(out, fmt.Sprintf("%d checks: %d ok, 0 need attention, 1 unknown", len(allChecks), len(allChecks)-1)) {
		t.Errorf("doctor's table: exit %d\n%s", code, out)
	}
}

func TestDoctorFindsProblems(t *testing.T) {
	t.Parallel()
	d := setupDoctor(t)
	authMail := harness.Mail(t, mailcatcher.Options{Username: "relay", Password: "relay-pw"})
	for _, tc := range []struct {
		name  string
		set   []string
		check string // needs attention
		fix   string // in its fix
	}{
		{name: "wrong PureVPN password", set: []string{"PUREVPN_API_PASSWORD=not-the-password"},
			check: "provider purevpn", fix: "PUREVPN_API_*"},
		{name: "wrong VPNKI key", set: []string{"VPNKI_API_KEY=not-the-key-0123456789"},
			check: "provider vpnki", fix: "VPNKI_API_*"},
		{name: "PureVPN unreachable", set: []string{"PUREVPN_API_URL=http://" + harness.RefusedAddr(t) + "/api"},
			check: "provider purevpn", fix: "PUREVPN_API_URL"},
		{name: "refused SMTP port", set: []string{"SMTP_URL=smtp://" + harness.RefusedAddr(t)},
			check: "smtp", fix: "host and port"},
		{name: "wrong SMTP password", set: []string{"SMTP_URL=smtp://relay:wrong-pw@" + authMail.Addr()},
			check: "smtp", fix: "user and password"},
		{name: "STARTTLS required, not offered", set: []string{"SMTP_URL=" + d.mail.URL() + "?tls=starttls"},
			check: "smtp", fix: "STARTTLS"},
		{name: "MAIL_FROM missing", set: []string{"MAIL_FROM="},
			check: "smtp", fix: "MAIL_FROM"},
		{name: "malformed secret", set: []string{"STRIPE_WEBHOOK_SECRET=whsec_abc"},
			check: "webhook secret", fix: "signing secret"},
		{name: "quoted secret", set: []string{`STRIPE_WEBHOOK_SECRET="` + webhookSecret + `"`},
			check: "webhook secret", fix: "signing secret"},
		{name: "not a webhook secret", set: []string{"STRIPE_WEBHOOK_SECRET=" + webhookSecret + ",sk_test_0123456789abcdef"},
			check: "webhook secret", fix: "signing secret"},
		{name: "refused Stripe key", set: []string{"STRIPE_API_KEY=sk_live_refusedByStripeMock0123", "STRIPE_MODE=live"},
			check: "stripe: list events", fix: "refused"},
		{name: "Stripe mode against the key", set: []string{"STRIPE_MODE=live"},
			check: "stripe mode", fix: "STRIPE_MODE"},
		{name: "NATS unreachable", set: []string{"NATS_URL=nats://" + harness.RefusedAddr(t)},
			check: "nats", fix: "NATS_URL"},
		{name: "replicas the server cannot have", set: []string{"NATS_REPLICAS=3"},
			check: "stream STRIPE", fix: "NATS_REPLICAS=3"},
		{name: "invalid plans file", set: []string{"PLANS_FILE=/nonexistent/plans.yml"},
			check: "plans vs stripe prices", fix: "plans file"},
		{name: "invalid configuration", set: []string{"PUREVPN_API_USER="},
			check: "configuration", fix: "variables"},
	} {
		code, checks := d.doctor(t, nil, tc.set...)
		c := checks[tc.check]
		if code != exitProblems || c.Status != ops.CheckAttention || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s: exit %d, %s: %+v; want exit %d, attention, a fix naming %q", tc.name, code, tc.check, c, exitProblems, tc.fix)
		}
		if tc.name == "refused Stripe key" {
			for _, n := range []string{"stripe: read checkout line items", "stripe: read prices", "plans vs stripe prices"} {
				if checks[n].Status != ops.CheckSkipped {
					t.Errorf("%s: %s: %+v, want skipped", tc.name, n, checks[n])
				}
			}
		}
		if tc.name == "NATS unreachable" && checks["jetstream"].Status != ops.CheckSkipped {
			t.Errorf("%s: jetstream: %+v, want skipped", tc.name, checks["jetstream"])
		}
	}
	if a := d.pure.Accounts(); len(a) != 0 {
		t.Errorf("doctor made %d PureVPN accounts", len(a))
	}
}

func TestDoctorStripe(t *testing.T) {
	t.Parallel()
	d := setupDoctor(t)

	// A restricted key without read access to Checkout Sessions.
	d.stripe.mu.Lock()
	d.stripe.faults["/v1/checkout/sessions"] = http.StatusForbidden
	d.stripe.mu.Unlock()
	code, checks := d.doctor(t, nil)
	if c := checks["stripe: read checkout line items"]; code != exitProblems || c.Status != ops.CheckAttention || !strings.Contains(c.Fix, "Checkout Sessions") {
		t.Errorf("forbidden line items: exit %d, %+v", code, c)
	}
	if c := checks["stripe: list events"]; c.Status != ops.CheckOK {
		t.Errorf("events beside forbidden line items: %+v", c)
	}
	d.stripe.mu.Lock()
	clear(d.stripe.faults)
	d.stripe.mu.Unlock()

	// A plan whose price is not in Stripe, and a lookup key of another amount.
	_, plans := harness.Plans(t, plansYAML+`
  - id: std-yearly
    stripe_prices: [price_gone, std_yearly]
    provider: purevpn
    period_days: 365
    price: {amount: 9900, currency: eur}
`)
	d.stripe.addPrice("price_std_yearly", "std_yearly", "prod_std", 8900, "eur", "year")
	code, checks = d.doctor(t, nil, "PLANS_FILE="+plans)
	c := checks["plans vs stripe prices"]
	if code != exitProblems || c.Status != ops.CheckAttention || !strings.Contains(c.Detail, "std-yearly: price_gone") ||
		!strings.Contains(c.Detail, "89.00 EUR every year") || strings.Contains(c.Detail, "price_std_monthly") {
		t.Errorf("plans against Stripe: exit %d, %+v", code, c)
	}

	// A clock ten minutes off Stripe's.
	d.stripe.mu.Lock()
	d.stripe.dateOffset = 10 * time.Minute
	d.stripe.mu.Unlock()
	code, checks = d.doctor(t, nil)
	if c := checks["clock vs stripe"]; code != exitProblems || c.Status != ops.CheckAttention || !strings.Contains(c.Detail, "behind") || !strings.Contains(c.Fix, "NTP") {
		t.Errorf("clock skew: exit %d, %+v", code, c)
	}

	// No Stripe key, no secret, no plans: those checks are skipped, not failed.
	d.stripe.mu.Lock()
	d.stripe.dateOffset = 0
	d.stripe.mu.Unlock()
	code, checks = d.doctor(t, nil, "STRIPE_API_KEY=", "STRIPE_WEBHOOK_SECRET=", "PLANS_FILE=")
	for _, n := range []string{"stripe: list events", "stripe: read prices", "webhook secret", "plans vs stripe prices"} {
		if checks[n].Status != ops.CheckSkipped {
			t.Errorf("without a key, secret and plans: %s: %+v, want skipped", n, checks[n])
		}
	}
	if code != exitOK || checks["clock vs stripe"].Status != ops.CheckOK {
		t.Errorf("without a key: exit %d, clock %+v", code, checks["clock vs stripe"])
	}
	assertValid(t, d.stripe)
}

func TestDoctorStreamsAndConsumers(t *testing.T) {
	t.Parallel()
	d := setupDoctor(t)
	ctx := context.Background()
	if err := d.js.DeleteConsumer(ctx, events.StreamStripe, events.ConsumerWorker); err != nil {
		t.Fatal(err)
	}
	if err := d.js.DeleteStream(ctx, events.StreamTimers); err != nil {
		t.Fatal(err)
	}
	code, checks := d.doctor(t, nil)
	if code != exitProblems {
		t.Errorf("exit %d, want %d", code, exitProblems)
	}
	for name, want := range map[string]ops.CheckStatus{
		"stream TIMERS": ops.CheckAttention, "consumer worker on STRIPE": ops.CheckAttention,
		"consumer timers on TIMERS": ops.CheckSkipped, "stream STRIPE": ops.CheckOK, "bucket ACCOUNTS": ops.CheckOK,
	} {
		if c := checks[name]; c.Status != want {
			t.Errorf("%s: %+v, want %s", name, c, want)
		}
	}
	if c := checks["stream TIMERS"]; c.Detail != "missing" || !strings.Contains(c.Fix, "start a webhook or worker") {
		t.Errorf("missing stream: %+v", c)
	}

	// A stream kept in memory (made by hand) is lost when NATS restarts.
	if err := d.js.DeleteStream(ctx, events.StreamDead); err != nil {
		t.Fatal(err)
	}
	if _, err := d.js.CreateStream(ctx, jetstreamMemoryStream(events.StreamDead)); err != nil {
		t.Fatal(err)
	}
	_, checks = d.doctor(t, nil)
	if c := checks["stream DEAD"]; c.Status != ops.CheckAttention || !strings.Contains(c.Fix, "memory") {
		t.Errorf("a stream in memory: %+v", c)
	}
}

// TestDoctorSync reads the JetStream sync setting where it can be read: a
// server's monitoring port, and the system account.
func TestDoctorSync(t *testing.T) {
	t.Parallel()
	d := setupDoctor(t)
	always := natsServer(t, &server.Options{ServerName: "always", SyncAlways: true, HTTPHost: "127.0.0.1", HTTPPort: -1})
	interval := natsServer(t, &server.Options{ServerName: "interval", HTTPHost: "127.0.0.1", HTTPPort: -1})
	monitor := func(s *server.Server) string { return "http://" + s.MonitorAddr().String() }

	_, checks := d.doctor(t, []string{"--nats-monitor", monitor(always)})
	if c := checks["jetstream sync"]; c.Status != ops.CheckOK || c.Detail != "always: always" {
		t.Errorf("sync_interval always: %+v", c)
	}
	code, checks := d.doctor(t, []string{"--nats-monitor", monitor(always) + "," + monitor(interval)})
	if c := checks["jetstream sync"]; code != exitProblems || c.Status != ops.CheckAttention || !strings.Contains(c.Detail, "interval: every 2m0s") ||
		!strings.Contains(c.Fix, "sync_interval: always` in the jetstream block of interval") {
		t.Errorf("the default sync interval: exit %d, %+v", code, c)
	}
	_, checks = d.doctor(t, []string{"--nats-monitor", "http://" + harness.RefusedAddr(t)})
	if c := checks["jetstream sync"]; c.Status != ops.CheckAttention || !strings.Contains(c.Fix, "--nats-monitor") {
		t.Errorf("a monitoring address that does not answer: %+v", c)
	}

	// A NATS user of the system account may ask every server.
	sys := server.NewAccount("SYS")
	app := server.NewAccount("APP")
	sysServer := natsServer(t, &server.Options{ServerName: "sys-always", SyncAlways: true, Accounts: []*server.Account{sys, app},
		SystemAccount: "SYS", Users: []*server.User{{Username: "admin", Password: "admin-pw", Account: sys}}})
	_, checks = d.doctor(t, nil, fmt.Sprintf("NATS_URL=nats://admin:admin-pw@%s", sysServer.Addr()))
	if c := checks["jetstream sync"]; c.Status != ops.CheckOK || c.Detail != "sys-always: always" {
		t.Errorf("sync through the system account: %+v", c)
	}
}

// natsServer runs a JetStream server with o (on a random loopback port,
// its store in a temporary directory) for the rest of the test.
func natsServer(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.StoreDir, o.NoSigs, o.NoLog = "127.0.0.1", -1, true, t.TempDir(), true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return s
}

// jetstreamMemoryStream is a stream called name kept in memory.
func jetstreamMemoryStream(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{"dead.>"}, Storage: jetstream.MemoryStorage}
}

// TestDoctorCluster checks the replicas of a 3-node cluster: all current,
// then with one node down.
func TestDoctorCluster(t *testing.T) {
	t.Parallel()
	c := harness.Cluster(t, 3)
	_, js := harness.Connect(t, c, t.Name())
	topo := harness.Topology(t, js, events.Config{Replicas: 3})
	ctx := context.Background()
	if _, err := topo.WorkerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := topo.TimerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	d := &doctorBundle{bundle: &bundle{environ: []string{"NATS_URL=" + c.URLs(), "NATS_REPLICAS=3"}}}
	natsChecks := allChecks[:10]
	// Replicas just created catch up within moments (longer on a loaded
	// machine): the cluster is healthy once they have.
	var code int
	var checks map[string]ops.Check
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, checks = d.doctor(t, nil)
		healthy := code == exitOK
		for _, name := range natsChecks {
			healthy = healthy && checks[name].Status == ops.CheckOK
		}
		if healthy || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range natsChecks {
		if ch := checks[name]; ch.Status != ops.CheckOK {
			t.Errorf("%s: %+v, want ok", name, ch)
		}
	}
	if code != exitOK || !strings.Contains(checks["nats"].Detail, "cluster vpnbill") || !strings.Contains(checks["stream STRIPE"].Detail, "R3") ||
		!strings.Contains(checks["consumer worker on STRIPE"].Detail, "R3") {
		t.Errorf("a healthy cluster: exit %d, %+v, %+v", code, checks["nats"], checks["stream STRIPE"])
	}

	if code, checks := d.doctor(t, nil, "NATS_REPLICAS=1"); code != exitProblems || checks["bucket ACCOUNTS"].Status != ops.CheckAttention {
		t.Errorf("NATS_REPLICAS=1 beside R3 streams: exit %d, %+v", code, checks["bucket ACCOUNTS"])
	}

	// One node down: every stream and consumer has a replica that is not current.
	down := c.Servers[2]
	down.Shutdown()
	down.WaitForShutdown()
	live := "NATS_URL=" + c.Servers[0].ClientURL() + "," + c.Servers[1].ClientURL()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, checks := d.doctor(t, nil, live)
		var notYet []string
		for _, name := range natsChecks[2:] {
			if ch := checks[name]; ch.Status != ops.CheckAttention || !strings.Contains(ch.Fix, down.Name()) {
				notYet = append(notYet, fmt.Sprintf("%s: %+v", name, ch))
			}
		}
		if code == exitProblems && len(notYet) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after %s stopped, doctor does not say so:\n%s", down.Name(), strings.Join(notYet, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
