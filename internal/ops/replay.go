package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{stripeSubjects + ">"}}
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
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if _, err := o.republish(ctx, m.Subject(), m.Data(), m.Headers(), meta.Sequence.Stream, now); err != nil {
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

// replayID is the deduplication id of a replay of the Stripe event stored
// at seq with body data and header h, replayed at now (unix seconds):
// replay:<event id>:<now>, the event id read from the body, else the
// stored message's own id, else seq<seq>. A second replay of one event in
// the same second is a duplicate, and stores nothing.
func replayID(data []byte, h nats.Header, seq uint64, now int64) string {
	id := peek(data).ID
	if id == "" {
		id = h.Get(nats.MsgIdHdr)
	}
	if id == "" {
		id = "seq" + strconv.FormatUint(seq, 10)
	}
	return fmt.Sprintf("replay:%s:%d", id, now)
}

// republish publishes the stored Stripe event (subject, body, header, its
// sequence in STRIPE) again to its subject, without its headers, under its
// replayID. It returns the id and whether JetStream took it as a duplicate.
func (o *Ops) republish(ctx context.Context, subject string, data []byte, h nats.Header, seq uint64, now int64) (ReplayedEvent, error) {
	r := ReplayedEvent{Seq: seq, EventID: peek(data).ID, Subject: subject, MsgID: replayID(data, h, seq, now)}
	ack, err := events.Publish(ctx, o.JS, subject, r.MsgID, data, nil)
	if err != nil {
		return r, err
	}
	r.NewSeq, r.Duplicate = ack.Sequence, ack.Duplicate
	return r, nil
}

// ReplayedEvent is one Stripe event published again.
type ReplayedEvent struct {
	Seq     uint64 `json:"seq"`      // where STRIPE holds the event replayed
	EventID string `json:"event_id"` // the Stripe event id, from the body
	Subject string `json:"subject"`  //
	MsgID   string `json:"msg_id"`   // the copy's deduplication id (replay:<event id>:<unix>)
	// NewSeq: where STRIPE stored the copy; Duplicate: the same event was
	// replayed within the same second, and this copy was not stored again.
	NewSeq    uint64 `json:"new_seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// ErrNoEvent means STRIPE holds no Stripe event at the sequence.
var ErrNoEvent = errors.New("no Stripe event at this sequence")

// ReplayEvent publishes the one Stripe event stored in STRIPE at seq again,
// as Replay publishes each (same subject, deduplication id
// replay:<event id>:<unix now>), so the worker handles it again; the
// record's idempotency makes that safe.
func (o *Ops) ReplayEvent(ctx context.Context, seq uint64) (ReplayedEvent, error) {
	m, err := o.stripeMsg(ctx, seq)
	if err != nil {
		return ReplayedEvent{}, err
	}
	r, err := o.republish(ctx, m.Subject, m.Data, m.Header, m.Sequence, o.now().Unix())
	if err != nil {
		return r, fmt.Errorf("replay event %d: %w", seq, err)
	}
	return r, nil
}

// stripeMsg returns the Stripe event stored in STRIPE at seq.
func (o *Ops) stripeMsg(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	if seq == 0 {
		return nil, fmt.Errorf("0: %w", ErrNoEvent)
	}
	s, err := o.JS.Stream(ctx, events.StreamStripe)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", events.StreamStripe, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%d: %w", seq, ErrNoEvent)
	}
	if err != nil {
		return nil, fmt.Errorf("stripe event %d: %w", seq, err)
	}
	if !strings.HasPrefix(m.Subject, stripeSubjects) {
		return nil, fmt.Errorf("%d (%s): %w", seq, m.Subject, ErrNoEvent)
	}
	return m, nil
}

// stripeSubjects is the prefix of the subjects of STRIPE's Stripe events.
const stripeSubjects = "stripe.event."
