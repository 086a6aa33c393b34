package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// overrides writes files (path under dir → content) to a new directory.
func overrides(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTemplatesOverrideDirectory(t *testing.T) {
	t.Parallel()
	dir := overrides(t, map[string]string{
		"welcome.txt.tmpl": `{{define "subject"}}Welcome to {{.Brand}}{{end}}{{define "content" -}}
Your Example VPN login is {{.Username}} / {{.Password}}.
{{- end}}`,
		"de/welcome.html.tmpl": `{{define "content"}}<p>Willkommen bei {{.Brand}}: {{.Username}}</p>{{end}}`,
		"README.txt":           "not a template: ignored",
	})
	tpl, err := LoadTemplates(Branding{Dir: dir, Brand: "Example VPN", Support: "https://help.example.com/vpn",
		LogoURL: "https://cdn.example.com/logo.png"})
	if err != nil {
		t.Fatal(err)
	}

	en, err := tpl.Render(Welcome, pureVPNData())
	if err != nil {
		t.Fatal(err)
	}
	if en.Subject != "Welcome to Example VPN" {
		t.Errorf("Subject = %q: the override's subject", en.Subject)
	}
	for _, w := range []string{"Your Example VPN login is pvpn_user_7731 / Ab3dE5gH.", "Example VPN\n", "https://help.example.com/vpn"} {
		if !strings.Contains(en.Text, w) {
			t.Errorf("text (overridden) lacks %q:\n%s", w, en.Text)
		}
	}
	// No English HTML override: the embedded one, branded.
	for _, w := range []string{"Thank you for subscribing", `<img src="https://cdn.example.com/logo.png" alt="Example VPN"`,
		`<a href="https://help.example.com/vpn">`, "sent automatically by Example VPN"} {
		if !strings.Contains(en.HTML, w) {
			t.Errorf("HTML (embedded) lacks %q:\n%s", w, en.HTML)
		}
	}

	d := pureVPNData()
	d.Locale = "de-DE"
	de, err := tpl.Render(Welcome, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(de.HTML, "<p>Willkommen bei Example VPN: pvpn_user_7731</p>") || !strings.Contains(de.HTML, `lang="de"`) {
		t.Errorf("German HTML is not the override in the German layout:\n%s", de.HTML)
	}
	if !strings.Contains(de.Text, "Vielen Dank für Ihr Abonnement") || de.Subject != "Ihr VPN-Zugang ist eingerichtet" {
		t.Errorf("German text is not the embedded one (no override): %q\n%s", de.Subject, de.Text)
	}

	// A kind not overridden renders as embedded.
	pf, err := tpl.Render(PaymentFailed, pureVPNData())
	if err != nil || !strings.Contains(pf.Text, "Stripe will retry") {
		t.Errorf("payment_failed = %v\n%s", err, pf.Text)
	}
}

func TestTemplatesGermanEveryKind(t *testing.T) {
	t.Parallel()
	tpl, err := LoadTemplates(Branding{Brand: "Beispiel VPN", Support: "hilfe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range Kinds() {
		for _, d := range []Data{pureVPNData(), vpnkiData()} {
			d = seat(d, 1, 1)
			d.Locale = "de"
			d.PortalURL = portalURL
			msg, err := tpl.Render(kind, d)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if msg.Subject != localeTexts[LocaleGerman].subjects[kind] {
				t.Errorf("%s: subject %q is not German", kind, msg.Subject)
			}
			for part, body := range map[string]string{"text": msg.Text, "HTML": msg.HTML} {
				for _, w := range []string{"Hallo Ann Example,", "Ihr", "hilfe@example.com", "Beispiel VPN"} {
					if !strings.Contains(body, w) {
						t.Errorf("%s %s lacks %q:\n%s", kind, part, w, body)
					}
				}
				for _, w := range []string{"Hello", "Your VPN", "reply to this email", "PureVPN", "<no value>"} {
					if strings.Contains(body, w) {
						t.Errorf("%s %s says %q:\n%s", kind, part, w, body)
					}
				}
			}
			if !strings.HasPrefix(msg.HTML, "<!DOCTYPE html>") || !strings.Contains(msg.HTML, `<html lang="de">`) {
				t.Errorf("%s: HTML part is not a German document", kind)
			}
			switch kind {
			case Welcome, TrialEnding, Ending, Resumed:
				if !strings.Contains(msg.Text, "14. März 2031") {
					t.Errorf("%s: no German date:\n%s", kind, msg.Text)
				}
			case Canceled, SeatRemoved:
				if !strings.Contains(msg.Text, "13. April 2031") {
					t.Errorf("%s: no German date:\n%s", kind, msg.Text)
				}
			}
		}
	}
	d := seat(pureVPNData(), 2, 3)
	d.Locale = "de"
	msg, err := tpl.Render(Welcome, d)
	if err != nil || !strings.HasSuffix(msg.Subject, "(Zugang 2 von 3)") || !strings.Contains(msg.Text, "Dies ist Zugang 2 von 3 Ihres Tarifs.") {
		t.Errorf("German seat wording: %q, %v\n%s", msg.Subject, err, msg.Text)
	}
}

func TestTemplatesRefuseBrokenOverrides(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // in the error
	}{
		{"does not parse", map[string]string{"welcome.html.tmpl": `{{define "content"}}<p>{{.Username</p>{{end}}`},
			[]string{"welcome.html.tmpl"}},
		{"German layout does not parse", map[string]string{"de/layout.txt.tmpl": `{{define "layout"}}{{if}}{{end}}`},
			[]string{filepath.Join("de", "layout.txt.tmpl")}},
		{"names a field Data lacks", map[string]string{"suspended.txt.tmpl": `{{define "content"}}{{.Nickname}}{{end}}`},
			[]string{"suspended.txt.tmpl", "Nickname"}},
		{"misspelt file name", map[string]string{"welcom.txt.tmpl": `{{define "content"}}x{{end}}`},
			[]string{"welcom.txt.tmpl", "not a template vpnbill knows"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadTemplates(Branding{Dir: overrides(t, tc.files)})
			if err == nil {
				t.Fatal("LoadTemplates accepted a broken override")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := LoadTemplates(Branding{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing MAIL_TEMPLATES_DIR was accepted")
	}
}

func TestBranding(t *testing.T) {
	t.Parallel()
	tpl, err := LoadTemplates(Branding{AppName: true, Support: "help@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tpl.Render(Welcome, pureVPNData())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "Install the PureVPN app") || !strings.Contains(msg.HTML, "install the PureVPN app") {
		t.Errorf("AppName: the provider's app is not named:\n%s", msg.Text)
	}
	if !strings.Contains(msg.Text, "write to help@example.com") || !strings.Contains(msg.HTML, `href="mailto:help@example.com"`) {
		t.Errorf("support address missing:\n%s", msg.Text)
	}
	var nilTpl *Templates
	if plain, err := nilTpl.Render(Welcome, pureVPNData()); err != nil || strings.Contains(plain.Text+plain.HTML, "PureVPN") {
		t.Errorf("nil Templates (embedded, unbranded) names the provider: %v\n%s", err, plain.Text)
	}
	_, err = LoadTemplates(Branding{Support: "call us", LogoURL: "logo.png", Brand: "A\nB"})
	for _, w := range []string{"MAIL_SUPPORT", "MAIL_LOGO_URL", "MAIL_BRAND"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("invalid branding: %v does not name %s", err, w)
		}
	}
}

func TestResolveLocale(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "en", "auto": "en", "en": "en", "en-GB": "en", "de": "de", "de-DE": "de", "de_AT": "de", "DE": "de",
		"fr": "en", "pt-BR": "en",
	} {
		if got := ResolveLocale(in); got != want {
			t.Errorf("ResolveLocale(%q) = %q, want %q", in, got, want)
		}
	}
}
