package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbill/vpnbill/internal/events"
)

// The JetStream reads of a scrape, the values of label "source".
const (
	sourceAccounts = "accounts"
)

// durables are the consumers whose state is read at scrape time.
var durables = []struct{ stream, consumer string }{
	{events.StreamStripe, events.ConsumerWorker},
	{events.StreamTimers, events.ConsumerTimers},
}

// jetStreamCollector reads the account records and the durable consumers
// at scrape time, each read bounded by a timeout.
type jetStreamCollector struct {
	js                                    jetstream.JetStream
	timeout                               time.Duration
	reviews, pending, ackPending, redeliv *prometheus.Desc
	ok                                    *prometheus.Desc
}

// RegisterJetStream registers, in reg, the metrics read from JetStream at
// each scrape, each read bounded by timeout (default 5s):
//
//	vpnbill_open_reviews                          account records waiting for an operator (vpnbillctl review list)
//	vpnbill_consumer_pending{stream,consumer}     messages not yet delivered to the durable consumer
//	vpnbill_consumer_ack_pending{stream,consumer} messages delivered and not yet acked (for TIMERS: due timers being handled, or waiting at most a minute)
//	vpnbill_consumer_redelivered{stream,consumer} messages delivered more than once and not yet acked
//	vpnbill_jetstream_read_ok{source}             1 if the scrape's read of source (accounts, worker, timers) succeeded, else 0
//
// A failed read leaves its gauges out of that scrape, and sets read_ok to 0.
func RegisterJetStream(reg prometheus.Registerer, js jetstream.JetStream, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	cons := []string{"stream", "consumer"}
	return reg.Register(&jetStreamCollector{
		js:      js,
		timeout: timeout,
		reviews: prometheus.NewDesc("vpnbill_open_reviews",
			"Account records with an open review: an operator must decide (vpnbillctl review list).", nil, nil),
		pending: prometheus.NewDesc("vpnbill_consumer_pending",
			"Messages in the stream not yet delivered to the durable consumer.", cons, nil),
		ackPending: prometheus.NewDesc("vpnbill_consumer_ack_pending",
			"Messages delivered to the durable consumer and not yet acked (for TIMERS: due timers being handled or waiting at most a minute).", cons, nil),
		redeliv: prometheus.NewDesc("vpnbill_consumer_redelivered",
			"Messages delivered to the durable consumer more than once and not yet acked.", cons, nil),
		ok: prometheus.NewDesc("vpnbill_jetstream_read_ok",
			"1 if this scrape's read of source (accounts, worker, timers) from JetStream succeeded, else 0.", []string{"source"}, nil),
	})
}

func (c *jetStreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reviews, c.pending, c.ackPending, c.redeliv, c.ok} {
		ch <- d
	}
}

func (c *jetStreamCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	readOK := func(source string, err error) {
		v := 1.0
		if err != nil {
			v = 0
		}
		gauge(c.ok, v, source)
	}
	n, err := c.openReviews()
	if err == nil {
		gauge(c.reviews, float64(n))
	}
	readOK(sourceAccounts, err)
	for _, d := range durables {
		info, err := c.consumerInfo(d.stream, d.consumer)
		if err == nil {
			gauge(c.pending, float64(info.NumPending), d.stream, d.consumer)
			gauge(c.ackPending, float64(info.NumAckPending), d.stream, d.consumer)
			gauge(c.redeliv, float64(info.NumRedelivered), d.stream, d.consumer)
		}
		readOK(d.consumer, err)
	}
}

func (c *jetStreamCollector) consumerInfo(stream, consumer string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cons, err := c.js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// openReviews counts the account records (keys without a '.'; the others
// are indexes) whose "review" is set, reading the latest value of every key
// in one pass.
func (c *jetStreamCollector) openReviews() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	kv, err := c.js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return 0, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, err
	}
	defer func() { _ = w.Stop() }()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("list %s: %w", events.BucketAccounts, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return 0, fmt.Errorf("list %s: watcher stopped", events.BucketAccounts)
			}
			if e == nil { // every key's latest value has been seen
				return n, nil
			}
			if !strings.Contains(e.Key(), ".") && underReview(e.Value()) {
				n++
			}
		}
	}
}

// underReview reports whether a record (JSON of provisioning.Record) has its
// review set. A record that does not decode is not counted.
func underReview(record []byte) bool {
	var r struct {
		Review json.RawMessage `json:"review"`
	}
	if json.Unmarshal(record, &r) != nil {
		return false
	}
	return len(r.Review) > 0 && !bytes.Equal(r.Review, []byte("null"))
}
