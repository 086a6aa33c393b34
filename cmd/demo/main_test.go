package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/harness"
)

// The README's first command must work: the sample checkout ends in an
// account at the simulator and a welcome email, and -once exits cleanly.
func TestDemoOnceCompletesTheSample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"-once", "-addr", "127.0.0.1:0", "-data", t.TempDir()}, &out); err != nil {
		t.Fatalf("demo -once: %v", err) // the output holds the sample's password: not printed
	}
	for _, want := range []string{`webhook answered 200 {"status":"stored"}`, "Your VPN account is ready", "✓ PureVPN simulator holds account", ".eml"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// The demo, serving, prints a `stripe listen` command the real Stripe CLI
// accepts: only flags the CLI has, every event type vpnbill handles (and no
// other) as one comma-separated --events, forwarded to the demo's webhook.
func TestDemoPrintsAStripeListenCommandTheCLIAccepts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := &harness.Buffer{} // read while the demo writes
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, out) }()
	for !strings.Contains(out.String(), "Emails are kept in") {
		select {
		case err := <-done:
			t.Fatalf("demo stopped before serving: %v", err)
		case <-ctx.Done():
			t.Fatal("the demo printed no instructions within 60s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}

	var listen []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "stripe" && f[1] == "listen" && f[2] != "--print-secret)" {
			listen = f
		}
	}
	if listen == nil {
		t.Fatalf("no stripe listen command in the output:\n%s", out.String())
	}
	cliFlags := map[string]bool{"--forward-to": true, "--events": true, "--latest": false, "--print-secret": false} // true: takes a value
	got := map[string]string{}
	for i := 2; i < len(listen); i++ {
		takesValue, ok := cliFlags[listen[i]]
		if !ok {
			t.Fatalf("stripe listen has no flag %q: %s", listen[i], strings.Join(listen, " "))
		}
		if takesValue {
			if i+1 >= len(listen) {
				t.Fatalf("%s without a value", listen[i])
			}
			got[listen[i]] = listen[i+1]
			i++
		}
	}
	if u := got["--forward-to"]; !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/stripe/webhook") {
		t.Errorf("--forward-to %q, want the demo's webhook", u)
	}
	if evs := strings.Split(got["--events"], ","); !slices.Equal(evs, billing.HandledTypes) {
		t.Errorf("--events %v, want exactly %v", evs, billing.HandledTypes)
	}
	if !slices.Contains(strings.Split(got["--events"], ","), billing.EventInvoicePaymentPaid) {
		t.Errorf("--events lacks %s, which links basil+ refunds to their invoices", billing.EventInvoicePaymentPaid)
	}
	if !strings.Contains(out.String(), "2026-03-25.dahlia") {
		t.Error("the instructions do not say which API versions vpnbill reads")
	}
}
