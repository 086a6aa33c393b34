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
	Resumed          Kind = "resumed"           // paid again: service back, credentials (new ones for VPNKI)
	Canceled         Kind = "canceled"          // subscription ended; account deleted on DeleteAt
	Deleted          Kind = "deleted"           // account and credentials deleted at the provider
	CredentialsReset Kind = "credentials_reset" // new password (or new tunnel) on request
	TrialEnding      Kind = "trial_ending"      // a free trial ends on PaidThrough; the first payment follows
	PaymentAction    Kind = "payment_action"    // a payment needs the customer to confirm it (3-D Secure) at InvoiceURL
	Ending           Kind = "ending"            // the subscription is set to end on PaidThrough (cancel at period end)
)

// Kinds returns every Kind, in the order a subscription may meet them.
func Kinds() []Kind {
	return []Kind{Welcome, TrialEnding, PaymentAction, PaymentFailed, Suspended, Resumed, CredentialsReset, Ending, Canceled, Deleted}
}

// Providers, as Data.Provider spells them.
const (
	ProviderPureVPN = "purevpn"
	ProviderVPNKI   = "vpnki"
)

// Data is what a template may show. Which fields a Kind requires is checked by Render.
type Data struct {
	To           string // recipient address; required for every kind
	CustomerName string // optional; the greeting falls back to "Hello,"
	PlanName     string // optional, e.g. "Standard VPN, monthly"
	Provider     string // "purevpn" or "vpnki"; required for kinds that carry credentials

	// Username and Password are the VPN credentials; Server is the address to connect to
	// (VPNKI's vpnki_address, required for VPNKI; may be empty for PureVPN).
	Username, Password, Server string

	PaidThrough time.Time // end of the paid period (of the trial, for TrialEnding: required there); optional elsewhere
	DeleteAt    time.Time // when the account is deleted; required for Canceled

	AmountDue  string // optional, preformatted, e.g. "9.99 EUR"
	InvoiceURL string // optional http(s) URL where the customer can pay or update the card

	MessageID string // required; copied to Message.MessageID, e.g. "<welcome.sub_123.1@vpnbill>"
}

//go:embed templates/*.tmpl
var templateFS embed.FS

type kindSpec struct {
	subject string
	// credentials: Username, Password and Provider are required (and Server for VPNKI).
	credentials bool
	deleteAt    bool
	paidThrough bool // PaidThrough is required
	invoiceURL  bool // InvoiceURL is required
}

var kindSpecs = map[Kind]kindSpec{
	Welcome:          {subject: "Your VPN account is ready", credentials: true},
	PaymentFailed:    {subject: "We couldn't process your VPN payment"},
	Suspended:        {subject: "Your VPN service is suspended"},
	Resumed:          {subject: "Your VPN service is active again", credentials: true},
	Canceled:         {subject: "Your VPN subscription has been canceled", deleteAt: true},
	Deleted:          {subject: "Your VPN account has been deleted"},
	CredentialsReset: {subject: "Your new VPN credentials", credentials: true},
	TrialEnding:      {subject: "Your VPN trial ends soon", paidThrough: true},
	PaymentAction:    {subject: "Please confirm your VPN payment", invoiceURL: true},
	Ending:           {subject: "Your VPN subscription is ending", paidThrough: true},
}

type kindTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// templates is parsed once; the files are embedded, so a parse error is a build defect and the
// tests (which render every kind) catch it.
var templates = mustParseTemplates()

func mustParseTemplates() map[Kind]kindTemplates {
	out := make(map[Kind]kindTemplates, len(kindSpecs))
	for kind := range kindSpecs {
		text := texttemplate.Must(texttemplate.New(string(kind)).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+string(kind)+".txt.tmpl"))
		html := htmltemplate.Must(htmltemplate.New(string(kind)).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+string(kind)+".html.tmpl"))
		out[kind] = kindTemplates{text: text, html: html}
	}
	return out
}

// view is Data as the templates see it: dates formatted, provider resolved.
type view struct {
	Subject      string
	CustomerName string
	PlanName     string
	IsVPNKI      bool
	Username     string
	Password     string
	Server       string
	PaidThrough  string
	DeleteAt     string
	AmountDue    string
	InvoiceURL   string
}

// Render builds the email of kind from d: subject, text and HTML bodies (HTML-escaped), To and
// MessageID. It returns an error naming every missing or invalid field.
func Render(kind Kind, d Data) (Message, error) {
	spec, ok := kindSpecs[kind]
	if !ok {
		return Message{}, fmt.Errorf("notify: render: unknown kind %q", kind)
	}
	if err := d.validate(kind, spec); err != nil {
		return Message{}, fmt.Errorf("notify: render %s: %w", kind, err)
	}

	v := view{
		Subject:      spec.subject,
		CustomerName: strings.TrimSpace(d.CustomerName),
		PlanName:     strings.TrimSpace(d.PlanName),
		IsVPNKI:      d.Provider == ProviderVPNKI,
		Username:     d.Username,
		Password:     d.Password,
		Server:       d.Server,
		PaidThrough:  formatDate(d.PaidThrough),
		DeleteAt:     formatDate(d.DeleteAt),
		AmountDue:    d.AmountDue,
		InvoiceURL:   d.InvoiceURL,
	}
	t := templates[kind]
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s text: %w", kind, err)
	}
	if err := t.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s html: %w", kind, err)
	}
	return Message{
		To:        d.To,
		Subject:   spec.subject,
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
	switch d.Provider {
	case ProviderPureVPN, ProviderVPNKI:
	case "":
		if spec.credentials {
			errs = append(errs, errors.New("Provider is required (purevpn or vpnki)"))
		}
	default:
		errs = append(errs, fmt.Errorf("Provider %q is not purevpn or vpnki", d.Provider))
	}
	if spec.credentials {
		if d.Username == "" {
			errs = append(errs, errors.New("Username is required"))
		}
		// A PureVPN account resumes with the credentials it had: the
		// email names the username and sends no password.
		keepsPassword := kind == Resumed && d.Provider == ProviderPureVPN
		if d.Password == "" && !keepsPassword {
			errs = append(errs, errors.New("Password is required"))
		}
		if d.Provider == ProviderVPNKI && d.Server == "" {
			errs = append(errs, errors.New("Server is required for vpnki"))
		}
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
	for name, s := range map[string]string{"CustomerName": d.CustomerName, "PlanName": d.PlanName, "AmountDue": d.AmountDue} {
		if strings.ContainsAny(s, "\r\n") {
			errs = append(errs, fmt.Errorf("%s contains a line break", name))
		}
	}
	return errors.Join(errs...)
}

// formatDate is "2 January 2006" in UTC, or "" for the zero time.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 January 2006")
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidy collapses runs of blank lines that optional sections leave behind.
func tidy(s string) string {
	return strings.TrimSpace(blankLines.ReplaceAllString(s, "\n\n")) + "\n"
}
