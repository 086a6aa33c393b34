package main

import (
	"context"
	"math"

	"github.com/vpnbill/vpnbill/internal/perf"
)

// growthPrefix starts the name of every growth figure.
const growthPrefix = "growth"

// measureGrowth adds the growth figures.
//
// TODO(issue 10): perf.Growth (internal/perf/growth.go, being written) will
// measure them; once it is in, replace the rows below with
//
//	figs, err := perf.Growth(ctx, perf.GrowthOptions{Smoke: b.cfg.Smoke, NATSURL: s.natsURL, Dir: s.dir})
//
// on a stack of its own (b.startStack(ctx, "growth", defaultDurability, false)).
func (b *bench) measureGrowth(_ context.Context, r *results) {
	r.growthPending = true
	b.logf("growth: not measured yet (perf.Growth is not in this build)")
	note := "not measured yet: perf.Growth (internal/perf/growth.go) is not in this build"
	r.growth = []perf.Figure{
		{Name: growthPrefix + ": per-event cost with 1,000,000 account records ÷ with 1,000", Value: math.NaN(), Target: "≤ 1.2", Note: note},
		{Name: growthPrefix + ": report for one month with 10,000,000 audit events", Unit: "s", Value: math.NaN(), Ceiling: 30, Target: "≤ 30 s", Note: note},
	}
}
