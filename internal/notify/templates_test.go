package notify

import (
	"strings"
	"testing"
	"time"
)

var (
	paidThrough = time.Date(2031, time.March, 14, 23, 30, 0, 0, time.UTC)
	deleteAt    = time.Date(2031, time.April, 13, 0, 0, 0, 0, time.UTC)
)

func pureVPNData() Data {
	return Data{
		To:           "ann@example.com",
		CustomerName: "Ann Example",
		PlanName:     "Standard VPN, monthly",
		Provider:     ProviderPureVPN,
		Username:     "pvpn_user_7731",
		Password:     "Ab3dE5gH",
		PaidThrough:  paidThrough,
		DeleteAt:     deleteAt,
		AmountDue:    "9.99 EUR",
		InvoiceURL:   "https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1",
		MessageID:    "<kind.sub_123.1@vpnbill>",
	}
}

func vpnkiData() Data {
	d := pureVPNData()
	d.Provider = ProviderVPNKI
	d.Username = "tunnel_4411"
	d.Password = "kiPass77"
	d.Server = "msk.vpnki.ru"
	return d
}

func TestRenderEveryKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    Kind
		data    Data
		subject string
		// want must appear in both the text and the HTML part; wantText in the text part only
		// (HTML escapes some of it).
		want     []string
		wantText []string
		notWant  []string
	}{
		{Welcome, pureVPNData(), "Your VPN account is ready",
			[]string{"Ann Example", "Standard VPN, monthly", "pvpn_user_7731", "Ab3dE5gH", "PureVPN app", "built-in VPN client", "14 March 2031"},
			nil, []string{"PPTP", "OpenVPN"}},
		{Welcome, vpnkiData(), "Your VPN account is ready",
			[]string{"tunnel_4411", "kiPass77", "msk.vpnki.ru", "PPTP", "L2TP/IPsec", "OpenVPN"},
			nil, []string{"PureVPN app"}},
		{Resumed, pureVPNData(), "Your VPN service is active again",
			[]string{"active again", "pvpn_user_7731", "Ab3dE5gH", "PureVPN app"},
			nil, []string{"are new"}},
		{Resumed, vpnkiData(), "Your VPN service is active again",
			[]string{"active again", "are new", "tunnel_4411", "kiPass77", "msk.vpnki.ru", "L2TP/IPsec"},
			nil, nil},
		{CredentialsReset, pureVPNData(), "Your new VPN credentials",
			[]string{"reset", "no longer works", "pvpn_user_7731", "Ab3dE5gH"},
			nil, nil},
		{CredentialsReset, vpnkiData(), "Your new VPN credentials",
			[]string{"tunnel_4411", "kiPass77", "msk.vpnki.ru", "OpenVPN"},
			nil, nil},
		{PaymentFailed, pureVPNData(), "We couldn't process your VPN payment",
			[]string{"couldn't charge", "9.99 EUR", "Stripe will retry", "continues for now"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Suspended, pureVPNData(), "Your VPN service is suspended",
			[]string{"suspended", "resumes automatically"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Canceled, pureVPNData(), "Your VPN subscription has been canceled",
			[]string{"canceled", "14 March 2031", "deleted on", "13 April 2031"},
			nil, []string{"Ab3dE5gH"}},
		{TrialEnding, pureVPNData(), "Your VPN trial ends soon",
			[]string{"free trial", "Standard VPN, monthly", "14 March 2031", "first payment"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{PaymentAction, pureVPNData(), "Please confirm your VPN payment",
			[]string{"confirm your payment", "9.99 EUR", "continues for now"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Ending, pureVPNData(), "Your VPN subscription is ending",
			[]string{"set to end", "runs until", "14 March 2031", "Standard VPN, monthly", "will not be charged again"},
			nil, []string{"Ab3dE5gH"}},
		{Deleted, pureVPNData(), "Your VPN account has been deleted",
			[]string{"has been deleted", "pvpn_user_7731"},
			nil, []string{"Ab3dE5gH"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.data.Provider, func(t *testing.T) {
			t.Parallel()
			msg, err := Render(tt.kind, tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if msg.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", msg.Subject, tt.subject)
			}
			if msg.To != tt.data.To || msg.MessageID != tt.data.MessageID {
				t.Errorf("To/MessageID = %q/%q", msg.To, msg.MessageID)
			}
			html := strings.ReplaceAll(msg.HTML, "&#39;", "'")
			for _, w := range tt.want {
				if !strings.Contains(msg.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, msg.Text)
				}
				if !strings.Contains(html, w) {
					t.Errorf("HTML lacks %q:\n%s", w, msg.HTML)
				}
			}
			for _, w := range tt.wantText {
				if !strings.Contains(msg.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, msg.Text)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg.Text, w) || strings.Contains(msg.HTML, w) {
					t.Errorf("%s mail mentions %q", tt.kind, w)
				}
			}
			if !strings.HasPrefix(msg.HTML, "<!DOCTYPE html>") || !strings.Contains(msg.HTML, "</html>") {
				t.Errorf("HTML part is not a document:\n%s", msg.HTML)
			}
			if strings.Contains(msg.Text, "\n\n\n") || strings.Contains(msg.Text, "<no value>") || strings.Contains(msg.HTML, "<no value>") {
				t.Errorf("sloppy rendering:\n%s", msg.Text)
			}
		})
	}
}

func TestRenderCoversEveryKind(t *testing.T) {
	t.Parallel()
	for _, kind := range Kinds() {
		if _, err := Render(kind, vpnkiData()); err != nil {
			t.Errorf("Render(%s): %v", kind, err)
		}
	}
	if len(Kinds()) != len(kindSpecs) {
		t.Errorf("Kinds lists %d kinds, templates exist for %d", len(Kinds()), len(kindSpecs))
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	t.Parallel()
	d := pureVPNData()
	d.CustomerName = `<script>alert("x")</script>`
	d.PlanName = `Plan <b>&</b>`
	d.Password = `p<w>&"d`
	msg, err := Render(Welcome, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "<script>") || strings.Contains(msg.HTML, "<b>") || strings.Contains(msg.HTML, "p<w>") {
		t.Errorf("HTML part holds unescaped input:\n%s", msg.HTML)
	}
	for _, want := range []string{"&lt;script&gt;", "Plan &lt;b&gt;&amp;&lt;/b&gt;", "p&lt;w&gt;&amp;&#34;d"} {
		if !strings.Contains(msg.HTML, want) {
			t.Errorf("HTML lacks escaped %q", want)
		}
	}
	// The text part is plain text: the name is shown as the customer typed it.
	if !strings.Contains(msg.Text, `Hello <script>alert("x")</script>,`) || !strings.Contains(msg.Text, `p<w>&"d`) {
		t.Errorf("text part altered the input:\n%s", msg.Text)
	}
}

func TestRenderGreetingWithoutName(t *testing.T) {
	t.Parallel()
	d := pureVPNData()
	d.CustomerName = ""
	msg, err := Render(Suspended, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "Hello,\n") || !strings.Contains(msg.HTML, "<p>Hello,</p>") {
		t.Errorf("greeting without a name:\n%s", msg.Text)
	}
}

func TestRenderOptionalParts(t *testing.T) {
	t.Parallel()
	d := pureVPNData()
	d.InvoiceURL, d.AmountDue, d.PlanName = "", "", ""
	msg, err := Render(PaymentFailed, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.Text, "visit:") || strings.Contains(msg.HTML, "<a ") {
		t.Errorf("link shown without InvoiceURL:\n%s", msg.Text)
	}
	if !strings.Contains(msg.Text, "make sure your payment method is up to date") {
		t.Errorf("no advice without InvoiceURL:\n%s", msg.Text)
	}
	if strings.Contains(msg.Text, " for  ") || strings.Contains(msg.Text, "for your  subscription") {
		t.Errorf("empty optional fields leave gaps:\n%s", msg.Text)
	}
}

func TestRenderValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    Kind
		mutate  func(*Data)
		wantErr []string
	}{
		{"unknown kind", "birthday", func(*Data) {}, []string{`unknown kind "birthday"`}},
		{"welcome without To", Welcome, func(d *Data) { d.To = "" }, []string{"To is required"}},
		{"welcome with a bad To", Welcome, func(d *Data) { d.To = "ann@" }, []string{"not an email address"}},
		{"welcome without credentials", Welcome, func(d *Data) { d.Username, d.Password = "", "" },
			[]string{"Username is required", "Password is required"}},
		{"welcome without provider", Welcome, func(d *Data) { d.Provider = "" }, []string{"Provider is required"}},
		{"unknown provider", Deleted, func(d *Data) { d.Provider = "nordvpn" }, []string{`Provider "nordvpn"`}},
		{"vpnki welcome without server", Welcome, func(d *Data) { d.Provider, d.Server = ProviderVPNKI, "" },
			[]string{"Server is required for vpnki"}},
		{"vpnki resumed without password", Resumed, func(d *Data) { d.Provider, d.Server, d.Password = ProviderVPNKI, "vpn.example.net", "" },
			[]string{"Password is required"}},
		{"credentials reset without username", CredentialsReset, func(d *Data) { d.Username = "" }, []string{"Username is required"}},
		{"canceled without DeleteAt", Canceled, func(d *Data) { d.DeleteAt = time.Time{} }, []string{"DeleteAt is required"}},
		{"no MessageID", PaymentFailed, func(d *Data) { d.MessageID = "" }, []string{"MessageID is required"}},
		{"javascript invoice URL", PaymentFailed, func(d *Data) { d.InvoiceURL = "javascript:alert(1)" }, []string{"InvoiceURL"}},
		{"line break in name", Suspended, func(d *Data) { d.CustomerName = "Ann\nBcc: x@example.com" }, []string{"CustomerName contains a line break"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := pureVPNData()
			tt.mutate(&d)
			_, err := Render(tt.kind, d)
			if err == nil {
				t.Fatal("Render accepted invalid data")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}

	// Kinds without credentials need none.
	for _, kind := range []Kind{PaymentFailed, Suspended, Canceled, Deleted} {
		d := Data{To: "ann@example.com", MessageID: "<x.1.1@vpnbill>", DeleteAt: deleteAt}
		if _, err := Render(kind, d); err != nil {
			t.Errorf("Render(%s) with minimal data: %v", kind, err)
		}
	}
}

// A PureVPN account resumes with its old credentials: the email names the
// username and carries no password.
func TestRenderPureVPNResumedKeepsCredentials(t *testing.T) {
	t.Parallel()
	m, err := Render(Resumed, Data{To: "ann@example.com", Provider: ProviderPureVPN, Username: "pvr100001",
		MessageID: "<resumed.1.sub_1@vpnbill>"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{m.Text, m.HTML} {
		if !strings.Contains(body, "pvr100001") || strings.Contains(body, "Password:") {
			t.Errorf("resumed email should name the username and no password:\n%s", body)
		}
	}
}

func TestRenderRequiresTheDateAndTheLink(t *testing.T) {
	t.Parallel()
	d := pureVPNData()
	d.PaidThrough = time.Time{}
	if _, err := Render(TrialEnding, d); err == nil || !strings.Contains(err.Error(), "PaidThrough is required") {
		t.Errorf("trial ending without its date: %v", err)
	}
	d = pureVPNData()
	d.InvoiceURL = ""
	if _, err := Render(PaymentAction, d); err == nil || !strings.Contains(err.Error(), "InvoiceURL is required") {
		t.Errorf("payment action without its link: %v", err)
	}
}
