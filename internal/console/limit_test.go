package console

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSigninLimits(t *testing.T) {
	t.Parallel()
	s := newSigninLimits()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := httptest.NewRequest("POST", "/signin", nil)
	r.RemoteAddr = "192.0.2.7:51000"
	for i := range signinUserFailures {
		if _, refused := s.refused(r, "Alice", now); refused {
			t.Fatalf("refused after %d failures", i)
		}
		s.failed(r, "alice", now.Add(time.Duration(i)*time.Minute))
	}
	// Names are compared as typed, without case or spaces.
	wait, refused := s.refused(r, " ALICE ", now.Add(5*time.Minute))
	if !refused || wait != signinWindow-5*time.Minute {
		t.Fatalf("after %d failures: refused %t, wait %s; want until the first is %s old", signinUserFailures, refused, wait, signinWindow)
	}
	// Another IP is refused for alice too; another name from the IP is not.
	r2 := httptest.NewRequest("POST", "/signin", nil)
	r2.RemoteAddr = "198.51.100.9:4000"
	if _, refused := s.refused(r2, "alice", now.Add(5*time.Minute)); !refused {
		t.Error("the name's limit does not hold from another IP")
	}
	if _, refused := s.refused(r, "fred", now.Add(5*time.Minute)); refused {
		t.Error("another name is refused after one name's failures")
	}
	// A success clears the name, not the IP.
	s.succeeded("alice")
	if _, refused := s.refused(r2, "alice", now.Add(5*time.Minute)); refused {
		t.Error("a success did not clear the name's failures")
	}
	for i := range signinIPFailures - signinUserFailures {
		s.failed(r, fmt.Sprintf("user%d", i), now.Add(6*time.Minute))
	}
	if _, refused := s.refused(r, "fred", now.Add(6*time.Minute)); !refused {
		t.Errorf("the IP is not refused after %d failures", signinIPFailures)
	}
	if _, refused := s.refused(r2, "fred", now.Add(6*time.Minute)); refused {
		t.Error("another IP is refused")
	}
	// Once the oldest failure leaves the window, one more try.
	if _, refused := s.refused(r, "fred", now.Add(signinWindow+time.Second)); refused {
		t.Error("still refused once the oldest failure left the window")
	}
	// (The clock only goes forward from here: older failures are forgotten.)
}

// The names and IPs remembered are bounded.
func TestSigninLimitsBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(time.Minute)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range signinKeys + 100 {
		l.fail(fmt.Sprintf("user:%d", i), 5, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.fails); n > signinKeys {
		t.Errorf("%d keys remembered, want at most %d", n, signinKeys)
	}
	if _, ok := l.fails["user:0"]; ok {
		t.Error("the key failed least recently was kept over newer ones")
	}
	if _, blocked := l.blocked(fmt.Sprintf("user:%d", signinKeys+99), 1, now.Add(time.Second)); !blocked {
		t.Error("the newest key was forgotten")
	}
}
