package main

import (
	"context"
	"errors"
	"math"
	"path/filepath"

	"github.com/vpnbill/vpnbill/internal/perf"
)

// measureGrowth adds the growth figures of perf.Growth, measured on a
// nats-server of their own (the server's default durability). If they
// cannot be measured, their rows stay, missing.
func (b *bench) measureGrowth(ctx context.Context, r *results) {
	b.logf("growth: per-event cost by account records, and the finance report by audit events (perf.Growth)")
	s, err := b.startStack(ctx, "growth", defaultDurability, false)
	if err == nil {
		r.growth, err = perf.Growth(ctx, perf.GrowthOptions{Smoke: b.cfg.Smoke, NATSURL: s.natsURL, Dir: filepath.Join(s.dir, "growth")})
		err = errors.Join(err, s.close())
	}
	if err != nil {
		b.fail("growth", err)
		r.growth = []perf.Figure{
			{Name: "growth: per-event cost with 1,000,000 account records ÷ with 1,000", Value: math.NaN(), Target: "≤ 1.2"},
			{Name: "growth: report for one month with 10,000,000 audit events", Unit: "s", Value: math.NaN(), Ceiling: 30, Target: "≤ 30 s"},
		}
	}
}
