// Package ops owns the operator's operations over vpnbill's streams and
// account records, for cmd/vpnbillctl and the web console
// (internal/console): listing, retrying and dropping dead letters, the
// records in review and their resolution, an account's record and its
// provider's live view of it, credential resets, the recent Stripe events
// with their outcomes, replaying stored Stripe events (all since a point,
// or one), an account's usage, the finance report read from the audit
// trail, reconciliation of the records with the providers (every run
// recorded in AUDIT, see ReconcileRun), and catching up on Stripe events
// the endpoint missed.
//
// Every operation returns data; rendering it (tables, CSV, JSON) is the
// command's job. Nothing here prints a password, a sealed password or a
// full payload unless asked for the payload.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Provisioner is what `review resolve`, `resend` and the safe fixes of
// reconcile need of a provisioning.Service. Each runs under the record's
// lease and through the worker's step machine.
type Provisioner interface {
	ResolveReview(ctx context.Context, key string, action provisioning.ReviewAction, username string) error
	ResetCredentials(ctx context.Context, key string) error
	Refresher
}

// UsageReader reads the connections of one account at a provider that
// keeps them (providers.Capabilities.Usage): those between from and to
// (zero: the beginning of time, now). It honours ctx; an error is the
// provider's (a *providers.Error).
type UsageReader interface {
	Sessions(ctx context.Context, username string, from, to time.Time) ([]Session, error)
}

// ErrNotConfigured means an operation needs a part (provisioning, a
// provider) the configuration does not give.
var ErrNotConfigured = errors.New("not configured")

// Ops runs operator operations. Only JS is required.
type Ops struct {
	// JS is the JetStream context; the streams and bucket must exist (the
	// worker and webhook declare them).
	JS jetstream.JetStream
	// Provisioner, if set, resolves reviews, resets credentials and is the
	// Refresher of the safe fixes.
	Provisioner Provisioner
	// UsageReaders read usage, by provider; a provider missing here is not
	// configured.
	UsageReaders map[providers.Name]UsageReader
	// Providers are the provider adapters, by name, that LiveState reads
	// accounts with (status calls only); a provider missing here is not
	// configured. Reconcile takes its own (ReconcileOptions.Providers).
	Providers map[providers.Name]provisioning.Provider
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Log receives progress lines; default none.
	Log *zap.Logger
}

func (o *Ops) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Ops) store(ctx context.Context) (*provisioning.Store, error) {
	kv, err := o.JS.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	return provisioning.NewStore(kv), nil
}

// scan calls fn with every message of stream from the start cfg selects up
// to the last one stored when scan began (messages published meanwhile,
// such as a replay's, are not seen).
func (o *Ops) scan(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) error) error {
	s, err := o.JS.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || cfg.OptStartSeq > last {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	// Nothing to deliver (a filter or start that matches nothing): a fetch
	// would wait out its expiry.
	if ci, err := cons.Info(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	} else if ci.NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if meta.Sequence.Stream > last {
				return nil
			}
			if err := fn(m); err != nil {
				return err
			}
			// The last message stored, or the last one the filter matches.
			if meta.Sequence.Stream == last || meta.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		if n == 0 {
			return nil // the rest was deleted meanwhile
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// envelope is the part of a stored Stripe event ops shows: never the rest.
type envelope struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
}

// peek reads a Stripe event's id and type; a body that is not one gives zeros.
func peek(data []byte) envelope {
	var e envelope
	_ = json.Unmarshal(data, &e)
	return e
}
