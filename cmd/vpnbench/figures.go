package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

// compare is value beside ceiling, and their ratio.
func compare(name, mode, unit string, value, ceiling float64) perf.Figure {
	return perf.Figure{Name: name, Mode: mode, Unit: unit, Value: value, Ceiling: ceiling, Ratio: value / ceiling}
}

// atLeast gives f the target that its ratio be at least min.
func atLeast(f perf.Figure, min float64, target string) perf.Figure {
	f.Target, f.Met = target, f.Ratio >= min
	return f
}

// atMost gives f the target that its ratio be at most max (lower is better).
func atMost(f perf.Figure, max float64, target string) perf.Figure {
	f.Target, f.Met = target, f.Ratio <= max
	return f
}

func withNote(f perf.Figure, format string, args ...any) perf.Figure {
	f.Note = fmt.Sprintf(format, args...)
	return f
}

// micros is seconds per request in µs, for notes.
func micros(seconds float64) string { return perf.Number(seconds*1e6) + " µs" }

// count is n things, e.g. "1 window", "3 windows".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func millis(d time.Duration) string { return perf.Number(float64(d)/float64(time.Millisecond)) + " ms" }

// figures turns the results into the table's rows, in the order.
// A figure not measured is still a row, with a NaN value: visibly missing.
func (b *bench) figures(r *results) []perf.Figure {
	var out []perf.Figure
	c := b.cfg
	if c.runs("ingest") {
		for _, mode := range durabilities {
			w, ce := r.ingest(mode.Name)["webhook"], r.ingest(mode.Name)["ceiling"]
			if w == nil {
				w = &ingestResult{}
			}
			if ce == nil {
				ce = &ingestResult{}
			}
			rate := compare(fmt.Sprintf("ingest: webhook ÷ ceiling, req/s (%d connections)", c.Connections), mode.Name, "req/s", w.Rate(), ce.Rate())
			out = append(out,
				withNote(atLeast(rate, 0.95, "≥ 0.95"),
					"%d and %d requests in %s of %s each; p50 %s vs %s ms; CPU per request: webhook %s, ceiling %s; nats-server %s vs %s; failed %d vs %d",
					w.Requests, ce.Requests, count(c.Rounds, "window"), c.Window, perf.Number(w.P(50)), perf.Number(ce.P(50)),
					micros(w.PerRequest(w.CPUSeconds)), micros(ce.PerRequest(ce.CPUSeconds)),
					micros(w.PerRequest(w.NATSCPU.Seconds())), micros(ce.PerRequest(ce.NATSCPU.Seconds())), w.Failed, ce.Failed),
				atMost(compare("ingest: p99 latency, webhook ÷ ceiling", mode.Name, "ms", w.P(99), ce.P(99)), 1.1, "≤ 1.1"),
				atMost(compare("ingest: bytes allocated per request, webhook ÷ ceiling", mode.Name, "B", w.PerRequest(w.AllocBytes), ce.PerRequest(ce.AllocBytes)), 1.3, "≤ 1.3"),
				compare("ingest: allocations per request, webhook ÷ ceiling", mode.Name, "", w.PerRequest(w.Mallocs), ce.PerRequest(ce.Mallocs)),
				compare("ingest: GC cycles per 1,000 requests, webhook ÷ ceiling", mode.Name, "", w.PerRequest(1000*w.GCs), ce.PerRequest(1000*ce.GCs)),
			)
		}
	}
	if c.runs("jetstream") {
		for _, mode := range durabilities {
			j := r.jetStream[mode.Name]
			if j == nil {
				j = &jetStreamResult{}
			}
			async := j.Async.PerSecond()
			out = append(out,
				compare("JetStream: synchronous publish, 1 publisher ÷ asynchronous", mode.Name, "msg/s", j.Sync1.PerSecond(), async),
				compare(fmt.Sprintf("JetStream: synchronous publish, %d publishers ÷ asynchronous", c.JSPublishers), mode.Name, "msg/s", j.SyncN.PerSecond(), async),
				withNote(perf.Figure{Name: "JetStream: asynchronous publish", Mode: mode.Name, Unit: "msg/s", Value: async},
					"messages of %d bytes (a checkout.session.completed event), each with a Msg-Id, to a stream configured as STRIPE; %s of %s per kind of publish", j.Size, count(c.Rounds, "window"), c.JSDuration),
			)
			if c.runs("ingest") {
				ce := r.ingest(mode.Name)["ceiling"]
				out = append(out, withNote(compare(fmt.Sprintf("ingest ceiling ÷ JetStream synchronous publish, %d publishers", c.JSPublishers), mode.Name, "msg/s", ce.Rate(), j.SyncN.PerSecond()),
					"what HTTP and signature verification leave of JetStream's synchronous rate"))
			}
		}
	}
	if c.runs("e2e") {
		for _, mode := range durabilities {
			for i, conc := range c.Concurrency {
				d := r.e2e[mode.Name][conc]
				// The target, 1,000 orders/s on 2 cores, is read where the
				// README sends an operator for throughput: the highest
				// WORKER_CONCURRENCY, with nats-server's defaults. The
				// other rows show their ratio to it, and that throughput
				// never falls as the setting rises (below).
				f := compare(fmt.Sprintf("end to end: orders/s, WORKER_CONCURRENCY=%d (%d orders)", conc, c.Orders), mode.Name, "orders/s", d.Rate(), 1000)
				if mode == defaultDurability && i == len(c.Concurrency)-1 {
					f = atLeast(f, 1, "≥ 1,000 orders/s")
				}
				if d != nil {
					f.Note = fmt.Sprintf("per order: %s NATS messages in, stored %s; CPU per order: worker %s, nats-server %s, simulators and SMTP listener %s; worker peak RSS %s MiB; redelivered %d, dead letters %d; worker start %s",
						perf.Number(d.PerOrder(float64(d.NATSMsgs))), d.writesPerOrder(), millis(time.Duration(d.PerOrder(float64(d.WorkerCPU)))), millis(time.Duration(d.PerOrder(float64(d.NATSCPU)))),
						millis(time.Duration(d.PerOrder(float64(d.BenchCPU)))),
						perf.Number(mib(d.WorkerPeakRSS)), d.Redelivered, d.DeadLetters, millis(d.Startup))
				}
				out = append(out, f)
				if i > 0 {
					prev := c.Concurrency[i-1]
					out = append(out, atLeast(compare(fmt.Sprintf("end to end: WORKER_CONCURRENCY=%d ÷ %d", conc, prev), mode.Name, "orders/s", d.Rate(), r.e2e[mode.Name][prev].Rate()),
						0.95, "≥ 1, never falls (0.95: noise)"))
				}
			}
		}
	}
	out = append(out, b.durabilityCost(r)...)
	if c.runs("latency") {
		l := r.latency
		p99 := atMost(compare(fmt.Sprintf("latency, webhook receipt → email accepted, p99 (%d orders/s)", c.LatencyRate), defaultDurability.Name, "ms", l.P(99), 250), 1, "≤ 250 ms")
		if l != nil {
			p99.Note = fmt.Sprintf("%d orders at %s orders/s, WORKER_CONCURRENCY=%d; p90 %s ms, max %s ms; redelivered %d, dead letters %d; from the first byte sent to the SMTP listener's acceptance",
				l.Orders, perf.Number(l.Offered), l.Concurrency, perf.Number(l.P(90)), perf.Number(l.P(100)), l.Redelivered, l.DeadLetters)
		}
		out = append(out, p99, perf.Figure{Name: fmt.Sprintf("latency, webhook receipt → email accepted, p50 (%d orders/s)", c.LatencyRate), Mode: defaultDurability.Name, Unit: "ms", Value: l.P(50)})
	}
	if c.runs("provider") {
		for _, conc := range c.ProviderConcurrency {
			d := r.provider[conc]
			ceiling := float64(conc) / c.ProviderLatency.Seconds()
			f := atLeast(compare(fmt.Sprintf("provider latency %s: orders/s ÷ C / L, WORKER_CONCURRENCY=%d", c.ProviderLatency, conc), defaultDurability.Name, "orders/s", d.Rate(), ceiling), 0.9, "≥ 0.9")
			if d != nil {
				f.Note = fmt.Sprintf("%d orders; %s provider calls per order (C / L assumes one)", d.Orders, perf.Number(d.PerOrder(float64(d.ProviderCalls))))
			}
			out = append(out, f)
		}
	}
	if c.runs("rss") {
		d := r.rss
		f := atMost(compare(fmt.Sprintf("peak RSS: worker, %d events pending (WORKER_CONCURRENCY=%d)", 2*max(1, c.RSSEvents/2), c.RSSConcurrency), defaultDurability.Name, "MiB", mib(d.peak()), 64), 1, "≤ 64 MiB")
		if d != nil {
			f.Note = fmt.Sprintf("VmHWM; %s orders/s while draining", perf.Number(d.Rate()))
		}
		out = append(out, f)
	}
	if c.runs("ingest") {
		out = append(out, withNote(atMost(compare(fmt.Sprintf("peak RSS: webhook under full ingest load (%d connections)", c.Connections), defaultDurability.Name, "MiB", mib(r.webhookPeak), 32), 1, "≤ 32 MiB"),
			"VmHWM after every ingest window; the ceiling's: %s MiB", perf.Number(mib(r.ceilingPeak))))
	}
	if c.runs("growth") {
		out = append(out, r.growth...)
	}
	return out
}

