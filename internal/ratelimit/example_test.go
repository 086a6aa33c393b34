package ratelimit_test

import (
	"fmt"
	"time"

	"github.com/vpnbill/vpnbill/internal/ratelimit"
)

// Checkout links: 5 at once from one client IP, then 6 a minute.
func ExampleBuckets() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	links, err := ratelimit.NewBuckets(ratelimit.BucketsConfig{Burst: 5, Refill: 6, Per: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	for range 5 {
		links.Allow("192.0.2.1")
	}
	wait, ok := links.Allow("192.0.2.1")
	fmt.Println(ok, wait, "Retry-After:", ratelimit.RetryAfter(wait))
	now = now.Add(wait)
	fmt.Println(links.Allow("192.0.2.1"))
	// Output:
	// false 10s Retry-After: 10
	// 0s true
}

// Sign-ins: 5 failed passwords of one name within 15 minutes refuse it
// until the first of them is 15 minutes old.
func ExampleFailures() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	names, err := ratelimit.NewFailures(ratelimit.FailuresConfig{Limit: 5, Window: 15 * time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	for range 5 {
		names.Fail("alice")
		now = now.Add(time.Minute)
	}
	fmt.Println(names.Refused("alice"))
	now = now.Add(10 * time.Minute)
	fmt.Println(names.Refused("alice"))
	// Output:
	// 10m0s true
	// 0s false
}
