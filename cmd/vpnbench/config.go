package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// regenerate is the documented command that regenerates docs/performance.md.
const regenerate = "go run ./cmd/vpnbench -out docs/performance.md"

// config is what a run measures, from the command line. Each field's flag
// states its default; -smoke changes the defaults of the counts and
// durations to tiny ones (smokeDefaults), a flag given explicitly wins.
type config struct {
	Smoke         bool
	CeilingServer bool
	Out           string
	Only          map[string]bool // groups to run; nil: all
	Keep          bool
	LogLevel      string
	Plan          string
	Notes         []string

	Rounds      int
	Window      time.Duration
	Warmup      time.Duration
	Connections int

	JSDuration   time.Duration
	JSPublishers int

	Orders      int
	Concurrency []int

	LatencyRate        int
	LatencyDuration    time.Duration
	LatencyConcurrency int

	ProviderLatency     time.Duration
	ProviderConcurrency []int
	ProviderRounds      int

	RSSEvents      int
	RSSConcurrency int

	// Args is the command line as given, for the report.
	Args []string
}

// groups are the parts of a run -only can select.
var groups = []string{"ingest", "jetstream", "e2e", "latency", "provider", "rss", "growth"}

// smokeDefaults are the defaults under -smoke: enough to produce every
// figure, never enough to say anything about speed.
var smokeDefaults = map[string]string{
	"rounds": "1", "window": "300ms", "warmup": "100ms", "connections": "8",
	"js-duration": "200ms", "js-publishers": "8",
	"orders":       "8",
	"latency-rate": "20", "latency-duration": "500ms",
	"provider-latency": "50ms", "provider-rounds": "1",
	"rss-events": "40",
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("vpnbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vpnbench [flags]\n\nRegenerate docs/performance.md: %s\nCI: go run ./cmd/vpnbench -smoke -out \"$(mktemp)\"\n\n", regenerate)
		fs.PrintDefaults()
	}
	fs.BoolVar(&c.Smoke, "smoke", false, "tiny counts: check only that every figure is produced (exit 1 if one is missing), never a speed")
	fs.BoolVar(&c.CeilingServer, "ceiling-server", false, "internal: serve the minimal ingest handler, configured like cmd/webhook (STRIPE_WEBHOOK_SECRET, NATS_URL, WEBHOOK_ADDR, WEBHOOK_METRICS_ADDR)")
	fs.StringVar(&c.Out, "out", "", "write the report as Markdown to this file (without -smoke, default docs/performance.md; with -smoke, none)")
	only := fs.String("only", "", "run only these groups, comma-separated: "+strings.Join(groups, ", ")+" (default all)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary directory (binaries, JetStream stores, process logs)")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "LOG_LEVEL of the webhook and worker processes")
	fs.StringVar(&c.Plan, "plan", "std-monthly", "the plan every order buys: std-monthly (PureVPN) or tunnel-monthly (VPNKI)")
	fs.Func("note", "a note on the run for the report (repeatable), e.g. what else ran on the machine", func(s string) error {
		c.Notes = append(c.Notes, s)
		return nil
	})
	fs.IntVar(&c.Rounds, "rounds", 3, "ingest and JetStream ceilings: rounds; each round gives every process and mode one window, in rotation")
	fs.DurationVar(&c.Window, "window", 10*time.Second, "ingest: length of one window")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "ingest: unmeasured load on each process before the first window")
	fs.IntVar(&c.Connections, "connections", 50, "ingest: concurrent connections")
	fs.DurationVar(&c.JSDuration, "js-duration", 3*time.Second, "JetStream ceilings: length of one measurement")
	fs.IntVar(&c.JSPublishers, "js-publishers", 50, "JetStream ceilings: concurrent synchronous publishers (besides the one-publisher rate)")
	fs.IntVar(&c.Orders, "orders", 5000, "end to end: orders stored before the worker starts (enough that a run at the highest concurrency lasts seconds, not one)")
	concurrency := fs.String("concurrency", "4,16,64,256", "end to end: WORKER_CONCURRENCY settings, in order")
	fs.IntVar(&c.LatencyRate, "latency-rate", 100, "latency: orders per second, steady")
	fs.DurationVar(&c.LatencyDuration, "latency-duration", 20*time.Second, "latency: how long orders arrive")
	fs.IntVar(&c.LatencyConcurrency, "latency-concurrency", 16, "latency: WORKER_CONCURRENCY")
	fs.DurationVar(&c.ProviderLatency, "provider-latency", 200*time.Millisecond, "provider latency L of the simulators")
	providerConcurrency := fs.String("provider-concurrency", "16,64", "provider latency: WORKER_CONCURRENCY settings C")
	fs.IntVar(&c.ProviderRounds, "provider-rounds", 50, "provider latency: orders per run, as a multiple of C (enough that the first and last round, when not every slot is busy, weigh little in a throughput)")
	fs.IntVar(&c.RSSEvents, "rss-events", 10000, "peak RSS: events pending when the worker starts (two per order)")
	fs.IntVar(&c.RSSConcurrency, "rss-concurrency", 256, "peak RSS: WORKER_CONCURRENCY (the largest of -concurrency: the most memory)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range smokeDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return config{}, err
				}
			}
		}
	} else if c.Out == "" {
		c.Out = "docs/performance.md"
	}
	var err error
	var errs []error
	if c.Concurrency, err = parseInts(*concurrency); err != nil {
		errs = append(errs, fmt.Errorf("-concurrency: %w", err))
	}
	if c.ProviderConcurrency, err = parseInts(*providerConcurrency); err != nil {
		errs = append(errs, fmt.Errorf("-provider-concurrency: %w", err))
	}
	if *only != "" {
		c.Only = map[string]bool{}
		for _, g := range strings.Split(*only, ",") {
			if !slices.Contains(groups, g) {
				errs = append(errs, fmt.Errorf("-only: no group %q (groups: %s)", g, strings.Join(groups, ", ")))
			}
			c.Only[g] = true
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"rounds", c.Rounds}, {"connections", c.Connections}, {"js-publishers", c.JSPublishers}, {"orders", c.Orders},
		{"latency-rate", c.LatencyRate}, {"latency-concurrency", c.LatencyConcurrency}, {"provider-rounds", c.ProviderRounds},
		{"rss-events", c.RSSEvents}, {"rss-concurrency", c.RSSConcurrency}} {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s must be positive, not %d", p.name, p.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"window", c.Window}, {"js-duration", c.JSDuration}, {"latency-duration", c.LatencyDuration}, {"provider-latency", c.ProviderLatency}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s must be positive, not %s", d.name, d.v))
		}
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("-warmup must not be negative, not %s", c.Warmup))
	}
	if _, ok := planEmailPrice[c.Plan]; !ok {
		errs = append(errs, fmt.Errorf("-plan: %q is not std-monthly or tunnel-monthly", c.Plan))
	}
	c.Args = args
	return c, errors.Join(errs...)
}

// runs reports whether group is part of this run.
func (c config) runs(group string) bool { return c.Only == nil || c.Only[group] }

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