// writesPerOrder names the messages stored per order in each stream the
// worker writes, e.g. "KV_ACCOUNTS 9.00, AUDIT 4.00, TIMERS 1.00".
func (d *drainResult) writesPerOrder() string {
	var parts []string
	for _, name := range writtenStreams {
		parts = append(parts, name+" "+perf.Number(d.PerOrder(float64(d.Writes[name]))))
	}
	return strings.Join(parts, ", ")
}

func (d *drainResult) peak() uint64 {
	if d == nil {
		return 0
	}
	return d.WorkerPeakRSS
}

// durabilityCost is, for every JetStream-bound figure, the rate with
// sync_interval: always beside the rate with the server's defaults.
func (b *bench) durabilityCost(r *results) []perf.Figure {
	name := func(what string) string { return "cost of sync_interval: always, " + what }
	mode := syncAlways.Name + " ÷ default"
	var out []perf.Figure
	c := b.cfg
	if c.runs("ingest") {
		for _, p := range []string{"webhook", "ceiling"} {
			out = append(out, compare(name("ingest "+p+" req/s"), mode, "req/s", r.ingest(syncAlways.Name)[p].Rate(), r.ingest(defaultDurability.Name)[p].Rate()))
		}
	}
	if c.runs("jetstream") {
		get := func(mode string) *jetStreamResult {
			if j := r.jetStream[mode]; j != nil {
				return j
			}
			return &jetStreamResult{}
		}
		a, d := get(syncAlways.Name), get(defaultDurability.Name)
		out = append(out,
			compare(name("JetStream synchronous publish, 1 publisher"), mode, "msg/s", a.Sync1.PerSecond(), d.Sync1.PerSecond()),
			compare(name("JetStream asynchronous publish"), mode, "msg/s", a.Async.PerSecond(), d.Async.PerSecond()))
	}
	if c.runs("e2e") {
		for _, conc := range c.Concurrency {
			out = append(out, compare(name(fmt.Sprintf("end to end orders/s, WORKER_CONCURRENCY=%d", conc)), mode, "orders/s",
				r.e2e[syncAlways.Name][conc].Rate(), r.e2e[defaultDurability.Name][conc].Rate()))
		}
	}
	return out
}

