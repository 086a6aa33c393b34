package ratelimit

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// FailuresConfig configures Failures.
type FailuresConfig struct {
	// Limit is how many failures within Window refuse a key. Required.
	Limit int
	// Window is how long a failure counts. Required.
	Window time.Duration
	// MaxKeys bounds the keys remembered. When a new key finds it reached,
	// the keys whose failures are all older than Window are forgotten
	// (nothing is lost), then, if none is, the key failed least recently.
	// Default DefaultMaxKeys.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c FailuresConfig) WithDefaults() FailuresConfig {
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate returns one error per invalid field, joined, or nil.
func (c FailuresConfig) validate() error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, fmt.Errorf("Limit: %d, want at least 1", c.Limit))
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("Window: %s, want more than 0", c.Window))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("MaxKeys: %d, want at least 1", c.MaxKeys))
	}
	return errors.Join(errs...)
}

// Failures counts failures per key within a sliding window: a key with
// Limit failures within Window is refused until the oldest of them is
// Window old. Only a key's newest Limit failures are kept, and at most
// MaxKeys keys.
type Failures struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time
	fails   map[string][]time.Time // oldest first
}

// NewFailures validates cfg (after WithDefaults) and returns its Failures.
func NewFailures(cfg FailuresConfig) (*Failures, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	return &Failures{limit: cfg.Limit, window: cfg.Window, maxKeys: cfg.MaxKeys, now: cfg.Now, fails: map[string][]time.Time{}}, nil
}

// Refused reports whether key has Limit failures within the window, and if
// so how long until it has fewer.
func (f *Failures) Refused(key string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	ts := f.recent(key, now)
	if len(ts) < f.limit {
		return 0, false
	}
	return ts[len(ts)-f.limit].Add(f.window).Sub(now), true
}

// Fail records a failure of key.
func (f *Failures) Fail(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if _, ok := f.fails[key]; !ok {
		makeRoom(f.fails, f.maxKeys,
			func(ts []time.Time) bool { return f.expired(ts[len(ts)-1], now) },
			func(a, b []time.Time) bool { return a[len(a)-1].Before(b[len(b)-1]) })
	}
	ts := append(f.recent(key, now), now)
	if len(ts) > f.limit {
		ts = ts[len(ts)-f.limit:]
	}
	f.fails[key] = ts
}

// Clear forgets key's failures.
func (f *Failures) Clear(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.fails, key)
}

// recent returns key's failures within the window at now, forgetting
// older ones (and the key, if none is left).
func (f *Failures) recent(key string, now time.Time) []time.Time {
	ts := f.fails[key]
	i := 0
	for i < len(ts) && f.expired(ts[i], now) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(f.fails, key)
	} else {
		f.fails[key] = ts
	}
	return ts
}

// expired reports whether a failure at t no longer counts at now.
func (f *Failures) expired(t, now time.Time) bool { return !t.After(now.Add(-f.window)) }
