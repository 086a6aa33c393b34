package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotStored means JetStream did not acknowledge a publish: the message may
// or may not be stored, and the publisher must not claim it is.
var ErrNotStored = errors.New("not stored in JetStream")

// Publish stores data under subject with msgID as the deduplication id
// (Nats-Msg-Id) and returns once JetStream has acknowledged it. A publish of
// an id already seen within the stream's duplicate window succeeds with
// PubAck.Duplicate set and stores nothing. Any failure wraps ErrNotStored.
func Publish(ctx context.Context, js jetstream.JetStream, subject, msgID string, data []byte, header nats.Header) (*jetstream.PubAck, error) {
	if msgID == "" {
		return nil, fmt.Errorf("publish %s: empty message id", subject)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: header}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID))
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w: %w", subject, ErrNotStored, err)
	}
	return ack, nil
}
