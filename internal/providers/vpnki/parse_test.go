package vpnki

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The parsers are pure functions of an answer body: these tables pin down how
// liberal they are with shapes the simulator does not produce.

func TestParseTunnelsShapes(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 1, 31, 23, 59, 59, 0, time.UTC)
	one := []Tunnel{{Name: "user356", Login: "user356", Comment: "office", Address: "msk.vpnki.ru", Created: created}}
	cases := []struct {
		name string
		body string
		want []Tunnel
	}{
		{"simulator's shape", `[{"tunnel":"user356","login":"user356","comment":"office","vpnki_address":"msk.vpnki.ru","created":"2024-01-31 23-59-59"}]`, one},
		{"wrapped in tunnels, MySQL time", `{"tunnels":[{"tunnel":"user356","login":"user356","comment":"office","vpnki_address":"msk.vpnki.ru","created":"2024-01-31 23:59:59"}]}`, one},
		{"status and data, unix time", `{"status":"OK","data":[{"name":"user356","login":"user356","comment":"office","address":"msk.vpnki.ru","created":1706745599}]}`, one},
		{"keyed by name", `{"user356":{"login":"user356","comment":"office","vpnki_address":"msk.vpnki.ru","created":"2024-01-31T23:59:59Z"}}`, one},
		{"BOM and a single object", "\ufeff" + ` {"tunnel":"user356","login":"user356","comment":"office","vpnki_address":"msk.vpnki.ru","created":"2024-01-31 23-59-59"} `, one},
		{"names only", `["user1", 2]`, []Tunnel{{Name: "user1"}, {Name: "2"}}},
		{"login only, bad time", `[{"login":"user9","created":"yesterday"}]`, []Tunnel{{Name: "user9", Login: "user9"}}},
		{"nameless entries skipped", `[{"comment":""}, null, true, {"tunnel":"user7"}]`, []Tunnel{{Name: "user7"}}},
		{"empty array", `[]`, []Tunnel{}},
		{"null", `null`, []Tunnel{}},
		{"empty object", `{}`, []Tunnel{}},
		{"wrapped null", `{"result":null}`, []Tunnel{}},
		{"zero time", `[{"tunnel":"user1","created":"0000-00-00 00:00:00"}]`, []Tunnel{{Name: "user1"}}},
	}
	for _, tc := range cases {
		got, ae := parseTunnels([]byte(tc.body))
		if ae != nil {
			t.Errorf("%s: %+v", tc.name, ae)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseActiveAndSessions(t *testing.T) {
	t.Parallel()
	since := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	act, ae := parseActive([]byte(`{"active":[{"tunnel":"user1","ip":"10.0.0.2","since":"2024-03-01 12-00-00"},{"login":"user2","ip_address":"10.0.0.3","start":"2024-03-01 12:00:00"}]}`))
	want := []ActiveTunnel{{Tunnel: "user1", IP: "10.0.0.2", Since: since}, {Tunnel: "user2", IP: "10.0.0.3", Since: since}}
	if ae != nil || fmt.Sprint(act) != fmt.Sprint(want) {
		t.Errorf("parseActive = %+v, %+v; want %+v", act, ae, want)
	}
	ses, ae := parseSessions([]byte(`[{"tunnel":"user1","start":"2024-03-01 12-00-00","end":"2024-03-01 12-30-00","bytes_in":"1000","bytes_out":2e3},{"start":"2024-03-01 12-00-00","in":5,"out":"7"}, "junk"]`), "user1")
	wantS := []Session{
		{Tunnel: "user1", Start: since, End: since.Add(30 * time.Minute), BytesIn: 1000, BytesOut: 2000},
		{Tunnel: "user1", Start: since, BytesIn: 5, BytesOut: 7},
	}
	if ae != nil || fmt.Sprint(ses) != fmt.Sprint(wantS) {
		t.Errorf("parseSessions = %+v, %+v; want %+v", ses, ae, wantS)
	}
	ses, ae = parseSessions([]byte(`[{"tunnel":"u","bytes_in":1e300,"bytes_out":-1e300}]`), "")
	if ae != nil || len(ses) != 1 || ses[0].BytesIn <= 0 || ses[0].BytesOut >= 0 {
		t.Errorf("huge numbers = %+v, %+v; want clamped", ses, ae)
	}
}

func TestParseRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body  string
		msg   string // the provider's words, or
		shape bool   // an answer we cannot read
	}{
		{`{"error":"Wrong key"}`, "Wrong key", false},
		{`{"add error":"Limit of tunnels reached"}`, "Limit of tunnels reached", false},
		{`{"message":"This function is available only for users with Priority status"}`, "This function is available only for users with Priority status", false},
		{`{"status":"error","message":"Unknown resource"}`, "Unknown resource", false},
		{`{"success":false,"msg":"Denied"}`, "Denied", false},
		{`{"error":{"code":401,"message":"Bad key"}}`, "Bad key", false},
		{`{"error":true,"message":"Oops"}`, "Oops", false},
		{`"Wrong key"`, "Wrong key", false},
		{`{"errors":["a","b"]}`, `errors: ["a","b"]`, false},
		{`{"error":"","data":[]}`, "", false}, // an empty error is no error: an empty list
		{`<html>`, "", true},
		{``, "", true},
		{`[1] [2]`, "", true},
		{`42`, "", true},
		{`{"foo":"bar"}`, "", true},
	}
	for _, tc := range cases {
		_, ae := parseTunnels([]byte(tc.body))
		switch {
		case tc.msg == "" && !tc.shape:
			if ae != nil {
				t.Errorf("%s: %+v; want a list", tc.body, ae)
			}
		case ae == nil:
			t.Errorf("%s: accepted", tc.body)
		case tc.shape != (ae.shape != "") || ae.msg != tc.msg:
			t.Errorf("%s: %+v; want msg %q shape %v", tc.body, ae, tc.msg, tc.shape)
		}
	}
}

