package purevpn

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// TestSecretsNeverLeak forces every kind of failure on every method against
// a simulator that quotes the request back, and checks that neither the API
// password, nor its md5, nor any VPN password appears in an error or a log
// line.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	c, b := setup(t, func(o *purevpnsim.Options) { o.EchoRequest = true })
	ctx := testCtx(t)
	a := mustCreate(t, c)
	const newPass = "N3wPass9"
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := c.Renew(ctx, a.Username, Period30); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePassword(ctx, a.Username, newPass); err != nil {
		t.Fatal(err)
	}
	short := b.client(t, func(cfg *Config) { cfg.RetryFor = new(300 * time.Millisecond) })
	faults := []struct {
		name   string
		inject func()
		client *Client
		user   string
	}{
		{"not XML", func() { b.sim.NotXMLNext(1) }, c, a.Username},
		{"truncated", func() { b.sim.TruncateNext(1) }, c, a.Username},
		{"5xx", func() { b.sim.FailNext(100, http.StatusInternalServerError) }, short, a.Username},
		{"429", func() { b.sim.ThrottleNext(100, time.Hour) }, c, a.Username},
		{"dropped", func() { b.sim.DropNext(100) }, short, a.Username},
		{"credentials refused", func() { b.sim.RejectCredentials(true) }, c, a.Username},
		{"unknown user", func() {}, c, "pvr000000"},
		{"bad period", func() {}, b.client(t, func(cfg *Config) { cfg.Names.Period = "p" }), a.Username},
		{"bad credentials", func() {}, b.client(t, func(cfg *Config) { cfg.Password = testPassword + "x" }), a.Username},
		{"refused", func() {}, b.client(t, func(cfg *Config) { cfg.URL = closedURL(t); cfg.RetryFor = new(300 * time.Millisecond) }), a.Username},
		{"timeout", func() { b.sim.SetLatency(time.Minute) }, b.client(t, func(cfg *Config) {
			cfg.Timeout = 100 * time.Millisecond
			cfg.RetryFor = new(300 * time.Millisecond)
		}), a.Username},
	}
	for _, f := range faults {
		for _, m := range methods {
			f.inject()
			err := m.call(ctx, f.client, f.user)
			if err == nil && (f.name != "unknown user" || m.name != "create") {
				t.Errorf("%s/%s: no error", f.name, m.name)
			}
			record(err)
			b.sim.FailNext(0, 0)
			b.sim.ThrottleNext(0, 0)
			b.sim.DropNext(0)
			b.sim.NotXMLNext(0)
			b.sim.TruncateNext(0)
			b.sim.RejectCredentials(false)
			b.sim.SetLatency(0)
		}
	}
	// A password change answered with a failure that quotes the new password.
	record(c.ChangePassword(ctx, "pvr000000", "Leak1234"))

	sum := md5.Sum([]byte(testPassword))
	secrets := []string{testPassword, hex.EncodeToString(sum[:]), strings.ToUpper(hex.EncodeToString(sum[:])), newPass, "Leak1234", a.Password}
	for _, acct := range b.sim.Accounts() {
		secrets = append(secrets, acct.Password)
	}

	var texts []string
	for _, err := range errs {
		texts = append(texts, err.Error(), fmt.Sprintf("%v", err))
	}
	for _, e := range b.logs.All() {
		texts = append(texts, e.Message)
		for k, v := range e.ContextMap() {
			texts = append(texts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	texts = append(texts, fmt.Sprint(a), fmt.Sprintf("%v %+v %#v", a, a, a))
	if len(errs) < len(faults)*len(methods)-1 {
		t.Fatalf("only %d errors recorded", len(errs))
	}
	// The simulator did quote secrets back: the check is not vacuous.
	quoted := false
	for _, rec := range b.sim.CallLog() {
		if rec.Params.Get("new_pass") == "Leak1234" {
			quoted = true
		}
	}
	if !quoted {
		t.Fatal("the leaking password change did not reach the simulator")
	}
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret %.3s… appears in %q", s, text)
			}
		}
	}
}
