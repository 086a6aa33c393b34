package link

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testLinks(t *testing.T) *Links {
	t.Helper()
	l, err := New("https://vpn.example/account", bytes.Repeat([]byte{3}, 32), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("t")
}

func TestLinkRoundTrip(t *testing.T) {
	t.Parallel()
	l := testLinks(t)
	now := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, key := range []string{"sub_1MowQVLkdIwHu7ixeRlqHVzs", "cs_test_a1", "sub_1-seat3"} {
		link := l.Link(key, now)
		if !strings.HasPrefix(link, "https://vpn.example/account?t=") {
			t.Fatalf("link %q", link)
		}
		got, exp, err := l.Read(PurposeLink, tokenOf(t, link), now.Add(59*time.Minute))
		want := strings.TrimSuffix(key, "-seat3") // a seat links to its subscription
		if err != nil || got != want || !exp.Equal(now.Add(time.Hour)) {
			t.Errorf("%s: read %q %s %v, want %q", key, got, exp, err, want)
		}
		if _, _, err := l.Read(PurposeLink, tokenOf(t, link), now.Add(time.Hour)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: read at its expiry: %v, want refused", key, err)
		}
		if _, _, err := l.Read(PurposeSession, tokenOf(t, link), now); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: a link read as a session: %v, want refused", key, err)
		}
	}
}

func TestTamperedTokensRefused(t *testing.T) {
	t.Parallel()
	l := testLinks(t)
	now := time.Now()
	token := tokenOf(t, l.Link("sub_1", now))
	for i := range len(token) {
		b := []byte(token)
		b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
		if _, _, err := l.Read(PurposeLink, string(b), now); err == nil {
			t.Errorf("a token changed at %d was accepted", i)
		}
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 5000), token + "A", token[:len(token)-1]} {
		if _, _, err := l.Read(PurposeLink, bad, now); !errors.Is(err, ErrRefused) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	l := testLinks(t)
	a, b := l.Mint(PurposeSession, "sub_1", time.Now().Add(time.Hour)), l.Mint(PurposeSession, "sub_2", time.Now().Add(time.Hour))
	if !l.CheckCSRF(a, l.CSRF(a)) || l.CheckCSRF(a, l.CSRF(b)) || l.CheckCSRF("", l.CSRF("")) || l.CheckCSRF(a, "") {
		t.Error("a CSRF token must pass for its own session only")
	}
}

func TestNewRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, 32)
	for _, tc := range []struct {
		base string
		key  []byte
		ttl  time.Duration
	}{
		{"/account", key, time.Hour},
		{"https://vpn.example/account?x=1", key, time.Hour},
		{"ftp://vpn.example/", key, time.Hour},
		{"https://vpn.example/", key[:16], time.Hour},
		{"https://vpn.example/", key, 0},
	} {
		if _, err := New(tc.base, tc.key, tc.ttl); err == nil {
			t.Errorf("New(%q, %d bytes, %s) accepted", tc.base, len(tc.key), tc.ttl)
		}
	}
}

func ExampleLinks_Link() {
	links, err := New("https://vpn.example/account", bytes.Repeat([]byte{1}, 32), 7*24*time.Hour)
	if err != nil {
		panic(err)
	}
	l := links.Link("sub_123-seat2", time.Date(2031, 3, 14, 0, 0, 0, 0, time.UTC)) // a seat links to its subscription's page
	fmt.Println(strings.HasPrefix(l, "https://vpn.example/account?t="))
	// Output: true
}
