package perf_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

func TestNumber(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   float64
		want string
	}{
		{10569, "10,569"}, {1234567.6, "1,234,568"}, {-4321, "-4,321"}, {999.6, "1,000"},
		{358, "358"}, {14.44, "14.4"}, {0.8675, "0.87"}, {0.0123, "0.012"}, {0, "0"},
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"},
	}
	for _, tc := range cases {
		if got := perf.Number(tc.in); got != tc.want {
			t.Errorf("Number(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func sampleReport() perf.Report {
	return perf.Report{
		Title:    "Performance",
		Command:  "go run ./cmd/vpnbench -out docs/performance.md",
		Date:     time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC),
		Machine:  perf.Machine{Cores: 2, Memory: 4 << 30, CPU: "Xeon", Go: "go1.26.8", OS: "linux", Arch: "amd64"},
		Settings: "6 windows of 10 s",
		Intro:    []string{"Ratios, not absolute numbers."},
		Figures: []perf.Figure{
			{Name: "ingest req/s", Mode: "default", Value: 9169, Ceiling: 10569, Unit: "req/s", Ratio: 9169.0 / 10569, Target: "≥ 0.95", Note: "a | b"},
			{Name: "JetStream async publish", Mode: "sync always", Value: 52000, Unit: "msg/s"},
			{Name: "peak RSS worker", Value: 30, Ceiling: 64, Unit: "MiB", Ratio: 30.0 / 64, Target: "≤ 64 MiB", Met: true},
			{Name: "growth", Value: math.NaN(), Target: "≤ 1.2", Note: "not measured yet"},
		},
		Notes: []string{"noisy machine"},
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := sampleReport().Markdown()
	for _, want := range []string{
		"# Performance\n",
		"Measured 2026-03-01 12:30 UTC on 2 cores, 4.0 GiB memory, Xeon, go1.26.8 linux/amd64.",
		"```sh\ngo run ./cmd/vpnbench -out docs/performance.md\n```",
		"| ingest req/s | default | 9,169 req/s | 10,569 req/s | 0.87 | ≥ 0.95 | NO | a \\| b |",
		"| JetStream async publish | sync always | 52,000 msg/s | — | — | — | — |  |",
		"| peak RSS worker | — | 30.0 MiB | 64.0 MiB | 0.47 | ≤ 64 MiB | yes |  |",
		"| growth | — | missing | — | — | ≤ 1.2 | missing | not measured yet |",
		"## Notes\n\n- noisy machine\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	text := sampleReport().Text()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 1+4+2 { // header, rows, notes of rows 1 and 4
		t.Fatalf("want 7 lines, got %d:\n%s", len(lines), text)
	}
	// Every row has its columns at the same place: "measured" ends where
	// each value ends.
	end := strings.Index(lines[0], "measured") + len("measured")
	for _, l := range lines[1:5] {
		if r := []rune(l); len(r) < end || r[end-1] == ' ' {
			t.Errorf("column not aligned in %q", l)
		}
	}
	if !strings.Contains(text, "[4] not measured yet") {
		t.Errorf("notes not listed:\n%s", text)
	}
}
