package purevpn

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/providers"
)

// The fields every call carries, whatever Names says.
const (
	fieldAPI         = "API"
	fieldAPIUser     = "api_user"
	fieldAPIPassword = "api_password"
	fieldMethod      = "method"
)

// The methods as the document spells them: the names errors, logs and
// Observe use, whatever Names sends on the wire.
const (
	methodCreate         = "create"
	methodRenew          = "renew"
	methodStatus         = "status"
	methodDeleteAccount  = "delete_account"
	methodUpdateAccount  = "update_account"
	methodChangePassword = "change_password"
)

// Methods returns the methods the client reports to Config.Observe, as the
// document spells them: the values a metric's "method" label can take.
func Methods() []string {
	return []string{methodCreate, methodRenew, methodStatus, methodDeleteAccount, methodUpdateAccount, methodChangePassword}
}

// Client calls the PureVPN reseller API. It is safe for concurrent use.
//
// Every method returns, on failure, either an error wrapping
// ErrInvalidArgument (nothing was sent) or a *providers.Error of one class,
// to be matched with errors.Is on the providers sentinels. Cancelling ctx
// stops the call; a call cancelled after its request left is Uncertain.
type Client struct {
	cfg       Config
	x         *providers.Exchange
	apiMD5    string
	transport *http.Transport
	log       *zap.Logger
}

// New returns a Client for cfg, after WithDefaults, or the errors of cfg's
// invalid fields.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sum := md5.Sum([]byte(cfg.Password))
	apiMD5 := hex.EncodeToString(sum[:])
	x := providers.NewExchange(providers.ExchangeConfig{
		Provider:  providers.PureVPN,
		Timeout:   cfg.Timeout,
		RetryFor:  cfg.RetryFor,
		Secrets:   []string{cfg.Password, apiMD5, strings.ToUpper(apiMD5)},
		Transport: cfg.Transport,
		Logger:    cfg.Logger,
	})
	return &Client{cfg: cfg, x: x, apiMD5: apiMD5, transport: cfg.Transport, log: cfg.Logger}, nil
}

// CloseIdleConnections closes the idle keep-alive connections of the
// client's transport. Call it when the client is no longer needed.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Create makes a new VPN account of pkg for period and returns its
// credentials. It is not idempotent: a create whose answer was lost, or
// whose answer cannot be read, is Uncertain and must not be sent again
// blindly.
func (c *Client) Create(ctx context.Context, pkg PackageType, period Period) (Account, error) {
	if !pkg.Valid() {
		return Account{}, fmt.Errorf("%w: package type %q: want STANDARD, SSTP or HIGH-BW", ErrInvalidArgument, string(pkg))
	}
	if !period.Valid() {
		return Account{}, fmt.Errorf("%w: period %s: want #30, #60, #90, #180 or #365", ErrInvalidArgument, period)
	}
	call := providers.Call{Method: methodCreate}
	a, err := c.do(ctx, call, c.cfg.Names.Create, period, url.Values{c.cfg.Names.PackageType: {string(pkg)}}, "")
	if err != nil {
		return Account{}, err
	}
	if a.User == "" || a.VPNPassword == "" {
		// Something may have been made, and we do not know its credentials.
		return Account{}, c.x.Fail(methodCreate, providers.Uncertain, "result 1 without <user> or <vpn_password>")
	}
	c.log.Debug("purevpn account created", zap.String("username", a.User), zap.String("package_type", string(pkg)), zap.Int("period_days", period.Days()))
	return Account{Username: a.User, Password: a.VPNPassword}, nil
}

