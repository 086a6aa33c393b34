package perf

import (
	"math"
	"slices"
	"time"
)

// Latencies are measured durations (of requests, of orders), in any order.
type Latencies []time.Duration

// Percentile returns the p-th percentile of l by nearest rank: the smallest
// latency that at least p percent of l are at or below, for 0 < p ≤ 100.
// It sorts l in place. ok is false when l is empty or p is out of range.
func (l Latencies) Percentile(p float64) (d time.Duration, ok bool) {
	if len(l) == 0 || !(p > 0 && p <= 100) {
		return 0, false
	}
	slices.Sort(l)
	rank := int(math.Ceil(p / 100 * float64(len(l))))
	return l[max(rank, 1)-1], true
}

// Millis is the p-th percentile of l (see Percentile) in milliseconds, or
// NaN when there is none: a figure that was not measured stays visibly
// missing.
func (l Latencies) Millis(p float64) float64 {
	d, ok := l.Percentile(p)
	if !ok {
		return math.NaN()
	}
	return float64(d) / float64(time.Millisecond)
}
