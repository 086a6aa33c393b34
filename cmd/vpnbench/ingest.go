package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

// ingestResult sums what the windows of one process (the webhook or the
// ceiling, in one mode) measured.
type ingestResult struct {
	Requests, Failed int
	Elapsed          time.Duration
	Latencies        perf.Latencies
	// Deltas of the process's own /metrics over its windows.
	AllocBytes, Mallocs, GCs, CPUSeconds float64
	// NATSCPU is the nats-server's CPU time over the same windows.
	NATSCPU    time.Duration
	FirstError error
}

// Rate is requests answered 200 per second, NaN if none were.
func (r *ingestResult) Rate() float64 {
	if r == nil || r.Requests == 0 {
		return math.NaN()
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// PerRequest is x divided by the requests answered, NaN if none were.
func (r *ingestResult) PerRequest(x float64) float64 {
	if r == nil || r.Requests == 0 {
		return math.NaN()
	}
	return x / float64(r.Requests)
}

// P is the p-th percentile latency in milliseconds.
func (r *ingestResult) P(p float64) float64 {
	if r == nil {
		return math.NaN()
	}
	return r.Latencies.Millis(p)
}

// ingestTarget is one process the load generator is pointed at.
type ingestTarget struct {
	name   string // "webhook" or "ceiling"
	stack  *stack
	proc   *ingestProc
	client *http.Client
	result *ingestResult
}

// measureIngest loads every target in windows of cfg.Window, in rotation:
// each round gives each target one window, so that a webhook and its
// ceiling see the same noise. Every target is first warmed up.
func (b *bench) measureIngest(ctx context.Context, stacks []*stack, r *results) error {
	var targets []*ingestTarget
	for _, s := range stacks {
		for _, p := range []*ingestProc{s.webhook, s.ceiling} {
			t := &ingestTarget{name: p.Name(), stack: s, proc: p, client: newClient(b.cfg.Connections), result: &ingestResult{}}
			r.ingest(s.mode.Name)[p.Name()] = t.result
			targets = append(targets, t)
		}
	}
	defer func() {
		for _, t := range targets {
			t.client.CloseIdleConnections()
		}
	}()
	tmpl, err := newIDTemplate("evt_vpnbench_" + b.tag + "_")
	if err != nil {
		return err
	}
	if b.cfg.Warmup > 0 {
		for _, t := range targets {
			b.logf("ingest: warming up %s (%s)", t.name, t.stack.mode.Name)
			if w := closedLoop(ctx, t.client, t.proc.url, b.secret, b.cfg.Connections, b.cfg.Warmup, tmpl.event); w.OK == 0 {
				return fmt.Errorf("ingest warm-up of the %s (%s): no request answered 200: %w", t.name, t.stack.mode.Name, w.FirstError)
			}
		}
	}
	for round := range b.cfg.Rounds {
		for i := range targets {
			t := targets[(i+round)%len(targets)]
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := b.ingestWindow(ctx, t, tmpl); err != nil {
				return err
			}
			b.logf("ingest: round %d/%d, %s (%s): %s req/s so far", round+1, b.cfg.Rounds, t.name, t.stack.mode.Name, perf.Number(t.result.Rate()))
		}
	}
	return nil
}

// ingestWindow runs one window against t and adds it to t's result.
func (b *bench) ingestWindow(ctx context.Context, t *ingestTarget, tmpl *idTemplate) error {
	before, err := perf.Scrape(ctx, http.DefaultClient, t.proc.metricsURL)
	if err != nil {
		return err
	}
	natsBefore, err := perf.ReadProcCPU(t.stack.nats.Pid())
	if err != nil {
		return err
	}
	w := closedLoop(ctx, t.client, t.proc.url, b.secret, b.cfg.Connections, b.cfg.Window, tmpl.event)
	natsAfter, err := perf.ReadProcCPU(t.stack.nats.Pid())
	if err != nil {
		return err
	}
	after, err := perf.Scrape(ctx, http.DefaultClient, t.proc.metricsURL)
	if err != nil {
		return err
	}
	res := t.result
	res.Requests += w.OK
	res.Failed += w.Failed
	res.Elapsed += w.Elapsed
	res.Latencies = append(res.Latencies, w.Latencies...)
	if res.FirstError == nil {
		res.FirstError = w.FirstError
	}
	res.NATSCPU += natsAfter - natsBefore
	for _, m := range []struct {
		name string
		sum  *float64
	}{
		{"go_memstats_alloc_bytes_total", &res.AllocBytes},
		{"go_memstats_mallocs_total", &res.Mallocs},
		{"go_gc_duration_seconds_count", &res.GCs},
		{"process_cpu_seconds_total", &res.CPUSeconds},
	} {
		a, okA := after[m.name]
		bf, okB := before[m.name]
		if !okA || !okB {
			return fmt.Errorf("%s: no %s in %s", t.name, m.name, t.proc.metricsURL)
		}
		*m.sum += a - bf
	}
	if w.OK == 0 {
		return fmt.Errorf("ingest window of the %s (%s): no request answered 200: %w", t.name, t.stack.mode.Name, w.FirstError)
	}
	return nil
}
