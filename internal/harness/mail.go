package harness

import (
	"testing"

	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

// Mail starts an SMTP mail catcher with o on 127.0.0.1 and a random port
// (its URL is an SMTP_URL). It is closed at the end of the test, which
// fails if closing does; closing it earlier is allowed.
func Mail(t testing.TB, o mailcatcher.Options) *mailcatcher.Catcher {
	t.Helper()
	c := mailcatcher.New(o)
	if err := c.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("harness: start the mail catcher: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("harness: close the mail catcher: %v", err)
		}
	})
	return c
}
