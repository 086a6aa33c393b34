package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"
)

// Kind names an email the customer can receive. Its value names the template files
// (templates/<kind>.txt.tmpl and .html.tmpl).
type Kind string

// The emails vpnbill sends.
const (
	Welcome          Kind = "welcome"           // account created: credentials and how to connect
	PaymentFailed    Kind = "payment_failed"    // a charge failed; Stripe retries, service continues
	Suspended        Kind = "suspended"         // unpaid past the grace period: service suspended
	Resumed          Kind = "resumed"           // paid again: service back; new credentials if the account was made anew
	Canceled         Kind = "canceled"          // subscription ended; account deleted on DeleteAt
	Deleted          Kind = "deleted"           // account and credentials deleted at the provider
	CredentialsReset Kind = "credentials_reset" // new password (or new account) on request
	SeatRemoved      Kind = "seat_removed"      // a plan lost a seat: that seat's account stops, deleted on DeleteAt
	TrialEnding      Kind = "trial_ending"      // a free trial ends on PaidThrough; the first payment follows
	PaymentAction    Kind = "payment_action"    // a payment needs the customer to confirm it (3-D Secure) at InvoiceURL
	Ending           Kind = "ending"            // the subscription is set to end on PaidThrough (cancel at period end)
	PortalLink       Kind = "portal_link"       // the link to the customer's own page (PortalURL), which they asked for
)

// Kinds returns every Kind, in the order a subscription may meet them.
func Kinds() []Kind {
	return []Kind{Welcome, TrialEnding, PaymentAction, PaymentFailed, Suspended, Resumed, CredentialsReset, SeatRemoved, Ending, Canceled, Deleted,
		PortalLink}
}

// Data is what a template may show. Which fields a Kind requires is checked by Render.
type Data struct {
	To           string // recipient address; required for every kind
	CustomerName string // optional; the greeting falls back to "Hello,"
	PlanName     string // optional, e.g. "Standard VPN, monthly"

	// Username and Password are the VPN credentials. Welcome,
	// CredentialsReset, Resumed and SeatRemoved require Username; Welcome
	// and CredentialsReset require Password, Resumed only with
	// NewCredentials.
	Username, Password string
	// NewCredentials: the account was made anew (a provider that cannot
	// suspend replaces it), so a Resumed email sends Password and says the
	// previous credentials no longer work. Without it, Resumed tells the
	// customer to sign in as before, and shows a Password only if given.
	NewCredentials bool

	// How the customer connects, shown with the credentials; Welcome,
	// CredentialsReset and Resumed require Server or App.
	Server    string // the address the account connects to, if it comes with one
	Protocols string // what a device's own VPN client connects to Server with, e.g. "PPTP, L2TP/IPsec or OpenVPN"; optional
	App       string // the provider's app the customer installs and signs in to, used when there is no Server

	// Seat and Seats: this account is seat Seat (from 1) of a plan of Seats
	// accounts (a subscription's quantity). With Seats > 1, an email that
	// carries a password names the seat in its subject and body, and Seat
	// must be 1..Seats; with Seats <= 1 they change nothing. SeatRemoved
	// requires Seat.
	Seat, Seats int

	PaidThrough time.Time // end of the paid period (of the trial, for TrialEnding: required there); optional elsewhere
	DeleteAt    time.Time // when the account is deleted; required for Canceled and SeatRemoved

	AmountDue  string // optional, preformatted, e.g. "9.99 EUR"
	InvoiceURL string // optional http(s) URL where the customer can pay or update the card

	MessageID string // required; copied to Message.MessageID, e.g. "<welcome.sub_123.1@vpnbill>"

	// PortalURL is the link to the customer's own page (internal/portal),
	// with its signed token: every layout then ends the email with a
	// "Manage your account" line. Optional (no customer page configured:
	// no line); required for PortalLink, which is that link.
	PortalURL string

	// Locale is the customer's language as Stripe gives it (a checkout's
	// locale, a customer's preferred_locales: "de", "de-DE", "auto"); the
	// email is in the shipped language it names (Locales), else English.
	// Optional.
	Locale string
}

//go:embed templates/*.tmpl templates/de/*.tmpl
var templateFS embed.FS

type kindSpec struct {
	// credentials: Username, Server or App, and (but for a Resumed account
	// that kept its credentials) Password are required.
	credentials bool
	seat        bool // Seat and Username are required
	deleteAt    bool
	paidThrough bool // PaidThrough is required
	invoiceURL  bool // InvoiceURL is required
	portalURL   bool // PortalURL is required
}

