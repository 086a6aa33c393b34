package main

import (
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		admin, webhook string
		ok             bool
	}{
		{"127.0.0.1:8090", ":8080", true},
		{"127.0.0.1:8080", ":8080", false},
		{"0.0.0.0:443", "10.0.0.1:443", false},
		{"127.0.0.1:0", ":0", true},
		{"nonsense", ":8080", false},
	} {
		if err := checkAddr(tc.admin, tc.webhook); (err == nil) != tc.ok {
			t.Errorf("checkAddr(%q, %q) = %v, want ok %v", tc.admin, tc.webhook, err, tc.ok)
		}
	}
}

func TestRunRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	key := "CONSOLE_SESSION_KEY=" + strings.Repeat("A", 43) + "="
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"no users":           {[]string{key}, "nobody could sign in"},
		"no key":             {[]string{"CONSOLE_USERS=a:operator:x"}, "CONSOLE_SESSION_KEY is required"},
		"short key":          {[]string{"CONSOLE_SESSION_KEY=c2hvcnQ=", "CONSOLE_PROXY_USER_HEADER=X-User", "CONSOLE_PROXY_ROLE=finance"}, "32 bytes"},
		"plaintext password": {[]string{key, "CONSOLE_USERS=a:operator:hunter2"}, "not a bcrypt hash"},
		"proxy without role": {[]string{key, "CONSOLE_PROXY_USER_HEADER=X-User"}, "go together"},
		"the webhook's port": {[]string{key, "CONSOLE_PROXY_USER_HEADER=X-User", "CONSOLE_PROXY_ROLE=finance", "ADMIN_ADDR=127.0.0.1:8080"}, "webhook's port"},
		"an unknown role":    {[]string{key, "CONSOLE_PROXY_USER_HEADER=X-User", "CONSOLE_PROXY_ROLE=root"}, "operator or finance"},
		"a customer page without its key": {[]string{key, "CONSOLE_USERS=a:operator:$2a$04$x", "PORTAL_ADDR=127.0.0.1:0",
			"PORTAL_URL=https://vpn.example/account"}, "PORTAL_URL and PORTAL_KEY"},
		"a customer page without provisioning": {[]string{key, "CONSOLE_PROXY_USER_HEADER=X-User", "CONSOLE_PROXY_ROLE=finance",
			"PORTAL_ADDR=127.0.0.1:0", "PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=" + strings.Repeat("A", 43) + "="}, "needs PLANS_FILE"},
		"a customer page on the console's port": {[]string{key, "CONSOLE_PROXY_USER_HEADER=X-User", "CONSOLE_PROXY_ROLE=finance",
			"ADMIN_ADDR=127.0.0.1:8090", "PORTAL_ADDR=:8090", "PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=" + strings.Repeat("A", 43) + "="}, "a listener of its own"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tc.env, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error quotes a password")
			}
		})
	}
}
