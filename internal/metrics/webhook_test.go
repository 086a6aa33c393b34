package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
)

const webhookSecret = "whsec_metricsTestSecretNeverExposed0123"

func TestWebhookCountersAreScraped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	verifier, err := billing.NewVerifier([]string{webhookSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := ingest.New(ingest.Config{PublishTimeout: time.Second}, verifier, b.nc, b.js, nil)
	if err := metrics.RegisterWebhook(b.reg, &h.Stats); err != nil {
		t.Fatal(err)
	}
	post := func(payload []byte, at time.Time, wantCode int) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", stripetest.Sign(payload, webhookSecret, at))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != wantCode {
			t.Fatalf("POST answered %d, want %d: %s", rec.Code, wantCode, rec.Body)
		}
	}
	now := time.Now()
	checkout := stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: "ada@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	})
	post(checkout, now, http.StatusOK)                                                                          // published
	post(checkout, now, http.StatusOK)                                                                          // duplicate
	post(stripetest.Event(stripetest.ID("evt"), "customer.created", now, map[string]any{}), now, http.StatusOK) // skipped
	post(checkout, now.Add(-time.Hour), http.StatusBadRequest)                                                  // stale
	post([]byte(`{"not":"an event"}`), now, http.StatusBadRequest)                                              // malformed
	post(bytes.Repeat([]byte("x"), 65<<10), now, http.StatusRequestEntityTooLarge)                              // too large
	bad := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(checkout))
	bad.Header.Set("Stripe-Signature", stripetest.Sign(checkout, "whsec_someoneElse", now))
	h.ServeHTTP(httptest.NewRecorder(), bad)                                                         // signature
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/stripe/webhook", nil)) // method
	// JetStream cannot store it: 503.
	if err := b.js.DeleteStream(context.Background(), events.StreamStripe); err != nil {
		t.Fatal(err)
	}
	post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: "bob@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	}), now, http.StatusServiceUnavailable)

	expected := `
# HELP vpnbill_webhook_received_total POST requests received at the Stripe webhook.
# TYPE vpnbill_webhook_received_total counter
vpnbill_webhook_received_total 8
# HELP vpnbill_webhook_verified_total Webhook requests whose signature verified and that are a Stripe event (published, duplicate, skipped or unavailable).
# TYPE vpnbill_webhook_verified_total counter
vpnbill_webhook_verified_total 4
# HELP vpnbill_webhook_rejected_total Webhook requests rejected, by reason: signature, stale, malformed, too_large, method.
# TYPE vpnbill_webhook_rejected_total counter
vpnbill_webhook_rejected_total{reason="malformed"} 1
vpnbill_webhook_rejected_total{reason="method"} 1
vpnbill_webhook_rejected_total{reason="signature"} 1
vpnbill_webhook_rejected_total{reason="stale"} 1
vpnbill_webhook_rejected_total{reason="too_large"} 1
# HELP vpnbill_webhook_published_total Stripe events stored in stream STRIPE.
# TYPE vpnbill_webhook_published_total counter
vpnbill_webhook_published_total 1
# HELP vpnbill_webhook_duplicates_total Stripe events that were already stored (Stripe's retries).
# TYPE vpnbill_webhook_duplicates_total counter
vpnbill_webhook_duplicates_total 1
# HELP vpnbill_webhook_skipped_total Verified Stripe events of a type vpnbill does not act on; not stored.
# TYPE vpnbill_webhook_skipped_total counter
vpnbill_webhook_skipped_total 1
# HELP vpnbill_webhook_unavailable_total Stripe events JetStream could not store; answered 503 so Stripe retries.
# TYPE vpnbill_webhook_unavailable_total counter
vpnbill_webhook_unavailable_total 1
`
	if err := testutil.ScrapeAndCompare(b.srv.URL+"/metrics", strings.NewReader(expected),
		"vpnbill_webhook_received_total", "vpnbill_webhook_verified_total", "vpnbill_webhook_rejected_total",
		"vpnbill_webhook_published_total", "vpnbill_webhook_duplicates_total", "vpnbill_webhook_skipped_total",
		"vpnbill_webhook_unavailable_total"); err != nil {
		t.Error(err)
	}
}
