package metrics_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
)

// allowed is every value each label of a vpnbill_ metric may take: fixed
// sets, none derived from a message, an account or a configuration value.
var allowed = map[string][]string{
	"consumer": {"worker", "timers", "other"},
	"outcome":  {"ack", "retry", "dead", "paused", "other"},
	"provider": {"purevpn", "vpnki", "other"},
	"method": {"create", "renew", "status", "delete_account", "update_account", "change_password",
		"tunnels", "active", "stat_user", "stat_tunnel", "add_tunnel", "del_tunnel", "other"},
	"class": {"ok", "not_sent", "uncertain", "rejected", "unauthorized", "throttled", "unavailable", "other",
		"temporary", "permanent"},
	"reason": {"signature", "stale", "malformed", "too_large", "method"},
	"stream": {"STRIPE", "TIMERS"},
	"source": {"accounts", "worker", "timers"},
	"mode":   {"test", "live"},
}

func TestNoLabelOrValueHoldsASecret(t *testing.T) {
	t.Parallel()
	x := setupWorld(t)
	var stats ingest.Stats
	stats.Received.Add(1)
	if err := metrics.RegisterWebhook(x.reg, &stats); err != nil {
		t.Fatal(err)
	}
	x.exercise(t)
	// A hook fed values that are not from its fixed sets: they become "other".
	leak := "sub_LeakyId " + purePassword
	x.w.Provider(providers.PureVPN, purevpn.Methods(), nil)(leak, errors.New(leak), time.Second)
	x.w.Provider(providers.Name(vpnkiKey), vpnki.Methods(), nil)("tunnels", &providers.Error{Class: providers.Rejected, Reason: leak}, time.Second)
	x.w.Consumer(leak, events.ConsumerConfig{}).Observe(x.msg, leak, time.Second)
	if err := x.mail.Send(context.Background(), x.messageTo("ada@example.com")); err != nil {
		t.Fatal(err)
	}

	sum := md5.Sum([]byte(purePassword))
	secrets := map[string]string{
		"PureVPN API password":    purePassword,
		"md5 of the API password": hex.EncodeToString(sum[:]),
		"PureVPN API user":        pureUser,
		"VPNKI API key":           vpnkiKey,
		"SMTP password":           smtpPassword,
		"webhook secret":          webhookSecret,
		"customer email":          "ada@example.com",
		"Stripe event id":         "evt_metrics1",
		"record key":              "sub_LeakyId",
	}
	for _, a := range x.pureSim.Accounts() {
		secrets["VPN username "+a.Username] = a.Username
		secrets["VPN password of "+a.Username] = a.Password
	}
	for _, tun := range x.vpnkiSim.Tunnels() {
		secrets["VPNKI password of "+tun.Name] = tun.Password
	}
	text := x.scrape(t)
	for what, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the exposition holds the %s", what)
		}
	}

	families, err := x.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "vpnbill_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				n++
				set, ok := allowed[l.GetName()]
				if !ok {
					t.Errorf("%s: label %q has no fixed set of values", f.GetName(), l.GetName())
					continue
				}
				if !slices.Contains(set, l.GetValue()) {
					t.Errorf("%s: label %s=%q is outside its fixed set", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d labels checked: the check would prove little", n)
	}
	if v, ok := sample(text, `vpnbill_provider_calls_total{class="other",method="other",provider="purevpn"}`); !ok || v != 1 {
		t.Errorf("a method outside the set: %v, want counted as other", fmt.Sprint(v, ok))
	}
}
