package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// What a bucket read answers with the server up and down: only an
// unreachable JetStream is Unavailable; what the record or request says
// (not found, a revision conflict) is not.
func TestUnavailableTellsOutagesFromAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	kv, err := b.js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "sub_missing"); err == nil || events.Unavailable(err) {
		t.Fatalf("get of a missing key: %v; Unavailable %v, want an answer, not an outage", err, events.Unavailable(err))
	}
	rev, err := kv.Create(ctx, "sub_1", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "sub_1", []byte("{}"), rev+7); err == nil || events.Unavailable(err) {
		t.Fatalf("update at a wrong revision: %v; Unavailable %v, want an answer, not an outage", err, events.Unavailable(err))
	}

	b.srv.Stop()
	for _, op := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"get", func(ctx context.Context) error { _, err := kv.Get(ctx, "sub_1"); return err }},
		{"update", func(ctx context.Context) error { _, err := kv.Update(ctx, "sub_1", []byte("{}"), rev); return err }},
		{"publish", func(ctx context.Context) error { _, err := b.js.Publish(ctx, "audit.x", nil); return err }},
	} {
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := op.do(octx)
		cancel()
		if err == nil || !events.Unavailable(err) {
			t.Errorf("%s with the server down: %v; Unavailable %v, want true", op.name, err, events.Unavailable(err))
		}
		if wrapped := fmt.Errorf("write record sub_1: %w", err); !events.Unavailable(wrapped) {
			t.Errorf("%s: wrapped, %v is not Unavailable", op.name, wrapped)
		}
	}
	if events.Unavailable(errors.New("smtp: 550 mailbox unavailable")) || events.Unavailable(jetstream.ErrKeyNotFound) {
		t.Error("errors of the message or the mailbox taken for an outage")
	}
}
