package console

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	for _, tc := range []struct {
		name, in string
		want     map[string]Role
		err      string
	}{
		{"commas", "a:operator:" + hash + ",b:finance:" + hash, map[string]Role{"a": RoleOperator, "b": RoleFinance}, ""},
		{"lines and comments", "# who\na:operator:" + hash + "\n\nb:finance:" + hash + "\n", map[string]Role{"a": RoleOperator, "b": RoleFinance}, ""},
		{"unknown role", "a:admin:" + hash, nil, `role "admin"`},
		{"not a hash", "a:operator:plaintext", nil, "not a bcrypt hash"},
		{"twice", "a:operator:" + hash + ",a:finance:" + hash, nil, "listed twice"},
		{"malformed", "a-password-by-mistake", nil, "want name:role:bcrypt-hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			users, err := ParseUsers(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "plaintext") || strings.Contains(err.Error(), "by-mistake") {
					t.Error("the error quotes what may be a secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, role := range tc.want {
				if users[name].Role != role {
					t.Errorf("%s: role %q, want %q", name, users[name].Role, role)
				}
			}
			if _, ok := authenticate(users, "a", "pw"); !ok {
				t.Error("the right password is refused")
			}
			if _, ok := authenticate(users, "a", "wrong"); ok {
				t.Error("a wrong password is accepted")
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	s := signer{key: []byte(strings.Repeat("k", 32))}
	now := time.Now()
	sess := session{User: "alice", ID: "id1", Expires: now.Add(time.Hour)}
	v := s.encode(sess)
	if got, ok := s.decode(v, now); !ok || got.User != "alice" {
		t.Fatalf("a valid cookie is refused: %+v", got)
	}
	if _, ok := s.decode(v, now.Add(2*time.Hour)); ok {
		t.Error("an expired cookie is accepted")
	}
	payload, sig, _ := strings.Cut(v, ".")
	forged := signer{key: []byte(strings.Repeat("x", 32))}.encode(session{User: "mallory", ID: "id1", Expires: now.Add(time.Hour)})
	fp, _, _ := strings.Cut(forged, ".")
	for name, bad := range map[string]string{"other payload": fp + "." + sig, "no signature": payload, "other key": forged} {
		if _, ok := s.decode(bad, now); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	token := s.csrf(sess)
	if !s.checkCSRF(sess, token) || s.checkCSRF(session{User: "alice", ID: "id2"}, token) || s.checkCSRF(sess, "") {
		t.Error("a CSRF token must hold for its session only")
	}
}
