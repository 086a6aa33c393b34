package purevpn

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vpnbill/vpnbill/internal/providers"
)

// FuzzParseAnswer feeds arbitrary bodies to the code that turns an answer
// into a result: parseAnswer, then the client's interpretation of it for an
// idempotent and a non-idempotent method, then parseStatus. None may panic;
// each must return a result or an error of a known class, with a bounded,
// valid, secret-free reason.
func FuzzParseAnswer(f *testing.F) {
	for _, seed := range []string{
		"<xml>\n<user>pvr100001</user>\n<vpn_password>abCD1234</vpn_password>\n<result>1</result>\n</xml>\n",
		"<xml><expiry_status>February 20, 2013</expiry_status><status>Enabled</status><result>1</result></xml>",
		"<xml><status>Disabled:February 20, 2013</status><result>1</result></xml>",
		"<xml><result>0</result><message>Invalid api_user or api_password</message></xml>",
		"<xml>Invalid username<result>0</result></xml>",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><xml><result>0</result><error><msg>caf\xe9</msg></error></xml>",
		"<!DOCTYPE html><html><body><h1>Fatal error</h1><br></body></html>",
		"<xml><user>pvr1</user><vpn_password>abCD",
		"",
		"<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>",
	} {
		f.Add([]byte(seed))
	}
	const apiPassword = "fuzz-api-password"
	sum := md5.Sum([]byte(apiPassword))
	apiMD5 := hex.EncodeToString(sum[:])
	c, err := New(Config{URL: "http://127.0.0.1:1/api", User: "u", Password: apiPassword})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<20 { // the exchange never hands over more
			t.Skip()
		}
		a, err := parseAnswer(body)
		if err != nil {
			if !errors.Is(err, errNoAnswer) {
				t.Fatalf("parseAnswer error %v is not errNoAnswer", err)
			}
		} else {
			if len(a.Reason) > maxReason+len("…") || !utf8.ValidString(a.Reason) {
				t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(a.Reason), utf8.ValidString(a.Reason))
			}
			_ = ClassifyReason(a.Reason)
			if st, err := parseStatus(a.Status, a.Expiry); err == nil && st.Expiry.Location().String() != "UTC" {
				t.Fatalf("expiry %v not UTC", st.Expiry)
			}
		}
		for _, call := range []providers.Call{{Method: methodCreate}, {Method: methodStatus, Idempotent: true}} {
			a, err := c.interpret(call, &providers.Response{Status: 200, Body: body}, "")
			if err == nil {
				if a.Result != "1" {
					t.Fatalf("success with result %q", a.Result)
				}
				continue
			}
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a provider error", err)
			}
			switch pe.Class {
			case providers.Rejected, providers.Unauthorized:
			case providers.Uncertain, providers.Unavailable:
				if want := map[bool]providers.Class{false: providers.Uncertain, true: providers.Unavailable}[call.Idempotent]; pe.Class != want {
					t.Fatalf("unreadable answer to %s is %v, want %v", call.Method, pe.Class, want)
				}
			default:
				t.Fatalf("class %v", pe.Class)
			}
			if msg := err.Error(); strings.Contains(msg, apiPassword) || strings.Contains(msg, apiMD5) || len(msg) > 600 {
				t.Fatalf("error of %d bytes holds a secret or is too long: %q", len(msg), msg)
			}
		}
	})
}

// FuzzParseDate checks the expiry reader never panics and returns UTC.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"February 20, 2013", "2013-02-20", "2013-02-20 15:04:05", "02/20/2013", "Disabled:February 20, 2013", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, err := parseDate(s); err == nil && tm.Location().String() != "UTC" {
			t.Fatalf("%v not UTC", tm)
		}
		_, _ = parseStatus(s, s)
	})
}
