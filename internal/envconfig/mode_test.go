package envconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// STRIPE_MODE's rule: an explicit mode, else the API key's, else none
// (the first event's, pinned); a bad value or a conflict stops the worker
// at start, naming the variable.
func TestStripeModeRule(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("rk_live_fromAFile123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		env           map[string]string
		live, decided bool
		err           []string // the error names all of these
	}{
		{name: "unset, no key: pinned by the first event", env: map[string]string{}},
		{name: "auto, no key", env: map[string]string{"STRIPE_MODE": "auto"}},
		{name: "unset, secret live key", env: map[string]string{"STRIPE_API_KEY": "sk_live_abc"}, live: true, decided: true},
		{name: "unset, restricted live key", env: map[string]string{"STRIPE_API_KEY": "rk_live_abc"}, live: true, decided: true},
		{name: "unset, secret test key", env: map[string]string{"STRIPE_API_KEY": "sk_test_abc"}, decided: true},
		{name: "unset, restricted test key", env: map[string]string{"STRIPE_API_KEY": "rk_test_abc"}, decided: true},
		{name: "auto, live key", env: map[string]string{"STRIPE_MODE": "auto", "STRIPE_API_KEY": "sk_live_abc"}, live: true, decided: true},
		{name: "auto, key from a file", env: map[string]string{"STRIPE_API_KEY_FILE": keyFile}, live: true, decided: true},
		{name: "live", env: map[string]string{"STRIPE_MODE": "live"}, live: true, decided: true},
		{name: "test", env: map[string]string{"STRIPE_MODE": "test"}, decided: true},
		{name: "live with a live key", env: map[string]string{"STRIPE_MODE": "live", "STRIPE_API_KEY": "rk_live_abc"}, live: true, decided: true},
		{name: "test with a test key", env: map[string]string{"STRIPE_MODE": "test", "STRIPE_API_KEY": "sk_test_abc"}, decided: true},
		{name: "live with a key of unknown mode (a fake Stripe)", env: map[string]string{"STRIPE_MODE": "live", "STRIPE_API_KEY": "fake_key"}, live: true, decided: true},
		{name: "live with a test key", env: map[string]string{"STRIPE_MODE": "live", "STRIPE_API_KEY": "sk_test_abc"},
			err: []string{"STRIPE_MODE is live", "STRIPE_API_KEY is a test-mode key"}},
		{name: "test with a live key from a file", env: map[string]string{"STRIPE_MODE": "test", "STRIPE_API_KEY_FILE": keyFile},
			err: []string{"STRIPE_MODE is test", "STRIPE_API_KEY is a live-mode key"}},
		{name: "unset, key of unknown mode", env: map[string]string{"STRIPE_API_KEY": "pk_live_abc"},
			err: []string{"STRIPE_API_KEY", "STRIPE_MODE"}},
		{name: "upper case", env: map[string]string{"STRIPE_MODE": "LIVE"}, err: []string{"STRIPE_MODE", `"LIVE"`}},
		{name: "not a mode", env: map[string]string{"STRIPE_MODE": "production"}, err: []string{"STRIPE_MODE", `"production"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setWorkerEnv(t)
			t.Setenv("PUREVPN_API_PASSWORD", "pw")
			for _, k := range []string{"STRIPE_MODE", "STRIPE_API_KEY", "STRIPE_API_KEY_FILE"} {
				t.Setenv(k, tc.env[k])
			}
			w, err := LoadWorker()
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatalf("LoadWorker: no error; want one naming %v", tc.err)
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("LoadWorker: %v; want it to name %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if live, decided := w.Livemode(); live != tc.live || decided != tc.decided {
				t.Errorf("Livemode() = live %v, decided %v; want %v, %v", live, decided, tc.live, tc.decided)
			}
			// The ctl applies the same rule to the same variables.
			var environ []string
			for k, v := range tc.env {
				environ = append(environ, k+"="+v)
			}
			c, err := LoadCtlFrom(environ)
			if err != nil {
				t.Fatal(err)
			}
			if live, decided, err := c.Livemode(); err != nil || live != tc.live || decided != tc.decided {
				t.Errorf("ctl Livemode() = live %v, decided %v, %v; want %v, %v", live, decided, err, tc.live, tc.decided)
			}
		})
	}
}

// A bad STRIPE_MODE stops only what needs it: the ctl's other commands
// still load (its `mode` command reports the error).
func TestCtlLoadsWithABadStripeMode(t *testing.T) {
	t.Parallel()
	c, err := LoadCtlFrom([]string{"STRIPE_MODE=sometimes"})
	if err != nil {
		t.Fatalf("LoadCtlFrom: %v", err)
	}
	if _, _, err := c.Livemode(); err == nil || !strings.Contains(err.Error(), "STRIPE_MODE") {
		t.Errorf("Livemode: %v; want an error naming STRIPE_MODE", err)
	}
}
