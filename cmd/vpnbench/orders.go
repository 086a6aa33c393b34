package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// stall is how long a run waits for the next email before it gives up.
const stall = time.Minute

// drainResult is one run of stored orders through a worker.
type drainResult struct {
	Orders      int
	Concurrency int
	// Took is from the worker's metrics port answering to the last email.
	Took time.Duration
	// Startup is from starting the worker process to its metrics port answering.
	Startup time.Duration
	// NATSMsgs are the messages clients sent the nats-server (publishes,
	// KV writes, acks, pull and API requests) while the worker ran.
	NATSMsgs int64
	// Writes are the messages stored in each stream the worker writes
	// (KV_ACCOUNTS: the account records' revisions).
	Writes             map[string]uint64
	WorkerCPU, NATSCPU time.Duration
	// BenchCPU is this process's: the simulators and the SMTP listener (and
	// the polling of this run).
	BenchCPU      time.Duration
	WorkerPeakRSS uint64
	Redelivered   int
	DeadLetters   uint64
	ProviderCalls int
}

// Rate is orders per second, NaN if none were measured.
func (d *drainResult) Rate() float64 {
	if d == nil || d.Orders == 0 || d.Took <= 0 {
		return math.NaN()
	}
	return float64(d.Orders) / d.Took.Seconds()
}

// PerOrder is x per order.
func (d *drainResult) PerOrder(x float64) float64 {
	if d == nil || d.Orders == 0 {
		return math.NaN()
	}
	return x / float64(d.Orders)
}

// drain stores n orders through the webhook of a new stack in mode, then
// starts a worker at concurrency and times it until the last email, with
// the simulators answering after providerLatency.
func (b *bench) drain(ctx context.Context, name string, mode durability, n, concurrency int, providerLatency time.Duration) (res *drainResult, err error) {
	s, err := b.startStack(ctx, name, mode, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.close()) }()
	s.pure.SetLatency(providerLatency)
	s.vpnki.SetLatency(providerLatency)

	orders := newOrders(n, b.cfg.Plan, b.tag)
	s.inbox.expect(emails(orders))
	if err := storeOrders(ctx, s.webhook.url, b.secret, orders, min(b.cfg.Connections, 2*n)); err != nil {
		return nil, fmt.Errorf("storing the orders: %w", err)
	}
	if err := s.streamHolds(ctx, uint64(2*n)); err != nil {
		return nil, err
	}

	v0, err := s.varz(ctx)
	if err != nil {
		return nil, err
	}
	writes0, err := s.writes(ctx)
	if err != nil {
		return nil, err
	}
	nats0, err := perf.ReadProcCPU(s.nats.Pid())
	if err != nil {
		return nil, err
	}
	bench0, err := perf.ReadProcCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	launched := time.Now()
	ready, err := s.startWorker(ctx, concurrency)
	if err != nil {
		return nil, err
	}
	times, err := s.inbox.wait(ctx, stall)
	if err != nil {
		return nil, fmt.Errorf("worker at concurrency %d: %w", concurrency, err)
	}
	res = &drainResult{Orders: n, Concurrency: concurrency, Startup: ready.Sub(launched)}
	for _, t := range times {
		res.Took = max(res.Took, t.Sub(ready))
	}
	if err := s.settle(ctx, res); err != nil {
		return nil, err
	}
	if err := s.processFacts(ctx, res, v0, nats0, bench0); err != nil {
		return nil, err
	}
	writes1, err := s.writes(ctx)
	if err != nil {
		return nil, err
	}
	res.Writes = map[string]uint64{}
	for name, n := range writes1 {
		res.Writes[name] = n - writes0[name]
	}
	return res, s.stopWorker()
}

// streamHolds waits until stream STRIPE holds n messages.
func (s *stack) streamHolds(ctx context.Context, n uint64) error {
	stream, err := s.js.Stream(ctx, events.StreamStripe)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs != n {
		return fmt.Errorf("stream %s holds %d messages, want %d", events.StreamStripe, info.State.Msgs, n)
	}
	return nil
}

// writtenStreams are the streams the worker writes, in the order a note names them.
var writtenStreams = []string{"KV_" + events.BucketAccounts, events.StreamAudit, events.StreamTimers}

// writes is how many messages each of writtenStreams has ever stored.
func (s *stack) writes(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, name := range writtenStreams {
		stream, err := s.js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		out[name] = info.State.LastSeq
	}
	return out, nil
}

