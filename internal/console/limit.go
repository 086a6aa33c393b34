package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/ratelimit"
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
	// signinKeys bounds the names remembered, and the IPs; when full,
	// those whose failures are all older than the window are forgotten
	// first, then the one failed least recently.
	signinKeys = 10000
)

// signinLimits holds the console's sign-in failures by username and by IP.
type signinLimits struct{ users, ips *ratelimit.Failures }

func newSigninLimits(now func() time.Time) (signinLimits, error) {
	users, uerr := ratelimit.NewFailures(ratelimit.FailuresConfig{Limit: signinUserFailures, Window: signinWindow, MaxKeys: signinKeys, Now: now})
	ips, ierr := ratelimit.NewFailures(ratelimit.FailuresConfig{Limit: signinIPFailures, Window: signinWindow, MaxKeys: signinKeys, Now: now})
	if uerr != nil || ierr != nil {
		return signinLimits{}, fmt.Errorf("sign-in limits: %w", errors.Join(uerr, ierr))
	}
	return signinLimits{users: users, ips: ips}, nil
}

// userKey is name as typed, without case or surrounding spaces.
func userKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// clientIP is the connection's address (a proxy's word is not trusted).
func clientIP(r *http.Request) string { return ratelimit.ClientIP(r, "") }

// refused reports whether a sign-in as name from r's client must be
// refused now, and for how long.
func (s signinLimits) refused(r *http.Request, name string) (time.Duration, bool) {
	wait, byUser := s.users.Refused(userKey(name))
	ipWait, byIP := s.ips.Refused(clientIP(r))
	return max(wait, ipWait), byUser || byIP
}

func (s signinLimits) failed(r *http.Request, name string) {
	s.users.Fail(userKey(name))
	s.ips.Fail(clientIP(r))
}

func (s signinLimits) succeeded(name string) { s.users.Clear(userKey(name)) }
