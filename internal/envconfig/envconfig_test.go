package envconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func setWorkerEnv(t *testing.T) {
	t.Setenv("PLANS_FILE", "plans.yaml")
	t.Setenv("PUREVPN_API_URL", "https://api.example/")
	t.Setenv("PUREVPN_API_USER", "reseller")
	t.Setenv("SMTP_URL", "smtp://127.0.0.1:25")
	t.Setenv("MAIL_FROM", "shop@example.com")
	t.Setenv("CREDENTIALS_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
}

func TestLoadWorkerReadsSecretsFromFilesAndDefaults(t *testing.T) {
	setWorkerEnv(t)
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PUREVPN_API_PASSWORD_FILE", path)
	t.Setenv("PUREVPN_SPELLINGS", "delete_account=delete,username=user")
	w, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	if w.PureVPNPassword != "s3cret" {
		t.Error("PUREVPN_API_PASSWORD_FILE was not read (or not trimmed)")
	}
	if w.PureVPNSpellings["delete_account"] != "delete" || w.PureVPNSpellings["username"] != "user" {
		t.Errorf("spellings = %v", w.PureVPNSpellings)
	}
	if w.GracePeriod != 72*time.Hour || w.DeleteAfter != 720*time.Hour || w.NATSURL != "nats://127.0.0.1:4222" ||
		w.ProviderTimeout != 15*time.Second || w.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("defaults not as documented: %+v", w)
	}
}

func TestLoadWorkerRefusesAmbiguousOrMissingSettings(t *testing.T) {
	setWorkerEnv(t)
	t.Setenv("PUREVPN_API_PASSWORD", "a")
	t.Setenv("PUREVPN_API_PASSWORD_FILE", "/nonexistent")
	if _, err := LoadWorker(); err == nil || !strings.Contains(err.Error(), "both PUREVPN_API_PASSWORD and PUREVPN_API_PASSWORD_FILE") {
		t.Errorf("both a secret and its file: %v", err)
	}
	t.Setenv("PUREVPN_API_PASSWORD_FILE", "")
	t.Setenv("SMTP_URL", "")
	if _, err := LoadWorker(); err == nil || !strings.Contains(err.Error(), "SMTP_URL") {
		t.Errorf("missing SMTP_URL: %v", err)
	}
}

func TestLoadWebhookNeedsASecret(t *testing.T) {
	t.Setenv("STRIPE_WEBHOOK_SECRET", "")
	if _, err := LoadWebhook(); err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Errorf("missing secret: %v", err)
	}
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b")
	w, err := LoadWebhook()
	if err != nil || w.Addr != ":8080" || w.MetricsAddr != "127.0.0.1:9091" {
		t.Errorf("webhook config = %+v, %v", w, err)
	}
}
