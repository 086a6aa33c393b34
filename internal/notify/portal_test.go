package notify

import (
	"reflect"
	"strings"
	"testing"
)

// portalURL is a customer page link as the worker makes them.
const portalURL = "https://vpn.example.com/account?t=AAECAwQFBgcICQ-_"

// Every email carries the "Manage your account" line when a PortalURL is
// given, in English and German, text and HTML; without one it is the email
// it was before the customer page existed.
func TestRenderPortalLine(t *testing.T) {
	t.Parallel()
	tpl, err := LoadTemplates(Branding{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		locale, text, html string
	}{
		{"en", "Manage your account (your plan and seats, a new password, billing):\n" + portalURL + "\n",
			`<p><a href="` + strings.ReplaceAll(portalURL, "&", "&amp;") + `">Manage your account</a>: see your plan and seats`},
		{"de-DE", "Ihr Konto verwalten (Tarif und Zugänge, neues Passwort, Zahlungen):\n" + portalURL + "\n",
			`<p><a href="` + portalURL + `">Ihr Konto verwalten</a>: Tarif und Zugänge ansehen`},
	} {
		for _, kind := range []Kind{Welcome, CredentialsReset, Suspended, Canceled} {
			d := pureVPNData()
			d.Locale = tc.locale
			without, err := tpl.Render(kind, d)
			if err != nil {
				t.Fatal(err)
			}
			d.PortalURL = portalURL
			with, err := tpl.Render(kind, d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(with.Text, tc.text) {
				t.Errorf("%s %s text lacks the portal line:\n%s", tc.locale, kind, with.Text)
			}
			if !strings.Contains(with.HTML, tc.html) {
				t.Errorf("%s %s HTML lacks the portal line:\n%s", tc.locale, kind, with.HTML)
			}
			// The line comes before the footer, once.
			if strings.Count(with.Text, portalURL) != 1 || strings.Index(with.Text, portalURL) > strings.Index(with.Text, "\n--\n") {
				t.Errorf("%s %s: the link is not one line above the footer:\n%s", tc.locale, kind, with.Text)
			}
			d.PortalURL = ""
			if again, err := tpl.Render(kind, d); err != nil || !reflect.DeepEqual(again, without) ||
				strings.Contains(without.Text, "Manage your account") || strings.Contains(without.Text, "Konto verwalten") {
				t.Errorf("%s %s: without a PortalURL the email changed: %v", tc.locale, kind, err)
			}
		}
	}
}

func TestRenderPortalLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ locale, subject, text, html string }{
		{"", "Your link to your VPN account", "You asked for a link to your VPN account page (Standard VPN, monthly). Open it here:\n\n" + portalURL,
			">Open your account page</a>"},
		{"de", "Ihr Link zu Ihrem VPN-Konto", "Sie haben einen Link zu Ihrer VPN-Kontoseite angefordert (Standard VPN, monthly). Hier ist er:\n\n" + portalURL,
			">Ihre Kontoseite öffnen</a>"},
	} {
		d := Data{To: "ann@example.com", PlanName: "Standard VPN, monthly", MessageID: "<portal_link.sub_1.1@vpnbill>",
			PortalURL: portalURL, Locale: tc.locale}
		m, err := Render(PortalLink, d)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tc.subject || !strings.Contains(m.Text, tc.text) {
			t.Errorf("%q: subject %q, text:\n%s", tc.locale, m.Subject, m.Text)
		}
		if !strings.Contains(m.HTML, `<a href="`+portalURL+`"`) || !strings.Contains(m.HTML, tc.html) {
			t.Errorf("%q: HTML lacks the link:\n%s", tc.locale, m.HTML)
		}
		// The link is the email: no second "Manage your account" line.
		if strings.Count(m.Text, portalURL) != 1 || strings.Count(m.HTML, portalURL) != 1 {
			t.Errorf("%q: the link appears more than once", tc.locale)
		}
	}
	for name, d := range map[string]Data{
		"no link":          {To: "ann@example.com", MessageID: "<x@vpnbill>"},
		"not an http link": {To: "ann@example.com", MessageID: "<x@vpnbill>", PortalURL: "javascript:alert(1)"},
	} {
		if _, err := Render(PortalLink, d); err == nil || !strings.Contains(err.Error(), "PortalURL") {
			t.Errorf("%s: %v, want a PortalURL error", name, err)
		} else if strings.Contains(err.Error(), "javascript") {
			t.Errorf("%s: the error quotes the link, which carries a token: %v", name, err)
		}
	}
}

// The customer's page tells how to connect in the emails' words.
func TestConnect(t *testing.T) {
	t.Parallel()
	branded, err := LoadTemplates(Branding{AppName: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tpl  *Templates
		d    Data
		want string
	}{
		{"server", nil, Data{Server: "msk.vpnki.ru", Protocols: "PPTP, L2TP/IPsec or OpenVPN"},
			"<p><strong>How to connect:</strong>\nset up a VPN connection on your device to the server address above. You can use PPTP, L2TP/IPsec or OpenVPN; sign in with the username and password above.</p>"},
		{"app unnamed", nil, Data{App: "PureVPN"}, "install our VPN app, or use your device's built-in VPN client"},
		{"app named", branded, Data{App: "PureVPN"}, "install the PureVPN app"},
		{"german", nil, Data{Server: "msk.vpnki.ru", Locale: "de"}, "Richten Sie auf Ihrem Gerät eine VPN-Verbindung zur obigen Serveradresse ein. Melden"},
	} {
		got, err := tc.tpl.Connect(tc.d)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(string(got), tc.want) {
			t.Errorf("%s: %s", tc.name, got)
		}
	}
	// The same paragraph as the welcome email's.
	d := vpnkiData()
	m, err := Render(Welcome, d)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := (*Templates)(nil).Connect(d)
	if !strings.Contains(m.HTML, string(p)) {
		t.Errorf("the page's paragraph is not the email's:\n%s\n%s", p, m.HTML)
	}
}