// Renew extends username by period, from its expiry (or from now if it has
// expired, as the provider decides), and returns the credentials the answer
// carries (Username defaults to username; Password may be empty). It is not
// idempotent: read Status first and renew only when the expiry falls short.
func (c *Client) Renew(ctx context.Context, username string, period Period) (Account, error) {
	if err := checkUsername(username); err != nil {
		return Account{}, err
	}
	if !period.Valid() {
		return Account{}, fmt.Errorf("%w: period %s: want #30, #60, #90, #180 or #365", ErrInvalidArgument, period)
	}
	call := providers.Call{Method: methodRenew}
	a, err := c.do(ctx, call, c.cfg.Names.Renew, period, url.Values{c.cfg.Names.Username: {username}}, "")
	if err != nil {
		return Account{}, err
	}
	acct := Account{Username: a.User, Password: a.VPNPassword}
	if acct.Username == "" {
		acct.Username = username
	}
	c.log.Debug("purevpn account renewed", zap.String("username", username), zap.Int("period_days", period.Days()))
	return acct, nil
}

// Status reads whether username is enabled and when it expires. It is
// idempotent. An answer whose status or expiry cannot be read is
// Unavailable, like an unreadable answer: the caller retries later rather
// than act on a guess.
func (c *Client) Status(ctx context.Context, username string) (Status, error) {
	if err := checkUsername(username); err != nil {
		return Status{}, err
	}
	call := providers.Call{Method: methodStatus, Idempotent: true}
	a, err := c.do(ctx, call, c.cfg.Names.Status, c.cfg.DefaultPeriod, url.Values{c.cfg.Names.Username: {username}}, "")
	if err != nil {
		return Status{}, err
	}
	st, err := parseStatus(a.Status, a.Expiry)
	if err != nil {
		return Status{}, c.x.Fail(methodStatus, providers.Unavailable, "unreadable status answer: "+err.Error())
	}
	return st, nil
}

// DeleteAccount deletes username. It is idempotent in effect; a second
// delete of the same account is Rejected with ErrNoSuchAccount in its chain
// when the server says so, which a caller may take as done.
func (c *Client) DeleteAccount(ctx context.Context, username string) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	call := providers.Call{Method: methodDeleteAccount, Idempotent: true}
	_, err := c.do(ctx, call, c.cfg.Names.DeleteAccount, c.cfg.DefaultPeriod, url.Values{c.cfg.Names.Username: {username}}, "")
	return err
}

// UpdateAccount enables (enable true) or disables username. It is idempotent.
func (c *Client) UpdateAccount(ctx context.Context, username string, enable bool) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	status := "disable"
	if enable {
		status = "enable"
	}
	call := providers.Call{Method: methodUpdateAccount, Idempotent: true}
	_, err := c.do(ctx, call, c.cfg.Names.UpdateAccount, c.cfg.DefaultPeriod,
		url.Values{c.cfg.Names.Username: {username}, c.cfg.Names.UpdateStatus: {status}}, "")
	return err
}

// Enable is UpdateAccount(ctx, username, true).
func (c *Client) Enable(ctx context.Context, username string) error {
	return c.UpdateAccount(ctx, username, true)
}

// Disable is UpdateAccount(ctx, username, false).
func (c *Client) Disable(ctx context.Context, username string) error {
	return c.UpdateAccount(ctx, username, false)
}

// ChangePassword sets username's VPN password to newPass, which must be
// exactly 8 ASCII letters or digits (checked before sending). It is not
// idempotent. newPass never appears in an error or a log line.
func (c *Client) ChangePassword(ctx context.Context, username, newPass string) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	if !validPassword(newPass) {
		return fmt.Errorf("%w: new password must be exactly 8 letters or digits", ErrInvalidArgument)
	}
	call := providers.Call{Method: methodChangePassword}
	_, err := c.do(ctx, call, c.cfg.Names.ChangePassword, c.cfg.DefaultPeriod,
		url.Values{c.cfg.Names.Username: {username}, c.cfg.Names.NewPassword: {newPass}}, newPass)
	return err
}

func checkUsername(username string) error {
	if strings.TrimSpace(username) == "" {
		return fmt.Errorf("%w: empty username", ErrInvalidArgument)
	}
	return nil
}