func TestParseAdd(t *testing.T) {
	t.Parallel()
	want := NewTunnel{Tunnel: "user356", Login: "user356", Password: "Xy12ab34", Address: "msk.vpnki.ru"}
	for _, body := range []string{
		`{"vpnki_address":"msk.vpnki.ru","comment":"user356","login":"user356","password":"Xy12ab34"}`,
		`{"result":{"vpnki_address":"msk.vpnki.ru","comment":"user356","login":"user356","password":"Xy12ab34"}}`,
		`[{"vpnki_address":"msk.vpnki.ru","login":"user356","pass":"Xy12ab34"}]`,
	} {
		got, ae := parseAdd([]byte(body))
		if ae != nil || got != want {
			t.Errorf("parseAdd(%s) = %+v, %+v; want %+v", body, got, ae, want)
		}
	}
	// Answers that may have created a tunnel but cannot be used: unreadable,
	// with the password found kept for scrubbing.
	_, ae := parseAdd([]byte(`{"comment":"user356","password":"Xy12ab34"}`))
	if ae == nil || ae.shape == "" || !strings.Contains(strings.Join(ae.secrets, " "), "Xy12ab34") {
		t.Errorf("an answer without login = %+v; want unreadable with the password as secret", ae)
	}
	if got := passwordsInText([]byte(`Warning <br/>{"login":"u","password":"p\"w1","Tunnel_Pass":"zz"}`)); fmt.Sprint(got) != `[p\"w1 zz]` {
		t.Errorf("passwordsInText = %q", got)
	}
}