var kindSpecs = map[Kind]kindSpec{
	Welcome:          {credentials: true},
	PaymentFailed:    {},
	Suspended:        {},
	Resumed:          {credentials: true},
	Canceled:         {deleteAt: true},
	Deleted:          {},
	CredentialsReset: {credentials: true},
	SeatRemoved:      {seat: true, deleteAt: true},
	TrialEnding:      {paidThrough: true},
	PaymentAction:    {invoiceURL: true},
	Ending:           {paidThrough: true},
	PortalLink:       {portalURL: true},
}

type kindTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// embedded are the templates compiled in, unbranded; a parse error is a
// build defect and the tests (which render every kind) catch it.
var embedded = mustLoadEmbedded()

func mustLoadEmbedded() *Templates {
	t, err := LoadTemplates(Branding{})
	if err != nil {
		panic(err)
	}
	return t
}

// view is Data as the templates see it: dates and lists formatted, the seat
// worded, the branding added.
type view struct {
	Subject        string
	Lang           string // the locale rendered: "en", "de"
	Brand          string // Branding.Brand, or empty
	SupportEmail   string // Branding.Support if an address, or empty
	SupportURL     string // Branding.Support if a URL, or empty
	LogoURL        string // Branding.LogoURL, or empty
	CustomerName   string
	PlanName       string
	NewCredentials bool
	Username       string
	Password       string
	Server         string
	Protocols      string
	App            string // Data.App if Branding.AppName, else empty: "our VPN app"
	Seat           int
	SeatLine       string // "This is seat 2 of 5 of your plan.", or empty
	PaidThrough    string
	DeleteAt       string
	AmountDue      string
	InvoiceURL     string
	// PortalURL is Data.PortalURL; PortalLine: the layout ends with the
	// "Manage your account" line (a PortalURL, in any email but PortalLink,
	// whose content is that link).
	PortalURL  string
	PortalLine bool
}

// Render builds the email of kind from d with the embedded templates,
// unbranded: subject, text and HTML bodies (HTML-escaped), To and
// MessageID, in d.Locale's language. It returns an error naming every
// missing or invalid field. Templates.Render renders with a reseller's
// templates and brand.
func Render(kind Kind, d Data) (Message, error) { return embedded.Render(kind, d) }

// Render builds the email of kind from d, as the package's Render does,
// with t's templates and branding. A nil t renders with the embedded
// templates, unbranded.
func (t *Templates) Render(kind Kind, d Data) (Message, error) {
	if t == nil {
		t = embedded
	}
	return t.render(kind, d)
}

func (t *Templates) render(kind Kind, d Data) (Message, error) {
	spec, ok := kindSpecs[kind]
	if !ok {
		return Message{}, fmt.Errorf("notify: render: unknown kind %q", kind)
	}
	if err := d.validate(kind, spec); err != nil {
		return Message{}, fmt.Errorf("notify: render %s: %w", kind, err)
	}
	lang := ResolveLocale(d.Locale)
	words := localeTexts[lang]
	v := view{
		Subject:        words.subjects[kind],
		Lang:           lang,
		Brand:          t.brand.Brand,
		SupportEmail:   t.supportEmail,
		SupportURL:     t.supportURL,
		LogoURL:        t.brand.LogoURL,
		CustomerName:   strings.TrimSpace(d.CustomerName),
		PlanName:       strings.TrimSpace(d.PlanName),
		NewCredentials: d.NewCredentials,
		Username:       d.Username,
		Password:       d.Password,
		Server:         d.Server,
		Protocols:      d.Protocols,
		Seat:           d.Seat,
		PaidThrough:    words.date(d.PaidThrough),
		DeleteAt:       words.date(d.DeleteAt),
		AmountDue:      d.AmountDue,
		InvoiceURL:     d.InvoiceURL,
		PortalURL:      d.PortalURL,
		PortalLine:     d.PortalURL != "" && kind != PortalLink,
	}
	if t.brand.AppName {
		v.App = d.App
	}
	kt := t.sets[lang][kind]
	if sub := kt.text.Lookup("subject"); sub != nil {
		var b bytes.Buffer
		if err := sub.Execute(&b, v); err != nil {
			return Message{}, fmt.Errorf("notify: render %s subject: %w", kind, err)
		}
		v.Subject = strings.Join(strings.Fields(b.String()), " ")
	}
	// An email with a password is about one account: of several seats, say which.
	if spec.credentials && d.Password != "" && d.Seats > 1 {
		v.Subject += " (" + fmt.Sprintf(words.seat, d.Seat, d.Seats) + ")"
		v.SeatLine = fmt.Sprintf(words.seatLine, d.Seat, d.Seats)
	}
	var text, html bytes.Buffer
	if err := kt.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s text: %w", kind, err)
	}
	if err := kt.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s html: %w", kind, err)
	}
	return Message{
		To:        d.To,
		Subject:   v.Subject,
		Text:      tidy(text.String()),
		HTML:      html.String(),
		MessageID: d.MessageID,
	}, nil
}

