package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbill/vpnbill/internal/ingest"
)

// Reasons a webhook request is rejected, the values of label "reason".
const (
	ReasonSignature = "signature" // missing or invalid Stripe-Signature
	ReasonStale     = "stale"     // timestamp outside the tolerance
	ReasonMalformed = "malformed" // unreadable body, or signed but not a Stripe event
	ReasonTooLarge  = "too_large" // body over the limit
	ReasonMethod    = "method"    // not a POST
)

// webhookCollector reads an ingest.Stats at scrape time, so the webhook's
// hot path stays a few atomic adds.
type webhookCollector struct {
	stats                                                     *ingest.Stats
	received, verified, rejected, published, dups, skip, fail *prometheus.Desc
}

// RegisterWebhook registers, in reg, the webhook metrics read from stats
// (the ingest.Handler's Stats):
//
//	vpnbill_webhook_received_total             POST requests received
//	vpnbill_webhook_verified_total             requests whose signature verified and that are a Stripe event
//	vpnbill_webhook_rejected_total{reason}     requests answered 4xx: signature, stale, malformed, too_large, method
//	vpnbill_webhook_published_total            events stored in stream STRIPE
//	vpnbill_webhook_duplicates_total           events already stored (Stripe's retries)
//	vpnbill_webhook_skipped_total              verified events of a type vpnbill does not act on
//	vpnbill_webhook_unavailable_total          events not stored, answered 503 (Stripe retries)
func RegisterWebhook(reg prometheus.Registerer, stats *ingest.Stats) error {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "webhook", name), help, labels, nil)
	}
	return reg.Register(&webhookCollector{
		stats:     stats,
		received:  d("received_total", "POST requests received at the Stripe webhook."),
		verified:  d("verified_total", "Webhook requests whose signature verified and that are a Stripe event (published, duplicate, skipped or unavailable)."),
		rejected:  d("rejected_total", "Webhook requests rejected, by reason: signature, stale, malformed, too_large, method.", "reason"),
		published: d("published_total", "Stripe events stored in stream STRIPE."),
		dups:      d("duplicates_total", "Stripe events that were already stored (Stripe's retries)."),
		skip:      d("skipped_total", "Verified Stripe events of a type vpnbill does not act on; not stored."),
		fail:      d("unavailable_total", "Stripe events JetStream could not store; answered 503 so Stripe retries."),
	})
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.verified, c.rejected, c.published, c.dups, c.skip, c.fail} {
		ch <- d
	}
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	published, dups, skipped, unavailable := s.Published.Load(), s.Duplicates.Load(), s.Skipped.Load(), s.Unavailable.Load()
	counter(c.received, s.Received.Load())
	// A sum of counters, so it never goes down between scrapes. A signed
	// body that is not a Stripe event counts as malformed, not verified.
	counter(c.verified, published+dups+skipped+unavailable)
	counter(c.rejected, s.RejectedSignature.Load(), ReasonSignature)
	counter(c.rejected, s.RejectedStale.Load(), ReasonStale)
	counter(c.rejected, s.RejectedMalformed.Load(), ReasonMalformed)
	counter(c.rejected, s.RejectedTooLarge.Load(), ReasonTooLarge)
	counter(c.rejected, s.RejectedMethod.Load(), ReasonMethod)
	counter(c.published, published)
	counter(c.dups, dups)
	counter(c.skip, skipped)
	counter(c.fail, unavailable)
}
