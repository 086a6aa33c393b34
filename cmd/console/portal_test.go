package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

const plansYAML = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
`

// The console serves the customer page on PORTAL_ADDR, a listener of its
// own: the page's routes are not on the console's, and the console's are
// not on the page's.
func TestThePortalListenerIsItsOwn(t *testing.T) {
	t.Parallel()
	w := harness.NewWorld(t, harness.WorldOptions{PureVPN: purevpnsim.Options{User: "reseller", Password: "api-pass"}})
	_, plans := harness.Plans(t, plansYAML)
	hash, err := bcrypt.GenerateFromPassword([]byte("operator-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	env := []string{"NATS_URL=" + w.NATS.ClientURL(), "PLANS_FILE=" + plans,
		"PUREVPN_API_URL=" + w.PureVPNURL, "PUREVPN_API_USER=reseller", "PUREVPN_API_PASSWORD=api-pass",
		"SMTP_URL=" + w.Mail.URL(), "MAIL_FROM=shop@example.com", "CREDENTIALS_KEY=" + key,
		"CONSOLE_USERS=alice:operator:" + string(hash), "CONSOLE_SESSION_KEY=" + key, "ADMIN_ADDR=127.0.0.1:0",
		"PORTAL_ADDR=127.0.0.1:0", "PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=" + key, "LOG_LEVEL=error"}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 2), make(chan error, 1)
	go func() { done <- run(ctx, env, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console: %v", err)
		}
	})
	var addrs []string
	for len(addrs) < 2 {
		select {
		case a := <-ready:
			addrs = append(addrs, "http://"+a)
		case err := <-done:
			t.Fatalf("console stopped: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the console and the customer page did not listen within 30s")
		}
	}
	admin, page := addrs[0], addrs[1]
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		url  string
		want int
	}{
		{page + "/account", http.StatusOK},
		{page + "/account/static/portal.css", http.StatusOK},
		{admin + "/signin", http.StatusOK},
		{admin + "/healthz", http.StatusOK},
		// The console's routes are not on the page's listener.
		{page + "/signin", http.StatusNotFound},
		{page + "/", http.StatusNotFound},
		{page + "/accounts", http.StatusNotFound},
		{page + "/report.csv", http.StatusNotFound},
		{page + "/healthz", http.StatusNotFound},
		{page + "/static/console.css", http.StatusNotFound},
		// The page's routes are not on the console's.
		{admin + "/account", http.StatusNotFound},
		{admin + "/account?t=x", http.StatusNotFound},
		{admin + "/account/static/portal.css", http.StatusNotFound},
	} {
		if status, _ := get(tc.url); status != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.url, status, tc.want)
		}
	}
	if _, body := get(page + "/account"); !strings.Contains(body, "Email me a link") {
		t.Errorf("the customer page without a session must offer a link by email:\n%s", body)
	}
	resp, err := c.PostForm(admin+"/account/link", map[string][]string{"email": {"a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the console answers the page's link form")
	}
}

func TestCheckPortalAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		portal, admin, webhook string
		ok                     bool
	}{
		{"", "127.0.0.1:8090", ":8080", true},
		{":8443", "127.0.0.1:8090", ":8080", true},
		{"0.0.0.0:8090", "127.0.0.1:8090", ":8080", false},
		{":8080", "127.0.0.1:8090", ":8080", false},
		{"127.0.0.1:0", "127.0.0.1:0", ":0", true},
		{"nonsense", "127.0.0.1:8090", ":8080", false},
	} {
		if err := checkPortalAddr(tc.portal, tc.admin, tc.webhook); (err == nil) != tc.ok {
			t.Errorf("checkPortalAddr(%q, %q, %q) = %v, want ok %v", tc.portal, tc.admin, tc.webhook, err, tc.ok)
		}
	}
}
