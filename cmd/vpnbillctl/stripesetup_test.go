package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ops"
)

const (
	setupKey    = "sk_test_vpnbillSetup0123456789"
	setupSecret = "whsec_vpnbillSetupSecret0123456789abcd"
	hookURL     = "https://vpn.example.com/stripe/webhook"
)

// ctlRun runs vpnbillctl with environ and returns its exit code and outputs;
// it fails the test if an output holds the Stripe key.
func ctlRun(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := execute(ctx, args, environ, &stdout, &stderr)
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == "STRIPE_API_KEY" && strings.Contains(stdout.String()+stderr.String(), v) {
			t.Errorf("vpnbillctl %s printed the Stripe key", strings.Join(args, " "))
		}
	}
	return code, stdout.String(), stderr.String()
}

func stripeEnv(p *stripeProxy, more ...string) []string {
	return append([]string{"STRIPE_API_KEY=" + setupKey, "STRIPE_API_URL=" + p.URL}, more...)
}

// assertValid fails the test if stripe-mock refused a request as Stripe's
// spec does not allow it.
func assertValid(t *testing.T, p *stripeProxy) {
	t.Helper()
	for _, r := range p.invalid() {
		t.Errorf("stripe-mock refused %s %v", r, r.Form)
	}
}

func TestStripeSetup(t *testing.T) {
	t.Parallel()
	p := newStripeProxy(t)
	p.secret = setupSecret
	// A yearly plan already sold on a price of its own (no lookup key), on
	// a product vpnbill did not make.
	p.addPrice("price_legacyYearly", "", "prod_legacy", 8900, "eur", "year")
	_, plans := harness.Plans(t, `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
    price: {amount: 999, currency: eur}
  - id: std-yearly
    name: Standard VPN, yearly
    stripe_prices: [std_yearly, price_legacyYearly]
    provider: purevpn
    period_days: 365
    price: {amount: 9900, currency: eur}
  - id: tunnel-week
    name: Tunnel, one week
    stripe_prices: [tunnel_week]
    provider: vpnki
    period_days: 7
    price: {amount: 300, currency: usd, one_off: true}
`)
	env := stripeEnv(p)

	code, out, errOut := ctlRun(t, env, "stripe", "setup", "--url", hookURL, "--plans", plans)
	if code != exitOK {
		t.Fatalf("first setup: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"created", ops.EndpointVersion(), "signing secret: " + setupSecret, "STRIPE_WEBHOOK_SECRET", "mode", "test"} {
		if !strings.Contains(out, want) {
			t.Errorf("first setup's output lacks %q:\n%s", want, out)
		}
	}
	writes := p.writes(0)
	var got []string
	for _, w := range writes {
		got = append(got, w.String())
	}
	want := []string{
		"POST /v1/webhook_endpoints",
		"POST /v1/products", "POST /v1/prices", // std-monthly: a product and its price
		"POST /v1/products/prod_legacy", "POST /v1/prices", // std-yearly: the legacy product tagged and named, the new price on it
		"POST /v1/products", "POST /v1/prices", // tunnel-week
	}
	if !slices.Equal(got, want) {
		t.Fatalf("first setup sent %v, want %v", got, want)
	}
	hook := writes[0].Form
	if hook.Get("url") != hookURL || hook.Get("api_version") != ops.EndpointVersion() {
		t.Errorf("endpoint created with url %q, api_version %q", hook.Get("url"), hook.Get("api_version"))
	}
	if ev := indexed(hook, "enabled_events"); !slices.Equal(ev, billing.HandledTypes) {
		t.Errorf("endpoint created with events %v, want exactly %v", ev, billing.HandledTypes)
	}
	for i, w := range map[int]map[string]string{
		1: {"name": "Standard VPN, monthly", "metadata[vpnbill_plan]": "std-monthly"},
		2: {"lookup_key": "std_monthly", "unit_amount": "999", "currency": "eur", "recurring[interval]": "month", "recurring[interval_count]": "1"},
		3: {"name": "Standard VPN, yearly", "metadata[vpnbill_plan]": "std-yearly"},
		4: {"lookup_key": "std_yearly", "product": "prod_legacy", "unit_amount": "9900", "recurring[interval]": "year"},
		5: {"name": "Tunnel, one week", "metadata[vpnbill_plan]": "tunnel-week"},
		6: {"lookup_key": "tunnel_week", "unit_amount": "300", "currency": "usd", "recurring[interval]": ""},
	} {
		for k, v := range w {
			if g := writes[i].Form.Get(k); g != v {
				t.Errorf("%s: %s = %q, want %q", writes[i], k, g, v)
			}
		}
	}
	if writes[2].Form.Get("product") == "" || writes[2].Form.Get("product") == "prod_legacy" {
		t.Errorf("std_monthly created on product %q, want std-monthly's new one", writes[2].Form.Get("product"))
	}

	// Again: nothing is written, nothing needs attention, no secret.
	n := p.count()
	code, out, errOut = ctlRun(t, env, "--json", "stripe", "setup", "--url", hookURL, "--plans", plans)
	if code != exitOK {
		t.Fatalf("second setup: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := p.writes(n); len(w) != 0 {
		t.Errorf("second setup sent %v, want no writes", w)
	}
	var rep stripeSetupReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if rep.Endpoint == nil || rep.Endpoint.Action != ops.ActionUnchanged || rep.Endpoint.Secret != "" || strings.Contains(out, setupSecret) {
		t.Errorf("second setup's endpoint: %+v", rep.Endpoint)
	}
	if len(rep.Catalog) != 7 { // 3 products, 4 prices
		t.Errorf("second setup: %d catalog rows, want 7: %+v", len(rep.Catalog), rep.Catalog)
	}
	for _, r := range rep.Catalog {
		if r.Action != ops.ActionUnchanged {
			t.Errorf("second setup: %+v, want unchanged", r)
		}
	}
	assertValid(t, p)
}

func TestStripeSetupExistingEndpoint(t *testing.T) {
	t.Parallel()
	p := newStripeProxy(t)
	p.secret = setupSecret
	env := stripeEnv(p)

	// Disabled, subscribed to other events, of a version vpnbill reads: updated.
	basil := "https://basil.example.com/stripe/webhook"
	id := p.addEndpoint(basil, "2025-03-31.basil", "disabled", "invoice.paid", "charge.failed")
	code, out, errOut := ctlRun(t, env, "stripe", "setup", "--url", basil)
	if code != exitOK || !strings.Contains(out, "updated") || !strings.Contains(out, "-charge.failed") ||
		!strings.Contains(out, "+invoice_payment.paid") || !strings.Contains(out, "enabled (was disabled)") || strings.Contains(out, setupSecret) {
		t.Errorf("setup of an existing endpoint: exit %d\n%s\n%s", code, out, errOut)
	}
	w := p.writes(0)
	if len(w) != 1 || w[0].String() != "POST /v1/webhook_endpoints/"+id || w[0].Form.Get("disabled") != "false" ||
		!slices.Equal(indexed(w[0].Form, "enabled_events"), billing.HandledTypes) || w[0].Form.Get("api_version") != "" {
		t.Errorf("setup of an existing endpoint sent %v", w)
	}
	n := p.count()
	if code, out, _ := ctlRun(t, env, "stripe", "setup", "--url", basil); code != exitOK || len(p.writes(n)) != 0 || !strings.Contains(out, "unchanged") {
		t.Errorf("second setup: exit %d, writes %v\n%s", code, p.writes(n), out)
	}

	// The account's default version, or one vpnbill does not read: reported
	// until --recreate.
	for _, version := range []string{"", "2022-11-15"} {
		u := fmt.Sprintf("https://v%s.example.com/stripe/webhook", version)
		old := p.addEndpoint(u, version, "enabled", billing.HandledTypes...)
		n := p.count()
		code, out, errOut := ctlRun(t, env, "stripe", "setup", "--url", u)
		if code != exitProblems || !strings.Contains(out, "--recreate") || !strings.Contains(errOut, "need attention") || len(p.writes(n)) != 0 {
			t.Errorf("version %q: exit %d, writes %v\n%s\n%s", version, code, p.writes(n), out, errOut)
		}
		n = p.count()
		code, out, _ = ctlRun(t, env, "stripe", "setup", "--url", u, "--recreate")
		got := p.writes(n)
		if code != exitOK || len(got) != 2 || got[0].String() != "DELETE /v1/webhook_endpoints/"+old || got[1].String() != "POST /v1/webhook_endpoints" ||
			got[1].Form.Get("api_version") != ops.EndpointVersion() || !strings.Contains(out, "recreated") || !strings.Contains(out, setupSecret) {
			t.Errorf("version %q --recreate: exit %d, writes %v\n%s", version, code, got, out)
		}
		n = p.count()
		if code, _, _ := ctlRun(t, env, "stripe", "setup", "--url", u, "--recreate"); code != exitOK || len(p.writes(n)) != 0 {
			t.Errorf("version %q: setup after --recreate: exit %d, writes %v", version, code, p.writes(n))
		}
	}

	// Two endpoints of one URL: the first is set up, the other named.
	dup := "https://dup.example.com/stripe/webhook"
	p.addEndpoint(dup, ops.EndpointVersion(), "enabled", billing.HandledTypes...)
	second := p.addEndpoint(dup, ops.EndpointVersion(), "enabled", billing.HandledTypes...)
	if code, out, _ := ctlRun(t, env, "stripe", "setup", "--url", dup); code != exitOK || !strings.Contains(out, second) {
		t.Errorf("duplicate endpoints: exit %d\n%s", code, out)
	}
	assertValid(t, p)
}

func TestStripeSetupReportsWhatItCannotDo(t *testing.T) {
	t.Parallel()
	p := newStripeProxy(t)
	p.addPrice("price_b", "b_monthly", "prod_b", 500, "eur", "month") // 5.00 EUR, the plans file says 9.99
	_, plans := harness.Plans(t, `
plans:
  - id: a
    stripe_prices: [price_gone, a_monthly]
    provider: vpnki
  - id: b
    stripe_prices: [b_monthly]
    provider: vpnki
    price: {amount: 999, currency: eur}
`)
	env := stripeEnv(p)
	for run := range 2 {
		n := p.count()
		code, out, errOut := ctlRun(t, env, "--json", "stripe", "setup", "--plans", plans)
		if code != exitProblems {
			t.Fatalf("run %d: exit %d, want %d\n%s\n%s", run, code, exitProblems, out, errOut)
		}
		var rep stripeSetupReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		actions := map[string]string{}
		for _, r := range rep.Catalog {
			actions[r.Plan+" "+r.Object] = r.Action
		}
		want := map[string]string{
			"a price price_gone": ops.ActionMissing, "a price a_monthly": ops.ActionMissing,
			"b product": ops.ActionUpdated, "b price b_monthly": ops.ActionMismatch,
		}
		if run == 1 {
			want["b product"] = ops.ActionUnchanged
		}
		if !maps.Equal(actions, want) {
			t.Errorf("run %d: %v, want %v", run, actions, want)
		}
		wantWrites := []string{"POST /v1/products/prod_b"} // tagged with plan b, named b
		if run == 1 {
			wantWrites = nil
		}
		var got []string
		for _, w := range p.writes(n) {
			got = append(got, w.String())
		}
		if !slices.Equal(got, wantWrites) {
			t.Errorf("run %d sent %v, want %v", run, got, wantWrites)
		}
	}
	assertValid(t, p)
}

func TestStripeSetupCommandLine(t *testing.T) {
	t.Parallel()
	p := newStripeProxy(t)
	for _, tc := range []struct {
		args    []string
		environ []string
		code    int
		stderr  string
	}{
		{args: []string{"stripe", "setup"}, environ: stripeEnv(p), code: exitUsage, stderr: "--url"},
		{args: []string{"stripe", "setup", "--url", "vpn.example.com/stripe/webhook"}, environ: stripeEnv(p), code: exitUsage, stderr: "https://"},
		{args: []string{"stripe", "setup", "--url", hookURL}, code: exitError, stderr: "STRIPE_API_KEY"},
		{args: []string{"stripe", "setup", "--url", hookURL}, code: exitError, stderr: "401",
			environ: []string{"STRIPE_API_KEY=sk_live_refusedByStripeMock0123", "STRIPE_API_URL=" + p.URL}},
		{args: []string{"stripe", "setup", "--plans", "/nonexistent/plans.yml"}, environ: stripeEnv(p), code: exitError, stderr: "plans file"},
		{args: []string{"stripe"}, environ: stripeEnv(p), code: exitUsage},
	} {
		code, _, errOut := ctlRun(t, tc.environ, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, errOut, tc.code, tc.stderr)
		}
	}
	if w := p.writes(0); len(w) != 0 {
		t.Errorf("failed setups sent %v", w)
	}
}
