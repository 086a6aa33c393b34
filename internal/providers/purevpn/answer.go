package purevpn

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vpnbill/vpnbill/internal/providers"
)

// answer is what an XML answer says, whatever it answered.
type answer struct {
	Result      string // the <result> text, trimmed; success is "1"
	User        string // <user> (or <username>)
	VPNPassword string // <vpn_password> (or <password>); a secret
	Expiry      string // <expiry_status> (or <expiry>, <expiry_date>)
	Status      string // <status>
	Reason      string // a failure's own words, whitespace collapsed, at most maxReason bytes
}

// errNoAnswer means the body is not an answer of this API: not XML, or XML
// without a <result>.
var errNoAnswer = errors.New("not an API answer")

const maxReason = 200

// xmlNode is any element: its name, its own text, its children. Decoding
// into it is bounded by the body (Exchange caps it at 1 MiB) and by
// encoding/xml's own nesting limit.
type xmlNode struct {
	XMLName  xml.Name
	Text     string    `xml:",chardata"`
	Children []xmlNode `xml:",any"`
}

// parseAnswer reads an answer. It accepts any root element, element names in
// any case, the alternative names public clients have seen, HTML entities and
// a Latin-1 declaration; it fails with errNoAnswer when the body is not XML or
// has no <result>. It never panics.
func parseAnswer(body []byte) (answer, error) {
	var root xmlNode
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	d.CharsetReader = charsetReader
	if err := d.Decode(&root); err != nil {
		return answer{}, fmt.Errorf("%w: %s", errNoAnswer, shortXMLError(err))
	}
	var a answer
	found := map[string]bool{}
	var reasons, loose []string
	for _, c := range root.Children {
		name := strings.ToLower(c.XMLName.Local)
		text := strings.TrimSpace(c.Text)
		take := func(dst *string) {
			if !found[name] {
				found[name] = true
				*dst = text
			}
		}
		switch name {
		case "result":
			take(&a.Result)
		case "user", "username":
			take(&a.User)
		case "vpn_password", "password":
			take(&a.VPNPassword)
		case "expiry_status", "expiry", "expiry_date":
			take(&a.Expiry)
		case "status":
			take(&a.Status)
		case "message", "error", "reason", "msg", "description", "error_message":
			if t := allText(c); t != "" {
				reasons = append(reasons, t)
			}
		default:
			if t := allText(c); t != "" {
				loose = append(loose, t)
			}
		}
	}
	if !found["result"] {
		return answer{}, fmt.Errorf("%w: no <result>", errNoAnswer)
	}
	switch {
	case len(reasons) > 0:
		a.Reason = strings.Join(reasons, "; ")
	case strings.TrimSpace(root.Text) != "":
		a.Reason = root.Text
	default:
		a.Reason = strings.Join(loose, "; ")
	}
	a.Reason = clip(strings.Join(strings.Fields(a.Reason), " "), maxReason)
	return a, nil
}

// allText returns n's text and its descendants', space separated.
func allText(n xmlNode) string {
	var b strings.Builder
	var walk func(n xmlNode)
	walk = func(n xmlNode) {
		if t := strings.TrimSpace(n.Text); t != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// shortXMLError keeps the kind of a syntax error without the text it quotes.
func shortXMLError(err error) string {
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.As(err, &se):
		return fmt.Sprintf("XML syntax error on line %d", se.Line)
	default:
		return "unreadable XML"
	}
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// charsetReader lets an answer declare a Latin-1 family encoding, which a PHP
// server may well do. Windows-1252 is read as Latin-1: the difference is
// punctuation.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", clip(label, 32))
}

type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			c := copy(p[n:], l.pending)
			l.pending = l.pending[c:]
			n += c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < utf8.RuneSelf {
			p[n] = b
			n++
			continue
		}
		l.pending = utf8.AppendRune(l.pending[:0], rune(b))
	}
	return n, nil
}