func (d Data) validate(kind Kind, spec kindSpec) error {
	var errs []error
	if d.To == "" {
		errs = append(errs, errors.New("To is required"))
	} else if _, err := netmail.ParseAddress(d.To); err != nil {
		errs = append(errs, fmt.Errorf("To %q is not an email address", d.To))
	}
	if d.MessageID == "" {
		errs = append(errs, errors.New("MessageID is required"))
	}
	if (spec.credentials || spec.seat) && d.Username == "" {
		errs = append(errs, errors.New("Username is required"))
	}
	if spec.credentials {
		// An account that was suspended and enabled again resumes with
		// the credentials it had: the email names the username only.
		keepsPassword := kind == Resumed && !d.NewCredentials
		if d.Password == "" && !keepsPassword {
			errs = append(errs, errors.New("Password is required"))
		}
		if d.Server == "" && d.App == "" {
			errs = append(errs, errors.New("Server or App is required: how the customer connects"))
		}
	}
	if d.Seat < 0 || d.Seats < 0 {
		errs = append(errs, fmt.Errorf("Seat %d and Seats %d must not be negative", d.Seat, d.Seats))
	} else if spec.credentials && d.Password != "" && d.Seats > 1 && (d.Seat < 1 || d.Seat > d.Seats) {
		errs = append(errs, fmt.Errorf("Seat %d is not one of the plan's %d seats", d.Seat, d.Seats))
	}
	if spec.seat && d.Seat < 1 {
		errs = append(errs, fmt.Errorf("Seat is required for %s", kind))
	}
	if spec.deleteAt && d.DeleteAt.IsZero() {
		errs = append(errs, fmt.Errorf("DeleteAt is required for %s", kind))
	}
	if spec.paidThrough && d.PaidThrough.IsZero() {
		errs = append(errs, fmt.Errorf("PaidThrough is required for %s", kind))
	}
	if spec.invoiceURL && d.InvoiceURL == "" {
		errs = append(errs, fmt.Errorf("InvoiceURL is required for %s", kind))
	}
	if d.InvoiceURL != "" {
		if u, err := url.Parse(d.InvoiceURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("InvoiceURL %q is not an http(s) URL", d.InvoiceURL))
		}
	}
	if spec.portalURL && d.PortalURL == "" {
		errs = append(errs, fmt.Errorf("PortalURL is required for %s", kind))
	}
	if d.PortalURL != "" && !httpURL(d.PortalURL) {
		// Not quoted: it carries the customer's token.
		errs = append(errs, errors.New("PortalURL is not an http(s) URL"))
	}
	for name, s := range map[string]string{"CustomerName": d.CustomerName, "PlanName": d.PlanName, "AmountDue": d.AmountDue,
		"App": d.App, "Protocols": d.Protocols} {
		if strings.ContainsAny(s, "\r\n") {
			errs = append(errs, fmt.Errorf("%s contains a line break", name))
		}
	}
	return errors.Join(errs...)
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidy collapses runs of blank lines that optional sections leave behind.
func tidy(s string) string {
	return strings.TrimSpace(blankLines.ReplaceAllString(s, "\n\n")) + "\n"
}

// Connect is the "How to connect" paragraph of the HTML emails, from d's
// Server, Protocols and App (shown only if the branding names the app),
// in d.Locale's language, with t's templates: for the customer's own page
// (internal/portal), which tells it as the emails do. A layout override
// without a "connect" template gets the embedded one. A nil t is the
// embedded templates, unbranded.
func (t *Templates) Connect(d Data) (htmltemplate.HTML, error) {
	if t == nil {
		t = embedded
	}
	lang := ResolveLocale(d.Locale)
	v := view{Lang: lang, Brand: t.brand.Brand, Server: d.Server, Protocols: d.Protocols, Username: d.Username}
	if t.brand.AppName {
		v.App = d.App
	}
	html := t.sets[lang][Welcome].html
	if html.Lookup("connect") == nil {
		html = embedded.sets[lang][Welcome].html
	}
	var b bytes.Buffer
	if err := html.ExecuteTemplate(&b, "connect", v); err != nil {
		return "", fmt.Errorf("notify: how to connect: %w", err)
	}
	return htmltemplate.HTML(b.String()), nil //nolint:gosec // rendered by html/template, escaped there
}
