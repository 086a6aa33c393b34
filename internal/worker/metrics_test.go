package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// gathered returns the value of the series of name whose labels include
// labels (a histogram's sample count), and whether it exists.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestMetricsOfAPaidCheckout(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	m, err := metrics.NewWorker(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *worker.Config) { c.Metrics = m })
	evID, c := checkout("std-monthly", "grace@example.com")
	if code, body := b.post(t, stripetest.CheckoutCompleted(evID, time.Now(), c), webhookSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.mail.WaitFor(ctx, 1); err != nil {
		t.Fatalf("no welcome email: %v", err)
	}
	b.waitSettled(t)

	type series struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		says   string
	}
	checks := []series{
		{"vpnbill_provider_calls_total", map[string]string{"provider": "purevpn", "method": "create", "class": "ok"},
			func(v float64) bool { return v == 1 }, "1 create at PureVPN, ok"},
		{"vpnbill_worker_emails_sent_total", nil, func(v float64) bool { return v == 1 }, "1 email sent"},
		{"vpnbill_worker_events_total", map[string]string{"consumer": "worker", "outcome": "ack"},
			func(v float64) bool { return v >= 1 }, "at least 1 Stripe event acked"},
		{"vpnbill_worker_receipt_to_done_seconds", nil, func(v float64) bool { return v == 1 },
			"1 receipt-to-done observation: the one event stored"},
		{"vpnbill_worker_dead_letters_total", map[string]string{"consumer": "worker"},
			func(v float64) bool { return v == 0 }, "no dead letter"},
		{"vpnbill_worker_paused", map[string]string{"consumer": "worker"},
			func(v float64) bool { return v == 0 }, "not paused"},
	}
	// The consume loop observes a message just after its ack is confirmed:
	// wait for that, then check every series.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := gathered(t, reg, "vpnbill_worker_events_total", map[string]string{"consumer": "worker", "outcome": "ack"}); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acked checkout was never observed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range checks {
		v, ok := gathered(t, reg, s.name, s.labels)
		if !ok || !s.want(v) {
			t.Errorf("%s%v = %v (exposed: %v); want %s", s.name, s.labels, v, ok, s.says)
		}
	}
}
