package console

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Failed password sign-ins are limited, in memory (per console process;
// a restart forgets them):
//
//   - per username: after signinUserFailures failures within signinWindow
//     the name is refused, its right password too, until the oldest of
//     those failures is signinWindow old;
//   - per client IP: after signinIPFailures failures within signinWindow,
//     whatever the names tried.
//
// A refused sign-in is answered 429 Too Many Requests with Retry-After in
// seconds, and the password is not checked. A successful sign-in clears
// its username's failures (not its IP's). The IP is the connection's
// (the request's RemoteAddr): behind a proxy every user shares the
// proxy's, so the per-IP limit then counts everyone's failures. A name
// that is configured and one that is not are counted alike, so the limit
// says nothing about which exist.
const (
	signinWindow       = 15 * time.Minute
	signinUserFailures = 5
	signinIPFailures   = 20
	// signinKeys bounds the names and IPs remembered; when full, those
	// whose failures are all older than the window are forgotten first,
	// then the one failed least recently.
	signinKeys = 10000
)

// limiter counts failures per key within a window.
type limiter struct {
	mu     sync.Mutex
	window time.Duration
	fails  map[string][]time.Time // oldest first, at most the largest limit kept
}

func newLimiter(window time.Duration) *limiter {
	return &limiter{window: window, fails: map[string][]time.Time{}}
}

// recent returns key's failures within the window at now, dropping older ones.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-l.window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = ts
	}
	return ts
}

// blocked reports whether key has limit failures within the window, and
// if so how long until it has fewer.
func (l *limiter) blocked(key string, limit int, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) < limit {
		return 0, false
	}
	return ts[len(ts)-limit].Add(l.window).Sub(now), true
}

// fail records a failure of key, keeping at most keep.
func (l *limiter) fail(key string, keep int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.fails[key]; !ok && len(l.fails) >= signinKeys {
		l.evict(now)
	}
	ts := append(l.recent(key, now), now)
	if len(ts) > keep {
		ts = ts[len(ts)-keep:]
	}
	l.fails[key] = ts
}

// evict forgets the keys without a failure in the window and, if the
// map is still full, the key failed least recently.
func (l *limiter) evict(now time.Time) {
	for k := range l.fails {
		l.recent(k, now)
	}
	if len(l.fails) < signinKeys {
		return
	}
	oldest, at := "", now
	for k, ts := range l.fails {
		if last := ts[len(ts)-1]; !last.After(at) {
			oldest, at = k, last
		}
	}
	delete(l.fails, oldest)
}

func (l *limiter) clear(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// signinLimits holds the console's sign-in failures by username and by IP.
type signinLimits struct{ l *limiter }

func newSigninLimits() signinLimits { return signinLimits{newLimiter(signinWindow)} }

func userKey(name string) string { return "user:" + strings.ToLower(strings.TrimSpace(name)) }

func ipKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// refused reports whether a sign-in as name from r's client must be
// refused now, and for how long.
func (s signinLimits) refused(r *http.Request, name string, now time.Time) (time.Duration, bool) {
	wait, byUser := s.l.blocked(userKey(name), signinUserFailures, now)
	ipWait, byIP := s.l.blocked(ipKey(r), signinIPFailures, now)
	return max(wait, ipWait), byUser || byIP
}

func (s signinLimits) failed(r *http.Request, name string, now time.Time) {
	s.l.fail(userKey(name), signinUserFailures, now)
	s.l.fail(ipKey(r), signinIPFailures, now)
}

func (s signinLimits) succeeded(name string) { s.l.clear(userKey(name)) }
