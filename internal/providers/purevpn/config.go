package purevpn

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// Config configures a Client. Read it from the environment in cmd/ and hand
// it down; New applies WithDefaults and validates it.
type Config struct {
	// URL is the API endpoint the form is posted to (PUREVPN_API_URL). Required.
	URL string
	// User is the reseller's api_user (PUREVPN_API_USER). Required.
	User string
	// Password is the reseller's API password in plain text
	// (PUREVPN_API_PASSWORD). The wire carries its md5 as api_password; both
	// are scrubbed from every error and log line. Required.
	Password string
	// Timeout bounds one attempt, from dial to the end of the answer. Default 15s.
	Timeout time.Duration
	// RetryFor bounds all attempts of one call, waits included; zero makes
	// one attempt, with no retry. Default (nil) 30s.
	// The caller's context deadline, if sooner, wins.
	RetryFor *time.Duration
	// DefaultPeriod is the period sent with the methods that take none
	// (status, delete_account, update_account, change_password), because
	// the server has been seen to require one on every call. Default Period30.
	DefaultPeriod Period
	// Names overrides the spelling of methods and parameters. Default: the
	// document's spellings (see Names).
	Names Names
	// Transport is the base HTTP transport. Default: a clone of
	// http.DefaultTransport. Client.CloseIdleConnections closes its idle
	// connections.
	Transport *http.Transport
	// Logger receives debug lines (ids only, never secrets). Default: none.
	Logger *zap.Logger
	// Observe, if set, is called once per call with the method (as the
	// document spells it), its outcome (nil or a *providers.Error) and its
	// duration, for metrics. Default: none.
	Observe func(method string, err error, took time.Duration)
}

// Names are the spellings of the API's methods and parameters. Each zero
// field takes the document's spelling; public clients have also used the
// alternatives noted.
type Names struct {
	Create         string // method creating an account. Default "create".
	Renew          string // method extending an account. Default "renew".
	Status         string // method reading an account's status. Default "status".
	DeleteAccount  string // method deleting an account. Default "delete_account" (also seen: "delete").
	UpdateAccount  string // method enabling or disabling an account. Default "update_account" (also seen: "update_status").
	ChangePassword string // method changing a VPN password. Default "change_password".

	Username     string // parameter naming the VPN account. Default "username" (also seen: "user").
	UpdateStatus string // parameter of update_account, "enable" or "disable". Default "update_status".
	NewPassword  string // parameter of change_password. Default "new_pass".
	PackageType  string // parameter of create. Default "package_type".
	Period       string // parameter carrying the period, "#30" etc. Default "period".
}

// WithDefaults returns a copy of n with every empty name set to the document's spelling.
func (n Names) WithDefaults() Names {
	set := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	set(&n.Create, "create")
	set(&n.Renew, "renew")
	set(&n.Status, "status")
	set(&n.DeleteAccount, "delete_account")
	set(&n.UpdateAccount, "update_account")
	set(&n.ChangePassword, "change_password")
	set(&n.Username, "username")
	set(&n.UpdateStatus, "update_status")
	set(&n.NewPassword, "new_pass")
	set(&n.PackageType, "package_type")
	set(&n.Period, "period")
	return n
}

// validate returns one error per clash: a parameter name used twice or
// taking one of the fields every call carries.
func (n Names) validate() error {
	var errs []error
	seen := map[string]string{
		fieldAPI: "the fixed field", fieldAPIUser: "the fixed field",
		fieldAPIPassword: "the fixed field", fieldMethod: "the fixed field",
	}
	for _, p := range []struct{ field, name string }{
		{"Username", n.Username}, {"UpdateStatus", n.UpdateStatus}, {"NewPassword", n.NewPassword},
		{"PackageType", n.PackageType}, {"Period", n.Period},
	} {
		if other, ok := seen[p.name]; ok {
			errs = append(errs, fmt.Errorf("purevpn: Names.%s %q is already %s", p.field, p.name, other))
			continue
		}
		seen[p.name] = "Names." + p.field
	}
	return errors.Join(errs...)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.RetryFor == nil || *c.RetryFor < 0 {
		c.RetryFor = new(30 * time.Second)
	}
	if c.DefaultPeriod == 0 {
		c.DefaultPeriod = Period30
	}
	c.Names = c.Names.WithDefaults()
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// validate returns one error per invalid field, joined.
func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("purevpn: URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, errors.New("purevpn: URL does not parse")) // the error would quote the URL, which may hold credentials
	} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("purevpn: URL must be http:// or https:// with a host"))
	}
	if c.User == "" {
		errs = append(errs, errors.New("purevpn: User is required"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("purevpn: Password is required"))
	}
	if !c.DefaultPeriod.Valid() {
		errs = append(errs, fmt.Errorf("purevpn: DefaultPeriod %d days: want 30, 60, 90, 180 or 365", int(c.DefaultPeriod)))
	}
	if err := c.Names.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NamesFromOverrides builds Names from a map of the document's spelling to
// the spelling to use instead, e.g. {"delete_account": "delete",
// "username": "user"} (configuration PUREVPN_SPELLINGS). An unknown key is
// an error naming it.
func NamesFromOverrides(overrides map[string]string) (Names, error) {
	var n Names
	fields := map[string]*string{
		"create": &n.Create, "renew": &n.Renew, "status": &n.Status, "delete_account": &n.DeleteAccount,
		"update_account": &n.UpdateAccount, "change_password": &n.ChangePassword, "username": &n.Username,
		"update_status": &n.UpdateStatus, "new_pass": &n.NewPassword, "package_type": &n.PackageType, "period": &n.Period,
	}
	var errs []error
	for k, v := range overrides {
		p, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("purevpn: no method or parameter spelled %q to override", k))
			continue
		}
		*p = v
	}
	if err := errors.Join(errs...); err != nil {
		return Names{}, err
	}
	n = n.WithDefaults()
	return n, n.validate()
}
