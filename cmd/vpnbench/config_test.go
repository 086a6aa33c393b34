package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	full, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if full.Out != "docs/performance.md" || full.Orders != 5000 || full.Connections != 50 || !slices.Equal(full.Concurrency, []int{4, 16, 64, 256}) ||
		full.RSSEvents != 10000 || full.LatencyRate != 100 || full.ProviderLatency != 200*time.Millisecond || !full.runs("growth") {
		t.Errorf("defaults: %+v", full)
	}

	smoke, err := parseConfig([]string{"-smoke", "-orders", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if smoke.Out != "" || smoke.Orders != 3 || smoke.Window != 300*time.Millisecond || smoke.RSSEvents != 40 {
		t.Errorf("smoke: out %q, orders %d (given), window %s, rss events %d", smoke.Out, smoke.Orders, smoke.Window, smoke.RSSEvents)
	}
	// Smoke keeps every setting that names a figure: the same rows, fewer counts.
	if !slices.Equal(smoke.Concurrency, full.Concurrency) || !slices.Equal(smoke.ProviderConcurrency, full.ProviderConcurrency) {
		t.Errorf("smoke changes the settings figures are named by: %v %v", smoke.Concurrency, smoke.ProviderConcurrency)
	}

	only, err := parseConfig([]string{"-only", "ingest,rss"}, io.Discard)
	if err != nil || !only.runs("ingest") || !only.runs("rss") || only.runs("e2e") {
		t.Errorf("-only: %v, %v", only.Only, err)
	}

	for _, bad := range [][]string{
		{"-concurrency", "4,x"}, {"-only", "speed"}, {"-orders", "0"}, {"-window", "-1s"}, {"-plan", "gold"}, {"extra"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("parseConfig(%q): no error", strings.Join(bad, " "))
		}
	}
}
