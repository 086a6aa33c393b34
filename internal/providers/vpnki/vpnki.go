// Package vpnki owns vpnbill's client of the VPNKI API (vpnki.com): listing
// tunnels and active tunnels, reading connection statistics, and creating and
// deleting tunnels. Every call goes through the one providers.Exchange, and
// every failure is a *providers.Error of the class the worker acts on.
//
// # The wire
//
// Each method is one HTTP GET of
//
//	<URL>?option=com_api&format=raw&app=webservices&resource=<r>&key=<key>[&…]
//
// where URL is the endpoint up to and including index.php (or index.php/en/;
// the API document shows both). Answers are JSON. The API reports its errors
// in the body, mostly with HTTP 200: {"error":"…"}, {"add error":"…"},
// {"message":"…"}; the client reads them and classes them:
//
//   - a refused key, or any answer about authorisation → Unauthorized;
//   - tunnel management (add_tunnel, del_tunnel) without the account's
//     Priority status → Unauthorized, with a reason saying the Priority status
//     is missing (VPNKI grants it on request);
//   - an unknown tunnel (del_tunnel, stat_tunnel) → Rejected, and also
//     errors.Is(err, ErrNoSuchTunnel);
//   - any other refusal → Rejected, with the provider's words;
//   - a 2xx answer that is not JSON or not of a shape we can read → Uncertain
//     for add_tunnel (a tunnel may have been created), Unavailable for the
//     others (retry later);
//   - a 3xx, 404 or 405 (the URL is not the API endpoint) → Unauthorized:
//     systemic, fix the configuration; the exchange's other classes stand
//     (5xx Unavailable, 429 Throttled, transport failures NotSent/Uncertain).
//
// Every reason carries at most a short scrubbed excerpt of the answer.
//
// # Idempotency
//
// tunnels, active, stat_user, stat_tunnel and del_tunnel are idempotent: the
// exchange retries them after a timeout, a reset or a 5xx. A del_tunnel whose
// first attempt deleted the tunnel but lost the answer is answered "not found"
// on its retry, so a caller must treat errors.Is(err, ErrNoSuchTunnel) from
// DelTunnel as "the tunnel is gone", which is what it wanted. add_tunnel is
// not idempotent, though it is a GET: it is retried only when it surely did
// not reach VPNKI (NotSent) or VPNKI asked us to wait (429), and it goes over a
// fresh connection so that Go's transport never re-sends it. After an
// Uncertain AddTunnel, Tunnels lists what exists, so a new tunnel can be
// adopted (its password cannot be read back: delete it and create again).
//
// # Secrets
//
// The API key travels in the URL query. It is given to the exchange as a
// secret and scrubbed, raw and URL-encoded, from every error and log line,
// and transport errors lose their URL query altogether. Tunnel passwords
// returned by add_tunnel never appear in an error or a log line either;
// NewTunnel's String and MarshalLogObject leave the password out.
//
// # Our reading of what is not documented
//
// The API document shows the requests only. The shapes of the answers of
// tunnels, active, stat_user and stat_tunnel are our reading, and the parsers
// are liberal: an array, an object wrapping an array under a key such as
// "tunnels", "data" or "result", or an object keyed by tunnel name; strings
// or numbers for any field; several names for each field (tunnel/name/login,
// ip, since/start, bytes_in/in/rx…); times in the API's format
// YYYY-MM-DD HH-MM-SS, in MySQL's YYYY-MM-DD HH:MM:SS, RFC 3339 or Unix
// seconds (a time we cannot read is left zero). The simulator in vpnkisim
// produces one documented shape. We send and read times as UTC; VPNKI does
// not say which zone it uses.
package vpnki

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/providers"
)

// The API's resources.
const (
	ResourceTunnels    = "tunnels"
	ResourceActive     = "active"
	ResourceStatUser   = "stat_user"
	ResourceStatTunnel = "stat_tunnel"
	ResourceAddTunnel  = "add_tunnel"
	ResourceDelTunnel  = "del_tunnel"
)

// Methods returns what the client reports to Config.Observe as the method,
// the API's resources: the values a metric's "method" label can take.
func Methods() []string {
	return []string{ResourceTunnels, ResourceActive, ResourceStatUser, ResourceStatTunnel, ResourceAddTunnel, ResourceDelTunnel}
}

// ErrNoSuchTunnel is matched by the error of DelTunnel or StatTunnel when
// VPNKI does not know the tunnel. The error is also of class Rejected. For
// DelTunnel it means the tunnel is gone: a retried delete may see it.
var ErrNoSuchTunnel = errors.New("vpnki: no such tunnel")

