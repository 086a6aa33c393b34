package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ops"
)

const stripeKey = "rk_test_ctlSyncSecret0123456789"

// stripeAPI serves GET /v1/events as Stripe does, for key, checking the
// filters vpnbillctl must send.
func stripeAPI(t *testing.T, key string, since time.Time, evs [][]byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"Unrecognized request URL (%s: %s)"}}`, r.Method, r.URL.Path)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			// Stripe quotes (part of) the key it refused.
			_, _ = fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":"api_key_invalid","message":"Invalid API Key provided: %s"}}`,
				strings.TrimPrefix(got, "Bearer "))
			return
		}
		q := r.URL.Query()
		if got := q.Get("created[gte]"); got != fmt.Sprint(since.Unix()) {
			t.Errorf("created[gte] = %q, want %d", got, since.Unix())
		}
		var types []string
		for k, v := range q {
			if strings.HasPrefix(k, "types[") {
				types = append(types, v...)
			}
		}
		slices.Sort(types)
		want := slices.Sorted(slices.Values(billing.HandledTypes))
		if !slices.Equal(types, want) {
			t.Errorf("types[] = %v, want %v", types, want)
		}
		_, _ = fmt.Fprintf(w, `{"object":"list","data":[%s],"has_more":false,"url":"/v1/events"}`, bytes.Join(evs, []byte(",")))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestStripeSync(t *testing.T) {
	t.Parallel()
	b := setup(t)
	since := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	at := since.Add(time.Hour)
	sub := stripetest.ID("sub")
	evs := [][]byte{ // newest first, as Stripe lists them
		stripetest.SubscriptionDeleted("evt_sync_deleted", at.Add(2*time.Hour), stripetest.Subscription{ID: sub}),
		stripetest.InvoicePaid("evt_sync_paid", at.Add(time.Hour), stripetest.Invoice{Subscription: sub, Email: "sync@example.com",
			BillingReason: "subscription_cycle", Paid: true, AmountPaid: 999}),
		stripetest.CheckoutCompleted("evt_sync_checkout", at, stripetest.Checkout{Email: "sync@example.com"}),
	}
	srv, calls := stripeAPI(t, stripeKey, since, evs)
	b.environ = append(b.environ, "STRIPE_API_URL="+srv.URL, "STRIPE_API_KEY="+stripeKey)

	// One event the webhook did store: the sync does not store it again.
	if _, err := events.Publish(context.Background(), b.js, "stripe.event.invoice.paid", "evt_sync_paid", evs[1], nil); err != nil {
		t.Fatal(err)
	}
	out := b.mustCtl(t, "--json", "stripe-sync", "--since", since.Format(time.RFC3339))
	var got ops.SyncCounts
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stripe-sync --json: %v\n%s", err, out)
	}
	if got != (ops.SyncCounts{Listed: 3, Published: 2, Duplicates: 1}) {
		t.Errorf("first sync = %+v, want 3 listed, 2 published, 1 duplicate", got)
	}
	if calls.Load() == 0 {
		t.Fatal("the Stripe API was not called")
	}
	if n := b.streamMsgs(t, events.StreamStripe); n != 3 {
		t.Errorf("STRIPE holds %d events, want 3", n)
	}
	for _, ev := range evs {
		var e struct{ ID, Type string }
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Fatal(err)
		}
		subject, _ := events.StripeSubject(e.Type)
		m, err := b.topo.Stripe.GetLastMsgForSubject(context.Background(), subject)
		if err != nil {
			t.Fatalf("%s is not in STRIPE: %v", e.ID, err)
		}
		if id := m.Header.Get(nats.MsgIdHdr); id != e.ID {
			t.Errorf("%s stored with Nats-Msg-Id %q", e.ID, id)
		}
		if !bytes.Equal(m.Data, ev) {
			t.Errorf("%s stored as %s, want the bytes Stripe sent", e.ID, m.Data)
		}
	}

	// Again: everything is a duplicate.
	table := b.mustCtl(t, "stripe-sync", "--since", since.Format(time.RFC3339))
	if !strings.Contains(table, "published   0") || !strings.Contains(table, "duplicates  3") {
		t.Errorf("second sync:\n%s", table)
	}
	if n := b.streamMsgs(t, events.StreamStripe); n != 3 {
		t.Errorf("STRIPE holds %d events after a second sync, want 3", n)
	}

	// A refused key: exit 1, and the key is not repeated.
	b.environ = append(b.environ, "STRIPE_API_KEY=rk_test_wrongKeyWrongKey987")
	code, _, errOut := b.ctl(t, "stripe-sync", "--since", since.Format(time.RFC3339))
	if code != exitError || !strings.Contains(errOut, "401") {
		t.Errorf("refused key: exit %d, stderr %s", code, errOut)
	}
	b.mu.Lock()
	all := strings.Join(b.outputs, "\n")
	b.mu.Unlock()
	for _, k := range []string{stripeKey, "rk_test_wrongKeyWrongKey987"} {
		if strings.Contains(all, k) {
			t.Errorf("vpnbillctl printed the Stripe key %s", k)
		}
	}
}

func TestStripeSyncCommandLine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if code, _, _ := b.ctl(t, "stripe-sync"); code != exitUsage {
		t.Errorf("stripe-sync without --since: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := b.ctl(t, "stripe-sync", "--since", "last week"); code != exitUsage {
		t.Errorf("stripe-sync --since 'last week': exit %d, want %d", code, exitUsage)
	}
	code, _, errOut := b.ctl(t, "stripe-sync", "--since", "2025-03-01")
	if code != exitError || !strings.Contains(errOut, "STRIPE_API_KEY") {
		t.Errorf("stripe-sync without a key: exit %d, %s", code, errOut)
	}
}
