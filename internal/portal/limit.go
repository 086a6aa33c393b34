package portal

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket per key (a client IP, an email address, a
// record): burst tokens, refilled at n per every. Buckets full again are
// forgotten, so memory follows the keys of the last window, not every key
// ever. It lives in memory: each console process limits on its own.
type limiter struct {
	mu      sync.Mutex
	every   time.Duration // one token per every
	burst   float64
	window  time.Duration // a full bucket refills within it
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newLimiter allows n a window per key, n at once.
func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{every: window / time.Duration(n), burst: float64(n), window: window, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token of key's bucket; if there is none, it says how long
// until there is.
func (l *limiter) allow(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > l.window {
		for k, b := range l.buckets {
			if l.fill(b, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
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
func (l *limiter) fill(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
}

// clientIP is the address a request came from: the connection's, or, when
// the page sits behind a reverse proxy that says so in header (trusted only
// when configured), the proxy's word: X-Forwarded-For's last entry (the
// one the proxy added), or the header's value.
func clientIP(r *http.Request, header string) string {
	if header != "" {
		v := r.Header.Values(header)
		if len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
