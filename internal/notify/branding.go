package notify

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	netmail "net/mail"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// Branding is how a reseller brands the emails. cmd/worker fills it from
// MAIL_TEMPLATES_DIR, MAIL_BRAND, MAIL_SUPPORT, MAIL_LOGO_URL and
// MAIL_APP_NAME. Every field is optional; the zero Branding is the
// embedded templates, naming no brand at all.
type Branding struct {
	// Dir is a directory whose template files replace the embedded ones of
	// the same name, file by file: <kind>.txt.tmpl, <kind>.html.tmpl and
	// layout.txt.tmpl, layout.html.tmpl for English, the same names under
	// de/ for German. A file missing there is the embedded one. A file that
	// fails to parse or to render, or a *.tmpl of no known name, is an
	// error of LoadTemplates naming it. A kind's file may define "subject",
	// which replaces the built-in subject. Default "": the embedded ones.
	Dir string
	// Brand is the shop's name: shown above every HTML email (unless
	// LogoURL) and in the footer of both parts. Default "": none.
	Brand string
	// Support is where a customer gets help: an email address or an
	// http(s) URL, named in every footer. Default "": "reply to this email".
	Support string
	// LogoURL is an http(s) URL of an image shown at the top of the HTML
	// part, with Brand as its alt text. Default "": none.
	LogoURL string
	// AppName names the provider's app (Data.App, e.g. "PureVPN") in the
	// instructions; without it they say "our VPN app", so that no
	// provider's brand reaches a customer unless the reseller wants it.
	// Default false.
	AppName bool
}

// Templates are the email templates of every shipped locale, with a
// reseller's overrides and branding. Safe for concurrent use.
type Templates struct {
	brand                    Branding
	supportEmail, supportURL string
	sets                     map[string]map[Kind]kindTemplates // locale → kind
}

// The locales shipped: English, the fallback, and German.
const (
	LocaleEnglish = "en"
	LocaleGerman  = "de"
)

// Locales returns the shipped locales, English first.
func Locales() []string { return []string{LocaleEnglish, LocaleGerman} }

// localeDir is where a locale's files are, under templates/ and under
// Branding.Dir: English at the top, others in a directory of their name.
func localeDir(loc string) string {
	if loc == LocaleEnglish {
		return ""
	}
	return loc
}

// ResolveLocale is the shipped locale that tag (a Stripe locale such as
// "de", "de-DE", "de_AT", "auto", or "") names: its language, if shipped,
// else English.
func ResolveLocale(tag string) string {
	lang, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	lang, _, _ = strings.Cut(lang, "_")
	if slices.Contains(Locales(), lang) {
		return lang
	}
	return LocaleEnglish
}

// localeText is what Go words for a locale: the subjects (a template may
// replace them), the seat phrases and the dates.
type localeText struct {
	subjects map[Kind]string
	seat     string // fmt of seat n of seats, in the subject
	seatLine string // fmt of the line naming the seat
	months   [12]string
	dateFmt  string // fmt of day, month name, year
}

var localeTexts = map[string]localeText{
	LocaleEnglish: {
		subjects: map[Kind]string{
			Welcome:          "Your VPN account is ready",
			PaymentFailed:    "We couldn't process your VPN payment",
			Suspended:        "Your VPN service is suspended",
			Resumed:          "Your VPN service is active again",
			Canceled:         "Your VPN subscription has been canceled",
			Deleted:          "Your VPN account has been deleted",
			CredentialsReset: "Your new VPN credentials",
			SeatRemoved:      "A seat of your VPN plan was removed",
			TrialEnding:      "Your VPN trial ends soon",
			PaymentAction:    "Please confirm your VPN payment",
			Ending:           "Your VPN subscription is ending",
			PortalLink:       "Your link to your VPN account",
		},
		seat:     "seat %d of %d",
		seatLine: "This is seat %d of %d of your plan.",
		months: [12]string{"January", "February", "March", "April", "May", "June", "July",
			"August", "September", "October", "November", "December"},
		dateFmt: "%d %s %d",
	},
	LocaleGerman: {
		subjects: map[Kind]string{
			Welcome:          "Ihr VPN-Zugang ist eingerichtet",
			PaymentFailed:    "Ihre VPN-Zahlung konnte nicht eingezogen werden",
			Suspended:        "Ihr VPN-Dienst ist gesperrt",
			Resumed:          "Ihr VPN-Dienst ist wieder aktiv",
			Canceled:         "Ihr VPN-Abonnement wurde gekündigt",
			Deleted:          "Ihr VPN-Zugang wurde gelöscht",
			CredentialsReset: "Ihre neuen VPN-Zugangsdaten",
			SeatRemoved:      "Ein Zugang Ihres VPN-Tarifs wurde entfernt",
			TrialEnding:      "Ihr VPN-Testzeitraum endet bald",
			PaymentAction:    "Bitte bestätigen Sie Ihre VPN-Zahlung",
			Ending:           "Ihr VPN-Abonnement endet",
			PortalLink:       "Ihr Link zu Ihrem VPN-Konto",
		},
		seat:     "Zugang %d von %d",
		seatLine: "Dies ist Zugang %d von %d Ihres Tarifs.",
		months: [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
			"August", "September", "Oktober", "November", "Dezember"},
		dateFmt: "%d. %s %d",
	},
}

// date is t's day in UTC in the locale's words ("14 March 2031",
// "14. März 2031"), or "" for the zero time.
func (l localeText) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	return fmt.Sprintf(l.dateFmt, t.Day(), l.months[t.Month()-1], t.Year())
}

