// Package vpnkisim owns a simulator of the VPNKI API for tests and demos: an
// http.Handler with in-memory tunnels, active sessions and connection
// statistics, answering the way the real API does (JSON, errors in the body
// with HTTP 200), with fault injection for every failure class the client
// must survive.
//
// The shapes of the list and statistics answers are not documented by VPNKI.
// The simulator produces one shape, our reading, which the vpnki client
// parses among others:
//
//	tunnels     [{"tunnel":"user101","login":"user101","comment":"user101","vpnki_address":"…","created":"2024-01-31 23-59-59"}]
//	active      [{"tunnel":"user101","ip":"10.0.0.2","since":"2024-01-31 23-59-59"}]
//	stat_user   [{"tunnel":"user101","start":"…","end":"…","bytes_in":123,"bytes_out":456}]
//	stat_tunnel same as stat_user, for one tunnel
//	add_tunnel  {"vpnki_address":"…","comment":"user101","login":"user101","password":"…"}
//	del_tunnel  {"status":"OK"}
//
// Times are UTC in the API's own format, YYYY-MM-DD HH-MM-SS. Statistics hold
// finished sessions (written when a session ends, as RADIUS accounting does);
// a range selects the sessions that overlap it.
//
// Errors (HTTP 200): {"error":"Wrong key"}, {"error":"Unknown resource"},
// {"error":"Wrong date format"}, {"error":"Unknown tunnel userN"},
// {"del error":"tunnel userN not found"}, {"add error":"…"} and, without the
// Priority status, {"message":"This function is available only for users with Priority status"}.
// A request that is not GET answers 405; one without option=com_api,
// format=raw and app=webservices answers Joomla's HTML 404 page.
package vpnkisim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TimeLayout is the API's time format, YYYY-MM-DD HH-MM-SS, in Go's notation.
const TimeLayout = "2006-01-02 15-04-05"

// zeroTime is how the API writes "the beginning of time" in its examples.
const zeroTime = "0000-00-00 00-00-00"

// PriorityMessage is the answer to tunnel management without the Priority status.
const PriorityMessage = "This function is available only for users with Priority status"

// Options configures a Sim.
type Options struct {
	// Key is the API key the simulator accepts. Default "sim-key".
	Key string
	// Address is the vpnki_address add_tunnel and tunnels report. Default "msk.vpnki.ru".
	Address string
	// Now is the simulator's clock. Default time.Now.
	Now func() time.Time
}

// Tunnel is a tunnel the simulator holds.
type Tunnel struct {
	Name     string // "user" + number; also the comment add_tunnel reports
	Login    string
	Password string
	Created  time.Time
}

// Call is one request the simulator received, with the key removed.
type Call struct {
	Resource string
	Params   url.Values
}

type active struct {
	ip    string
	since time.Time
}

type session struct {
	tunnel            string
	start, end        time.Time
	bytesIn, bytesOut int64
}

// Sim is the simulated VPNKI API. It is safe for concurrent use.
type Sim struct {
	opts Options

	mu       sync.Mutex
	next     int
	tunnels  map[string]*Tunnel
	active   map[string]active
	sessions []session
	calls    map[string]int
	log      []Call

	latency    time.Duration
	failN      int
	failStatus int
	throttleN  int
	retryAfter time.Duration
	dropN      int
	notJSONN   int
	rejectKey  bool
	noPriority bool
}

// New returns a simulator with no tunnels.
func New(opts Options) *Sim {
	if opts.Key == "" {
		opts.Key = "sim-key"
	}
	if opts.Address == "" {
		opts.Address = "msk.vpnki.ru"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sim{
		opts:    opts,
		next:    101,
		tunnels: map[string]*Tunnel{},
		active:  map[string]active{},
		calls:   map[string]int{},
	}
}

// SetLatency delays every answer by d, after any change is committed. A
// request whose client gives up meanwhile gets no answer.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext answers the next n requests with status (a 5xx) and an HTML
// error page, without doing anything.
func (s *Sim) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// ThrottleNext answers the next n requests with 429 and a Retry-After of
// retryAfter (whole seconds, at least 1), without doing anything.
func (s *Sim) ThrottleNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.retryAfter = n, retryAfter
}

// DropNext makes the next n requests commit their change and then close the
// connection without answering: the client cannot know what happened. Note
// that on a reused keep-alive connection Go's transport re-sends a GET by
// itself after such a close, so one client request may count as two calls.
func (s *Sim) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// NotJSONNext makes the next n answers not JSON: a PHP warning is printed
// before the answer, as PHP does with display_errors on. Changes are committed.
func (s *Sim) NotJSONNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notJSONN = n
}

// RejectKey makes the simulator refuse every key (true) or accept its own again.
func (s *Sim) RejectKey(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectKey = reject
}

// SetPriority gives (true, the default) or takes away the account's Priority
// status, which add_tunnel and del_tunnel need.
func (s *Sim) SetPriority(priority bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPriority = !priority
}

