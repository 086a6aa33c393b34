package perf

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Growth in smoke mode produces every growth figure, each measured, named
// with the counts it ran at, and the per-event figure as the ratio of its
// two sides. It checks no speed.
func TestGrowthSmoke(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	figs, err := Growth(ctx, GrowthOptions{Smoke: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"growth: per-event cost with 10,000 account records ÷ with 1,000",
		"growth: report for one month with 9,996 audit events",
		"growth: first report after the upgrade",
		"growth: report with 1,000 account records",
	}
	if len(figs) != len(want) {
		t.Fatalf("%d figures, want %d: %+v", len(figs), len(want), figs)
	}
	for i, f := range figs {
		t.Logf("%s: %s (ceiling %s, ratio %s, target %q, met %v) — %s", f.Name, Quantity(f.Value, f.Unit), Number(f.Ceiling), Number(f.Ratio), f.Target, f.Met, f.Note)
		if !strings.HasPrefix(f.Name, want[i]) {
			t.Errorf("figure %d is %q, want %q…", i, f.Name, want[i])
		}
		if Missing(f) || f.Value <= 0 || f.Note == "" {
			t.Errorf("%s: value %v, note %q: not measured", f.Name, f.Value, f.Note)
		}
	}
	if pe := figs[0]; pe.Ceiling <= 0 || pe.Ratio != pe.Value/pe.Ceiling || pe.Target != "≤ 1.2" {
		t.Errorf("per-event figure %+v: want the ratio of its two sides, target ≤ 1.2", pe)
	}
	if m := figs[1]; m.Ceiling != 30 || m.Unit != "s" || m.Met != (m.Value <= 30) {
		t.Errorf("report figure %+v: want seconds beside 30 s", m)
	}
}