// settle waits until the worker has acknowledged every event, and records
// how many were redelivered and dead-lettered.
func (s *stack) settle(ctx context.Context, res *drainResult) error {
	deadline := time.Now().Add(stall)
	for {
		c, err := s.js.Consumer(ctx, events.StreamStripe, events.ConsumerWorker)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			res.Redelivered = info.NumRedelivered
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker has not acknowledged every event %s after the last email: %d pending, %d unacknowledged", stall, info.NumPending, info.NumAckPending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	dead, err := s.js.Stream(ctx, events.StreamDead)
	if err != nil {
		return err
	}
	info, err := dead.Info(ctx)
	if err != nil {
		return err
	}
	res.DeadLetters = info.State.Msgs
	return nil
}

// processFacts records what the worker, the nats-server and this process
// spent since v0, nats0 and bench0, and the worker's peak RSS.
func (s *stack) processFacts(ctx context.Context, res *drainResult, v0 varz, nats0, bench0 time.Duration) error {
	v1, err := s.varz(ctx)
	if err != nil {
		return err
	}
	nats1, err := perf.ReadProcCPU(s.nats.Pid())
	if err != nil {
		return err
	}
	if res.WorkerCPU, err = perf.ReadProcCPU(s.worker.Pid()); err != nil {
		return err
	}
	bench1, err := perf.ReadProcCPU(os.Getpid())
	if err != nil {
		return err
	}
	res.BenchCPU = bench1 - bench0
	mem, err := perf.ReadProcMemory(s.worker.Pid())
	if err != nil {
		return err
	}
	res.NATSMsgs, res.NATSCPU, res.WorkerPeakRSS = v1.InMsgs-v0.InMsgs, nats1-nats0, mem.PeakRSS
	res.ProviderCalls = len(s.pure.CallLog()) + len(s.vpnki.CallLog())
	return nil
}

// latencyResult is orders arriving at a steady rate, each timed from the
// moment its first event was sent to the webhook to its email's acceptance.
type latencyResult struct {
	Orders      int
	Offered     float64 // orders per second actually sent
	Concurrency int
	Latencies   perf.Latencies
	Redelivered int
	DeadLetters uint64
}

// P is the p-th percentile latency in milliseconds.
func (l *latencyResult) P(p float64) float64 {
	if l == nil {
		return math.NaN()
	}
	return l.Latencies.Millis(p)
}

// measureLatency runs a worker, then sends orders at cfg.LatencyRate for
// cfg.LatencyDuration (both events of an order at once, as Stripe does).
func (b *bench) measureLatency(ctx context.Context) (res *latencyResult, err error) {
	s, err := b.startStack(ctx, "latency", defaultDurability, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.close()) }()
	if _, err := s.startWorker(ctx, b.cfg.LatencyConcurrency); err != nil {
		return nil, err
	}
	n := max(1, int(float64(b.cfg.LatencyRate)*b.cfg.LatencyDuration.Seconds()))
	orders := newOrders(n, b.cfg.Plan, b.tag)
	s.inbox.expect(emails(orders))
	client := newClient(256)
	defer client.CloseIdleConnections()
	sent := make([]time.Time, n)
	interval := time.Second / time.Duration(b.cfg.LatencyRate)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var postErr error
	start := time.Now()
	for i, o := range orders {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(i) * interval))):
		}
		sent[i] = time.Now()
		for _, body := range [][]byte{o.Checkout, o.Invoice} {
			wg.Go(func() {
				if err := post(ctx, client, s.webhook.url, b.secret, body); err != nil {
					errOnce.Do(func() { postErr = err })
				}
			})
		}
	}
	wg.Wait()
	if postErr != nil {
		return nil, fmt.Errorf("posting the orders: %w", postErr)
	}
	times, err := s.inbox.wait(ctx, stall)
	if err != nil {
		return nil, err
	}
	res = &latencyResult{Orders: n, Concurrency: b.cfg.LatencyConcurrency, Offered: float64(b.cfg.LatencyRate)}
	if n > 1 {
		res.Offered = float64(n-1) / sent[n-1].Sub(sent[0]).Seconds()
	}
	for i, o := range orders {
		res.Latencies = append(res.Latencies, times[o.Email].Sub(sent[i]))
	}
	var d drainResult
	if err := s.settle(ctx, &d); err != nil {
		return nil, err
	}
	res.Redelivered, res.DeadLetters = d.Redelivered, d.DeadLetters
	return res, s.stopWorker()
}
