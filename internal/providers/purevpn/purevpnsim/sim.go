// Package purevpnsim is a faithful simulator of the PureVPN reseller API v1
// (shared/providers/purevpn-reseller-api-v1.txt) as an http.Handler, for
// tests and the demo. It keeps accounts in memory, checks what the real
// server checks (POST, API=True, api_user, the md5 api_password, the
// caller's IP, the method and its parameters) and can inject the faults a
// client must survive: latency, 5xx, 429 with Retry-After, a response lost
// after the change was committed, refused credentials, an HTML error page and
// a truncated answer. It does not import the client: it knows only the wire.
//
// The document shows only successful answers. How the real server says no is
// unknown; this simulator's choice is an HTTP 200 answer
//
//	<xml>
//	<result>0</result>
//	<message>reason</message>
//	</xml>
//
// for any bad input, including a wrong HTTP method, an IP not allowed and bad
// credentials.
//
// A Sim is safe for concurrent use.
package purevpnsim

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Sim.
type Options struct {
	// User is the api_user accepted. Default "reseller".
	User string
	// Password is the reseller's API password in plain text; a call's
	// api_password must be its md5 in hex. Default "secret".
	Password string
	// Now is the clock expiries are computed from. Default time.Now.
	Now func() time.Time
	// AllowIPs lists the caller addresses (e.g. "127.0.0.1") or prefixes
	// (e.g. "10.0.0.0/8") allowed to call. Empty: every loopback address.
	AllowIPs []string
	// CombinedStatus makes status answer status and expiry as one
	// <status>Disabled:February 20, 2013</status>, without <expiry_status>,
	// as the real server has been seen to. Default: the document's separate
	// elements.
	CombinedStatus bool
	// AlternativeSpellings also accepts the spellings some public clients
	// use: parameter "user" for "username", methods "update_status" for
	// "update_account" and "delete" for "delete_account". Default: only the
	// document's spellings.
	AlternativeSpellings bool
	// RequirePeriod requires a valid period with every method, as the real
	// server has been seen to. Default: only with create and renew, as the
	// document says.
	RequirePeriod bool
	// EchoRequest makes failure answers and the HTML error page quote the
	// posted form, secrets included, as a careless server might: tests use
	// it to prove the client scrubs what it is sent back.
	EchoRequest bool
}

// Account is an account at the simulator. Password is the VPN password.
type Account struct {
	Username    string
	Password    string
	PackageType string // STANDARD, SSTP or HIGH-BW
	Expiry      time.Time
	Enabled     bool
	Created     time.Time
}

// CallRecord is one call the simulator received.
type CallRecord struct {
	Method string     // the method parameter as sent ("" if none)
	Params url.Values // the form as sent, without api_password
	At     time.Time  // by the simulator's clock
}

// Sim is the simulated API. Serve it with httptest.NewServer(sim).
type Sim struct {
	opts   Options
	md5hex string
	allow  []netip.Prefix

	mu        sync.Mutex
	accounts  map[string]*Account
	next      int
	calls     map[string]int
	log       []CallRecord
	latency   time.Duration
	failN     int
	failCode  int
	throttleN int
	retryAft  time.Duration
	dropN     int
	notXMLN   int
	truncN    int
	rejectAll bool
}

