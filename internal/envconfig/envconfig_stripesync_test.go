package envconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadCtlReadsTheStripeAPI(t *testing.T) {
	t.Parallel()
	c, err := LoadCtlFrom([]string{"STRIPE_API_KEY=rk_test_ctl", "STRIPE_API_URL=http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.StripeAPIKey != "rk_test_ctl" || c.StripeAPIURL != "http://127.0.0.1:1" {
		t.Errorf("Stripe API = %q, %q", c.StripeAPIKey, c.StripeAPIURL)
	}
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("rk_test_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = LoadCtlFrom([]string{"STRIPE_API_KEY_FILE=" + f}); err != nil || c.StripeAPIKey != "rk_test_file" {
		t.Errorf("STRIPE_API_KEY_FILE: %q, %v", c.StripeAPIKey, err)
	}
}
