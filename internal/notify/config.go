package notify

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Mailer. cmd/worker fills it from SMTP_URL and MAIL_FROM.
type Config struct {
	// URL is SMTP_URL: smtp://[user:pass@]host[:port][?tls=none|starttls] or
	// smtps://[user:pass@]host[:port]. Required.
	//
	//   - smtp:// dials port 587 by default and requires STARTTLS, except to a loopback host
	//     (127.0.0.0/8, ::1, "localhost"), which is spoken to in plain text. ?tls=none turns TLS
	//     off for any host; ?tls=starttls requires STARTTLS even on loopback.
	//   - smtps:// dials port 465 by default and speaks TLS from the first byte.
	//   - user:pass (URL-encoded) turns on SMTP AUTH. Credentials are only ever sent over TLS or
	//     to a loopback host; a URL that would send them in clear elsewhere is refused.
	URL string

	// From is MAIL_FROM, the sender: "billing@example.com" or "Example VPN <billing@example.com>".
	// Required.
	From string

	// Timeout bounds dialling and each SMTP command of a Send. Default 30s. The ctx given to
	// Send bounds the whole delivery as well.
	Timeout time.Duration

	// HeloName is the name sent in EHLO/HELO. Default "localhost".
	HeloName string

	// TLSConfig is the TLS client configuration for STARTTLS and smtps, for a private CA (and
	// tests). Default nil: the system roots; ServerName defaults to the URL's host.
	TLSConfig *tls.Config

	// IdleSessions is how many open SMTP sessions are kept between Sends. Default 16. The
	// worker keeps as many as it has handlers (WORKER_CONCURRENCY), each of which sends one
	// email at a time: then no Send opens a session while one of as many is closing, and
	// the server sees no more connections at once than it did at the busiest moment.
	IdleSessions int
}

const (
	defaultTimeout   = 30 * time.Second
	defaultHelo      = "localhost"
	defaultSMTPPort  = 587
	defaultSMTPSPort = 465
)

// WithDefaults returns a copy of c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.HeloName == "" {
		c.HeloName = defaultHelo
	}
	return c
}

// tlsMode is how the connection to the SMTP server is secured.
type tlsMode int

const (
	tlsNone     tlsMode = iota // plain text (loopback or ?tls=none)
	tlsStartTLS                // STARTTLS is mandatory: no TLS, no mail
	tlsImplicit                // smtps: TLS from the first byte
)

func (m tlsMode) String() string {
	switch m {
	case tlsNone:
		return "none"
	case tlsStartTLS:
		return "starttls"
	case tlsImplicit:
		return "implicit"
	}
	return "unknown"
}

// endpoint is SMTP_URL, parsed.
type endpoint struct {
	host     string
	port     int
	tls      tlsMode
	loopback bool
	user     string
	pass     string
}

// validate returns one error per invalid field, joined, or nil. It never quotes the password.
func (c Config) validate() error {
	var errs []error
	if _, err := parseURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.From == "" {
		errs = append(errs, errors.New("MAIL_FROM: required"))
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("MAIL_FROM: %q is not an email address: %w", c.From, err))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("notify timeout: must be positive, got %s", c.Timeout))
	}
	if c.HeloName == "" || strings.ContainsAny(c.HeloName, " \t\r\n") {
		errs = append(errs, fmt.Errorf("notify HELO name: %q is not a host name", c.HeloName))
	}
	return errors.Join(errs...)
}

// parseURL parses SMTP_URL. Its errors name the problem, never the password: url.Parse's own
// errors quote the whole URL, so only their cause is kept.
func parseURL(raw string) (endpoint, error) {
	var ep endpoint
	if raw == "" {
		return ep, errors.New("SMTP_URL: required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return ep, fmt.Errorf("SMTP_URL: not a URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		ep.port, ep.tls = defaultSMTPPort, tlsStartTLS
	case "smtps":
		ep.port, ep.tls = defaultSMTPSPort, tlsImplicit
	case "":
		return ep, errors.New("SMTP_URL: missing scheme (smtp:// or smtps://)")
	default:
		return ep, fmt.Errorf("SMTP_URL: scheme %q not supported (want smtp or smtps)", u.Scheme)
	}

	if u.Opaque != "" {
		return ep, errors.New("SMTP_URL: want smtp://host:port or smtps://host:port")
	}
	ep.host = u.Hostname()
	if ep.host == "" {
		return ep, errors.New("SMTP_URL: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return ep, fmt.Errorf("SMTP_URL: invalid port %q", p)
		}
		ep.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return ep, errors.New("SMTP_URL: missing port after ':'")
	}
	if u.Path != "" && u.Path != "/" {
		return ep, fmt.Errorf("SMTP_URL: unexpected path %q", u.Path)
	}
	ep.loopback = isLoopback(ep.host)
	if ep.tls == tlsStartTLS && ep.loopback {
		ep.tls = tlsNone
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return ep, fmt.Errorf("SMTP_URL: query: %w", err)
	}
	for key, vals := range q {
		if key != "tls" {
			return ep, fmt.Errorf("SMTP_URL: unknown option %q (only tls=none|starttls)", key)
		}
		if len(vals) != 1 {
			return ep, errors.New("SMTP_URL: option tls given more than once")
		}
		if ep.tls == tlsImplicit {
			return ep, errors.New("SMTP_URL: option tls is for smtp://, smtps:// always uses TLS")
		}
		switch strings.ToLower(vals[0]) {
		case "none":
			ep.tls = tlsNone
		case "starttls":
			ep.tls = tlsStartTLS
		default:
			return ep, fmt.Errorf("SMTP_URL: tls=%q not supported (want none or starttls)", vals[0])
		}
	}

	if u.User != nil {
		ep.user = u.User.Username()
		ep.pass, _ = u.User.Password()
		if ep.user == "" {
			return ep, errors.New("SMTP_URL: password without user name")
		}
		if ep.pass == "" {
			return ep, errors.New("SMTP_URL: user name without password")
		}
		if ep.tls == tlsNone && !ep.loopback {
			return ep, fmt.Errorf("SMTP_URL: refusing to send credentials in clear to %s (tls=none to a non-loopback host)", ep.host)
		}
	}
	return ep, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// redactedURL is c.URL with the password replaced by "xxxxx", for logs and errors. An
// unparseable URL yields a fixed placeholder, since it might hold a password anywhere.
func (c Config) redactedURL() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "<invalid SMTP_URL>"
	}
	return u.Redacted()
}