// Config configures a Client.
type Config struct {
	// URL is the API endpoint up to and including index.php, e.g.
	// https://vpnki.com/index.php or https://vpnki.com/index.php/en/ (the
	// query is added by the client). Required; http or https, no query.
	URL string
	// Key is the API key shown at the bottom of the VPNKI account page.
	// Required. It is sent in the URL query and never logged.
	Key string
	// Timeout bounds one attempt. Default 15s.
	Timeout time.Duration
	// RetryFor bounds all attempts of one call, waits included; zero makes
	// one attempt, with no retry. Default (nil) 30s.
	RetryFor *time.Duration
	// Transport is the base HTTP transport. Default: a clone of
	// http.DefaultTransport.
	Transport *http.Transport
	// Logger receives debug lines, never secrets. Default: none.
	Logger *zap.Logger
	// Observe, if set, is called once per method call with its outcome (nil,
	// an error of a providers class, or the context's error) and duration, for
	// metrics. It sees refusals found in a 2xx body too.
	Observe func(method string, err error, took time.Duration)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	if c.RetryFor == nil {
		c.RetryFor = new(30 * time.Second)
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// validate returns one error per invalid field. It never shows the key.
func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("vpnki: URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, errors.New("vpnki: URL is not a URL"))
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("vpnki: URL scheme must be http or https, not %q", u.Scheme))
		case u.Host == "":
			errs = append(errs, errors.New("vpnki: URL has no host"))
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			errs = append(errs, errors.New("vpnki: URL must end at the endpoint (…/index.php or …/index.php/en/), without query or fragment"))
		case u.Path == "" || u.Path == "/":
			errs = append(errs, errors.New("vpnki: URL must name the endpoint, e.g. https://vpnki.com/index.php"))
		}
	}
	if c.Key == "" {
		errs = append(errs, errors.New("vpnki: Key is required"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("vpnki: Timeout must not be negative, got %s", c.Timeout))
	}
	if c.RetryFor != nil && *c.RetryFor < 0 {
		errs = append(errs, fmt.Errorf("vpnki: RetryFor must not be negative, got %s", *c.RetryFor))
	}
	return errors.Join(errs...)
}

// Client calls the VPNKI API. It is safe for concurrent use.
type Client struct {
	base      url.URL
	key       string
	x         *providers.Exchange
	transport *http.Transport
	log       *zap.Logger
	observe   func(method string, err error, took time.Duration)
}

// New returns a client for cfg, or the configuration's errors.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.URL) // validated
	return &Client{
		base:      *base,
		key:       cfg.Key,
		transport: cfg.Transport,
		log:       cfg.Logger,
		observe:   cfg.Observe,
		x: providers.NewExchange(providers.ExchangeConfig{
			Provider:  providers.VPNKI,
			Timeout:   cfg.Timeout,
			RetryFor:  cfg.RetryFor,
			Secrets:   []string{cfg.Key},
			Transport: cfg.Transport,
			Logger:    cfg.Logger,
			// Observe is called here, once the body is read: the exchange
			// would report a 200 that says "Wrong key" as a success.
		}),
	}, nil
}

// CloseIdleConnections closes the idle keep-alive connections, at shutdown.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Tunnel is a tunnel of the account, as listed by Tunnels.
type Tunnel struct {
	Name    string    // the tunnel name, e.g. user356: what DelTunnel and StatTunnel take
	Login   string    // the login, if listed (on VPNKI it is the tunnel name)
	Comment string    // the comment, if listed
	Address string    // vpnki_address, the server to connect to, if listed
	Created time.Time // zero if not listed
}

// ActiveTunnel is a tunnel connected now.
type ActiveTunnel struct {
	Tunnel string
	IP     string    // the client's address, if listed
	Since  time.Time // zero if not listed
}

// Session is one connection of a tunnel, from the statistics.
type Session struct {
	Tunnel   string
	Start    time.Time // zero if not listed
	End      time.Time // zero if not listed or not ended
	BytesIn  int64
	BytesOut int64
}

// NewTunnel is a tunnel add_tunnel created, with its credentials.
type NewTunnel struct {
	Tunnel   string // the tunnel name (the answer's comment), e.g. user356
	Login    string
	Password string // secret: never log it; String and MarshalLogObject omit it
	Address  string // vpnki_address, the server to connect to
}

// String describes t without its password.
func (t NewTunnel) String() string {
	return fmt.Sprintf("vpnki tunnel %s (login %s, address %s)", t.Tunnel, t.Login, t.Address)
}

// GoString describes t without its password, for %#v.
func (t NewTunnel) GoString() string { return t.String() }

