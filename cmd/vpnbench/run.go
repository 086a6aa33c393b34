package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

// bench is one run: its configuration, its temporary directory, the
// binaries it built and the secrets its processes share.
type bench struct {
	cfg            config
	dir            string
	bins           binaries
	tag            string // keeps this run's ids and addresses apart
	secret         string // STRIPE_WEBHOOK_SECRET
	credentialsKey string // CREDENTIALS_KEY
	plansFile      string
	stacks         int
	log            io.Writer
	errs           []error
}

func (b *bench) nextStack() int {
	b.stacks++
	return b.stacks
}

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "vpnbench: "+format+"\n", args...)
}

// fail records the error of a part of the run; its figures stay missing.
func (b *bench) fail(part string, err error) {
	err = fmt.Errorf("%s: %w", part, err)
	b.logf("%v", err)
	b.errs = append(b.errs, err)
}

// results is everything a run measured, by durability mode where it applies.
type results struct {
	ingestByMode map[string]map[string]*ingestResult // mode → "webhook" or "ceiling"
	webhookPeak  uint64                              // VmHWM after the ingest windows (default mode)
	ceilingPeak  uint64
	jetStream    map[string]*jetStreamResult
	e2e          map[string]map[int]*drainResult // mode → WORKER_CONCURRENCY
	latency      *latencyResult
	provider     map[int]*drainResult
	rss          *drainResult
	growth       []perf.Figure
}

func (r *results) ingest(mode string) map[string]*ingestResult {
	if r.ingestByMode[mode] == nil {
		r.ingestByMode[mode] = map[string]*ingestResult{}
	}
	return r.ingestByMode[mode]
}

