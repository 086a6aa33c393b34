package envconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const portalKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestPortalVariables(t *testing.T) {
	t.Parallel()
	off, err := LoadCtlFrom(nil)
	if err != nil {
		t.Fatal(err)
	}
	if off.PortalEnabled() || off.PortalLinkTTL != 168*time.Hour {
		t.Errorf("unset: enabled %v, TTL %s; want off, 168h", off.PortalEnabled(), off.PortalLinkTTL)
	}

	path := filepath.Join(t.TempDir(), "portal-key")
	if err := os.WriteFile(path, []byte(portalKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConsoleFrom([]string{"CONSOLE_USERS=a:operator:x", "CONSOLE_SESSION_KEY=" + portalKey,
		"PORTAL_URL=https://vpn.example/account", "PORTAL_KEY_FILE=" + path, "PORTAL_LINK_TTL=24h",
		"PORTAL_ADDR=127.0.0.1:8443", "PORTAL_CLIENT_IP_HEADER=X-Forwarded-For"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.PortalSigningKey()
	if !c.PortalEnabled() || err != nil || len(key) != 32 || c.PortalLinkTTL != 24*time.Hour || c.PortalAddr != "127.0.0.1:8443" ||
		c.PortalClientIPHeader != "X-Forwarded-For" {
		t.Errorf("not read: %+v (%v)", c.Portal, err)
	}

	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"URL without key":      {[]string{"PORTAL_URL=https://vpn.example/account"}, "go together"},
		"key without URL":      {[]string{"PORTAL_KEY=" + portalKey}, "go together"},
		"short key":            {[]string{"PORTAL_URL=https://vpn.example/account", "PORTAL_KEY=c2hvcnQ="}, "32 bytes"},
		"relative URL":         {[]string{"PORTAL_URL=/account", "PORTAL_KEY=" + portalKey}, "absolute http(s) URL"},
		"URL with a query":     {[]string{"PORTAL_URL=https://vpn.example/account?x=1", "PORTAL_KEY=" + portalKey}, "without query"},
		"zero TTL":             {[]string{"PORTAL_URL=https://vpn.example/", "PORTAL_KEY=" + portalKey, "PORTAL_LINK_TTL=0s"}, "PORTAL_LINK_TTL must be positive"},
		"key and its file":     {[]string{"PORTAL_KEY=" + portalKey, "PORTAL_KEY_FILE=" + path}, "both PORTAL_KEY and PORTAL_KEY_FILE"},
		"listener without URL": {[]string{"CONSOLE_USERS=a:operator:x", "CONSOLE_SESSION_KEY=" + portalKey, "PORTAL_ADDR=:8443"}, "PORTAL_URL and PORTAL_KEY are required"},
	} {
		_, err := LoadConsoleFrom(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), portalKey) {
			t.Errorf("%s: the error quotes the key", name)
		}
	}
}
