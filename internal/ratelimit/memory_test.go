package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// A flood of new keys holds at most MaxKeys in memory, and buckets full
// again are forgotten once a bucket's filling time has passed.
func TestBucketsMemoryIsBounded(t *testing.T) {
	t.Parallel()
	now := start
	l, err := NewBuckets(BucketsConfig{Burst: 2, Refill: 2, Per: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range DefaultMaxKeys + 100 {
		now = start.Add(time.Duration(i) * time.Millisecond)
		if _, ok := l.Allow(fmt.Sprintf("198.51.%d.%d", i/256, i%256)); !ok {
			t.Fatalf("new key %d refused", i)
		}
		if n := len(l.buckets); n > DefaultMaxKeys {
			t.Fatalf("%d keys remembered, want at most %d", n, DefaultMaxKeys)
		}
	}
	// Every bucket is full again a minute later: one request forgets them.
	now = now.Add(time.Minute + time.Second)
	l.Allow("203.0.113.1")
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d keys remembered once all but one are full again, want 1", n)
	}
}

// The keys remembered are bounded; the key failed least recently goes
// first, and keys whose failures left the window all go at once.
func TestFailuresMemoryIsBounded(t *testing.T) {
	t.Parallel()
	now := start
	l, err := NewFailures(FailuresConfig{Limit: 5, Window: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range DefaultMaxKeys + 100 {
		now = start.Add(time.Duration(i) * time.Millisecond)
		l.Fail(fmt.Sprintf("user:%d", i))
	}
	if n := len(l.fails); n > DefaultMaxKeys {
		t.Errorf("%d keys remembered, want at most %d", n, DefaultMaxKeys)
	}
	if _, ok := l.fails["user:0"]; ok {
		t.Error("the key failed least recently was kept over newer ones")
	}
	if _, ok := l.fails[fmt.Sprintf("user:%d", DefaultMaxKeys+99)]; !ok {
		t.Error("the newest key was forgotten")
	}
	now = now.Add(time.Minute)
	l.Fail("user:new")
	if n := len(l.fails); n != 1 {
		t.Errorf("%d keys remembered after all but the new one's failures left the window, want 1", n)
	}
}