func run(ctx context.Context, args []string) error {
	cfg, err := parseConfig(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.CeilingServer {
		return runCeiling(ctx)
	}
	b := &bench{cfg: cfg, log: os.Stderr}
	if b.dir, err = os.MkdirTemp("", "vpnbench-"); err != nil {
		return err
	}
	if cfg.Keep {
		defer b.logf("kept %s", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	started := time.Now()
	r := b.measure(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	report := b.report(started, r)
	fmt.Print(report.Text())
	if cfg.Out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Out, []byte(report.Markdown()), 0o644); err != nil {
			return err
		}
		b.logf("wrote %s", cfg.Out)
	}
	var missing []string
	for _, f := range report.Figures {
		if perf.Missing(f) || math.IsNaN(f.Ceiling) {
			missing = append(missing, fmt.Sprintf("%s (%s)", f.Name, f.Mode))
		}
	}
	b.logf("took %s", time.Since(started).Round(time.Second))
	if len(missing) > 0 {
		b.errs = append(b.errs, fmt.Errorf("%d figures missing: %s", len(missing), strings.Join(missing, "; ")))
	}
	return errors.Join(b.errs...)
}

// prepare builds the binaries and writes what the processes read.
func (b *bench) prepare(ctx context.Context) error {
	b.logf("building nats-server, cmd/webhook and cmd/worker into %s", b.dir)
	var err error
	if b.bins, err = build(ctx, b.dir); err != nil {
		return err
	}
	random := make([]byte, 3+16+32)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	b.tag = hex.EncodeToString(random[:3])
	b.secret = "whsec_" + hex.EncodeToString(random[3:19])
	b.credentialsKey = base64.StdEncoding.EncodeToString(random[19:])
	b.plansFile = filepath.Join(b.dir, "plans.yaml")
	return os.WriteFile(b.plansFile, []byte(plansYAML), 0o600)
}

// measure runs every part of the run; a part that fails is recorded and its
// figures stay missing, the others still run.
func (b *bench) measure(ctx context.Context) *results {
	r := &results{
		ingestByMode: map[string]map[string]*ingestResult{},
		jetStream:    map[string]*jetStreamResult{},
		e2e:          map[string]map[int]*drainResult{},
		provider:     map[int]*drainResult{},
	}
	if b.cfg.runs("ingest") || b.cfg.runs("jetstream") {
		if err := b.ingestAndJetStream(ctx, r); err != nil {
			b.fail("ingest and JetStream ceilings", err)
		}
	}
	if b.cfg.runs("e2e") {
		for _, c := range b.cfg.Concurrency {
			for _, mode := range durabilities {
				if ctx.Err() != nil {
					return r
				}
				b.logf("end to end: %d orders, WORKER_CONCURRENCY=%d, %s", b.cfg.Orders, c, mode.Name)
				d, err := b.drain(ctx, fmt.Sprintf("e2e-%d", c), mode, b.cfg.Orders, c, 0)
				if err != nil {
					b.fail(fmt.Sprintf("end to end, WORKER_CONCURRENCY=%d, %s", c, mode.Name), err)
					continue
				}
				if r.e2e[mode.Name] == nil {
					r.e2e[mode.Name] = map[int]*drainResult{}
				}
				r.e2e[mode.Name][c] = d
				b.logf("end to end: %s orders/s", perf.Number(d.Rate()))
			}
		}
	}
	if b.cfg.runs("latency") && ctx.Err() == nil {
		b.logf("latency: %d orders/s for %s, WORKER_CONCURRENCY=%d", b.cfg.LatencyRate, b.cfg.LatencyDuration, b.cfg.LatencyConcurrency)
		var err error
		if r.latency, err = b.measureLatency(ctx); err != nil {
			b.fail("latency", err)
		}
	}
	if b.cfg.runs("provider") {
		for _, c := range b.cfg.ProviderConcurrency {
			if ctx.Err() != nil {
				return r
			}
			b.logf("provider latency %s: %d orders, WORKER_CONCURRENCY=%d", b.cfg.ProviderLatency, b.cfg.ProviderRounds*c, c)
			d, err := b.drain(ctx, fmt.Sprintf("provider-%d", c), defaultDurability, b.cfg.ProviderRounds*c, c, b.cfg.ProviderLatency)
			if err != nil {
				b.fail(fmt.Sprintf("provider latency, WORKER_CONCURRENCY=%d", c), err)
				continue
			}
			r.provider[c] = d
		}
	}
	if b.cfg.runs("rss") && ctx.Err() == nil {
		n := max(1, b.cfg.RSSEvents/2)
		b.logf("peak RSS: %d orders (%d events) pending, WORKER_CONCURRENCY=%d", n, 2*n, b.cfg.RSSConcurrency)
		var err error
		if r.rss, err = b.drain(ctx, "rss", defaultDurability, n, b.cfg.RSSConcurrency, 0); err != nil {
			b.fail("peak RSS of the worker", err)
		}
	}
	if b.cfg.runs("growth") && ctx.Err() == nil {
		b.measureGrowth(ctx, r)
	}
	return r
}

// ingestAndJetStream runs a stack per durability mode, each with the
// webhook and its ceiling, and measures the JetStream ceilings and ingest
// in rotation between them.
func (b *bench) ingestAndJetStream(ctx context.Context, r *results) (err error) {
	var stacks []*stack
	defer func() {
		for _, s := range stacks {
			err = errors.Join(err, s.close())
		}
	}()
	for _, mode := range durabilities {
		s, err := b.startStack(ctx, "ingest", mode, true)
		if err != nil {
			return err
		}
		stacks = append(stacks, s)
	}
	if b.cfg.runs("jetstream") {
		if err := b.measureJetStream(ctx, stacks, r); err != nil {
			b.fail("JetStream ceilings", err)
		}
	}
	if !b.cfg.runs("ingest") {
		return nil
	}
	if err := b.measureIngest(ctx, stacks, r); err != nil {
		return err
	}
	// The processes' peaks under full ingest load, in the default mode.
	webhook, err := perf.ReadProcMemory(stacks[0].webhook.Pid())
	if err != nil {
		return err
	}
	ceiling, err := perf.ReadProcMemory(stacks[0].ceiling.Pid())
	if err != nil {
		return err
	}
	r.webhookPeak, r.ceilingPeak = webhook.PeakRSS, ceiling.PeakRSS
	return nil
}

// mib is bytes in MiB; NaN for 0 (not measured).
func mib(b uint64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(b) / (1 << 20)
}
