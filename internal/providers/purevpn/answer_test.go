package purevpn

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vpnbill/vpnbill/internal/providers"
)

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want answer
		err  bool
	}{
		{"create", "<xml>\n<user>pvr1</user>\n<vpn_password>abCD1234</vpn_password>\n<result>1</result>\n</xml>",
			answer{Result: "1", User: "pvr1", VPNPassword: "abCD1234"}, false},
		{"declaration and other root", `<?xml version="1.0" encoding="UTF-8"?><response><Result> 1 </Result><USERNAME>pvr2</USERNAME><password>x</password></response>`,
			answer{Result: "1", User: "pvr2", VPNPassword: "x"}, false},
		{"status", "<xml><expiry_status>February 20, 2013</expiry_status><status>Enabled</status><result>1</result></xml>",
			answer{Result: "1", Expiry: "February 20, 2013", Status: "Enabled"}, false},
		{"failure with message", "<xml><result>0</result><message>Invalid   period\n</message></xml>",
			answer{Result: "0", Reason: "Invalid period"}, false},
		{"failure with error and reason", "<xml><result>0</result><error>bad</error><reason>worse</reason></xml>",
			answer{Result: "0", Reason: "bad; worse"}, false},
		{"failure with nested error", "<xml><result>0</result><error><code>7</code><msg>IP not allowed</msg></error></xml>",
			answer{Result: "0", Reason: "7 IP not allowed"}, false},
		{"failure as root text", "<xml>Invalid username<result>0</result></xml>",
			answer{Result: "0", Reason: "Invalid username"}, false},
		{"failure in a loose element", "<xml><result>0</result><detail>no credit</detail></xml>",
			answer{Result: "0", Reason: "no credit"}, false},
		{"failure without reason", "<xml><result>0</result></xml>", answer{Result: "0"}, false},
		{"first result wins", "<xml><result>0</result><result>1</result></xml>", answer{Result: "0"}, false},
		{"unescaped ampersand and entity", "<xml><result>0</result><message>user &amp; pass &nbsp;wrong & bad</message></xml>",
			answer{Result: "0", Reason: "user & pass wrong & bad"}, false},
		{"latin1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><xml><result>0</result><message>caf\xe9</message></xml>",
			answer{Result: "0", Reason: "café"}, false},
		{"empty", "", answer{}, true},
		{"spaces", "  \n ", answer{}, true},
		{"plain text", "Internal Server Error", answer{}, true},
		{"JSON", `{"result":1,"user":"x"}`, answer{}, true},
		{"no result", "<xml><user>pvr1</user></xml>", answer{}, true},
		{"HTML page", "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>", answer{}, true},
		{"truncated", "<xml><user>pvr1</user><vpn_pass", answer{}, true},
		{"unknown charset", `<?xml version="1.0" encoding="KOI8-R"?><xml><result>1</result></xml>`, answer{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAnswer([]byte(tt.body))
			if tt.err {
				if !errors.Is(err, errNoAnswer) {
					t.Fatalf("parseAnswer = %+v, %v; want errNoAnswer", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseAnswer = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestUnreadableAnswerHidesPasswords(t *testing.T) {
	t.Parallel()
	c, err := New(Config{URL: "http://127.0.0.1:1", User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`<xml><user>pvr1</user><vpn_password type="plain">abCD1234</vpn_password></xml>`,
		`<xml><user>pvr1</user><VPN_Password >abCD1234</VPN_Password ><result>1</result`,
		`<xml><user>pvr1</user><vpn_password>abCD1234`,
		`<xml><password>abCD1234</password><user>pvr1`,
		"<xml><new_pass\n>abCD1234</new_pass></xml>",
	} {
		_, err := c.interpret(providers.Call{Method: methodCreate}, &providers.Response{Status: 200, Body: []byte(body)}, "")
		if !errors.Is(err, providers.ErrUncertain) || strings.Contains(err.Error(), "abCD1234") || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("body %q: %v", body, err)
		}
	}
}

func TestParseAnswerClipsReason(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300)
	a, err := parseAnswer([]byte("<xml><result>0</result><message>" + long + "</message></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Reason) > maxReason+len("…") || !utf8.ValidString(a.Reason) {
		t.Errorf("reason of %d bytes, valid UTF-8 %v", len(a.Reason), utf8.ValidString(a.Reason))
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	feb20 := time.Date(2013, 2, 20, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		status, expiry string
		enabled        bool
		want           time.Time
		err            bool
	}{
		{"Enabled", "February 20, 2013", true, feb20, false},
		{"Disabled", "2013-02-20", false, feb20, false},
		{"disabled", "02/20/2013", false, feb20, false},
		{"ACTIVE", "2013-02-20 15:04:05", true, feb20.Add(15*time.Hour + 4*time.Minute + 5*time.Second), false},
		{"Enabled", "Feb 20, 2013", true, feb20, false},
		{"Enabled", "2013-02-20T10:00:00+02:00", true, feb20.Add(8 * time.Hour), false},
		{"Disabled:February 20, 2013", "", false, feb20, false},
		{"Enabled : 2013-02-20 15:04:05", "", true, feb20.Add(15*time.Hour + 4*time.Minute + 5*time.Second), false},
		{"Disabled:February 20, 2013", "2013-03-01", false, feb20.AddDate(0, 0, 9), false}, // the separate expiry wins
		{"Disabled:February 20, 2013", "soon", false, feb20, false},                        // unless it does not read
		{"Expired", "February 20, 2013", false, feb20, false},
		{"Enabled", "", false, time.Time{}, true},
		{"", "February 20, 2013", false, time.Time{}, true},
		{"Pending", "February 20, 2013", false, time.Time{}, true},
		{"Enabled", "20.02.2013", false, time.Time{}, true},
		{"Disabled:", "", false, time.Time{}, true},
	}
	for _, tt := range tests {
		st, err := parseStatus(tt.status, tt.expiry)
		if tt.err {
			if err == nil {
				t.Errorf("parseStatus(%q, %q) = %+v, want an error", tt.status, tt.expiry, st)
			}
			continue
		}
		if err != nil || st.Enabled != tt.enabled || !st.Expiry.Equal(tt.want) || st.Expiry.Location() != time.UTC || st.RawStatus != tt.status {
			t.Errorf("parseStatus(%q, %q) = %+v, %v; want enabled %v until %v UTC", tt.status, tt.expiry, st, err, tt.enabled, tt.want)
		}
	}
}

func TestClassifyReason(t *testing.T) {
	t.Parallel()
	unauthorized := []string{
		"Invalid api_user or api_password", "Authentication failed", "Not authorized", "Unauthorised",
		"Invalid credentials", "Your IP is not allowed", "IP address 1.2.3.4 not whitelisted",
		"Caller not in allow-list", "Access denied", "Reseller account suspended", "Insufficient balance",
		"invalid API user", "Login failed",
	}
	rejected := []string{
		"", "Invalid period", "Username does not exist", "Invalid package_type",
		"New password must be alphanumeric and 8 characters long", "Period not allowed",
		"zip code", "Account not found under this reseller", "Invalid update_status",
	}
	for _, r := range unauthorized {
		if c := ClassifyReason(r); c != providers.Unauthorized {
			t.Errorf("ClassifyReason(%q) = %v, want unauthorized", r, c)
		}
	}
	for _, r := range rejected {
		if c := ClassifyReason(r); c != providers.Rejected {
			t.Errorf("ClassifyReason(%q) = %v, want rejected", r, c)
		}
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"standard", " SSTP ", "High-BW"} {
		if _, err := ParsePackageType(in); err != nil {
			t.Errorf("ParsePackageType(%q): %v", in, err)
		}
	}
	if _, err := ParsePackageType("GOLD"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ParsePackageType(GOLD): %v", err)
	}
	for _, d := range []int{30, 60, 90, 180, 365} {
		p, err := PeriodFromDays(d)
		if err != nil || p.Days() != d || p.String() != fmt.Sprintf("#%d", d) {
			t.Errorf("PeriodFromDays(%d) = %v, %v", d, p, err)
		}
	}
	if Period180.String() != "#180" {
		t.Errorf("Period180 = %q", Period180.String())
	}
	for _, d := range []int{0, -30, 31, 366} {
		if _, err := PeriodFromDays(d); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PeriodFromDays(%d): %v", d, err)
		}
	}
}
