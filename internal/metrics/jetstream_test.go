package metrics_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

func TestOpenReviewsAndConsumerStateAreReadAtScrape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Bounded reads: the scrape after JetStream is gone waits this long per read.
	if err := metrics.RegisterJetStream(b.reg, b.js, time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key string, v any) {
		t.Helper()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.topo.Accounts.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	review := &provisioning.Review{Reason: "create cut short by a crash", Step: "create", Attempt: "a1", Since: time.Now()}
	put("sub_review", provisioning.Record{Key: "sub_review", Review: review})
	put("sub_fine", provisioning.Record{Key: "sub_fine"})
	// An index entry (its key has a '.') is not a record, whatever it holds.
	put("idx.customer.cus_1", map[string]any{"review": map[string]string{"reason": "not a record"}})
	// A record whose review was resolved, and one deleted while under review.
	put("sub_resolved", provisioning.Record{Key: "sub_resolved", Review: review})
	put("sub_resolved", provisioning.Record{Key: "sub_resolved"})
	put("sub_gone", provisioning.Record{Key: "sub_gone", Review: review})
	if err := b.topo.Accounts.Delete(ctx, "sub_gone"); err != nil {
		t.Fatal(err)
	}

	// Two Stripe events stored, none delivered yet; the timer consumer idle.
	if _, err := b.topo.WorkerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.topo.TimerConsumer(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_r1", "evt_r2"} {
		if _, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", id, []byte(`{}`), nil); err != nil {
			t.Fatal(err)
		}
	}

	want(t, b.scrape(t), map[string]float64{
		`vpnbill_open_reviews`: 1,
		`vpnbill_consumer_pending{consumer="worker",stream="STRIPE"}`:     2,
		`vpnbill_consumer_ack_pending{consumer="worker",stream="STRIPE"}`: 0,
		`vpnbill_consumer_redelivered{consumer="worker",stream="STRIPE"}`: 0,
		`vpnbill_consumer_pending{consumer="timers",stream="TIMERS"}`:     0,
		`vpnbill_jetstream_read_ok{source="accounts"}`:                    1,
		`vpnbill_jetstream_read_ok{source="worker"}`:                      1,
		`vpnbill_jetstream_read_ok{source="timers"}`:                      1,
	})

	// JetStream gone: the scrape still answers, says what it could not read,
	// and shows no stale review count.
	b.ns.Stop()
	text := b.scrape(t)
	want(t, text, map[string]float64{
		`vpnbill_jetstream_read_ok{source="accounts"}`: 0,
		`vpnbill_jetstream_read_ok{source="worker"}`:   0,
	})
	if _, ok := sample(text, "vpnbill_open_reviews"); ok {
		t.Error("vpnbill_open_reviews exposed although the bucket could not be read")
	}
}

func TestOpenReviewsOfAnEmptyBucketIsZero(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := metrics.RegisterJetStream(b.reg, b.js, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	want(t, b.scrape(t), map[string]float64{`vpnbill_open_reviews`: 0})
}
