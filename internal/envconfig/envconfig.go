// Package envconfig owns the operator's configuration contract of
// DESIGN.md: the environment variables each command reads, their defaults,
// and the *_FILE variants of secrets. Commands call Load* once in main and
// hand the resulting structs down; nothing else reads the environment.
package envconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
)

// secretVars may also be given as <NAME>_FILE, the path of a file holding the value.
var secretVars = []string{
	"STRIPE_WEBHOOK_SECRET", "PUREVPN_API_PASSWORD", "VPNKI_API_KEY",
	"SMTP_URL", "CREDENTIALS_KEY", "STRIPE_API_KEY",
	"CONSOLE_USERS", "CONSOLE_SESSION_KEY", "PORTAL_KEY",
}

// Common is read by every command.
type Common struct {
	// NATSURL: NATS server(s), comma-separated. Default nats://127.0.0.1:4222.
	NATSURL string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// Replicas of streams and buckets: 1, or 3 in a cluster. Default 1.
	Replicas int `env:"NATS_REPLICAS" envDefault:"1"`
	// LogLevel: debug, info, warn or error. Default info.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Providers are the provider settings, the worker's and the ctl's.
type Providers struct {
	// PureVPN reseller API; the password is plain text, the wire carries its md5.
	PureVPNURL      string `env:"PUREVPN_API_URL"`
	PureVPNUser     string `env:"PUREVPN_API_USER"`
	PureVPNPassword string `env:"PUREVPN_API_PASSWORD"`
	// PureVPNSpellings overrides the document's method and parameter names,
	// e.g. "delete_account=delete,username=user". Default: the document's.
	PureVPNSpellings map[string]string `env:"PUREVPN_SPELLINGS" envKeyValSeparator:"="`
	// ProviderTimeout bounds one HTTP attempt to a provider; it must be
	// positive. Default 15s.
	ProviderTimeout time.Duration `env:"PROVIDER_TIMEOUT" envDefault:"15s"`
	// ProviderRetryFor bounds all attempts of one provider call; 0 makes
	// one attempt. Default 30s.
	ProviderRetryFor time.Duration `env:"PROVIDER_RETRY_FOR" envDefault:"30s"`
	// VPNKI API.
	VPNKIURL string `env:"VPNKI_API_URL"`
	VPNKIKey string `env:"VPNKI_API_KEY"`
}

// ClientConfigs returns the provider clients' configurations; a provider
// that is not configured has a zero URL.
func (p Providers) ClientConfigs() (purevpn.Config, vpnki.Config, error) {
	var pc purevpn.Config
	if p.PureVPNURL != "" {
		names, err := purevpn.NamesFromOverrides(p.PureVPNSpellings)
		if err != nil {
			return pc, vpnki.Config{}, fmt.Errorf("PUREVPN_SPELLINGS: %w", err)
		}
		pc = purevpn.Config{URL: p.PureVPNURL, User: p.PureVPNUser, Password: p.PureVPNPassword,
			Names: names, Timeout: p.ProviderTimeout, RetryFor: new(p.ProviderRetryFor)}
	}
	var vc vpnki.Config
	if p.VPNKIURL != "" {
		vc = vpnki.Config{URL: p.VPNKIURL, Key: p.VPNKIKey, Timeout: p.ProviderTimeout, RetryFor: new(p.ProviderRetryFor)}
	}
	return pc, vc, nil
}

// Webhook is cmd/webhook's configuration.
type Webhook struct {
	Common
	// StripeWebhookSecret: one or more whsec_… secrets, comma-separated (rotation). Required.
	StripeWebhookSecret string `env:"STRIPE_WEBHOOK_SECRET,required,notEmpty"`
	// Addr to listen on. Default :8080.
	Addr string `env:"WEBHOOK_ADDR" envDefault:":8080"`
	// MetricsAddr: /metrics, /healthz, kept off the public webhook port. Default 127.0.0.1:9091 (not public).
	MetricsAddr string `env:"WEBHOOK_METRICS_ADDR" envDefault:"127.0.0.1:9091"`
	// Checkout: the checkout links, off unless configured.
	Checkout
}

// Worker is cmd/worker's configuration.
type Worker struct {
	Common
	// PlansFile: the YAML plan catalog. Required.
	PlansFile string `env:"PLANS_FILE,required,notEmpty"`
	Providers
	// SMTPURL: smtp://[user:pass@]host:port (STARTTLS unless loopback or ?tls=none) or smtps://. Required.
	SMTPURL string `env:"SMTP_URL,required,notEmpty"`
	// MailFrom: the sender address. Required.
	MailFrom string `env:"MAIL_FROM,required,notEmpty"`
	// CredentialsKey: base64 of 32 bytes; encrypts stored credentials. Required.
	CredentialsKey string `env:"CREDENTIALS_KEY,required,notEmpty"`
	// GracePeriod: unpaid time before suspension. Default 72h.
	GracePeriod time.Duration `env:"GRACE_PERIOD" envDefault:"72h"`
	// DeleteAfter: retention after cancellation or refund. Default 720h (30 days).
	DeleteAfter time.Duration `env:"DELETE_AFTER" envDefault:"720h"`
	// StripeAPIKey: read line items of checkouts without metadata "plan". Optional.
	StripeAPIKey string `env:"STRIPE_API_KEY"`
	// StripeAPIURL overrides Stripe's API address (tests, proxies). Default: Stripe's.
	StripeAPIURL string `env:"STRIPE_API_URL"`
	// StripeMode: the Stripe mode the worker serves, live or test; unset or
	// auto: STRIPE_API_KEY's mode, else the mode pinned by the first event
	// (see Livemode). Default auto.
	StripeMode string `env:"STRIPE_MODE"`
	// MetricsAddr: /metrics, /healthz, /readyz. Default 127.0.0.1:9090 (not public).
	MetricsAddr string `env:"METRICS_ADDR" envDefault:"127.0.0.1:9090"`
	// Concurrency: messages handled at once per process. Default 4.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"4"`
	// Mail: the emails' branding (templates, brand, support, logo).
	Mail
	// Portal: the customer page's link in every email. Optional.
	Portal
}

// Ctl is cmd/vpnbillctl's configuration. Only NATS is needed by most
// commands; the provider, SMTP, key and plans settings (the worker's
// variables, same names) are needed by `resend` and `review resolve`, the
// providers' by `reconcile`, VPNKI's by `usage`, the Stripe API key by
// `stripe-sync` and `stripe setup`, which check for them when they run,
// STRIPE_MODE with the Stripe API key by `mode` (Livemode); `doctor` reads
// whichever are set, the webhook's secret too.
type Ctl struct {
	Common
	// PlansFile: the YAML plan catalog. Optional.
	PlansFile string `env:"PLANS_FILE"`
	Providers        // optional for the ctl
	// SMTPURL, MailFrom: as the worker's. Optional.
	SMTPURL  string `env:"SMTP_URL"`
	MailFrom string `env:"MAIL_FROM"`
	// CredentialsKey: base64 of 32 bytes, the worker's. Optional.
	CredentialsKey string `env:"CREDENTIALS_KEY"`
	// GracePeriod, DeleteAfter: as the worker's. Defaults 72h, 720h.
	GracePeriod time.Duration `env:"GRACE_PERIOD" envDefault:"72h"`
	DeleteAfter time.Duration `env:"DELETE_AFTER" envDefault:"720h"`
	// StripeAPIKey: reads Stripe's events for `stripe-sync` (a restricted key
	// with read access to Events is enough). Optional.
	StripeAPIKey string `env:"STRIPE_API_KEY"`
	// StripeAPIURL overrides Stripe's API address (tests, proxies). Default: Stripe's.
	StripeAPIURL string `env:"STRIPE_API_URL"`
	// StripeMode: as the worker's; read by `mode` and `doctor`. Default auto.
	StripeMode string `env:"STRIPE_MODE"`
	// StripeWebhookSecret: the webhook's, whose format `doctor` checks
	// (never prints). Optional.
	StripeWebhookSecret string `env:"STRIPE_WEBHOOK_SECRET"`
	// Mail: as the worker's, for the emails `resend` sends.
	Mail
	// Portal: as the worker's, for the link in those emails (and the
	// console's customer page). Optional.
	Portal
}

// LoadCtl reads cmd/vpnbillctl's configuration from the environment.
func LoadCtl() (Ctl, error) { return LoadCtlFrom(os.Environ()) }

// LoadCtlFrom reads cmd/vpnbillctl's configuration from environ, a list of
// NAME=value pairs as os.Environ returns (tests pass their own).
func LoadCtlFrom(environ []string) (Ctl, error) {
	vars, err := environmentOf(environ)
	if err != nil {
		return Ctl{}, err
	}
	c, err := env.ParseAsWithOptions[Ctl](env.Options{Environment: vars})
	if err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	var errs []error
	if (c.PureVPNURL != "") && (c.PureVPNUser == "" || c.PureVPNPassword == "") {
		errs = append(errs, errors.New("PUREVPN_API_URL is set: PUREVPN_API_USER and PUREVPN_API_PASSWORD are required"))
	}
	if (c.VPNKIURL != "") != (c.VPNKIKey != "") {
		errs = append(errs, errors.New("VPNKI_API_URL and VPNKI_API_KEY go together"))
	}
	errs = append(errs, checkDurations(c.Providers, c.GracePeriod, c.DeleteAfter), c.checkPortal())
	return c, errors.Join(errs...)
}

// CanProvision reports what `resend` and `review resolve` lack: nil if the
// plans, at least one provider, SMTP and the credentials key are set.
func (c Ctl) CanProvision() error {
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"PLANS_FILE", c.PlansFile}, {"SMTP_URL", c.SMTPURL}, {"MAIL_FROM", c.MailFrom}, {"CREDENTIALS_KEY", c.CredentialsKey},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if c.PureVPNURL == "" && c.VPNKIURL == "" {
		missing = append(missing, "PUREVPN_API_URL or VPNKI_API_URL")
	}
	if len(missing) > 0 {
		return fmt.Errorf("configuration: this command needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// Console is cmd/console's configuration: vpnbillctl's (the console runs
// the same operations, with the same variables) and its own.
type Console struct {
	Ctl
	// AdminAddr: the console's listen address. Default 127.0.0.1:8090
	// (loopback); it must not be the webhook's port.
	AdminAddr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:8090"`
	// WebhookAddr: the webhook's, read only to refuse its port. Default :8080.
	WebhookAddr string `env:"WEBHOOK_ADDR" envDefault:":8080"`
	// Users: who may sign in, name:role:bcrypt-hash entries separated by
	// commas or newlines (CONSOLE_USERS_FILE: one a line). Optional if
	// ProxyUserHeader is set.
	Users string `env:"CONSOLE_USERS"`
	// SessionKey: base64 of 32 bytes that signs the session cookies. Required.
	SessionKey string `env:"CONSOLE_SESSION_KEY"`
	// ProxyUserHeader: the request header an authenticating proxy sets to
	// the signed-in user; trusted only when set. Default: not trusted.
	ProxyUserHeader string `env:"CONSOLE_PROXY_USER_HEADER"`
	// ProxyRole: the role of the proxy's users: operator or finance.
	// Required with ProxyUserHeader.
	ProxyRole string `env:"CONSOLE_PROXY_ROLE"`
	// SecureCookie: mark the session cookie Secure even on plain HTTP
	// (behind a proxy that terminates TLS). Default false: Secure only on TLS.
	SecureCookie bool `env:"CONSOLE_SECURE_COOKIE" envDefault:"false"`
	// TLSCert, TLSKey: serve HTTPS with this certificate and key (files).
	// Default: plain HTTP.
	TLSCert string `env:"CONSOLE_TLS_CERT_FILE"`
	TLSKey  string `env:"CONSOLE_TLS_KEY_FILE"`
	// PortalAddr: where to serve the customer's own page (internal/portal),
	// a second, public-facing listener that carries nothing of the
	// console. It needs PORTAL_URL and PORTAL_KEY, and the variables of
	// `resend` (CanProvision). Default "": no customer page.
	PortalAddr string `env:"PORTAL_ADDR"`
	// PortalClientIPHeader: the request header a reverse proxy in front of
	// the customer page puts the client's address in (X-Forwarded-For: its
	// last entry; X-Real-IP), for the page's rate limits; trusted only
	// when set. Default: the connection's address.
	PortalClientIPHeader string `env:"PORTAL_CLIENT_IP_HEADER"`
}

// LoadConsoleFrom reads cmd/console's configuration from environ (NAME=value
// pairs, as os.Environ returns).
func LoadConsoleFrom(environ []string) (Console, error) {
	ctl, err := LoadCtlFrom(environ)
	if err != nil {
		return Console{}, err
	}
	vars, err := environmentOf(environ)
	if err != nil {
		return Console{}, err
	}
	c, err := env.ParseAsWithOptions[Console](env.Options{Environment: vars})
	if err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	c.Ctl = ctl
	var errs []error
	if c.SessionKey == "" {
		errs = append(errs, errors.New("CONSOLE_SESSION_KEY is required (openssl rand -base64 32)"))
	}
	if c.Users == "" && c.ProxyUserHeader == "" {
		errs = append(errs, errors.New("CONSOLE_USERS (or CONSOLE_USERS_FILE) or CONSOLE_PROXY_USER_HEADER is required: nobody could sign in"))
	}
	if (c.ProxyUserHeader == "") != (c.ProxyRole == "") {
		errs = append(errs, errors.New("CONSOLE_PROXY_USER_HEADER and CONSOLE_PROXY_ROLE go together"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("CONSOLE_TLS_CERT_FILE and CONSOLE_TLS_KEY_FILE go together"))
	}
	if c.PortalAddr != "" && !c.PortalEnabled() {
		errs = append(errs, errors.New("PORTAL_ADDR is set: PORTAL_URL and PORTAL_KEY are required"))
	}
	return c, errors.Join(errs...)
}

// LoadWebhook reads cmd/webhook's configuration from the environment.
func LoadWebhook() (Webhook, error) {
	w, err := load[Webhook]()
	if err != nil {
		return w, err
	}
	return w, w.check()
}

// LoadWorker reads cmd/worker's configuration from the environment.
func LoadWorker() (Worker, error) {
	w, err := load[Worker]()
	if err != nil {
		return w, err
	}
	var errs []error
	if (w.PureVPNURL != "") && (w.PureVPNUser == "" || w.PureVPNPassword == "") {
		errs = append(errs, errors.New("PUREVPN_API_URL is set: PUREVPN_API_USER and PUREVPN_API_PASSWORD are required"))
	}
	if (w.VPNKIURL != "") != (w.VPNKIKey != "") {
		errs = append(errs, errors.New("VPNKI_API_URL and VPNKI_API_KEY go together"))
	}
	if w.PureVPNURL == "" && w.VPNKIURL == "" {
		errs = append(errs, errors.New("no provider configured: set PUREVPN_API_URL or VPNKI_API_URL"))
	}
	errs = append(errs, checkDurations(w.Providers, w.GracePeriod, w.DeleteAfter), w.checkPortal())
	if _, _, err := stripeLivemode(w.StripeMode, w.StripeAPIKey); err != nil {
		errs = append(errs, err)
	}
	return w, errors.Join(errs...)
}

// Livemode is the Stripe mode the worker serves: live (true) or test
// (false), and whether the configuration decides it. The rule:
//
//   - STRIPE_MODE=live or STRIPE_MODE=test: that mode.
//   - STRIPE_MODE unset, empty or auto: if STRIPE_API_KEY is set, its mode
//     (sk_live_ and rk_live_: live; sk_test_ and rk_test_: test);
//     otherwise decided is false: the deployment serves the mode of the
//     first event it processes, pinned for good in bucket ACCOUNTS (the
//     first worker to pin it wins; provisioning.Store.PinMode).
//
// Events of the other mode are acknowledged and audited as skipped, never
// applied. LoadWorker refuses any other STRIPE_MODE, STRIPE_MODE=auto with a
// STRIPE_API_KEY of neither mode, and a STRIPE_MODE that disagrees with
// STRIPE_API_KEY's mode.
func (w Worker) Livemode() (live, decided bool) {
	live, decided, _ = stripeLivemode(w.StripeMode, w.StripeAPIKey)
	return live, decided
}

// Livemode is the Stripe mode STRIPE_MODE and STRIPE_API_KEY in the ctl's
// environment decide, by the worker's rule (Worker.Livemode), or the error
// the worker would stop with.
func (c Ctl) Livemode() (live, decided bool, err error) {
	return stripeLivemode(c.StripeMode, c.StripeAPIKey)
}

// stripeLivemode applies STRIPE_MODE's rule (Worker.Livemode) to the values
// of STRIPE_MODE and STRIPE_API_KEY.
func stripeLivemode(mode, apiKey string) (live, decided bool, err error) {
	keyLive, keyKnown := apiKeyLivemode(apiKey)
	switch mode {
	case "", "auto":
		switch {
		case apiKey == "":
			return false, false, nil
		case !keyKnown:
			return false, false, errors.New("STRIPE_API_KEY starts with none of sk_live_, rk_live_, sk_test_, rk_test_: " +
				"its mode is unknown, so set STRIPE_MODE to live or test")
		}
		return keyLive, true, nil
	case "live", "test":
		live = mode == "live"
		if keyKnown && keyLive != live {
			return false, false, fmt.Errorf("STRIPE_MODE is %s but STRIPE_API_KEY is a %s-mode key: use a key of the mode served, or the other STRIPE_MODE",
				mode, modeName(keyLive))
		}
		return live, true, nil
	default:
		return false, false, fmt.Errorf("STRIPE_MODE must be live, test or auto (or unset), not %q", mode)
	}
}

// apiKeyLivemode is the mode of a Stripe secret or restricted key, if its
// prefix says.
func apiKeyLivemode(key string) (live, known bool) {
	switch {
	case strings.HasPrefix(key, "sk_live_"), strings.HasPrefix(key, "rk_live_"):
		return true, true
	case strings.HasPrefix(key, "sk_test_"), strings.HasPrefix(key, "rk_test_"):
		return false, true
	}
	return false, false
}

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// checkDurations applies the one rule of every duration setting: an unset
// (or empty) variable means its default, and a value that is set means
// exactly that value, zero included, where zero is a valid choice
// (GRACE_PERIOD=0s: suspend at once; DELETE_AFTER=0s: delete at once;
// PROVIDER_RETRY_FOR=0s: one attempt). Where zero or less means nothing
// (PROVIDER_TIMEOUT) it is an error, never silently the default.
func checkDurations(p Providers, grace, deleteAfter time.Duration) error {
	var errs []error
	if p.ProviderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PROVIDER_TIMEOUT must be positive, not %s", p.ProviderTimeout))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PROVIDER_RETRY_FOR", p.ProviderRetryFor}, {"GRACE_PERIOD", grace}, {"DELETE_AFTER", deleteAfter}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, not %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

func load[T any]() (T, error) {
	environ, err := environment()
	if err != nil {
		var zero T
		return zero, err
	}
	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: environ})
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// environment is the process environment with each secret's *_FILE read in.
func environment() (map[string]string, error) { return environmentOf(os.Environ()) }

// environmentOf is list (NAME=value pairs) with each secret's *_FILE read in.
func environmentOf(list []string) (map[string]string, error) {
	environ := map[string]string{}
	for _, kv := range list {
		if k, v, ok := strings.Cut(kv, "="); ok {
			environ[k] = v
		}
	}
	for _, name := range secretVars {
		path := environ[name+"_FILE"]
		if path == "" {
			continue
		}
		if environ[name] != "" {
			return nil, fmt.Errorf("configuration: both %s and %s_FILE are set", name, name)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configuration: %s_FILE: %w", name, err)
		}
		environ[name] = strings.TrimSpace(string(data))
	}
	return environ, nil
}

// Logger returns a JSON logger at c's level, writing to stderr.
func (c Common) Logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	return zc.Build()
}