// MarshalLogObject logs t without its password (zap.Object, zap.Any).
func (t NewTunnel) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("tunnel", t.Tunnel)
	enc.AddString("login", t.Login)
	enc.AddString("address", t.Address)
	return nil
}

// Tunnels lists every tunnel of the account. Idempotent.
func (c *Client) Tunnels(ctx context.Context) ([]Tunnel, error) {
	var out []Tunnel
	err := c.run(ctx, providers.Call{Method: ResourceTunnels, Idempotent: true}, nil, func(body []byte) *answerError {
		var ae *answerError
		out, ae = parseTunnels(body)
		return ae
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Active lists the tunnels connected now. Idempotent.
func (c *Client) Active(ctx context.Context) ([]ActiveTunnel, error) {
	var out []ActiveTunnel
	err := c.run(ctx, providers.Call{Method: ResourceActive, Idempotent: true}, nil, func(body []byte) *answerError {
		var ae *answerError
		out, ae = parseActive(body)
		return ae
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StatUser lists the connections of every tunnel between from and to. A zero
// from means the beginning of time, a zero to means now. Idempotent.
func (c *Client) StatUser(ctx context.Context, from, to time.Time) ([]Session, error) {
	return c.stats(ctx, ResourceStatUser, "", from, to)
}

// StatTunnel lists the connections of tunnel between from and to. A zero
// from means the beginning of time, a zero to means now. An unknown tunnel
// is Rejected and ErrNoSuchTunnel. Idempotent.
func (c *Client) StatTunnel(ctx context.Context, tunnel string, from, to time.Time) ([]Session, error) {
	if tunnel == "" {
		return nil, c.x.Fail(ResourceStatTunnel, providers.Rejected, "empty tunnel name")
	}
	return c.stats(ctx, ResourceStatTunnel, tunnel, from, to)
}

func (c *Client) stats(ctx context.Context, resource, tunnel string, from, to time.Time) ([]Session, error) {
	params := url.Values{"ts": {FormatTime(from)}, "te": {Now}}
	if !to.IsZero() {
		params.Set("te", FormatTime(to))
	}
	if tunnel != "" {
		params.Set("tunnel", tunnel)
	}
	var out []Session
	err := c.run(ctx, providers.Call{Method: resource, Idempotent: true}, params, func(body []byte) *answerError {
		var ae *answerError
		out, ae = parseSessions(body, tunnel)
		return ae
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddTunnel creates a tunnel and returns its name and credentials. It is not
// idempotent: it is retried only when the request surely did not reach VPNKI
// or VPNKI asked us to wait. After an Uncertain error a tunnel may exist:
// compare Tunnels before and after to adopt it. It needs the account's
// Priority status (else Unauthorized).
func (c *Client) AddTunnel(ctx context.Context) (NewTunnel, error) {
	var out NewTunnel
	err := c.run(ctx, providers.Call{Method: ResourceAddTunnel}, nil, func(body []byte) *answerError {
		var ae *answerError
		out, ae = parseAdd(body)
		return ae
	})
	if err != nil {
		return NewTunnel{}, err
	}
	c.log.Debug("vpnki tunnel created", zap.String("tunnel", out.Tunnel))
	return out, nil
}

// DelTunnel deletes tunnel. Idempotent: errors.Is(err, ErrNoSuchTunnel)
// means the tunnel does not exist (any more), which a caller deleting it may
// take as done. It needs the account's Priority status (else Unauthorized).
func (c *Client) DelTunnel(ctx context.Context, tunnel string) error {
	if tunnel == "" {
		return c.x.Fail(ResourceDelTunnel, providers.Rejected, "empty tunnel name")
	}
	return c.run(ctx, providers.Call{Method: ResourceDelTunnel, Idempotent: true}, url.Values{"tunnel": {tunnel}}, parseDel)
}

// run performs call and interprets the 2xx body with parse.
func (c *Client) run(ctx context.Context, call providers.Call, params url.Values, parse func(body []byte) *answerError) (err error) {
	start := time.Now()
	if c.observe != nil {
		defer func() { c.observe(call.Method, err, time.Since(start)) }()
	}
	q := url.Values{
		"option":   {"com_api"},
		"format":   {"raw"},
		"app":      {"webservices"},
		"resource": {call.Method},
		"key":      {c.key},
	}
	for k, v := range params {
		q[k] = v
	}
	u := c.base
	u.RawQuery = q.Encode()
	target := u.String()
	resp, err := c.x.Do(ctx, call, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "vpnbill")
		return req, nil
	})
	if err != nil {
		// VPNKI answers its refusals in a 200 body; a 404 or 405 from its web
		// server means every call will fail so: systemic, not this call's fault.
		var pe *providers.Error
		if errors.As(err, &pe) && pe.Class == providers.Rejected && pe.Err == nil &&
			(strings.HasPrefix(pe.Reason, "HTTP 404") || strings.HasPrefix(pe.Reason, "HTTP 405")) {
			return c.x.Fail(call.Method, providers.Unauthorized, pe.Reason+" (the configured URL is not the API endpoint)")
		}
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return c.x.Fail(call.Method, providers.Unauthorized, fmt.Sprintf(
			"HTTP %d to %s: the configured URL is not the API endpoint", resp.Status, c.location(resp.Header.Get("Location"))))
	}
	if ae := parse(resp.Body); ae != nil {
		return c.refusal(call, ae, resp.Body)
	}
	return nil
}

// location shows where a redirect pointed, without its query.
func (c *Client) location(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "an unreadable location"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.User = "", false, "", nil
	return c.x.Scrub(u.String())
}

// refusal turns what parse found wrong with a 2xx body into a classed error.
func (c *Client) refusal(call providers.Call, ae *answerError, body []byte) error {
	secrets := append(passwordsInText(body), ae.secrets...)
	excerpt := func(s []byte) string {
		for _, p := range secrets {
			if p != "" {
				s = []byte(strings.ReplaceAll(string(s), p, "[redacted]"))
			}
		}
		return c.x.Excerpt(s)
	}
	if ae.shape != "" {
		class := providers.Unavailable
		if !call.Idempotent {
			class = providers.Uncertain // the change may have been made
		}
		return c.x.Fail(call.Method, class, ae.shape+": "+excerpt(body))
	}
	msg := excerpt([]byte(ae.msg))
	lower := strings.ToLower(ae.msg)
	switch {
	case strings.Contains(lower, "priority"):
		return c.x.Fail(call.Method, providers.Unauthorized,
			"the VPNKI account lacks the Priority status that tunnel management needs (VPNKI grants it on request): "+msg)
	case (call.Method == ResourceDelTunnel || call.Method == ResourceStatTunnel) && noSuchTunnel.MatchString(lower):
		return &tunnelError{err: c.x.Fail(call.Method, providers.Rejected, msg)}
	case badKey.MatchString(lower):
		return c.x.Fail(call.Method, providers.Unauthorized, "the API key was refused: "+msg)
	case tooMany.MatchString(lower):
		return c.x.Fail(call.Method, providers.Throttled, msg)
	default:
		return c.x.Fail(call.Method, providers.Rejected, msg)
	}
}

var (
	noSuchTunnel = regexp.MustCompile(`tunnel\b.*\b(not found|unknown|no such|not exists?|doesn'?t exist|does not exist)|\b(unknown|no such|nonexistent|non-existent) tunnel`)
	badKey       = regexp.MustCompile(`\bkey\b|auth|access denied|forbidden|permission|not allowed`)
	tooMany      = regexp.MustCompile(`too many|rate limit|try (again )?later`)
)

// tunnelError is a Rejected *providers.Error that is also ErrNoSuchTunnel.
type tunnelError struct{ err *providers.Error }

func (e *tunnelError) Error() string   { return e.err.Error() }
func (e *tunnelError) Unwrap() []error { return []error{e.err, ErrNoSuchTunnel} }

// Now is the word the API takes for "now" as the end of a range.
const Now = "NOW"

// TimeLayout is the API's time format, YYYY-MM-DD HH-MM-SS (dashes in the
// time too), in Go's notation.
const TimeLayout = "2006-01-02 15-04-05"

// ZeroTime is how the API writes the beginning of time.
const ZeroTime = "0000-00-00 00-00-00"

// FormatTime formats t in UTC as the API wants it: YYYY-MM-DD HH-MM-SS. The
// zero time is 0000-00-00 00-00-00.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ZeroTime
	}
	return t.UTC().Format(TimeLayout)
}

// ParseTime reads a time written by FormatTime, as UTC. It accepts exactly
// YYYY-MM-DD HH-MM-SS; 0000-00-00 00-00-00 is the zero time. The word NOW
// is not a time: a caller that accepts it checks for Now first.
func ParseTime(s string) (time.Time, error) {
	if s == ZeroTime {
		return time.Time{}, nil
	}
	if len(s) != len(TimeLayout) {
		return time.Time{}, fmt.Errorf("vpnki: time %q is not YYYY-MM-DD HH-MM-SS", s)
	}
	t, err := time.ParseInLocation(TimeLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("vpnki: time %q is not YYYY-MM-DD HH-MM-SS", s)
	}
	return t, nil
}
