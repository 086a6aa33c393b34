package console

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/harness"
)

func TestSigninLimits(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := harness.NewClock(start)
	s, err := newSigninLimits(clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/signin", nil)
	r.RemoteAddr = "192.0.2.7:51000"
	for i := range signinUserFailures {
		clock.Set(start)
		if _, refused := s.refused(r, "Alice"); refused {
			t.Fatalf("refused after %d failures", i)
		}
		clock.Set(start.Add(time.Duration(i) * time.Minute))
		s.failed(r, "alice")
	}
	clock.Set(start.Add(5 * time.Minute))
	// Names are compared as typed, without case or spaces.
	wait, refused := s.refused(r, " ALICE ")
	if !refused || wait != signinWindow-5*time.Minute {
		t.Fatalf("after %d failures: refused %t, wait %s; want until the first is %s old", signinUserFailures, refused, wait, signinWindow)
	}
	// Another IP is refused for alice too; another name from the IP is not.
	r2 := httptest.NewRequest("POST", "/signin", nil)
	r2.RemoteAddr = "198.51.100.9:4000"
	if _, refused := s.refused(r2, "alice"); !refused {
		t.Error("the name's limit does not hold from another IP")
	}
	if _, refused := s.refused(r, "fred"); refused {
		t.Error("another name is refused after one name's failures")
	}
	// A success clears the name, not the IP.
	s.succeeded("alice")
	if _, refused := s.refused(r2, "alice"); refused {
		t.Error("a success did not clear the name's failures")
	}
	clock.Set(start.Add(6 * time.Minute))
	for i := range signinIPFailures - signinUserFailures {
		s.failed(r, fmt.Sprintf("user%d", i))
	}
	if _, refused := s.refused(r, "fred"); !refused {
		t.Errorf("the IP is not refused after %d failures", signinIPFailures)
	}
	if _, refused := s.refused(r2, "fred"); refused {
		t.Error("another IP is refused")
	}
	// Once the oldest failure leaves the window, one more try.
	clock.Set(start.Add(signinWindow + time.Second))
	if _, refused := s.refused(r, "fred"); refused {
		t.Error("still refused once the oldest failure left the window")
	}
	// (The clock only goes forward from here: older failures are forgotten.)
}

// The names remembered are bounded by signinKeys: past it, the name failed
// least recently is forgotten (ratelimit's tests show how), the newest kept.
func TestSigninLimitsBounded(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := harness.NewClock(start)
	s, err := newSigninLimits(clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/signin", nil)
	for i := range signinKeys + 1 {
		for range signinUserFailures {
			s.failed(r, fmt.Sprintf("user%d", i))
		}
		clock.Add(time.Millisecond)
	}
	if _, refused := s.users.Refused("user0"); refused {
		t.Errorf("all of %d names are remembered, want at most %d", signinKeys+1, signinKeys)
	}
	for _, name := range []string{"user1", fmt.Sprintf("user%d", signinKeys)} {
		if _, refused := s.users.Refused(name); !refused {
			t.Errorf("%s was forgotten, not the name failed least recently", name)
		}
	}
}