// New returns a Sim with no accounts.
func New(opts Options) *Sim {
	if opts.User == "" {
		opts.User = "reseller"
	}
	if opts.Password == "" {
		opts.Password = "secret"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sum := md5.Sum([]byte(opts.Password))
	s := &Sim{
		opts:     opts,
		md5hex:   hex.EncodeToString(sum[:]),
		accounts: map[string]*Account{},
		next:     100000,
		calls:    map[string]int{},
	}
	for _, a := range opts.AllowIPs {
		if p, err := netip.ParsePrefix(a); err == nil {
			s.allow = append(s.allow, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			ip = ip.Unmap()
			s.allow = append(s.allow, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return s
}

// SetLatency delays every answer by d (0: none). A delayed call still takes
// effect if the client gives up waiting, as on a real server.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext answers the next n calls with HTTP status (a 5xx), without
// acting on them.
func (s *Sim) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// ThrottleNext answers the next n calls with 429 Too Many Requests and a
// Retry-After of retryAfter (rounded up to whole seconds), without acting
// on them.
func (s *Sim) ThrottleNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.retryAft = n, retryAfter
}

// DropNext makes the next n calls take effect and then closes the
// connection without answering: the client cannot know what happened.
func (s *Sim) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// NotXMLNext answers the next n calls with an HTTP 200 HTML error page,
// without acting on them.
func (s *Sim) NotXMLNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notXMLN = n
}

// TruncateNext makes the next n calls take effect and then sends only the
// first part of their answer, cut inside the last element (the VPN password
// of a create or renew), as a server dying mid-answer would.
func (s *Sim) TruncateNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncN = n
}

// RejectCredentials, while on, answers every call with result 0 and an
// authentication message, whatever the credentials.
func (s *Sim) RejectCredentials(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAll = on
}

// Accounts returns copies of all accounts, sorted by username.
func (s *Sim) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// Account returns a copy of the account named username.
func (s *Sim) Account(username string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[username]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// Calls returns how many calls named method the simulator received,
// whatever their outcome (faults, refusals and successes alike).
func (s *Sim) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// CallLog returns every call received, in order, without api_password.
func (s *Sim) CallLog() []CallRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CallRecord, len(s.log))
	for i, c := range s.log {
		out[i] = CallRecord{Method: c.Method, Params: cloneValues(c.Params), At: c.At}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// fault is what to do with a call instead of, or after, acting on it.
type fault int

const (
	noFault fault = iota
	faultStatus
	faultThrottle
	faultNotXML
	faultDrop
	faultTruncate
)

// ServeHTTP answers one API call.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	formErr := r.ParseForm()

	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client left; the call still takes effect
			t.Stop()
		}
	}

	method := r.Form.Get("method")
	s.mu.Lock()
	s.calls[method]++
	params := cloneValues(r.Form)
	params.Del("api_password")
	s.log = append(s.log, CallRecord{Method: method, Params: params, At: s.opts.Now()})
	f, code, retryAfter := s.takeFault()
	s.mu.Unlock()

	switch f {
	case faultThrottle:
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	case faultStatus:
		http.Error(w, http.StatusText(code), code)
		return
	case faultNotXML:
		s.writeHTMLError(w, r)
		return
	}

	var ans []field
	if formErr != nil {
		ans = s.failure(r, "Malformed request")
	} else {
		ans = s.handle(r)
	}
	switch f {
	case faultDrop:
		drop(w)
		return
	case faultTruncate:
		body := truncate(encode(ans))
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write([]byte(body))
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(encode(ans)))
}

// takeFault consumes the next injected fault, if any. Called with s.mu held.
func (s *Sim) takeFault() (fault, int, time.Duration) {
	switch {
	case s.throttleN > 0:
		s.throttleN--
		return faultThrottle, 0, s.retryAft
	case s.failN > 0:
		s.failN--
		return faultStatus, s.failCode, 0
	case s.notXMLN > 0:
		s.notXMLN--
		return faultNotXML, 0, 0
	case s.dropN > 0:
		s.dropN--
		return faultDrop, 0, 0
	case s.truncN > 0:
		s.truncN--
		return faultTruncate, 0, 0
	}
	return noFault, 0, 0
}

// truncate cuts an answer in the middle of its VPN password if it has one,
// else in its middle.
func truncate(body string) string {
	const tag = "<vpn_password>"
	if i := strings.Index(body, tag); i >= 0 {
		end := i + len(tag)
		rest := body[end:]
		if j := strings.Index(rest, "<"); j > 0 {
			return body[:end+(j+1)/2]
		}
		return body[:end]
	}
	return body[:len(body)/2]
}

// drop closes the connection without writing a byte.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

