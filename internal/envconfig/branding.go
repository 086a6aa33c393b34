package envconfig

import (
	"errors"
	"strings"
)

// Checkout is the webhook's checkout links, GET /buy/<plan id>: on when
// CHECKOUT_SUCCESS_URL or CHECKOUT_CANCEL_URL is set, and then every field
// but StripeAPIURL is required.
type Checkout struct {
	// SuccessURL: where Stripe sends a customer who paid (may hold
	// {CHECKOUT_SESSION_ID}). Default: no checkout links.
	SuccessURL string `env:"CHECKOUT_SUCCESS_URL"`
	// CancelURL: where Stripe sends a customer who went back. Default: no
	// checkout links.
	CancelURL string `env:"CHECKOUT_CANCEL_URL"`
	// PlansFile: the worker's plan catalog, whose plans the links sell.
	PlansFile string `env:"PLANS_FILE"`
	// StripeAPIKey: creates the Checkout Sessions (a restricted key with
	// write access to Checkout Sessions and read access to Prices is enough).
	StripeAPIKey string `env:"STRIPE_API_KEY"`
	// StripeAPIURL overrides Stripe's API address (tests, proxies). Default: Stripe's.
	StripeAPIURL string `env:"STRIPE_API_URL"`
}

// Enabled reports whether the checkout links are configured.
func (c Checkout) Enabled() bool { return c.SuccessURL != "" || c.CancelURL != "" }

// check names each variable the checkout links lack, or returns nil.
func (c Checkout) check() error {
	if !c.Enabled() {
		return nil
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"CHECKOUT_SUCCESS_URL", c.SuccessURL}, {"CHECKOUT_CANCEL_URL", c.CancelURL},
		{"PLANS_FILE", c.PlansFile}, {"STRIPE_API_KEY", c.StripeAPIKey},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return errors.New("checkout links (CHECKOUT_SUCCESS_URL, CHECKOUT_CANCEL_URL) need " + strings.Join(missing, ", "))
	}
	return nil
}

// Mail is how the worker's emails are branded (notify.Branding): every
// field is optional.
type Mail struct {
	// TemplatesDir: a directory whose *.tmpl files replace the embedded
	// templates of the same name, file by file. Default: the embedded ones.
	TemplatesDir string `env:"MAIL_TEMPLATES_DIR"`
	// Brand: the shop's name, shown in every email. Default: none.
	Brand string `env:"MAIL_BRAND"`
	// Support: an email address or http(s) URL for help. Default: "reply
	// to this email".
	Support string `env:"MAIL_SUPPORT"`
	// LogoURL: an https URL of a logo for the HTML part. Default: none.
	LogoURL string `env:"MAIL_LOGO_URL"`
	// AppName: name the provider's app in the emails ("install the PureVPN
	// app"). Default false: "the VPN app", no provider brand.
	AppName bool `env:"MAIL_APP_NAME" envDefault:"false"`
}
