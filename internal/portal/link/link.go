// Package link makes and reads the signed, expiring tokens of the
// customer's own page (internal/portal): the links in the emails, which the
// worker makes, and the page's session cookie and CSRF tokens, which the
// page makes. It knows nothing of the page itself, so that the worker can
// make links without it.
package link

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Links makes and reads the customer page's links. A link is the page's
// public URL (PORTAL_URL) with a token, ?t=<token>: the key of the
// subscription's or order's first record and an expiry, signed with
// HMAC-SHA256 under PORTAL_KEY, base64url. The worker makes them (for the
// emails) and the console reads them, with the same key. A token cannot
// be altered to name another record or a later expiry without the key;
// checking one compares MACs in constant time.
//
// The page's session cookie and CSRF tokens are signed with the same key,
// each for its own purpose, so no token of one kind passes for another.
type Links struct {
	base *url.URL
	key  []byte
	ttl  time.Duration
}

// The purposes a token is signed for: its first byte, under the MAC.
const (
	PurposeLink    byte = 'L' // a link from an email: PORTAL_LINK_TTL
	PurposeSession byte = 'S' // the page's session cookie: Config.SessionFor
)

// maxKeyLen bounds the record key a token names: longer is not a token of ours.
const maxKeyLen = 256

// macContext separates this MAC from any other use of the key.
const macContext = "vpnbill portal v1\x00"

// New returns the links of the page at base (an absolute http(s) URL
// without query or fragment), signed with key (32 bytes or more), valid
// for ttl (positive).
func New(base string, key []byte, ttl time.Duration) (*Links, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("link: base URL %q: want an absolute http(s) URL without query or fragment", base)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("link: key of %d bytes, want at least 32", len(key))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("link: link lifetime %s, want a positive one", ttl)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return &Links{base: u, key: append([]byte(nil), key...), ttl: ttl}, nil
}

// Link is the link to the page of the subscription or order of record key
// (a further seat's key links to its first record: the page shows every
// seat), valid for the links' lifetime from now. It has the signature of
// provisioning.Config.PortalLink.
func (l *Links) Link(key string, now time.Time) string {
	root, _ := provisioning.SeatOf(key)
	u := *l.base
	u.RawQuery = url.Values{"t": {l.Mint(PurposeLink, root, now.Add(l.ttl))}}.Encode()
	return u.String()
}

// URL is the page's public URL, without a token.
func (l *Links) URL() string { return l.base.String() }

// Path is the page's path, "/" or e.g. "/account" (no trailing slash).
func (l *Links) Path() string {
	if p := strings.TrimSuffix(l.base.Path, "/"); p != "" {
		return p
	}
	return "/"
}

// Secure reports whether the page is served over HTTPS (its cookie is then Secure).
func (l *Links) Secure() bool { return l.base.Scheme == "https" }

// Mint signs key for purpose until exp.
func (l *Links) Mint(purpose byte, key string, exp time.Time) string {
	body := make([]byte, 9, 9+len(key)+sha256.Size)
	body[0] = purpose
	binary.BigEndian.PutUint64(body[1:9], uint64(exp.Unix()))
	body = append(body, key...)
	return base64.RawURLEncoding.EncodeToString(append(body, l.mac(body)...))
}

func (l *Links) mac(body []byte) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(macContext))
	m.Write(body)
	return m.Sum(nil)
}

// ErrRefused is every refused token's one answer: another record's, an
// expired one and a tampered one are not told apart.
var ErrRefused = errors.New("this link is not valid or has expired")

// Read returns the record key token names for purpose and its expiry, if
// its MAC is right (compared in constant time), it is of that purpose and
// it has not expired at now.
func (l *Links) Read(purpose byte, token string, now time.Time) (string, time.Time, error) {
	if len(token) > base64.RawURLEncoding.EncodedLen(9+maxKeyLen+sha256.Size) {
		return "", time.Time{}, ErrRefused
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token) // one spelling per token

	if err != nil || len(raw) < 9+1+sha256.Size {
		return "", time.Time{}, ErrRefused
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if !hmac.Equal(sum, l.mac(body)) || body[0] != purpose {
		return "", time.Time{}, ErrRefused
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(body[1:9])), 0) //nolint:gosec // signed by us: a time we wrote
	if !now.Before(exp) {
		return "", time.Time{}, ErrRefused
	}
	return string(body[9:]), exp, nil
}

// CSRF is the CSRF token of a session (its cookie's token): a MAC of it,
// which only the page, holding the key, can make.
func (l *Links) CSRF(session string) string {
	return base64.RawURLEncoding.EncodeToString(l.mac([]byte("csrf\x00" + session)))
}

// CheckCSRF reports whether got is session's CSRF token (constant time).
func (l *Links) CheckCSRF(session, got string) bool {
	return session != "" && hmac.Equal([]byte(got), []byte(l.CSRF(session)))
}
