package perf_test

import (
	"math"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) perf.Latencies {
		l := make(perf.Latencies, len(ns))
		for i, n := range ns {
			l[i] = time.Duration(n) * time.Millisecond
		}
		return l
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted
	}
	cases := []struct {
		name string
		l    perf.Latencies
		p    float64
		want time.Duration
		ok   bool
	}{
		{"empty", nil, 50, 0, false},
		{"p out of range", ms(1, 2), 0, 0, false},
		{"p above 100", ms(1, 2), 101, 0, false},
		{"one", ms(7), 99, 7 * time.Millisecond, true},
		{"median of four is the second", ms(4, 1, 3, 2), 50, 2 * time.Millisecond, true},
		{"p99 of 1…100", ms(hundred...), 99, 99 * time.Millisecond, true},
		{"p50 of 1…100", ms(hundred...), 50, 50 * time.Millisecond, true},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond, true},
		{"tiny p is the min", ms(hundred...), 0.001, time.Millisecond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.l.Percentile(tc.p)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Percentile(%v) = %v, %v; want %v, %v", tc.p, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestMillisIsNaNWhenNothingWasMeasured(t *testing.T) {
	t.Parallel()
	if v := perf.Latencies(nil).Millis(99); !math.IsNaN(v) {
		t.Errorf("Millis of nothing = %v, want NaN", v)
	}
	if v := (perf.Latencies{1500 * time.Microsecond}).Millis(99); v != 1.5 {
		t.Errorf("Millis = %v, want 1.5", v)
	}
}