// do posts one call and returns its answer when the result is 1. wireMethod
// is the method as Names spells it; params are the method's own; secret, if
// set, is a per-call secret (a new password) scrubbed from any failure.
func (c *Client) do(ctx context.Context, call providers.Call, wireMethod string, period Period, params url.Values, secret string) (answer, error) {
	form := url.Values{
		fieldAPI:           {"True"},
		fieldAPIUser:       {c.cfg.User},
		fieldAPIPassword:   {c.apiMD5},
		fieldMethod:        {wireMethod},
		c.cfg.Names.Period: {period.String()},
	}
	for k, v := range params {
		form[k] = v
	}
	body := form.Encode()
	start := time.Now()
	ans, err := c.exchange(ctx, call, body, secret)
	if c.cfg.Observe != nil {
		// After the body is read: a 200 whose XML says no is a failure too.
		c.cfg.Observe(call.Method, err, time.Since(start))
	}
	return ans, err
}

func (c *Client) exchange(ctx context.Context, call providers.Call, body, secret string) (answer, error) {
	resp, err := c.x.Do(ctx, call, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/xml, application/xml")
		return req, nil
	})
	if err != nil {
		return answer{}, c.classed(call, err)
	}
	return c.interpret(call, resp, secret)
}

// classed makes sure every failure of the exchange carries a class. The
// exchange classes all it returns (when the caller's context ends during a
// wait it returns the last attempt's class); should it ever return a bare
// error, the call is Uncertain if it is not idempotent (an earlier attempt
// may have been a 503 with Retry-After, which the exchange retries as
// Throttled), Unavailable if it is.
func (c *Client) classed(call providers.Call, err error) error {
	if providers.ClassOf(err) != 0 {
		return err
	}
	class := providers.Uncertain
	if call.Idempotent {
		class = providers.Unavailable
	}
	e := c.x.Fail(call.Method, class, "")
	e.Err = err
	return e
}

// interpret turns a 2xx (or 3xx) answer into the answer or a classed error.
func (c *Client) interpret(call providers.Call, resp *providers.Response, secret string) (answer, error) {
	// unknown is the class of an answer we cannot read: we do not know what happened.
	unknown := providers.Uncertain
	if call.Idempotent {
		unknown = providers.Unavailable
	}
	if resp.Status >= 300 {
		return answer{}, c.x.Fail(call.Method, providers.Unauthorized,
			fmt.Sprintf("HTTP %d redirect: the API URL is misconfigured", resp.Status))
	}
	a, err := parseAnswer(resp.Body)
	if err != nil {
		return answer{}, c.x.Fail(call.Method, unknown,
			fmt.Sprintf("HTTP %d, %v: %s", resp.Status, err, c.scrub(c.x.Excerpt(scrubPasswordElements(resp.Body)), secret)))
	}
	if a.Result == "1" {
		return a, nil
	}
	reason := c.scrub(providers.ScrubPasswords(a.Reason), secret)
	if reason == "" {
		reason = fmt.Sprintf("result %q without a reason", clip(a.Result, 16))
	}
	e := c.x.Fail(call.Method, ClassifyReason(reason), reason)
	if e.Class == providers.Rejected && noSuchAccountReason.MatchString(reason) {
		return answer{}, fmt.Errorf("%w: %w", ErrNoSuchAccount, e)
	}
	return answer{}, e
}

// passwordElement matches a password element's value, also where
// providers.ScrubPasswords would not: with attributes, or a space before the
// closing bracket, or cut short by the end of the body.
var passwordElement = regexp.MustCompile(`(?is)(<(?:vpn_password|password|new_pass)(?:\s[^>]*)?>).*?(</(?:vpn_password|password|new_pass)\s*>|$)`)

// scrubPasswordElements blanks every password element's value in body.
func scrubPasswordElements(body []byte) []byte {
	return passwordElement.ReplaceAll(body, []byte("${1}[redacted]${2}"))
}

func (c *Client) scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return providers.NewScrubber(secret).Replace(s)
}
