package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/vpnbill/vpnbill/internal/billing"
)

const testSecret = "whsec_vpnbenchTestSecret0123456789"

// TestSignatureIsStripes: what the load generator signs, the webhook's
// verifier and stripe-go's accept, and a changed body is refused.
func TestSignatureIsStripes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","object":"event"}`)
	header := signature(body, testSecret, time.Now())
	v, err := billing.NewVerifier([]string{testSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(body, header); err != nil {
		t.Errorf("the webhook's verifier refuses the signature: %v", err)
	}
	if err := webhook.ValidatePayload(body, header, testSecret); err != nil {
		t.Errorf("stripe-go refuses the signature: %v", err)
	}
	if err := v.Verify([]byte(`{"id":"evt_2","object":"event"}`), header); err == nil {
		t.Error("a signature of another body verified")
	}
}

// TestIDTemplateMakesNewEvents: every event from a template is a
// checkout.session.completed the webhook reads, with an id of its own.
func TestIDTemplateMakesNewEvents(t *testing.T) {
	t.Parallel()
	tmpl, err := newIDTemplate("evt_test_")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 1200 {
		ev := tmpl.event()
		env, err := billing.ParseEnvelope(ev)
		if err != nil {
			t.Fatal(err)
		}
		if env.Type != billing.EventCheckoutCompleted || !strings.HasPrefix(env.ID, "evt_test_") || seen[env.ID] {
			t.Fatalf("event %s of type %s: want a new evt_test_ id of type %s", env.ID, env.Type, billing.EventCheckoutCompleted)
		}
		seen[env.ID] = true
	}
	if !json.Valid(tmpl.body) || !strings.Contains(string(tmpl.body), "evt_test_XXXX") {
		t.Error("the template changed while events were made from it")
	}
}

// TestClosedLoop keeps its connections busy for the window, counts what
// failed apart from what succeeded, and times only the successes.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%4 == 0 {
			http.Error(w, "not stored", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Stripe-Signature") == "" {
			http.Error(w, "no signature", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	client := newClient(4)
	t.Cleanup(client.CloseIdleConnections)
	w := closedLoop(context.Background(), client, srv.URL, testSecret, 4, 200*time.Millisecond, func() []byte { return []byte("{}") })
	if w.OK == 0 || w.Failed == 0 || w.OK+w.Failed != int(calls.Load()) || len(w.Latencies) != w.OK {
		t.Errorf("ok %d, failed %d, latencies %d, calls %d", w.OK, w.Failed, len(w.Latencies), calls.Load())
	}
	if w.Elapsed < 200*time.Millisecond || !strings.Contains(w.FirstError.Error(), "503") {
		t.Errorf("elapsed %s, first error %v", w.Elapsed, w.FirstError)
	}
}

// TestOrders: each order is a checkout and its first invoice of one
// subscription, to an address of its own.
func TestOrders(t *testing.T) {
	t.Parallel()
	orders := newOrders(3, "std-monthly", "t1")
	addrs := map[string]bool{}
	for _, o := range orders {
		addrs[o.Email] = true
		c, err := billing.ParseEnvelope(o.Checkout)
		if err != nil {
			t.Fatal(err)
		}
		i, err := billing.ParseEnvelope(o.Invoice)
		if err != nil {
			t.Fatal(err)
		}
		if c.Type != billing.EventCheckoutCompleted || i.Type != billing.EventInvoicePaid || c.ID == i.ID {
			t.Errorf("order events %s %s, %s %s", c.Type, c.ID, i.Type, i.ID)
		}
		if !strings.Contains(string(o.Checkout), o.Email) || !strings.Contains(string(o.Invoice), o.Email) {
			t.Errorf("order %s: its events do not name its address", o.Email)
		}
	}
	if len(addrs) != 3 {
		t.Errorf("addresses %v, want 3 different ones", addrs)
	}
}

func TestStoreOrdersFailsUnlessEveryEventIsStored(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 5 {
			http.Error(w, "event not stored, retry later", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	err := storeOrders(context.Background(), srv.URL, testSecret, newOrders(4, "std-monthly", "t2"), 3)
	if err == nil || !strings.Contains(err.Error(), "not stored") {
		t.Errorf("storeOrders = %v, want the 503", err)
	}
	if calls.Load() != 8 {
		t.Errorf("%d events posted, want all 8", calls.Load())
	}
	if err := storeOrders(context.Background(), srv.URL, testSecret, newOrders(2, "std-monthly", "t3"), 3); err != nil {
		t.Errorf("storeOrders = %v", errors.Unwrap(err))
	}
}
