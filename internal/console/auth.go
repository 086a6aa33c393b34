package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a signed-in user may do.
type Role string

// The roles.
const (
	// RoleOperator reads every page and acts (resend, resolve, retry, drop).
	RoleOperator Role = "operator"
	// RoleFinance reads every page and acts on nothing.
	RoleFinance Role = "finance"
)

// ParseRole reads a role: operator or finance.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOperator, RoleFinance:
		return r, nil
	}
	return "", fmt.Errorf("role %q: operator or finance", s)
}

// User is one who may sign in with a password.
type User struct {
	Name string
	Role Role
	Hash []byte // bcrypt
}

// ParseUsers reads name:role:bcrypt-hash entries separated by commas or
// newlines (blank lines and lines starting with # are skipped). A name
// may appear once; every hash must be a bcrypt hash.
func ParseUsers(s string) (map[string]User, error) {
	users := map[string]User{}
	var errs []error
	for entry := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		name, rest, ok1 := strings.Cut(entry, ":")
		role, hash, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || name == "" {
			errs = append(errs, fmt.Errorf("user entry %q: want name:role:bcrypt-hash", redactEntry(entry)))
			continue
		}
		r, err := ParseRole(role)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			errs = append(errs, fmt.Errorf("user %s: not a bcrypt hash (htpasswd -nbB or bcrypt.GenerateFromPassword): %w", name, err))
			continue
		}
		if _, dup := users[name]; dup {
			errs = append(errs, fmt.Errorf("user %s: listed twice", name))
			continue
		}
		users[name] = User{Name: name, Role: r, Hash: []byte(hash)}
	}
	return users, errors.Join(errs...)
}

// redactEntry keeps a malformed entry's name only: the rest may be a secret.
func redactEntry(e string) string {
	name, _, ok := strings.Cut(e, ":")
	if !ok {
		return "…"
	}
	return name + ":…"
}

// session is what the signed cookie holds. An anonymous session (User
// empty) carries the CSRF token of the sign-in form.
type session struct {
	User    string    `json:"u,omitempty"`
	ID      string    `json:"id"`  // random: the CSRF token is derived from it
	Expires time.Time `json:"exp"` //
}

const cookieName = "vpnbill_console"

// signer signs and checks session cookies and CSRF tokens with one key.
type signer struct{ key []byte }

func (s signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func (s signer) encode(sess session) string {
	data, _ := json.Marshal(sess) // a struct of strings and a time: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(data)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

// decode returns the session of a cookie value if its signature holds and
// it has not expired.
func (s signer) decode(v string, now time.Time) (session, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return session{}, false
	}
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	var sess session
	if err := json.Unmarshal(data, &sess); err != nil || sess.ID == "" || !now.Before(sess.Expires) {
		return session{}, false
	}
	return sess, true
}

// csrf is the CSRF token of a session: it changes with the session id.
func (s signer) csrf(sess session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", sess.ID, sess.User))
}

func (s signer) checkCSRF(sess session, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && token != "" && hmac.Equal(got, s.mac("csrf", sess.ID, sess.User))
}

func newSessionID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// dummyHash is compared against when the user is unknown, so that an
// unknown name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("vpnbill-console-no-such-user"), bcrypt.DefaultCost)

// authenticate checks name and password against the configured users.
func authenticate(users map[string]User, name, password string) (User, bool) {
	u, ok := users[name]
	hash := u.Hash
	if !ok {
		hash = dummyHash
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		return User{}, false
	}
	return u, true
}

// setCookie writes sess as the session cookie: HttpOnly, SameSite=Strict,
// Secure on TLS (or when configured).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, sess session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: c.signer.encode(sess), Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.cfg.SecureCookie})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.cfg.SecureCookie})
}