// Connect starts a session of tunnel from ip, listed by active until
// Disconnect. It fails if the tunnel does not exist.
func (s *Sim) Connect(tunnel, ip string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tunnels[tunnel]; !ok {
		return fmt.Errorf("vpnkisim: no tunnel %q", tunnel)
	}
	s.active[tunnel] = active{ip: ip, since: s.now()}
	return nil
}

// Disconnect ends the active session of tunnel and records it in the
// statistics with the given traffic. It fails if the tunnel is not connected.
func (s *Sim) Disconnect(tunnel string, bytesIn, bytesOut int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.active[tunnel]
	if !ok {
		return fmt.Errorf("vpnkisim: tunnel %q is not connected", tunnel)
	}
	delete(s.active, tunnel)
	s.sessions = append(s.sessions, session{tunnel: tunnel, start: a.since, end: s.now(), bytesIn: bytesIn, bytesOut: bytesOut})
	return nil
}

// Tunnels returns copies of the tunnels, in creation order.
func (s *Sim) Tunnels() []Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tunnel, 0, len(s.tunnels))
	for _, t := range s.sortedTunnels() {
		out = append(out, *t)
	}
	return out
}

// Tunnel returns a copy of the tunnel called name.
func (s *Sim) Tunnel(name string) (Tunnel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tunnels[name]
	if !ok {
		return Tunnel{}, false
	}
	return *t, true
}

// Calls returns how many requests for resource arrived, whatever their outcome.
func (s *Sim) Calls(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[resource]
}

// CallLog returns every request received, in order, without the key.
func (s *Sim) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.log))
	for i, c := range s.log {
		out[i] = Call{Resource: c.Resource, Params: cloneValues(c.Params)}
	}
	return out
}

// answer is what the handler decided, written after the lock is released.
type answer struct {
	status     int
	header     http.Header
	body       []byte
	contentTyp string
	drop       bool // commit, then close the connection without answering
	notJSON    bool // print a PHP warning before the body
	latency    time.Duration
}

