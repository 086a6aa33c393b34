package ops

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Since is where a replay starts: a time, or a stream sequence.
type Since struct {
	Time time.Time
	Seq  uint64
}

// ParseSince reads an RFC 3339 time or a positive stream sequence.
func ParseSince(s string) (Since, error) {
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil && seq > 0 {
		return Since{Seq: seq}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return Since{}, fmt.Errorf("since %q: neither an RFC 3339 time nor a stream sequence", s)
	}
	return Since{Time: t}, nil
}

// Replay publishes every Stripe event stored in stream STRIPE from since
// (up to the last one stored when it starts) again to its subject, with
// deduplication id replay:<event id>:<unix now>, so the worker handles it
// again: the record's idempotency makes that safe. progress, if set, is
// called after every 100 events. It returns how many were published.
func (o *Ops) Replay(ctx context.Context, since Since, progress func(n int)) (int, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"stripe.event.>"}}
	switch {
	case since.Seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, since.Seq
	case !since.Time.IsZero():
		t := since.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	default:
		return 0, fmt.Errorf("replay: a start time or sequence is required")
	}
	now := o.now().Unix()
	n := 0
	err := o.scan(ctx, events.StreamStripe, cfg, func(m jetstream.Msg) error {
		id := peek(m.Data()).ID
		if id == "" {
			id = m.Headers().Get(nats.MsgIdHdr)
		}
		if id == "" {
			meta, _ := m.Metadata()
			id = "seq" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
		msgID := fmt.Sprintf("replay:%s:%d", id, now)
		if _, err := events.Publish(ctx, o.JS, m.Subject(), msgID, m.Data(), nil); err != nil {
			return fmt.Errorf("replay after %d events: %w", n, err)
		}
		n++
		if progress != nil && n%100 == 0 {
			progress(n)
		}
		return nil
	})
	return n, err
}
