package assemble_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/assemble"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// Every test shuts down what it starts: NATS, the simulators, the mail
// catcher, the page's sender and its SMTP sessions.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// plansYAML is one plan, sold by PureVPN.
const plansYAML = `plans: [{id: std-monthly, name: Standard, stripe_prices: [price_std], provider: purevpn, package_type: STANDARD, period_days: 30}]`

var key = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))

// config is the operators' configuration of a deployment over w, with
// PureVPN, the plans, SMTP, the credentials key and the customer page.
func config(t *testing.T, w *harness.World) envconfig.Ctl {
	t.Helper()
	_, plans := harness.Plans(t, plansYAML)
	cfg, err := envconfig.LoadCtlFrom([]string{"NATS_URL=" + w.NATS.ClientURL(), "PLANS_FILE=" + plans,
		"PUREVPN_API_URL=" + w.PureVPNURL, "PUREVPN_API_USER=reseller", "PUREVPN_API_PASSWORD=api-pass",
		"SMTP_URL=" + w.Mail.URL(), "MAIL_FROM=shop@example.com", "CREDENTIALS_KEY=" + key,
		"PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=" + key})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sessions forwards SMTP connections to addr and counts those open.
type sessions struct {
	ln     net.Listener
	opened atomic.Int64
	closed atomic.Int64
}

func newSessions(t *testing.T, addr string) *sessions {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sessions{ln: ln}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			s.opened.Add(1)
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
			wg.Go(func() {
				_, _ = io.Copy(up, c) // until the client closes its session
				s.closed.Add(1)
				_ = up.Close()
			})
		}
	})
	return s
}

func (s *sessions) open() int64 { return s.opened.Load() - s.closed.Load() }

// The customer page emails a fresh link to a customer's address over the
// configured SMTP server; closing the page closes the session its mailer
// kept open.
func TestCustomerPageEmailsLinksAndClosesItsMailer(t *testing.T) {
	t.Parallel()
	w := harness.NewWorld(t, harness.WorldOptions{PureVPN: purevpnsim.Options{User: "reseller", Password: "api-pass"}})
	cfg := config(t, w)
	log := zaptest.NewLogger(t)
	o, svc, err := assemble.ConsoleOps(t.Context(), w.JS, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if svc == nil || o.Provisioner == nil {
		t.Fatal("a configuration that can provision: resend and the review resolutions are off")
	}
	plans, _ := harness.Plans(t, plansYAML)
	plan, _ := plans.ByID("std-monthly")
	now := time.Now().UTC()
	if err := svc.Apply(t.Context(), billing.Fact{Kind: billing.Purchase, EventID: "evt_1", EventType: "checkout.session.completed",
		Created: now, Key: "sub_1", Subscription: "sub_1", Customer: "cus_1", Email: "ann@example.com", Currency: "eur", Amount: 999,
		Plan: plan, CheckoutSession: "cs_1", Invoice: "in_1"}); err != nil {
		t.Fatal(err)
	}

	smtp := newSessions(t, w.Mail.Addr())
	pageCfg := cfg
	pageCfg.SMTPURL = "smtp://" + smtp.ln.Addr().String()
	page, err := assemble.CustomerPage(w.JS, pageCfg, "", svc, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page)
	stop := sync.OnceFunc(func() { srv.Close(); page.Close() }) // the page after its server, as the console does
	t.Cleanup(stop)
	resp, err := http.PostForm(srv.URL+"/account/link", url.Values{"email": {"ann@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/link: %d", resp.StatusCode)
	}
	isLink := func(m mailcatcher.Received) bool {
		return strings.HasPrefix(m.MessageID, "<"+string(notify.PortalLink)+".sub_1.")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !slices.ContainsFunc(w.Mail.Messages(), isLink) {
		if time.Now().After(deadline) {
			t.Fatalf("no link email within 15s; the catcher has %d", len(w.Mail.Messages()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if smtp.open() != 1 {
		t.Fatalf("%d SMTP sessions open after the link email, want the mailer's one kept open", smtp.open())
	}

	stop()
	deadline = time.Now().Add(5 * time.Second)
	for smtp.open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SMTP sessions still open after the page was closed", smtp.open())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Without the worker's variables the console's resend and review
// resolutions are off; the providers are still there for the reconcile
// page and the account page's live state.
func TestConsoleOpsWithoutProvisioning(t *testing.T) {
	t.Parallel()
	cfg, err := envconfig.LoadCtlFrom([]string{"VPNKI_API_URL=http://127.0.0.1:1/index.php", "VPNKI_API_KEY=k",
		"PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=" + key})
	if err != nil {
		t.Fatal(err)
	}
	o, svc, err := assemble.ConsoleOps(t.Context(), nil, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if svc != nil || o.Provisioner != nil {
		t.Errorf("provisioning without PLANS_FILE, SMTP_URL, MAIL_FROM, CREDENTIALS_KEY: %v, %v", svc, o.Provisioner)
	}
	if _, ok := o.Providers[providers.VPNKI]; !ok || len(o.Providers) != 1 {
		t.Errorf("providers %v, want VPNKI's alone", o.Providers)
	}
}

func TestUsageReaders(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		p    envconfig.Providers
		want []providers.Name
	}{
		"none":    {envconfig.Providers{}, nil},
		"PureVPN": {envconfig.Providers{PureVPNURL: "http://127.0.0.1:1", PureVPNUser: "u", PureVPNPassword: "p", ProviderTimeout: time.Second}, nil},
		"VPNKI":   {envconfig.Providers{VPNKIURL: "http://127.0.0.1:1/index.php", VPNKIKey: "k", ProviderTimeout: time.Second}, []providers.Name{providers.VPNKI}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			readers, err := assemble.UsageReaders(tc.p, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			var got []providers.Name
			for n := range readers {
				got = append(got, n)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("usage readers of %v, want %v", got, tc.want)
			}
		})
	}
}
