// Package ratelimit owns vpnbill's in-memory rate limits: how often a key
// (a client IP, an email address, a record, a username) may do something
// before it is refused, and for how long it is then refused. It offers two
// kinds, because two things are counted:
//
//   - Buckets count requests: a token bucket per key, Burst at once and
//     refilled at Refill per Per (GET /buy, the customer page);
//   - Failures count failures: a key with Limit failures within Window is
//     refused until the oldest of those is Window old (the console's
//     password sign-in).
//
// Both live in memory, per process (a restart forgets them), remember at
// most MaxKeys keys, read the clock their config gives, and are safe for
// concurrent use. A refusal says how long until the key is allowed again;
// RetryAfter is that wait as the Retry-After header's seconds. ClientIP is
// the client a request counts against.
//
// The package knows nothing of what a key means, of the numbers a caller
// chooses or of the answer a refused request gets: its callers own those.
package ratelimit

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxKeys is the keys a limiter remembers when its config says
// none.
const DefaultMaxKeys = 10000

// RetryAfter is the Retry-After header's value for a refusal whose wait is
// wait: whole seconds, rounded up (a client that waits as long is not
// refused for the same reason), at least 1.
func RetryAfter(wait time.Duration) int {
	return max(int((wait+time.Second-1)/time.Second), 1)
}

// ClientIP is the address r came from, the key of its client's limits:
// the connection's (RemoteAddr without its port), or, when header is set
// (a reverse proxy in front puts the client's address in it; trusted only
// when configured so), the proxy's word: the last entry of the header's
// last line (for X-Forwarded-For the one the proxy added), if it is an IP
// address.
func ClientIP(r *http.Request, header string) string {
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

// makeRoom makes room for one more key in m, which holds at most maxKeys:
// it forgets the keys that are spent (forgetting them loses nothing), and
// then, while m is still full, the key worth least (less(a, b): a is worth
// less than b). The caller holds m's lock.
func makeRoom[V any](m map[string]V, maxKeys int, spent func(V) bool, less func(a, b V) bool) {
	if len(m) < maxKeys {
		return
	}
	for k, v := range m {
		if spent(v) {
			delete(m, k)
		}
	}
	for len(m) >= maxKeys {
		first := true
		var least string
		var lv V
		for k, v := range m {
			if first || less(v, lv) {
				least, lv, first = k, v, false
			}
		}
		delete(m, least)
	}
}
