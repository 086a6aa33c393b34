package notify

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want endpoint
	}{
		{"smtp defaults to 587 with mandatory STARTTLS", "smtp://mail.example.com",
			endpoint{host: "mail.example.com", port: 587, tls: tlsStartTLS}},
		{"smtp port 25 on a remote host still requires STARTTLS", "smtp://mail.example.com:25",
			endpoint{host: "mail.example.com", port: 25, tls: tlsStartTLS}},
		{"scheme is case-insensitive", "SMTP://mail.example.com:2525",
			endpoint{host: "mail.example.com", port: 2525, tls: tlsStartTLS}},
		{"smtps defaults to 465 with implicit TLS", "smtps://mail.example.com",
			endpoint{host: "mail.example.com", port: 465, tls: tlsImplicit}},
		{"smtps with port", "smtps://mail.example.com:1465",
			endpoint{host: "mail.example.com", port: 1465, tls: tlsImplicit}},
		{"smtps to loopback keeps TLS", "smtps://127.0.0.1:1465",
			endpoint{host: "127.0.0.1", port: 1465, tls: tlsImplicit, loopback: true}},
		{"loopback IPv4 needs no TLS", "smtp://127.0.0.1:1025",
			endpoint{host: "127.0.0.1", port: 1025, tls: tlsNone, loopback: true}},
		{"all of 127.0.0.0/8 is loopback", "smtp://127.1.2.3:25",
			endpoint{host: "127.1.2.3", port: 25, tls: tlsNone, loopback: true}},
		{"loopback IPv6 needs no TLS", "smtp://[::1]:25",
			endpoint{host: "::1", port: 25, tls: tlsNone, loopback: true}},
		{"localhost needs no TLS", "smtp://localhost:25",
			endpoint{host: "localhost", port: 25, tls: tlsNone, loopback: true}},
		{"a name that only starts with localhost is remote", "smtp://localhost.example.com:25",
			endpoint{host: "localhost.example.com", port: 25, tls: tlsStartTLS}},
		{"tls=none switches TLS off for a remote host", "smtp://relay.internal:25?tls=none",
			endpoint{host: "relay.internal", port: 25, tls: tlsNone}},
		{"tls=starttls forces STARTTLS on loopback", "smtp://127.0.0.1:25?tls=starttls",
			endpoint{host: "127.0.0.1", port: 25, tls: tlsStartTLS, loopback: true}},
		{"credentials over STARTTLS", "smtp://apikey:s%40cret%2F1@smtp.example.com:587",
			endpoint{host: "smtp.example.com", port: 587, tls: tlsStartTLS, user: "apikey", pass: "s@cret/1"}},
		{"credentials over smtps", "smtps://user:pw@smtp.example.com",
			endpoint{host: "smtp.example.com", port: 465, tls: tlsImplicit, user: "user", pass: "pw"}},
		{"credentials in clear to loopback", "smtp://user:pw@localhost:25",
			endpoint{host: "localhost", port: 25, tls: tlsNone, loopback: true, user: "user", pass: "pw"}},
		{"trailing slash is fine", "smtp://mail.example.com:587/",
			endpoint{host: "mail.example.com", port: 587, tls: tlsStartTLS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseURL(tt.url)
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.url, err)
			}
			if got != tt.want {
				t.Errorf("parseURL(%q) =\n %+v, want\n %+v", tt.url, got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, wantErr string
	}{
		{"empty", "", "SMTP_URL: required"},
		{"no scheme", "mail.example.com:587", "scheme"},
		{"http scheme", "http://mail.example.com", `scheme "http" not supported`},
		{"missing host", "smtp://:587", "missing host"},
		{"missing host, no port", "smtp://", "missing host"},
		{"missing port after colon", "smtp://mail.example.com:", "missing port"},
		{"port not a number", "smtp://mail.example.com:abc", "not a URL"},
		{"port out of range", "smtp://mail.example.com:70000", "invalid port"},
		{"port zero", "smtp://mail.example.com:0", "invalid port"},
		{"path", "smtp://mail.example.com:587/relay", "unexpected path"},
		{"unknown option", "smtp://mail.example.com?auth=plain", `unknown option "auth"`},
		{"bad tls value", "smtp://mail.example.com?tls=maybe", `tls="maybe" not supported`},
		{"tls twice", "smtp://mail.example.com?tls=none&tls=none", "more than once"},
		{"tls option on smtps", "smtps://mail.example.com?tls=none", "smtps:// always uses TLS"},
		{"password without user", "smtp://:pw@mail.example.com", "password without user"},
		{"user without password", "smtp://user@mail.example.com", "user name without password"},
		{"credentials in clear to a remote host", "smtp://user:pw@mail.example.com:25?tls=none", "refusing to send credentials in clear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseURL(tt.url)
			if err == nil {
				t.Fatalf("parseURL(%q) = nil error, want %q", tt.url, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseURL(%q) = %v, want it to mention %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestParseURLErrorsHidePassword(t *testing.T) {
	t.Parallel()
	const secret = "Zq9-hunter2"
	for _, raw := range []string{
		"smtp://user:" + secret + "@mail.example.com:abc",
		"smtp://user:" + secret + "@mail.example.com:70000",
		"smtp://user:" + secret + "@mail.example.com/x",
		"smtp://user:" + secret + "@mail.example.com?tls=none",
		"ftp://user:" + secret + "@mail.example.com",
		"smtp://user:" + secret + "@mail.example.com:25%zz",
	} {
		_, err := parseURL(raw)
		if err == nil {
			t.Errorf("parseURL(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
		cfg := Config{URL: raw, From: "billing@example.com"}.WithDefaults()
		if err := cfg.validate(); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("validate(%q) = %v", raw, err)
		}
		if got := cfg.redactedURL(); strings.Contains(got, secret) {
			t.Errorf("redactedURL = %q", got)
		}
	}
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	got := Config{URL: "smtp://127.0.0.1:25", From: "a@example.com"}.WithDefaults()
	if got.Timeout != 30*time.Second || got.HeloName != "localhost" {
		t.Errorf("defaults: Timeout %s, HeloName %q", got.Timeout, got.HeloName)
	}
	kept := Config{Timeout: time.Second, HeloName: "vpnbill.example.com"}.WithDefaults()
	if kept.Timeout != time.Second || kept.HeloName != "vpnbill.example.com" {
		t.Errorf("WithDefaults overrode set fields: %+v", kept)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{URL: "smtp://127.0.0.1:25", From: "Example VPN <billing@example.com>"}.WithDefaults()
	if err := valid.validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}

	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string
	}{
		{"bad scheme", func(c *Config) { c.URL = "imap://mail.example.com" }, []string{"SMTP_URL", "imap"}},
		{"missing From", func(c *Config) { c.From = "" }, []string{"MAIL_FROM: required"}},
		{"bad From", func(c *Config) { c.From = "billing at example.com" }, []string{"MAIL_FROM", "not an email address"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout"}},
		{"HELO with space", func(c *Config) { c.HeloName = "my host" }, []string{"HELO"}},
		{"every field at once", func(c *Config) {
			c.URL, c.From, c.Timeout = "smtp://", "nope", -1
		}, []string{"SMTP_URL: missing host", "MAIL_FROM", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.mutate(&cfg)
			err := cfg.validate()
			if err == nil {
				t.Fatal("validate accepted an invalid config")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestRedactedURL(t *testing.T) {
	t.Parallel()
	got := Config{URL: "smtps://apikey:s3cret@smtp.example.com:465"}.redactedURL()
	if got != "smtps://apikey:xxxxx@smtp.example.com:465" {
		t.Errorf("redactedURL = %q", got)
	}
	if got := (Config{URL: "smtp://127.0.0.1:25"}).redactedURL(); got != "smtp://127.0.0.1:25" {
		t.Errorf("redactedURL without credentials = %q", got)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{URL: "smtp://mail.example.com"}, nil); err == nil || !strings.Contains(err.Error(), "MAIL_FROM") {
		t.Errorf("New without From = %v", err)
	}
}
