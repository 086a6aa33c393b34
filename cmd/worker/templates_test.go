package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/harness"
)

// TestBrokenTemplateOverrideStopsTheWorker: a MAIL_TEMPLATES_DIR file that
// does not parse stops the worker at start, naming the file, before it
// takes any event.
func TestBrokenTemplateOverrideStopsTheWorker(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "welcome.html.tmpl")
	if err := os.WriteFile(broken, []byte(`{{define "content"}}<p>{{.Username</p>{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, plans := harness.Plans(t, plansYAML)
	for k, v := range map[string]string{
		"NATS_URL": "nats://127.0.0.1:1", "PLANS_FILE": plans,
		"PUREVPN_API_URL": "http://127.0.0.1:1", "PUREVPN_API_USER": "reseller", "PUREVPN_API_PASSWORD": "api-pass",
		"SMTP_URL": "smtp://127.0.0.1:1", "MAIL_FROM": "shop@example.com",
		"CREDENTIALS_KEY":    base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"MAIL_TEMPLATES_DIR": dir, "METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
	} {
		t.Setenv(k, v)
	}
	err := run(context.Background())
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("run = %v, want an error naming %s", err, broken)
	}
}
