package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	trusted := func(c *Config) { c.TLSConfig = clientTLS }
	for _, tc := range []struct {
		name string
		opts mailcatcher.Options
		url  string
		tune func(*Config)
		want Checked // TLS and Auth; Addr is the catcher's
		step string  // the step that fails; "" for none
	}{
		{name: "plain on loopback", url: "", want: Checked{TLS: "none"}},
		{name: "auth on loopback", opts: mailcatcher.Options{Username: "relay", Password: "relay-pw"},
			url: "smtp://relay:relay-pw@%s", want: Checked{TLS: "none", Auth: true}},
		{name: "STARTTLS and auth", opts: mailcatcher.Options{Username: "relay", Password: "relay-pw", TLSConfig: serverTLS},
			url: "smtp://relay:relay-pw@%s?tls=starttls", tune: trusted, want: Checked{TLS: "starttls", Auth: true}},
		{name: "smtps and auth", opts: mailcatcher.Options{Username: "relay", Password: "relay-pw", TLSConfig: serverTLS, ImplicitTLS: true},
			url: "smtps://relay:relay-pw@%s", tune: trusted, want: Checked{TLS: "implicit", Auth: true}},
		{name: "wrong password", opts: mailcatcher.Options{Username: "relay", Password: "relay-pw"},
			url: "smtp://relay:wrong-pw@%s", step: StepAUTH},
		{name: "STARTTLS required, not offered", url: "smtp://%s?tls=starttls", step: StepSTARTTLS},
		{name: "STARTTLS to an untrusted certificate", opts: mailcatcher.Options{TLSConfig: serverTLS},
			url: "smtp://%s?tls=starttls", step: StepSTARTTLS},
		{name: "smtps to an untrusted certificate", opts: mailcatcher.Options{TLSConfig: serverTLS, ImplicitTLS: true},
			url: "", step: StepConnect},
		{name: "smtps to a plain server", url: "smtps://%s", tune: trusted, step: StepConnect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, b := setup(t, tc.opts, tc.url, tc.tune)
			got, err := m.Check(testCtx(t))
			if tc.step == "" {
				want := tc.want
				want.Addr = b.catcher.Addr()
				if err != nil || got != want {
					t.Errorf("Check = %+v, %v; want %+v, nil", got, err, want)
				}
			} else {
				var ce *CheckError
				if !errors.As(err, &ce) || ce.Step != tc.step {
					t.Errorf("Check = %v; want a failure at %s", err, tc.step)
				}
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("Check's error quotes the password: %v", err)
			}
			if n := len(b.catcher.Messages()); n != 0 {
				t.Errorf("Check sent %d messages", n)
			}
		})
	}

	t.Run("refused port", func(t *testing.T) {
		t.Parallel()
		m, err := New(Config{URL: "smtp://" + closedAddr(t), From: testFrom}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Check(testCtx(t))
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Step != StepConnect || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Check = %v; want a refused connection", err)
		}
	})
}
