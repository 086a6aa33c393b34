package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

func emptyResults() *results {
	return &results{
		ingestByMode: map[string]map[string]*ingestResult{},
		jetStream:    map[string]*jetStreamResult{},
		e2e:          map[string]map[int]*drainResult{},
		provider:     map[int]*drainResult{},
	}
}

// TestEveryFigureIsARowEvenUnmeasured: a part that failed leaves its rows
// in the table, missing, so the smoke run sees what is not produced.
func TestEveryFigureIsARowEvenUnmeasured(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"-smoke"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{cfg: cfg}
	figs := b.figures(emptyResults())
	// ingest 5 per mode, JetStream 4 per mode, end to end 4 + 3 per mode,
	// cost 2 + 2 + 4, latency 2, provider 2, RSS 2.
	if want := 2*5 + 2*4 + 2*7 + 8 + 2 + 2 + 2; len(figs) != want {
		t.Errorf("%d rows, want %d", len(figs), want)
	}
	for _, f := range figs {
		if !perf.Missing(f) && !math.IsNaN(f.Ceiling) {
			t.Errorf("%s (%s) is not missing: %v", f.Name, f.Mode, f.Value)
		}
		if f.Met {
			t.Errorf("%s (%s): a missing figure meets its target", f.Name, f.Mode)
		}
	}
}

func TestFigures(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"-only", "ingest,e2e,provider", "-concurrency", "4,16", "-provider-concurrency", "16", "-orders", "2000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := emptyResults()
	r.ingest("default")["webhook"] = &ingestResult{Requests: 9000, Elapsed: time.Second, AllocBytes: 9000 * 1300, Latencies: perf.Latencies{10 * time.Millisecond}}
	r.ingest("default")["ceiling"] = &ingestResult{Requests: 10000, Elapsed: time.Second, AllocBytes: 10000 * 1000, Latencies: perf.Latencies{10 * time.Millisecond}}
	r.e2e["default"] = map[int]*drainResult{4: {Orders: 2000, Took: 10 * time.Second}, 16: {Orders: 2000, Took: 2 * time.Second}}
	r.provider[16] = &drainResult{Orders: 320, Took: 4 * time.Second, ProviderCalls: 320}
	figs := (&bench{cfg: cfg}).figures(r)
	byName := map[string]perf.Figure{}
	for _, f := range figs {
		byName[f.Name+" / "+f.Mode] = f
	}
	for _, tc := range []struct {
		name         string
		ratio        float64
		met, missing bool
	}{
		{"ingest: webhook ÷ ceiling, req/s (50 connections) / default", 0.9, false, false},
		{"ingest: p99 latency, webhook ÷ ceiling / default", 1, true, false},
		{"ingest: bytes allocated per request, webhook ÷ ceiling / default", 1.3, true, false},
		{"ingest: webhook ÷ ceiling, req/s (50 connections) / sync always", math.NaN(), false, true},
		{"end to end: orders/s, WORKER_CONCURRENCY=16 (2000 orders) / default", 1, true, false},
		// The 1,000 orders/s target is read at the highest concurrency only.
		{"end to end: orders/s, WORKER_CONCURRENCY=4 (2000 orders) / default", 0.2, false, false},
		{"end to end: WORKER_CONCURRENCY=16 ÷ 4 / default", 5, true, false},
		{"provider latency 200ms: orders/s ÷ C / L, WORKER_CONCURRENCY=16 / default", 1, true, false},
		{"peak RSS: webhook under full ingest load (50 connections) / default", math.NaN(), false, true},
	} {
		f, ok := byName[tc.name]
		if !ok {
			t.Errorf("no figure %q", tc.name)
			continue
		}
		if math.IsNaN(tc.ratio) != math.IsNaN(f.Ratio) || (!math.IsNaN(tc.ratio) && math.Abs(f.Ratio-tc.ratio) > 1e-9) || f.Met != tc.met || perf.Missing(f) != tc.missing {
			t.Errorf("%s: ratio %v met %v missing %v; want %v %v %v", tc.name, f.Ratio, f.Met, perf.Missing(f), tc.ratio, tc.met, tc.missing)
		}
	}
	if f := byName["end to end: orders/s, WORKER_CONCURRENCY=4 (2000 orders) / default"]; f.Target != "" {
		t.Errorf("WORKER_CONCURRENCY=4, not the highest, has the target %q", f.Target)
	}
	if f := byName["end to end: orders/s, WORKER_CONCURRENCY=16 (2000 orders) / default"]; f.Target == "" {
		t.Error("WORKER_CONCURRENCY=16, the highest, has no target")
	}
	for _, f := range figs {
		if strings.HasPrefix(f.Name, "JetStream") || strings.HasPrefix(f.Name, "latency") || strings.HasPrefix(f.Name, "growth") {
			t.Errorf("%s: a group -only left out", f.Name)
		}
	}
}

func TestCommandLineElidesNotes(t *testing.T) {
	t.Parallel()
	got := commandLine([]string{"-out", "docs/performance.md", "-note", "a long note", "-note=another", "-smoke"})
	if want := "vpnbench -out docs/performance.md -note … -note … -smoke"; got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}
