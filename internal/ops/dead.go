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

// DeadLetter is a message in stream DEAD, as events' consume loop stored it.
type DeadLetter struct {
	Seq        uint64      `json:"seq"`        // sequence in DEAD
	Time       time.Time   `json:"time"`       // when it was dead-lettered
	Subject    string      `json:"subject"`    // the original subject (Vpnbill-Dead-Subject)
	Stream     string      `json:"stream"`     // the original stream
	StreamSeq  uint64      `json:"stream_seq"` // the original sequence
	EventID    string      `json:"event_id"`   // the Stripe event id, from the body
	EventType  string      `json:"event_type"` // the Stripe event type, from the body
	Reason     string      `json:"reason"`     //
	Deliveries int         `json:"deliveries"` //
	Header     nats.Header `json:"headers"`    //
	Data       []byte      `json:"-"`          // the original body: shown only on request
}

// ErrNoDeadLetter means DEAD holds no message at the sequence.
var ErrNoDeadLetter = errors.New("no dead letter at this sequence")

func deadLetter(seq uint64, subject string, at time.Time, h nats.Header, data []byte) DeadLetter {
	d := DeadLetter{Seq: seq, Time: at, Header: h, Data: data,
		Subject: h.Get(events.HeaderDeadSubject), Stream: h.Get(events.HeaderDeadStream), Reason: h.Get(events.HeaderDeadReason)}
	if d.Subject == "" {
		d.Subject = strings.TrimPrefix(subject, "dead.")
	}
	d.StreamSeq, _ = strconv.ParseUint(h.Get(events.HeaderDeadSeq), 10, 64)
	d.Deliveries, _ = strconv.Atoi(h.Get(events.HeaderDeadCount))
	if t, err := time.Parse(time.RFC3339, h.Get(events.HeaderDeadTime)); err == nil {
		d.Time = t
	}
	e := peek(data)
	d.EventID, d.EventType = e.ID, e.Type
	return d
}

// DeadLetters lists stream DEAD, oldest first.
func (o *Ops) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	err := o.scan(ctx, events.StreamDead, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		out = append(out, deadLetter(meta.Sequence.Stream, m.Subject(), meta.Timestamp.UTC(), m.Headers(), m.Data()))
		return nil
	})
	return out, err
}

// DeadLetter returns the dead letter at seq.
func (o *Ops) DeadLetter(ctx context.Context, seq uint64) (DeadLetter, error) {
	s, err := o.JS.Stream(ctx, events.StreamDead)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("stream %s: %w", events.StreamDead, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%d: %w", seq, ErrNoDeadLetter)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetter(m.Sequence, m.Subject, m.Time.UTC(), m.Header, m.Data), nil
}

// Retried is a dead letter published again.
type Retried struct {
	Seq     uint64 `json:"seq"`     // its sequence in DEAD, now deleted
	Subject string `json:"subject"` // where it was published
	MsgID   string `json:"msg_id"`  // its new deduplication id
}

// RetryDead publishes the dead letter at seq again, with its original body
// and headers, to its original subject under a new deduplication id
// (retry:<stream>:<seq>:<unix>), so the worker handles it again; then
// deletes it from DEAD. If the delete fails after the publish, the retry
// stands and the error says so: the worker's idempotency makes a second
// retry harmless.
func (o *Ops) RetryDead(ctx context.Context, seq uint64) (Retried, error) {
	d, err := o.DeadLetter(ctx, seq)
	if err != nil {
		return Retried{}, err
	}
	if d.Subject == "" {
		return Retried{}, fmt.Errorf("dead letter %d names no original subject", seq)
	}
	h := nats.Header{}
	for k, v := range d.Header {
		if strings.HasPrefix(k, "Vpnbill-Dead-") || k == nats.MsgIdHdr {
			continue
		}
		h[k] = v
	}
	stream, origSeq := d.Stream, d.StreamSeq
	if stream == "" {
		stream, origSeq = events.StreamDead, seq
	}
	id := fmt.Sprintf("retry:%s:%d:%d", stream, origSeq, o.now().Unix())
	if _, err := events.Publish(ctx, o.JS, d.Subject, id, d.Data, h); err != nil {
		return Retried{}, fmt.Errorf("retry dead letter %d: %w", seq, err)
	}
	if err := o.DropDead(ctx, seq); err != nil {
		return Retried{}, fmt.Errorf("dead letter %d was published again as %s but not deleted: %w", seq, id, err)
	}
	return Retried{Seq: seq, Subject: d.Subject, MsgID: id}, nil
}

// RetryAllDead retries every dead letter, oldest first, and stops at the
// first failure, returning what was retried before it.
func (o *Ops) RetryAllDead(ctx context.Context) ([]Retried, error) {
	all, err := o.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Retried, 0, len(all))
	for _, d := range all {
		r, err := o.RetryDead(ctx, d.Seq)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DropDead deletes the dead letter at seq for good.
func (o *Ops) DropDead(ctx context.Context, seq uint64) error {
	s, err := o.JS.Stream(ctx, events.StreamDead)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.StreamDead, err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			return fmt.Errorf("%d: %w", seq, ErrNoDeadLetter)
		}
		return fmt.Errorf("delete dead letter %d: %w", seq, err)
	}
	return nil
}