// templateNames are the files of one locale.
func templateNames() []string {
	names := []string{"layout.txt.tmpl", "layout.html.tmpl"}
	for _, k := range Kinds() {
		names = append(names, string(k)+".txt.tmpl", string(k)+".html.tmpl")
	}
	return names
}

// LoadTemplates validates b and parses the templates of every locale, each
// file from b.Dir if there, else the embedded one. It renders every kind of
// every locale once with sample data, so that a template that cannot render
// is refused here, at start, with its file named, not at a customer's
// email.
func LoadTemplates(b Branding) (*Templates, error) {
	t := &Templates{brand: b, sets: map[string]map[Kind]kindTemplates{}}
	var errs []error
	if strings.ContainsAny(b.Brand, "\r\n") {
		errs = append(errs, errors.New("MAIL_BRAND: contains a line break"))
	}
	if s := b.Support; s != "" {
		if a, err := netmail.ParseAddress(s); err == nil && a.Address == s {
			t.supportEmail = s
		} else if httpURL(s) {
			t.supportURL = s
		} else {
			errs = append(errs, fmt.Errorf("MAIL_SUPPORT: %q is neither an email address nor an http(s) URL", s))
		}
	}
	if b.LogoURL != "" && !httpURL(b.LogoURL) {
		errs = append(errs, fmt.Errorf("MAIL_LOGO_URL: %q is not an http(s) URL", b.LogoURL))
	}
	if b.Dir != "" {
		if err := checkDir(b.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, loc := range Locales() {
		set, err := b.parse(loc)
		if err != nil {
			return nil, err
		}
		t.sets[loc] = set
	}
	for _, loc := range Locales() {
		for _, kind := range Kinds() {
			withServer := sampleData()
			withApp := withServer
			withApp.Server, withApp.Protocols = "", ""
			trials := []Data{withServer, withApp}
			if !kindSpecs[kind].portalURL {
				noPortal := withServer
				noPortal.PortalURL = ""
				trials = append(trials, noPortal)
			}
			for _, d := range trials {
				d.Locale = loc
				if _, err := t.render(kind, d); err != nil {
					return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s email (%s) does not render: %w", kind, loc, err)
				}
			}
		}
	}
	return t, nil
}

// checkDir refuses a directory that cannot be read, and a *.tmpl file in it
// (or in a locale's directory) of no known name: a misspelt override would
// otherwise be ignored without a word.
func checkDir(dir string) error {
	known := templateNames()
	var errs []error
	for _, loc := range Locales() {
		sub := filepath.Join(dir, localeDir(loc))
		entries, err := os.ReadDir(sub)
		if err != nil {
			if loc != LocaleEnglish && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			errs = append(errs, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err))
			continue
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".tmpl") && !slices.Contains(known, e.Name()) {
				errs = append(errs, fmt.Errorf("MAIL_TEMPLATES_DIR: %s: not a template vpnbill knows (%s)",
					filepath.Join(sub, e.Name()), strings.Join(known, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// source is a template file of loc: from b.Dir if there, else embedded.
// name is what errors call it: the override's path, or embedded:<path>.
func (b Branding) source(loc, file string) (name, text string, err error) {
	if b.Dir != "" {
		p := filepath.Join(b.Dir, localeDir(loc), file)
		data, err := os.ReadFile(p)
		if err == nil {
			return p, string(data), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return p, "", fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
		}
	}
	p := path.Join("templates", localeDir(loc), file)
	data, err := templateFS.ReadFile(p)
	if err != nil {
		return p, "", err
	}
	return "embedded:" + p, string(data), nil
}

// parse parses every kind of loc, each with its layout.
func (b Branding) parse(loc string) (map[Kind]kindTemplates, error) {
	type file struct{ name, text string }
	read := func(f string) (file, error) {
		name, text, err := b.source(loc, f)
		return file{name, text}, err
	}
	layoutText, err := read("layout.txt.tmpl")
	if err != nil {
		return nil, err
	}
	layoutHTML, err := read("layout.html.tmpl")
	if err != nil {
		return nil, err
	}
	set := make(map[Kind]kindTemplates, len(kindSpecs))
	for _, kind := range Kinds() {
		kt, err := read(string(kind) + ".txt.tmpl")
		if err != nil {
			return nil, err
		}
		kh, err := read(string(kind) + ".html.tmpl")
		if err != nil {
			return nil, err
		}
		text := texttemplate.New(string(kind)).Option("missingkey=error")
		for _, f := range []file{layoutText, kt} {
			if _, err := text.New(f.name).Parse(f.text); err != nil {
				return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s: %w", f.name, err)
			}
		}
		html := htmltemplate.New(string(kind)).Option("missingkey=error")
		for _, f := range []file{layoutHTML, kh} {
			if _, err := html.New(f.name).Parse(f.text); err != nil {
				return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s: %w", f.name, err)
			}
		}
		set[kind] = kindTemplates{text: text, html: html}
	}
	return set, nil
}

// sampleData is an email with every field set, for LoadTemplates' trial
// renders.
func sampleData() Data {
	day := time.Date(2031, time.March, 14, 0, 0, 0, 0, time.UTC)
	return Data{
		To: "customer@example.com", CustomerName: "Ann Example", PlanName: "Standard VPN, monthly",
		Username: "user_1", Password: "secret-1", App: "VPN", Server: "vpn.example.com", Protocols: "OpenVPN",
		Seat: 1, Seats: 2, PaidThrough: day, DeleteAt: day.AddDate(0, 1, 0), AmountDue: "9.99 EUR",
		InvoiceURL: "https://invoice.example.com/i/1", MessageID: "<sample@vpnbill>",
		PortalURL: "https://vpn.example.com/account?t=sample",
	}
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
