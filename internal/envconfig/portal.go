package envconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Portal is the customer's own page (internal/portal): its public address
// and the key that signs its links. The worker puts a link in every email;
// vpnbillctl's and the console's emails (resend) do too; the console
// serves the page (PORTAL_ADDR). PORTAL_URL and PORTAL_KEY go together;
// without both, emails carry no link.
type Portal struct {
	// PortalURL: the page's public base URL, as customers reach it, e.g.
	// https://vpn.example/account. Default: no customer page.
	PortalURL string `env:"PORTAL_URL"`
	// PortalKey: base64 of 32 bytes, the HMAC-SHA256 key that signs the
	// links; the same for the worker and the console. Required with
	// PORTAL_URL.
	PortalKey string `env:"PORTAL_KEY"`
	// PortalLinkTTL: how long a link works. Default 168h (7 days).
	PortalLinkTTL time.Duration `env:"PORTAL_LINK_TTL" envDefault:"168h"`
}

// PortalEnabled reports whether the customer page's links are configured.
func (p Portal) PortalEnabled() bool { return p.PortalURL != "" && p.PortalKey != "" }

// PortalSigningKey is PORTAL_KEY decoded.
func (p Portal) PortalSigningKey() ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(p.PortalKey)
	if err != nil || len(key) != 32 {
		return nil, errors.New("PORTAL_KEY: want base64 of 32 bytes (openssl rand -base64 32)")
	}
	return key, nil
}

// checkPortal returns one error per invalid portal variable, joined, or nil.
func (p Portal) checkPortal() error {
	if p.PortalURL == "" && p.PortalKey == "" {
		return nil
	}
	var errs []error
	if (p.PortalURL == "") != (p.PortalKey == "") {
		errs = append(errs, errors.New("PORTAL_URL and PORTAL_KEY go together"))
	}
	if p.PortalURL != "" {
		u, err := url.Parse(p.PortalURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("PORTAL_URL %q: want an absolute http(s) URL without query or fragment, e.g. https://vpn.example/account", p.PortalURL))
		}
	}
	if p.PortalKey != "" {
		if _, err := p.PortalSigningKey(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.PortalLinkTTL <= 0 {
		errs = append(errs, fmt.Errorf("PORTAL_LINK_TTL must be positive, not %s", p.PortalLinkTTL))
	}
	return errors.Join(errs...)
}
