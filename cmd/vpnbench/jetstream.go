package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// rate is a count over a time.
type rate struct {
	N       int
	Elapsed time.Duration
}

// PerSecond is N per second, NaN if nothing was counted.
func (r rate) PerSecond() float64 {
	if r.N == 0 {
		return math.NaN()
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

func (r *rate) add(o rate) { r.N, r.Elapsed = r.N+o.N, r.Elapsed+o.Elapsed }

// jetStreamResult is the publish ceilings of one durability mode.
type jetStreamResult struct {
	Sync1, SyncN, Async rate
	// Size is the size of each message published, in bytes.
	Size int
}

const benchSubject = "vpnbench.publish"

// benchStream declares stream VPNBENCH: STRIPE's configuration with its
// own subject, so that the ceilings are measured on the same kind of
// stream without filling STRIPE.
func (s *stack) benchStream(ctx context.Context) error {
	stripe, err := s.js.Stream(ctx, events.StreamStripe)
	if err != nil {
		return err
	}
	info, err := stripe.Info(ctx)
	if err != nil {
		return err
	}
	cfg := info.Config
	cfg.Name, cfg.Subjects, cfg.Description = "VPNBENCH", []string{benchSubject}, "vpnbench's publish ceilings"
	_, err = s.js.CreateOrUpdateStream(ctx, cfg)
	return err
}

// measureJetStream measures synchronous (one publisher, and cfg.JSPublishers
// at once) and asynchronous publish rates of messages the size of a Stripe
// event, each with a Msg-Id, in every stack in rotation.
func (b *bench) measureJetStream(ctx context.Context, stacks []*stack, r *results) error {
	body, err := newIDTemplate("evt_jetstream_")
	if err != nil {
		return err
	}
	msg := body.event()
	for _, s := range stacks {
		if err := s.benchStream(ctx); err != nil {
			return err
		}
		r.jetStream[s.mode.Name] = &jetStreamResult{Size: len(msg)}
	}
	var ids atomic.Uint64
	nextID := func() string { return "vpnbench-" + b.tag + "-" + strconv.FormatUint(ids.Add(1), 10) }
	for round := range b.cfg.Rounds {
		for _, s := range stacks {
			res := r.jetStream[s.mode.Name]
			for _, m := range []struct {
				name string
				into *rate
				run  func() (rate, error)
			}{
				{"synchronous, 1 publisher", &res.Sync1, func() (rate, error) { return syncPublish(ctx, s.js, 1, b.cfg.JSDuration, msg, nextID) }},
				{fmt.Sprintf("synchronous, %d publishers", b.cfg.JSPublishers), &res.SyncN, func() (rate, error) {
					return syncPublish(ctx, s.js, b.cfg.JSPublishers, b.cfg.JSDuration, msg, nextID)
				}},
				{"asynchronous", &res.Async, func() (rate, error) { return asyncPublish(ctx, s.nc, b.cfg.JSDuration, msg, nextID) }},
			} {
				got, err := m.run()
				if err != nil {
					return fmt.Errorf("JetStream %s publish (%s): %w", m.name, s.mode.Name, err)
				}
				m.into.add(got)
				b.logf("jetstream: round %d/%d, %s, %s: %s msg/s", round+1, b.cfg.Rounds, s.mode.Name, m.name, perf.Number(got.PerSecond()))
			}
		}
	}
	return nil
}

// syncPublish publishes from publishers goroutines for d, each waiting for
// every PubAck before the next publish.
func syncPublish(ctx context.Context, js jetstream.JetStream, publishers int, d time.Duration, body []byte, nextID func() string) (rate, error) {
	var n atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range publishers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: benchSubject, Data: body}, jetstream.WithMsgID(nextID())); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return rate{N: int(n.Load()), Elapsed: time.Since(start)}, firstErr
}

// asyncPublish publishes without waiting for each PubAck (up to the
// client's default window of pending acks) for d, then waits for every
// ack; the time includes that wait.
func asyncPublish(ctx context.Context, nc *nats.Conn, d time.Duration, body []byte, nextID func() string) (rate, error) {
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return rate{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	n := 0
	for ctx.Err() == nil && time.Now().Before(deadline) {
		// A full window of pending acks waits for room (sync always acks slowly).
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: benchSubject, Data: body}, jetstream.WithMsgID(nextID()), jetstream.WithStallWait(30*time.Second)); err != nil {
			return rate{}, err
		}
		n++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return rate{}, fmt.Errorf("%d asynchronous publishes not acknowledged after 30 s", js.PublishAsyncPending())
	case <-ctx.Done():
		return rate{}, ctx.Err()
	}
	if f := failed.Load(); f > 0 {
		return rate{}, fmt.Errorf("%d of %d asynchronous publishes failed", f, n)
	}
	return rate{N: n, Elapsed: time.Since(start)}, nil
}
