package notify

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	paidThrough = time.Date(2031, time.March, 14, 23, 30, 0, 0, time.UTC)
	deleteAt    = time.Date(2031, time.April, 13, 0, 0, 0, 0, time.UTC)
)

// pureVPNData is an account one connects to with the provider's app, as
// PureVPN's (its capabilities name the app).
func pureVPNData() Data {
	return Data{
		To:           "ann@example.com",
		CustomerName: "Ann Example",
		PlanName:     "Standard VPN, monthly",
		App:          "PureVPN",
		Username:     "pvpn_user_7731",
		Password:     "Ab3dE5gH",
		PaidThrough:  paidThrough,
		DeleteAt:     deleteAt,
		AmountDue:    "9.99 EUR",
		InvoiceURL:   "https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1",
		MessageID:    "<kind.sub_123.1@vpnbill>",
	}
}

// vpnkiData is an account that comes with a server address one connects
// to with the device's own VPN client, as VPNKI's; it cannot be suspended,
// so it is made anew on resume.
func vpnkiData() Data {
	d := pureVPNData()
	d.App = ""
	d.Username = "tunnel_4411"
	d.Password = "kiPass77"
	d.Server = "msk.vpnki.ru"
	d.Protocols = "PPTP, L2TP/IPsec or OpenVPN"
	d.NewCredentials = true
	return d
}

// seat returns d as seat n of a plan of seats accounts.
func seat(d Data, n, seats int) Data {
	d.Seat, d.Seats = n, seats
	return d
}

func TestRenderEveryKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    Kind
		name    string
		data    Data
		subject string
		// want must appear in both the text and the HTML part; wantText in the text part only
		// (HTML escapes some of it).
		want     []string
		wantText []string
		notWant  []string
	}{
		{Welcome, "app", pureVPNData(), "Your VPN account is ready",
			[]string{"Ann Example", "Standard VPN, monthly", "pvpn_user_7731", "Ab3dE5gH", "our VPN app", "built-in VPN client", "14 March 2031"},
			nil, []string{"PPTP", "OpenVPN", "PureVPN"}},
		{Welcome, "server", vpnkiData(), "Your VPN account is ready",
			[]string{"tunnel_4411", "kiPass77", "msk.vpnki.ru", "PPTP", "L2TP/IPsec", "OpenVPN"},
			nil, []string{"our VPN app"}},
		{Resumed, "app", pureVPNData(), "Your VPN service is active again",
			[]string{"active again", "pvpn_user_7731", "Ab3dE5gH", "our VPN app"},
			nil, []string{"are new", "PureVPN"}},
		{Resumed, "server", vpnkiData(), "Your VPN service is active again",
			[]string{"active again", "are new", "tunnel_4411", "kiPass77", "msk.vpnki.ru", "L2TP/IPsec"},
			nil, nil},
		{CredentialsReset, "app", pureVPNData(), "Your new VPN credentials",
			[]string{"reset", "no longer works", "pvpn_user_7731", "Ab3dE5gH"},
			nil, nil},
		{CredentialsReset, "server", vpnkiData(), "Your new VPN credentials",
			[]string{"tunnel_4411", "kiPass77", "msk.vpnki.ru", "OpenVPN"},
			nil, nil},
		{PaymentFailed, "app", pureVPNData(), "We couldn't process your VPN payment",
			[]string{"couldn't charge", "9.99 EUR", "Stripe will retry", "continues for now"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Suspended, "app", pureVPNData(), "Your VPN service is suspended",
			[]string{"suspended", "resumes automatically"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Canceled, "app", pureVPNData(), "Your VPN subscription has been canceled",
			[]string{"canceled", "14 March 2031", "deleted on", "13 April 2031"},
			nil, []string{"Ab3dE5gH"}},
		{TrialEnding, "app", pureVPNData(), "Your VPN trial ends soon",
			[]string{"free trial", "Standard VPN, monthly", "14 March 2031", "first payment"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{PaymentAction, "app", pureVPNData(), "Please confirm your VPN payment",
			[]string{"confirm your payment", "9.99 EUR", "continues for now"},
			[]string{"https://invoice.stripe.com/i/acct_1/test_2?s=ap&x=1"}, []string{"Ab3dE5gH"}},
		{Ending, "app", pureVPNData(), "Your VPN subscription is ending",
			[]string{"set to end", "runs until", "14 March 2031", "Standard VPN, monthly", "will not be charged again"},
			nil, []string{"Ab3dE5gH"}},
		{SeatRemoved, "app", seat(pureVPNData(), 2, 4), "A seat of your VPN plan was removed",
			[]string{"A seat of your plan (Standard VPN, monthly) was removed", "seat 2's account", "pvpn_user_7731",
				"no longer works", "13 April 2031", "other seats of your plan keep working"},
			nil, []string{"Ab3dE5gH", "PureVPN"}},
		{Deleted, "app", pureVPNData(), "Your VPN account has been deleted",
			[]string{"has been deleted", "pvpn_user_7731"},
			nil, []string{"Ab3dE5gH"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.name, func(t *testing.T) {
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
		d := seat(vpnkiData(), 1, 1)
		d.PortalURL = portalURL
		if _, err := Render(kind, d); err != nil {
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
		{"welcome without a way to connect", Welcome, func(d *Data) { d.App = "" }, []string{"Server or App is required"}},
		{"server account's welcome without server", Welcome, func(d *Data) { *d = vpnkiData(); d.Server = "" },
			[]string{"Server or App is required"}},
		{"resumed with new credentials without password", Resumed, func(d *Data) { *d = vpnkiData(); d.Password = "" },
			[]string{"Password is required"}},
		{"resumed without a way to connect", Resumed, func(d *Data) { d.App, d.Password = "", "" }, []string{"Server or App is required"}},
		{"seat outside the plan", Welcome, func(d *Data) { d.Seat, d.Seats = 6, 5 }, []string{"Seat 6 is not one of the plan's 5 seats"}},
		{"no seat of several", CredentialsReset, func(d *Data) { d.Seats = 5 }, []string{"Seat 0 is not one of the plan's 5 seats"}},
		{"negative seats", Welcome, func(d *Data) { d.Seats = -1 }, []string{"negative"}},
		{"seat removed without seat", SeatRemoved, func(d *Data) { d.Seats = 4 }, []string{"Seat is required for seat_removed"}},
		{"seat removed without username", SeatRemoved, func(d *Data) { d.Seat, d.Username = 5, "" }, []string{"Username is required"}},
		{"seat removed without DeleteAt", SeatRemoved, func(d *Data) { d.Seat, d.DeleteAt = 5, time.Time{} }, []string{"DeleteAt is required"}},
		{"line break in app", Welcome, func(d *Data) { d.App = "PureVPN\nBcc: x@example.com" }, []string{"App contains a line break"}},
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

// An account that was suspended and enabled again (PureVPN's) resumes with
// its old credentials: the email names the username and carries no password.
func TestRenderResumedKeepsCredentials(t *testing.T) {
	t.Parallel()
	m, err := Render(Resumed, Data{To: "ann@example.com", App: "PureVPN", Username: "pvr100001",
		MessageID: "<resumed.1.sub_1@vpnbill>"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{m.Text, m.HTML} {
		if !strings.Contains(body, "pvr100001") || strings.Contains(body, "Password:") || strings.Contains(body, "are new") {
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

// The removal of a seat names the seat, its account and the deletion date.
func TestRenderSeatRemoved(t *testing.T) {
	t.Parallel()
	d := seat(vpnkiData(), 3, 2)
	d.PlanName = ""
	m, err := Render(SeatRemoved, d)
	if err != nil {
		t.Fatal(err)
	}
	want := "A seat of your plan was removed: seat 3's account tunnel_4411 no longer works and will be deleted on 13 April 2031."
	html := strings.ReplaceAll(m.HTML, "&#39;", "'")
	html = strings.NewReplacer("<code>", "", "</code>", "", "<strong>", "", "</strong>", "").Replace(html)
	for part, body := range map[string]string{"text": m.Text, "HTML": html} {
		if !strings.Contains(strings.Join(strings.Fields(body), " "), want) {
			t.Errorf("%s part lacks %q:\n%s", part, want, body)
		}
		if strings.Contains(body, "kiPass77") || strings.Contains(body, "msk.vpnki.ru") {
			t.Errorf("%s part shows the removed account's credentials:\n%s", part, body)
		}
	}
}

// With several seats, an email that carries credentials says which seat
// they are for, in its subject and its body; with one seat nothing changes.
func TestRenderSeats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    Kind
		data    Data
		subject string
	}{
		{Welcome, pureVPNData(), "Your VPN account is ready (seat 2 of 5)"},
		{CredentialsReset, vpnkiData(), "Your new VPN credentials (seat 2 of 5)"},
		{Resumed, vpnkiData(), "Your VPN service is active again (seat 2 of 5)"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			m, err := Render(tt.kind, seat(tt.data, 2, 5))
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
				if !strings.Contains(body, "This is seat 2 of 5 of your plan.") {
					t.Errorf("%s part does not say which seat:\n%s", part, body)
				}
			}
			if !strings.Contains(m.HTML, "<h1 style=\"font-size:20px;margin:0 0 16px;\">"+tt.subject+"</h1>") {
				t.Errorf("HTML heading is not the subject:\n%s", m.HTML)
			}

			alone, err := Render(tt.kind, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			for _, one := range []Data{seat(tt.data, 1, 1), seat(tt.data, 0, 0)} {
				if m, err := Render(tt.kind, one); err != nil || !reflect.DeepEqual(m, alone) {
					t.Errorf("seat %d of %d: the email changed (%v):\n%s", one.Seat, one.Seats, err, m.Text)
				}
			}
		})
	}

	// Emails without credentials are about the plan, not a seat.
	for _, kind := range []Kind{Suspended, PaymentFailed, Canceled} {
		m, err := Render(kind, seat(pureVPNData(), 2, 5))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Subject, "seat") || strings.Contains(m.Text, "seat") {
			t.Errorf("%s names a seat:\n%s", kind, m.Text)
		}
	}
	resumed := seat(pureVPNData(), 2, 5)
	resumed.Password = "" // enabled again with the credentials it had
	if m, err := Render(Resumed, resumed); err != nil || strings.Contains(m.Subject, "seat") {
		t.Errorf("resumed without credentials: %q, %v", m.Subject, err)
	}
}