func (s *Sim) writeHTMLError(w http.ResponseWriter, r *http.Request) {
	var echo string
	if s.opts.EchoRequest {
		echo = "<pre>" + htmlEscape(r.PostForm.Encode()) + "</pre>"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><title>Error</title></head>
<body><h1>Fatal error</h1><p>Maximum execution time exceeded&nbsp;in <b>api.php</b><br>
%s</p></body></html>
`, echo)
}

func htmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// field is one element of an answer, in order.
type field struct{ name, value string }

func encode(fields []field) string {
	var b strings.Builder
	b.WriteString("<xml>\n")
	for _, f := range fields {
		b.WriteString("<" + f.name + ">")
		_ = xml.EscapeText(&b, []byte(f.value))
		b.WriteString("</" + f.name + ">\n")
	}
	b.WriteString("</xml>\n")
	return b.String()
}

func ok(fields ...field) []field { return append(fields, field{"result", "1"}) }

func (s *Sim) failure(r *http.Request, reason string) []field {
	if s.opts.EchoRequest {
		reason += " (request: " + r.PostForm.Encode() + ")"
	}
	return []field{{"result", "0"}, {"message", reason}}
}

// handle checks a call and acts on it.
func (s *Sim) handle(r *http.Request) []field {
	if r.Method != http.MethodPost {
		return s.failure(r, "Request method must be POST")
	}
	if !s.allowed(r.RemoteAddr) {
		return s.failure(r, "Your IP address is not allowed to use the API")
	}
	f := r.PostForm
	if !strings.EqualFold(f.Get("API"), "True") {
		return s.failure(r, "Invalid API request")
	}
	s.mu.Lock()
	rejectAll := s.rejectAll
	s.mu.Unlock()
	if rejectAll {
		return s.failure(r, "Authentication failed: invalid api_user or api_password")
	}
	if f.Get("api_user") != s.opts.User || !strings.EqualFold(f.Get("api_password"), s.md5hex) {
		return s.failure(r, "Invalid api_user or api_password")
	}

	method := f.Get("method")
	if s.opts.AlternativeSpellings {
		switch method {
		case "update_status":
			method = "update_account"
		case "delete":
			method = "delete_account"
		}
	}
	username := f.Get("username")
	if username == "" && s.opts.AlternativeSpellings {
		username = f.Get("user")
	}
	period, periodOK := parsePeriod(f.Get("period"))
	switch method {
	case "create", "renew", "status", "delete_account", "update_account", "change_password":
	default:
		return s.failure(r, "Invalid method")
	}
	if !periodOK && (s.opts.RequirePeriod || method == "create" || method == "renew") {
		return s.failure(r, "Invalid period")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if method == "create" {
		pkg := f.Get("package_type")
		switch pkg {
		case "STANDARD", "SSTP", "HIGH-BW":
		default:
			return s.failure(r, "Invalid package_type")
		}
		s.next++
		a := &Account{
			Username:    fmt.Sprintf("pvr%06d", s.next),
			Password:    randomPassword(),
			PackageType: pkg,
			Expiry:      now.AddDate(0, 0, period),
			Enabled:     true,
			Created:     now,
		}
		s.accounts[a.Username] = a
		return ok(field{"user", a.Username}, field{"vpn_password", a.Password})
	}
	a, exists := s.accounts[username]
	if !exists {
		return s.failure(r, "Username does not exist")
	}
	switch method {
	case "renew":
		from := a.Expiry
		if now.After(from) {
			from = now
		}
		a.Expiry = from.AddDate(0, 0, period)
		return ok(field{"user", a.Username}, field{"vpn_password", a.Password})
	case "status":
		status := "Disabled"
		if a.Enabled {
			status = "Enabled"
		}
		expiry := a.Expiry.Format("January 2, 2006")
		if s.opts.CombinedStatus {
			return ok(field{"status", status + ":" + expiry})
		}
		return ok(field{"expiry_status", expiry}, field{"status", status})
	case "delete_account":
		delete(s.accounts, username)
		return ok()
	case "update_account":
		switch f.Get("update_status") {
		case "enable":
			a.Enabled = true
		case "disable":
			a.Enabled = false
		default:
			return s.failure(r, "Invalid update_status")
		}
		return ok()
	default: // change_password
		p := f.Get("new_pass")
		if !alphanumeric8(p) {
			return s.failure(r, "New password must be alphanumeric and 8 characters long")
		}
		a.Password = p
		return ok()
	}
}

func (s *Sim) allowed(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if len(s.opts.AllowIPs) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range s.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parsePeriod reads "#30", "#60", "#90", "#180" or "#365" into days.
func parsePeriod(s string) (int, bool) {
	switch s {
	case "#30", "#60", "#90", "#180", "#365":
		d, _ := strconv.Atoi(s[1:])
		return d, true
	}
	return 0, false
}

func alphanumeric8(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomPassword returns 8 random letters and digits, uniformly drawn.
func randomPassword() string {
	b := make([]byte, 0, 8)
	var r [16]byte
	for len(b) < 8 {
		_, _ = rand.Read(r[:]) // never fails (crypto/rand, Go 1.24+)
		for _, c := range r {
			if c < 4*byte(len(alnum)) && len(b) < 8 { // 248: no modulo bias
				b = append(b, alnum[int(c)%len(alnum)])
			}
		}
	}
	return string(b)
}
