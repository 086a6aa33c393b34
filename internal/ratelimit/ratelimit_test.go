package ratelimit_test

import (
	"cmp"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

// The concurrency tests' goroutines all end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newBuckets(t *testing.T, cfg ratelimit.BucketsConfig) (*ratelimit.Buckets, *harness.Clock) {
	t.Helper()
	clock := harness.NewClock(t0)
	cfg.Now = clock.Now
	l, err := ratelimit.NewBuckets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

func newFailures(t *testing.T, cfg ratelimit.FailuresConfig) (*ratelimit.Failures, *harness.Clock) {
	t.Helper()
	clock := harness.NewClock(t0)
	cfg.Now = clock.Now
	l, err := ratelimit.NewFailures(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

// step is a request of key at the clock's time plus after (since the
// previous step), and what it must be answered.
type step struct {
	after  time.Duration
	key    string
	ok     bool
	wait   time.Duration // when refused
	repeat int           // this many times (0: once)
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   ratelimit.BucketsConfig
		steps []step
	}{
		{
			// GET /buy: 5 at once, 6 a minute.
			name: "burst below the rate",
			cfg:  ratelimit.BucketsConfig{Burst: 5, Refill: 6, Per: time.Minute},
			steps: []step{
				{key: "a", ok: true, repeat: 5},
				{key: "a", wait: 10 * time.Second},
				{key: "b", ok: true}, // keys are counted apart
				{after: 4 * time.Second, key: "a", wait: 6 * time.Second},
				{after: 6 * time.Second, key: "a", ok: true},
				{key: "a", wait: 10 * time.Second},
				{after: 50 * time.Second, key: "a", ok: true, repeat: 5}, // full again, never more than Burst
				{key: "a", wait: 10 * time.Second},
			},
		},
		{
			// The customer page's link requests: 5 an hour, 5 at once.
			name: "burst equal to the rate",
			cfg:  ratelimit.BucketsConfig{Burst: 5, Refill: 5, Per: time.Hour},
			steps: []step{
				{key: "203.0.113.9", ok: true, repeat: 5},
				{key: "203.0.113.9", wait: 12 * time.Minute},
				{after: 11 * time.Minute, key: "203.0.113.9", wait: time.Minute},
				{after: time.Minute, key: "203.0.113.9", ok: true},
				{after: time.Hour, key: "203.0.113.9", ok: true, repeat: 5},
				{key: "203.0.113.9", wait: 12 * time.Minute},
			},
		},
		{
			name: "a refusal takes nothing",
			cfg:  ratelimit.BucketsConfig{Burst: 1, Refill: 1, Per: time.Second},
			steps: []step{
				{key: "a", ok: true},
				{key: "a", wait: time.Second, repeat: 10},
				{after: time.Second, key: "a", ok: true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, clock := newBuckets(t, tc.cfg)
			for i, s := range tc.steps {
				clock.Add(s.after)
				for n := range max(s.repeat, 1) {
					wait, ok := l.Allow(s.key)
					if ok != s.ok || (!ok && wait != s.wait) {
						t.Fatalf("step %d (%d of %d): Allow(%s) = %s, %t; want %s, %t", i, n+1, max(s.repeat, 1), s.key, wait, ok, s.wait, s.ok)
					}
				}
			}
		})
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	f, clock := newFailures(t, ratelimit.FailuresConfig{Limit: 5, Window: 15 * time.Minute})
	refused := func(key string) (time.Duration, bool) { t.Helper(); return f.Refused(key) }
	for i := range 5 {
		if _, r := refused("alice"); r {
			t.Fatalf("refused after %d failures", i)
		}
		f.Fail("alice")
		clock.Add(time.Minute)
	}
	// Five failures at minutes 0 to 4; now is minute 5.
	if wait, r := refused("alice"); !r || wait != 10*time.Minute {
		t.Fatalf("after 5 failures: %s, %t; want refused until the first is 15 minutes old (10m)", wait, r)
	}
	if _, r := refused("bob"); r {
		t.Error("another key is refused")
	}
	// Failing while refused keeps only the newest Limit failures.
	clock.Add(time.Minute)
	f.Fail("alice") // minutes 1, 2, 3, 4, 6
	if wait, r := refused("alice"); !r || wait != 10*time.Minute {
		t.Errorf("after a 6th failure: %s, %t; want refused until minute 16 (10m)", wait, r)
	}
	clock.Add(10 * time.Minute) // minute 16: the failure of minute 1 no longer counts
	if _, r := refused("alice"); r {
		t.Error("still refused once the oldest failure left the window")
	}
	f.Fail("alice")
	if _, r := refused("alice"); !r {
		t.Error("not refused at 5 failures within the window")
	}
	f.Clear("alice")
	if _, r := refused("alice"); r {
		t.Error("refused after Clear")
	}
}

// When the keys remembered reach MaxKeys, a new key's bucket costs the
// keys whose buckets are full again first, then the one with the most
// tokens: the one that loses least by being forgotten.
func TestBucketsForgetTheFullestFirst(t *testing.T) {
	t.Parallel()
	l, clock := newBuckets(t, ratelimit.BucketsConfig{Burst: 2, Refill: 1, Per: time.Minute, MaxKeys: 3})
	l.Allow("a") // 1 token left
	clock.Add(30 * time.Second)
	for range 2 {
		l.Allow("b")
		l.Allow("c")
	}
	// a has 1.5 tokens, b and c none: d costs a.
	if _, ok := l.Allow("d"); !ok {
		t.Fatal("a new key is refused")
	}
	for _, k := range []string{"b", "c"} {
		if _, ok := l.Allow(k); ok {
			t.Errorf("%s was forgotten (allowed again) before a, which had more tokens", k)
		}
	}
	// a comes back with a full bucket (at the cost of d, now the fullest):
	// remembered, its 1.5 tokens would not hold two takes.
	l.Allow("a")
	if _, ok := l.Allow("a"); !ok {
		t.Error("a was not forgotten for d")
	}
}

// When the keys remembered reach MaxKeys, a new key costs the keys without
// a failure in the window first, then the one failed least recently.
func TestFailuresForgetTheLeastRecentFirst(t *testing.T) {
	t.Parallel()
	f, clock := newFailures(t, ratelimit.FailuresConfig{Limit: 1, Window: time.Hour, MaxKeys: 3})
	for _, k := range []string{"a", "b", "c"} {
		f.Fail(k)
		clock.Add(time.Minute)
	}
	f.Fail("a") // b is now the key failed least recently
	f.Fail("d")
	if _, r := f.Refused("b"); r {
		t.Error("b, failed least recently, was kept")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, r := f.Refused(k); !r {
			t.Errorf("%s was forgotten", k)
		}
	}
	// c's failure (minute 2) leaves the window; a's and d's (minute 3)
	// are in it: a new key costs c only.
	clock.Add(time.Hour - 30*time.Second)
	f.Fail("e")
	for _, k := range []string{"a", "d", "e"} {
		if _, r := f.Refused(k); !r {
			t.Errorf("%s, failed within the window, was forgotten", k)
		}
	}
}

// Concurrent takers of one bucket get Burst tokens between them, no more;
// takers of many keys past MaxKeys and failures of shared keys race
// nothing (go test -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l, _ := newBuckets(t, ratelimit.BucketsConfig{Burst: 100, Refill: 1, Per: time.Hour, MaxKeys: 50})
	f, clock := newFailures(t, ratelimit.FailuresConfig{Limit: 1000, Window: time.Hour, MaxKeys: 50})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, ok := l.Allow("shared"); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprintf("g%d-%d", g, i))
				f.Fail("shared")
				f.Fail(fmt.Sprintf("g%d-%d", g, i))
				f.Refused("shared")
				if i%10 == 0 {
					f.Clear(fmt.Sprintf("g%d-%d", g, i))
				}
				clock.Add(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Errorf("%d of 400 concurrent takes of a bucket of 100 allowed, want 100", n)
	}
	// "shared" has 400 failures; 600 more refuse it, whoever else failed.
	for range 600 {
		f.Fail("shared")
	}
	if _, r := f.Refused("shared"); !r {
		t.Error("1000 failures do not refuse the key")
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1},
		{time.Nanosecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{10 * time.Second, 10},
		{14*time.Minute + 30*time.Second, 870},
	} {
		if got := ratelimit.RetryAfter(tc.wait); got != tc.want {
			t.Errorf("RetryAfter(%s) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, remote, header string
		values               []string
		want                 string
	}{
		{name: "the connection's", remote: "192.0.2.7:51000", want: "192.0.2.7"},
		{name: "IPv6", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "no port", remote: "192.0.2.7", want: "192.0.2.7"},
		{name: "a header not trusted", remote: "192.0.2.7:1", values: []string{"203.0.113.5"}, want: "192.0.2.7"},
		{name: "the proxy's entry", remote: "10.0.0.2:1", header: "X-Forwarded-For", values: []string{"198.51.100.7, 203.0.113.5"}, want: "203.0.113.5"},
		{name: "the last line", remote: "10.0.0.2:1", header: "X-Forwarded-For", values: []string{"198.51.100.7", "203.0.113.6"}, want: "203.0.113.6"},
		{name: "normalized", remote: "10.0.0.2:1", header: "X-Real-Ip", values: []string{" 2001:DB8:0::1 "}, want: "2001:db8::1"},
		{name: "not an address", remote: "10.0.0.2:1", header: "X-Forwarded-For", values: []string{"198.51.100.7, unknown"}, want: "10.0.0.2"},
		{name: "header missing", remote: "10.0.0.2:1", header: "X-Forwarded-For", want: "10.0.0.2"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.values {
			r.Header.Add(cmp.Or(tc.header, "X-Forwarded-For"), v)
		}
		if got := ratelimit.ClientIP(r, tc.header); got != tc.want {
			t.Errorf("%s: ClientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := ratelimit.NewBuckets(ratelimit.BucketsConfig{Per: time.Minute, MaxKeys: -1})
	for _, want := range []string{"Burst", "Refill", "MaxKeys"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewBuckets = %v, want it to name %s", err, want)
		}
	}
	if _, err := ratelimit.NewBuckets(ratelimit.BucketsConfig{Burst: 1, Refill: 10, Per: 5}); err == nil || !strings.Contains(err.Error(), "Per") {
		t.Errorf("NewBuckets with less than a nanosecond a token = %v, want it to name Per", err)
	}
	_, err = ratelimit.NewFailures(ratelimit.FailuresConfig{MaxKeys: -1})
	for _, want := range []string{"Limit", "Window", "MaxKeys"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewFailures = %v, want it to name %s", err, want)
		}
	}
}