// report is the run's report.
func (b *bench) report(started time.Time, r *results) perf.Report {
	c := b.cfg
	settings := fmt.Sprintf("`%s` (ingest: %s of one %s window per process and mode, %d connections, %s warm-up; JetStream: %s of %s per kind of publish; end to end: %d orders; latency: %d orders/s for %s; provider latency: %d × C orders; peak RSS: %d events; LOG_LEVEL=%s; orders buy plan %s)",
		commandLine(c.Args), count(c.Rounds, "round"), c.Window, c.Connections, c.Warmup, count(c.Rounds, "round"), c.JSDuration, c.Orders, c.LatencyRate, c.LatencyDuration, c.ProviderRounds, c.RSSEvents, c.LogLevel, c.Plan)
	if c.Smoke {
		settings += ". **A smoke run: tiny counts; it shows that every figure is produced, not how fast anything is.**"
	}
	intro := []string{
		"Every figure is measured in one run, on this machine, beside its ceiling measured in the same run (or beside its target where there is no ceiling), and read as a ratio. " +
			"Absolute numbers depend on the machine and on whatever else ran on it; the ratios are the figures to read. " +
			"The load generator, the provider simulators and the SMTP listener run inside vpnbench, on the same cores as the processes they measure.",
		"What runs: a nats-server built from the module cache with its file store, once with the server's defaults and once with `jetstream { sync_interval: always }` (the mode column); " +
			"cmd/webhook and cmd/worker built with `go build` and configured through their environment as README.md says; " +
			"the ingest ceiling, `vpnbench -ceiling-server`, a handler that only reads the body, calls stripe-go's `webhook.ValidatePayload`, publishes synchronously to JetStream with the event id as Msg-Id and answers 200, served like the webhook (same server timeouts, its own /metrics). " +
			"Ingest windows rotate between the webhook and the ceiling of both modes, so the two sides of each ratio share the machine's noise; the per-request allocations and GC cycles are deltas of each process's own `/metrics` over its windows. " +
			"End-to-end runs store every order (a checkout.session.completed and its invoice.paid) through the webhook first, then start the worker and time it until the last welcome email; they run one after the other and are noisier.",
	}
	notes := append([]string(nil), c.Notes...)
	for _, err := range b.errs {
		notes = append(notes, "Not measured: "+strings.ReplaceAll(err.Error(), "\n", " "))
	}
	notes = append(notes, fmt.Sprintf("The run took %s.", time.Since(started).Round(time.Second)))
	return perf.Report{
		Title:    "Performance",
		Command:  regenerate,
		Date:     started,
		Machine:  perf.ReadMachine(),
		Settings: settings,
		Intro:    intro,
		Figures:  b.figures(r),
		Notes:    notes,
	}
}

// commandLine is the run's arguments as the report shows them: each -note
// is in the notes, so its text is elided here.
func commandLine(args []string) string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-note" || a == "--note":
			out = append(out, a, "…")
			i++
		case strings.HasPrefix(a, "-note=") || strings.HasPrefix(a, "--note="):
			out = append(out, a[:strings.Index(a, "=")], "…")
		default:
			out = append(out, a)
		}
	}
	return strings.Join(append([]string{"vpnbench"}, out...), " ")
}