// unauthorizedReason matches the failure reasons that are systemic rather
// than about one account, so the worker stops and alerts instead of dead
// lettering message after message. A reason is Unauthorized when it mentions,
// in any case:
//
//   - authentication: "auth…" (authentication, authenticate, authorized),
//     "unauthorized"/"unauthorised", "credential…", "login", "access denied",
//     "permission denied", "forbidden";
//   - the API's own credentials: "api_user", "api_password", "api user",
//     "api password", "api key";
//   - the caller's address: the word "IP", "allow-list"/"allowlist"/"allow
//     list", "allowed IP", "white-list"/"whitelist"/"whitelisted";
//   - the reseller account itself: "reseller account suspended" (or
//     disabled, inactive, blocked, expired), "insufficient balance",
//     "insufficient credit", "insufficient funds": every create would fail.
//
// Everything else (unknown username, bad period, bad package type, bad
// password…) is Rejected: permanent for that one request.
var unauthorizedReason = regexp.MustCompile(`(?i)\b(auth\w*|unauthori[sz]ed|credentials?|login|access denied|permission denied|forbidden|api[_ ](user|password|key)|ip|allow[- ]?list\w*|allowed ip\w*|white[- ]?list\w*|reseller account (is )?(suspended|disabled|inactive|blocked|expired)|insufficient (balance|credits?|funds))\b`)

// noSuchAccountReason matches a reason saying the username does not exist.
var noSuchAccountReason = regexp.MustCompile(`(?i)(not found|not exist|doesn'?t exist|no such|invalid user ?name|unknown user|user ?name (is )?invalid)`)

// ClassifyReason returns the class of a failure answer (result other than 1)
// from its reason: Unauthorized for the patterns of unauthorizedReason above,
// Rejected for everything else, including an empty reason.
func ClassifyReason(reason string) providers.Class {
	if unauthorizedReason.MatchString(reason) {
		return providers.Unauthorized
	}
	return providers.Rejected
}

// dateLayouts are the expiry formats accepted, tried in order. Dates without
// a zone are read as UTC; a numeric date is month first, as in the US.
var dateLayouts = []string{
	"January 2, 2006",
	"Jan 2, 2006",
	"January 2 2006",
	"Jan 2 2006",
	"2 January 2006",
	"2 Jan 2006",
	"2006-01-02",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"01/02/2006",
	"01/02/2006 15:04:05",
	"January 2, 2006 15:04:05",
	"January 2, 2006 3:04 PM",
}

// parseDate reads an expiry in any of dateLayouts and returns it in UTC.
func parseDate(s string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || len(s) > 64 {
		return time.Time{}, errors.New("no date")
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unknown date format %q", s)
}

// statusWords maps the status texts understood to Enabled.
var statusWords = map[string]bool{
	"enabled": true, "enable": true, "active": true, "activated": true, "1": true,
	"disabled": false, "disable": false, "inactive": false, "suspended": false, "expired": false, "0": false,
}

// parseStatus turns status's <status> and <expiry_status> into a Status. It
// accepts the status and the expiry as separate elements and as one
// "Disabled:February 20, 2013" status; the separate expiry wins when both
// are there and it reads. Both the status and the expiry are required.
// RawExpiry is the combined status's date when there was no separate one.
func parseStatus(rawStatus, rawExpiry string) (Status, error) {
	st := Status{RawStatus: rawStatus, RawExpiry: rawExpiry}
	word := strings.TrimSpace(rawStatus)
	var combinedExpiry string
	if i := strings.IndexByte(word, ':'); i >= 0 {
		if _, ok := statusWords[strings.ToLower(strings.TrimSpace(word[:i]))]; ok {
			word, combinedExpiry = strings.TrimSpace(word[:i]), strings.TrimSpace(word[i+1:])
		}
	}
	enabled, ok := statusWords[strings.ToLower(word)]
	if !ok {
		return Status{}, fmt.Errorf("unknown status %q", clip(word, 40))
	}
	st.Enabled = enabled
	t, err := parseDate(rawExpiry)
	if err != nil && combinedExpiry != "" {
		t, err = parseDate(combinedExpiry)
		if strings.TrimSpace(rawExpiry) == "" {
			st.RawExpiry = combinedExpiry
		}
	}
	if err != nil {
		return Status{}, fmt.Errorf("expiry: %w", err)
	}
	st.Expiry = t
	return st, nil
}