// ServeHTTP answers one API request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := s.handle(r)
	if a.latency > 0 {
		t := time.NewTimer(a.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if a.drop {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream without an answer
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", a.contentTyp)
	}
	body := a.body
	if a.notJSON {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		body = append([]byte("<br />\n<b>Warning</b>:  Undefined array key \"HTTP_X_FORWARDED_FOR\" in <b>/var/www/vpnki/components/com_api/api.php</b> on line <b>42</b><br />\n"), body...)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
}

func (s *Sim) handle(r *http.Request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	resource := q.Get("resource")
	s.calls[resource]++
	params := cloneValues(q)
	params.Del("key")
	s.log = append(s.log, Call{Resource: resource, Params: params})

	a := answer{status: http.StatusOK, contentTyp: "application/json", latency: s.latency}
	switch {
	case s.failN > 0:
		s.failN--
		a.status = s.failStatus
		a.contentTyp = "text/html; charset=utf-8"
		// Echo the request as some error pages do: the client must scrub it.
		a.body = fmt.Appendf(nil, "<html><body><h1>%d %s</h1><p>%s</p></body></html>", s.failStatus, http.StatusText(s.failStatus), r.URL.RequestURI())
		return a
	case s.throttleN > 0:
		s.throttleN--
		secs := int((s.retryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		a.status = http.StatusTooManyRequests
		a.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
		a.body = jsonBody(map[string]string{"error": "Too many requests"})
		return a
	}

	switch {
	case r.Method != http.MethodGet:
		a.status = http.StatusMethodNotAllowed
		a.header = http.Header{"Allow": {http.MethodGet}}
		a.body = errorBody("error", "Use HTTP GET method")
		return a
	case !pathOK(r.URL.Path) || q.Get("option") != "com_api" || q.Get("format") != "raw" || q.Get("app") != "webservices":
		a.status = http.StatusNotFound
		a.contentTyp = "text/html; charset=utf-8"
		a.body = []byte("<!DOCTYPE html><html><head><title>404 - Component not found</title></head><body><h1>404 - Component not found</h1></body></html>")
		return a
	}
	a.body = s.apply(q, resource)
	if s.dropN > 0 {
		s.dropN--
		a.drop = true
	} else if s.notJSONN > 0 {
		s.notJSONN--
		a.notJSON = true
	}
	return a
}

// apply checks the request, commits its change and returns the JSON answer.
func (s *Sim) apply(q url.Values, resource string) []byte {
	if s.rejectKey || q.Get("key") != s.opts.Key {
		return errorBody("error", "Wrong key")
	}
	switch resource {
	case "tunnels":
		return s.listTunnels()
	case "active":
		return s.listActive()
	case "stat_user", "stat_tunnel":
		tunnel := ""
		if resource == "stat_tunnel" {
			tunnel = q.Get("tunnel")
			if tunnel == "" {
				return errorBody("error", "No tunnel name")
			}
			if _, ok := s.tunnels[tunnel]; !ok {
				return errorBody("error", "Unknown tunnel "+tunnel)
			}
		}
		ts, err1 := s.parseTime(q.Get("ts"))
		te, err2 := s.parseTime(q.Get("te"))
		if err1 != nil || err2 != nil {
			return errorBody("error", "Wrong date format")
		}
		return s.stats(tunnel, ts, te)
	case "add_tunnel":
		if s.noPriority {
			return errorBody("message", PriorityMessage)
		}
		return s.addTunnel()
	case "del_tunnel":
		if s.noPriority {
			return errorBody("message", PriorityMessage)
		}
		name := q.Get("tunnel")
		if name == "" {
			return errorBody("del error", "No tunnel name")
		}
		if _, ok := s.tunnels[name]; !ok {
			return errorBody("del error", "tunnel "+name+" not found")
		}
		s.delTunnel(name)
		return jsonBody(map[string]string{"status": "OK"})
	default:
		return errorBody("error", "Unknown resource")
	}
}

// pathOK accepts the two endpoint forms the API document shows:
// /index.php and /index.php/<language>/.
func pathOK(p string) bool {
	if p == "/index.php" || p == "/index.php/" {
		return true
	}
	lang, ok := strings.CutPrefix(p, "/index.php/")
	lang = strings.TrimSuffix(lang, "/")
	return ok && len(lang) == 2 && !strings.Contains(lang, "/")
}

func (s *Sim) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

func (s *Sim) parseTime(v string) (time.Time, error) {
	switch v {
	case "NOW":
		return s.now(), nil
	case zeroTime:
		return time.Time{}, nil
	}
	return time.ParseInLocation(TimeLayout, v, time.UTC)
}

func (s *Sim) sortedTunnels() []*Tunnel {
	out := make([]*Tunnel, 0, len(s.tunnels))
	for _, t := range s.tunnels {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		if len(a.Name) != len(b.Name) { // user99 before user100
			return len(a.Name) < len(b.Name)
		}
		return a.Name < b.Name
	})
	return out
}

func (s *Sim) listTunnels() []byte {
	type item struct {
		Tunnel  string `json:"tunnel"`
		Login   string `json:"login"`
		Comment string `json:"comment"`
		Address string `json:"vpnki_address"`
		Created string `json:"created"`
	}
	out := []item{}
	for _, t := range s.sortedTunnels() {
		out = append(out, item{Tunnel: t.Name, Login: t.Login, Comment: t.Name, Address: s.opts.Address, Created: t.Created.Format(TimeLayout)})
	}
	return jsonBody(out)
}

func (s *Sim) listActive() []byte {
	type item struct {
		Tunnel string `json:"tunnel"`
		IP     string `json:"ip"`
		Since  string `json:"since"`
	}
	out := []item{}
	for name, a := range s.active {
		out = append(out, item{Tunnel: name, IP: a.ip, Since: a.since.Format(TimeLayout)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tunnel < out[j].Tunnel })
	return jsonBody(out)
}

func (s *Sim) stats(tunnel string, ts, te time.Time) []byte {
	type item struct {
		Tunnel   string `json:"tunnel"`
		Start    string `json:"start"`
		End      string `json:"end"`
		BytesIn  int64  `json:"bytes_in"`
		BytesOut int64  `json:"bytes_out"`
	}
	out := []item{}
	for _, se := range s.sessions {
		if tunnel != "" && se.tunnel != tunnel {
			continue
		}
		if se.end.Before(ts) || se.start.After(te) {
			continue
		}
		out = append(out, item{Tunnel: se.tunnel, Start: se.start.Format(TimeLayout), End: se.end.Format(TimeLayout), BytesIn: se.bytesIn, BytesOut: se.bytesOut})
	}
	return jsonBody(out)
}

func (s *Sim) addTunnel() []byte {
	pw, err := password(8)
	if err != nil {
		return errorBody("add error", "Internal error")
	}
	name := "user" + strconv.Itoa(s.next)
	s.next++
	t := &Tunnel{Name: name, Login: name, Password: pw, Created: s.now()}
	s.tunnels[name] = t
	return jsonBody(map[string]string{"vpnki_address": s.opts.Address, "comment": name, "login": t.Login, "password": pw})
}

func (s *Sim) delTunnel(name string) {
	if a, ok := s.active[name]; ok {
		delete(s.active, name)
		s.sessions = append(s.sessions, session{tunnel: name, start: a.since, end: s.now()})
	}
	delete(s.tunnels, name)
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func password(n int) (string, error) {
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			return "", err
		}
		b[i] = alnum[k.Int64()]
	}
	return string(b), nil
}

func errorBody(key, msg string) []byte { return jsonBody(map[string]string{key: msg}) }

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"Internal error"}`)
	}
	return b
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
