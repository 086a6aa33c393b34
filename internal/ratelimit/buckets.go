package ratelimit

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// BucketsConfig configures Buckets.
type BucketsConfig struct {
	// Burst is how many a key may do at once: a key seen for the first
	// time has a full bucket of Burst tokens. Required.
	Burst int
	// Refill tokens are put back per Per, one at a time (one every
	// Per/Refill), up to Burst. Required, both.
	Refill int
	Per    time.Duration
	// MaxKeys bounds the keys remembered. When a new key finds it reached,
	// the keys whose buckets are full again are forgotten (a new bucket is
	// full: nothing is lost), then, if none is, the key with the most
	// tokens. Default DefaultMaxKeys.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c BucketsConfig) WithDefaults() BucketsConfig {
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate returns one error per invalid field, joined, or nil.
func (c BucketsConfig) validate() error {
	var errs []error
	if c.Burst <= 0 {
		errs = append(errs, fmt.Errorf("Burst: %d, want at least 1", c.Burst))
	}
	switch {
	case c.Refill <= 0:
		errs = append(errs, fmt.Errorf("Refill: %d, want at least 1", c.Refill))
	case c.Per < time.Duration(c.Refill):
		errs = append(errs, fmt.Errorf("Per: %s is too short for %d tokens", c.Per, c.Refill))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("MaxKeys: %d, want at least 1", c.MaxKeys))
	}
	return errors.Join(errs...)
}

// Buckets is a token bucket per key: a key may take Burst tokens at once,
// and gets Refill back per Per. Buckets full again are forgotten (at most
// once per time a bucket takes to fill), so memory follows the keys of the
// last such time, and never holds more than MaxKeys.
type Buckets struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration // one token per every
	fills   time.Duration // an empty bucket is full again after fills
	maxKeys int
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBuckets validates cfg (after WithDefaults) and returns its Buckets.
func NewBuckets(cfg BucketsConfig) (*Buckets, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	every := cfg.Per / time.Duration(cfg.Refill)
	return &Buckets{
		burst:   float64(cfg.Burst),
		every:   every,
		fills:   every * time.Duration(cfg.Burst),
		maxKeys: cfg.MaxKeys,
		now:     cfg.Now,
		buckets: map[string]*bucket{},
	}, nil
}

// Allow takes a token of key's bucket and returns true; if there is none,
// it takes nothing and returns how long until there is one, and false.
func (l *Buckets) Allow(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > l.fills {
		for k, b := range l.buckets {
			if l.full(b, now) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		makeRoom(l.buckets, l.maxKeys,
			func(b *bucket) bool { return l.full(b, now) },
			func(a, b *bucket) bool { return l.fill(a, now) > l.fill(b, now) })
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens, b.at = l.fill(b, now), now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.every)), false
	}
	b.tokens--
	return 0, true
}

// fill is b's tokens at now.
func (l *Buckets) fill(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
}

// full reports whether b is full at now, as a new bucket would be.
func (l *Buckets) full(b *bucket, now time.Time) bool { return l.fill(b, now) >= l.burst }
