// Package perf measures vpnbill beside its ceilings: the figures that
// cmd/vpnbench prints and writes to docs/performance.md. Every figure is
// measured in the same run as its ceiling, on the same machine, and
// reported as a ratio, never as an absolute target checked in a test.
package perf

// Figure is one measured figure beside its ceiling or target.
type Figure struct {
	// Name says what was measured, e.g. "ingest req/s, 50 connections".
	Name string
	// Mode is the JetStream durability mode it was measured in:
	// "default" or "sync always" ("" where it does not apply).
	Mode string
	// Value is the measurement; Ceiling what it is compared with (the
	// ceiling measured in the same run, or the target); Unit names both.
	Value, Ceiling float64
	Unit           string
	// Ratio is Value ÷ Ceiling (or the figure's own ratio, where lower is
	// better: say so in Target).
	Ratio float64
	// Target is the target in words, e.g. "≥ 0.95"; Met whether it was met.
	Target string
	Met    bool
	// Note says how it was measured, or why a target is missed.
	Note string
}
