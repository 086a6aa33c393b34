package envconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadCtlNeedsOnlyNATS(t *testing.T) {
	t.Parallel()
	c, err := LoadCtlFrom(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "nats://127.0.0.1:4222" || c.Replicas != 1 || c.LogLevel != "info" || c.ProviderTimeout != 15*time.Second {
		t.Errorf("defaults not as documented: %+v", c)
	}
	if err := c.CanProvision(); err == nil || !strings.Contains(err.Error(), "PLANS_FILE") || !strings.Contains(err.Error(), "CREDENTIALS_KEY") {
		t.Errorf("CanProvision without settings: %v", err)
	}
}

func TestLoadCtlReadsTheWorkersVariables(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCtlFrom([]string{"NATS_URL=nats://n:4222", "PLANS_FILE=p.yaml", "PUREVPN_API_URL=https://api.example/",
		"PUREVPN_API_USER=u", "PUREVPN_API_PASSWORD=pw", "SMTP_URL=smtp://127.0.0.1:25", "MAIL_FROM=a@b.c",
		"CREDENTIALS_KEY_FILE=" + path})
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "nats://n:4222" || c.CredentialsKey != "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" || c.PureVPNPassword != "pw" {
		t.Errorf("not read: %+v", c)
	}
	if err := c.CanProvision(); err != nil {
		t.Error(err)
	}
}

func TestLoadCtlRefusesHalfAProvider(t *testing.T) {
	t.Parallel()
	if _, err := LoadCtlFrom([]string{"VPNKI_API_URL=https://vpnki.example/index.php"}); err == nil || !strings.Contains(err.Error(), "VPNKI_API_KEY") {
		t.Errorf("VPNKI URL without key: %v", err)
	}
	if _, err := LoadCtlFrom([]string{"PUREVPN_API_URL=https://api.example/"}); err == nil || !strings.Contains(err.Error(), "PUREVPN_API_USER") {
		t.Errorf("PureVPN URL without user: %v", err)
	}
}