func TestParseDel(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"status":"OK"}`, `{"status":"ok"}`, `{"result":"OK"}`, `"OK"`, "OK", " ok\n", `{"status":"OK","message":"Tunnel deleted"}`, `{"success":true}`, `true`} {
		if ae := parseDel([]byte(body)); ae != nil {
			t.Errorf("parseDel(%q) = %+v; want OK", body, ae)
		}
	}
	refusals := map[string]string{
		`{"del error":"tunnel user9 not found"}`:   "tunnel user9 not found",
		`{"status":"error","message":"No tunnel"}`: "No tunnel",
		`{"message":"Priority status needed"}`:     "Priority status needed",
		`"Unknown tunnel"`:                         "Unknown tunnel",
	}
	for body, msg := range refusals {
		if ae := parseDel([]byte(body)); ae == nil || ae.msg != msg {
			t.Errorf("parseDel(%q) = %+v; want refusal %q", body, ae, msg)
		}
	}
	for _, body := range []string{``, `{}`, `{"status":"maybe"}`, `[]`, `KO!`, `false`} {
		if ae := parseDel([]byte(body)); ae == nil || ae.shape == "" {
			t.Errorf("parseDel(%q) = %+v; want unreadable", body, ae)
		}
	}
}

func TestClassifierPatterns(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"unknown tunnel user9", "tunnel user9 not found", "no such tunnel", "tunnel does not exist", "the tunnel doesn't exist"} {
		if !noSuchTunnel.MatchString(s) {
			t.Errorf("%q is not recognised as an unknown tunnel", s)
		}
	}
	for _, s := range []string{"no tunnel name", "tunnel limit reached", "unknown resource", "wrong key"} {
		if noSuchTunnel.MatchString(s) {
			t.Errorf("%q is taken for an unknown tunnel", s)
		}
	}
	for _, s := range []string{"wrong key", "invalid api key", "authorization failed", "access denied"} {
		if !badKey.MatchString(s) {
			t.Errorf("%q is not recognised as a refused key", s)
		}
	}
}

// FuzzParse feeds arbitrary answers to every parser: none may panic, and
// what they return is bounded by the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`[{"tunnel":"user356","login":"user356","comment":"c","vpnki_address":"a","created":"2024-01-31 23-59-59"}]`,
		`{"tunnels":{"user1":{"login":"user1"}}}`,
		`[{"tunnel":"user1","start":"2024-03-01 12-00-00","end":"1709294400","bytes_in":"12","bytes_out":1e30}]`,
		`{"vpnki_address":"a","comment":"user1","login":"user1","password":"p"}`,
		`{"error":{"message":"x"}}`, `{"status":"OK"}`, `OK`, `"OK"`, `null`, `[[[[]]]]`,
		`{"data":{"result":{"list":{"items":[1]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tunnels, ae := parseTunnels(body)
		checkAnswerError(t, ae, body)
		if len(tunnels) > len(body) {
			t.Fatalf("%d tunnels from %d bytes", len(tunnels), len(body))
		}
		for _, tun := range tunnels {
			if tun.Name == "" {
				t.Fatalf("a tunnel without a name: %+v", tun)
			}
		}
		active, ae := parseActive(body)
		checkAnswerError(t, ae, body)
		if len(active) > len(body) {
			t.Fatalf("%d active tunnels from %d bytes", len(active), len(body))
		}
		sessions, ae := parseSessions(body, "user1")
		checkAnswerError(t, ae, body)
		if len(sessions) > len(body) {
			t.Fatalf("%d sessions from %d bytes", len(sessions), len(body))
		}
		nt, ae := parseAdd(body)
		checkAnswerError(t, ae, body)
		if ae == nil && (nt.Login == "" || nt.Password == "" || nt.Tunnel == "") {
			t.Fatalf("add_tunnel accepted without login, password or name: %+v", nt)
		}
		checkAnswerError(t, parseDel(body), body)
		for _, p := range passwordsInText(body) {
			if len(p) > len(body) {
				t.Fatal("a password longer than the answer")
			}
		}
	})
}

func checkAnswerError(t *testing.T, ae *answerError, body []byte) {
	t.Helper()
	if ae == nil {
		return
	}
	if (ae.msg == "") == (ae.shape == "") {
		t.Fatalf("answerError must be a refusal or unreadable, not both or neither: %+v", ae)
	}
	// A refusal's words come from the answer (possibly re-encoded), so they
	// cannot be much longer than it.
	if len(ae.msg) > 6*len(body)+64 {
		t.Fatalf("refusal of %d bytes from a %d-byte answer", len(ae.msg), len(body))
	}
}

// FuzzParseTime checks that what ParseTime accepts, FormatTime writes back
// to a time that parses to the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2015-12-31 23-59-59", "0000-00-00 00-00-00", "0001-01-01 00-00-00", "NOW", "2016-10-10 00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		back, err := ParseTime(FormatTime(tm))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q → %v → %q → %v, %v", s, tm, FormatTime(tm), back, err)
		}
	})
}
