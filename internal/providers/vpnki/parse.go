package vpnki

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// answerError is what a parser found wrong with a 2xx answer: either the
// provider's refusal in its own words (msg), or an answer we cannot read
// (shape says how). secrets are values found in the answer that must not
// reach an error (tunnel passwords).
type answerError struct {
	msg     string
	shape   string
	secrets []string
}

func refused(msg string, v any) *answerError {
	return &answerError{msg: msg, secrets: passwordsIn(v, 0, nil)}
}

func unreadable(shape string, v any) *answerError {
	return &answerError{shape: shape, secrets: passwordsIn(v, 0, nil)}
}

// decode reads body as one JSON value, numbers kept as json.Number. A UTF-8
// byte order mark and surrounding space are allowed; trailing data is not.
func decode(body []byte) (any, bool) {
	body = bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return v, true
}

// refusalIn returns the provider's refusal in an answer, if it is one: any
// member whose name contains "error" ("error", "add error", "del_error",
// "errors") with a value that is not empty, false or 0; or a status, result or
// success member that says no. A bare JSON string is the provider's message.
func refusalIn(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		if s := strings.TrimSpace(t); s != "" && !saysOK(s) {
			return s, true
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			if strings.Contains(strings.ToLower(k), "error") && truthy(t[k]) {
				return describe(t[k], t, k), true
			}
		}
		for _, k := range []string{"status", "result", "success"} {
			val, ok := member(t, k)
			if !ok {
				continue
			}
			switch s := val.(type) {
			case string:
				if saysNo(s) {
					return describe(s, t, k), true
				}
			case bool:
				if !s {
					return describe(s, t, k), true
				}
			}
		}
	}
	return "", false
}

// describe finds the words of a refusal: the value itself if a string, else
// a message member beside or inside it, else the member's name.
func describe(val any, m map[string]any, key string) string {
	if inner, ok := val.(map[string]any); ok {
		if s := str(inner, "message", "msg", "text", "description", "error"); s != "" {
			return s
		}
	}
	if s, ok := val.(string); ok && !saysNo(s) {
		return s
	}
	if s := str(m, "message", "msg", "text", "description"); s != "" {
		return s
	}
	if s, ok := val.(string); ok {
		return s
	}
	if b, err := json.Marshal(val); err == nil && len(b) > 2 {
		return key + ": " + string(b)
	}
	return key
}

func saysNo(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "error", "err", "fail", "failed", "failure", "false", "no", "denied", "ko":
		return true
	}
	return false
}

func saysOK(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ok", "success", "true", "deleted", "done", "1":
		return true
	}
	return false
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		s := strings.TrimSpace(strings.ToLower(t))
		return s != "" && s != "0" && s != "false" && s != "null"
	case json.Number:
		f, err := t.Float64()
		return err != nil || f != 0
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}

// entry is one element of a list answer; key is its name when the list was
// an object keyed by tunnel name.
type entry struct {
	key string
	v   any
}

// listKeys are the members that may wrap a list.
var listKeys = []string{"tunnels", "active", "sessions", "stat", "stats", "connections", "data", "result", "items", "list", "rows"}

// itemKeys are members that make an object one item rather than a wrapper.
var itemKeys = []string{"tunnel", "name", "login", "comment", "ip", "start", "bytes_in"}

// listOf reads the list in v: an array, null, an object wrapping a list, an
// empty object, an object keyed by name whose values are objects, or one item.
func listOf(v any, depth int) ([]entry, bool) {
	switch t := v.(type) {
	case nil:
		return nil, true
	case []any:
		out := make([]entry, 0, len(t))
		for _, e := range t {
			out = append(out, entry{v: e})
		}
		return out, true
	case map[string]any:
		if len(t) == 0 {
			return nil, true
		}
		if depth < 3 {
			for _, k := range listKeys {
				if w, ok := member(t, k); ok {
					switch w.(type) {
					case []any, map[string]any, nil:
						return listOf(w, depth+1)
					}
				}
			}
		}
		for _, k := range itemKeys {
			if _, ok := member(t, k); ok {
				return []entry{{v: t}}, true
			}
		}
		out := make([]entry, 0, len(t))
		for _, k := range sortedKeys(t) {
			if _, ok := t[k].(map[string]any); !ok {
				return nil, false
			}
			out = append(out, entry{key: k, v: t[k]})
		}
		return out, true
	}
	return nil, false
}

// list decodes body, returns the provider's refusal if it is one, else its list.
func list(body []byte) ([]entry, *answerError) {
	v, ok := decode(body)
	if !ok {
		return nil, unreadable("answer is not JSON", nil)
	}
	if msg, no := refusalIn(v); no {
		return nil, refused(msg, v)
	}
	entries, ok := listOf(v, 0)
	if !ok {
		if m, isObj := v.(map[string]any); isObj {
			if msg := str(m, "message", "msg"); msg != "" {
				return nil, refused(msg, v)
			}
		}
		return nil, unreadable("answer is not a list", v)
	}
	return entries, nil
}

func parseTunnels(body []byte) ([]Tunnel, *answerError) {
	entries, ae := list(body)
	if ae != nil {
		return nil, ae
	}
	out := make([]Tunnel, 0, len(entries))
	for _, e := range entries {
		var t Tunnel
		switch v := e.v.(type) {
		case string:
			t.Name = v
		case json.Number:
			t.Name = v.String()
		case map[string]any:
			t = Tunnel{
				Name:    str(v, "tunnel", "name", "tunnel_name", "login", "comment"),
				Login:   str(v, "login", "username", "user"),
				Comment: str(v, "comment", "description"),
				Address: str(v, "vpnki_address", "address", "server", "host"),
				Created: tm(v, "created", "created_at", "create_date", "date"),
			}
		}
		if t.Name == "" {
			t.Name = e.key
		}
		if t.Name != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

func parseActive(body []byte) ([]ActiveTunnel, *answerError) {
	entries, ae := list(body)
	if ae != nil {
		return nil, ae
	}
	out := make([]ActiveTunnel, 0, len(entries))
	for _, e := range entries {
		var a ActiveTunnel
		switch v := e.v.(type) {
		case string:
			a.Tunnel = v
		case map[string]any:
			a = ActiveTunnel{
				Tunnel: str(v, "tunnel", "name", "tunnel_name", "login", "comment"),
				IP:     str(v, "ip", "ip_address", "client_ip", "remote_ip", "framed_ip", "address"),
				Since:  tm(v, "since", "start", "started", "connected", "start_time", "time"),
			}
		}
		if a.Tunnel == "" {
			a.Tunnel = e.key
		}
		if a.Tunnel != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// parseSessions reads statistics; tunnel, if given, names the sessions that
// do not name their tunnel.
func parseSessions(body []byte, tunnel string) ([]Session, *answerError) {
	entries, ae := list(body)
	if ae != nil {
		return nil, ae
	}
	out := make([]Session, 0, len(entries))
	for _, e := range entries {
		v, ok := e.v.(map[string]any)
		if !ok {
			continue
		}
		s := Session{
			Tunnel:   str(v, "tunnel", "name", "tunnel_name", "login"),
			Start:    tm(v, "start", "ts", "start_time", "begin", "connected", "since"),
			End:      tm(v, "end", "te", "stop", "end_time", "finish", "disconnected"),
			BytesIn:  num(v, "bytes_in", "in", "rx", "input", "traffic_in", "bytesin"),
			BytesOut: num(v, "bytes_out", "out", "tx", "output", "traffic_out", "bytesout"),
		}
		if s.Tunnel == "" {
			s.Tunnel = e.key
		}
		if s.Tunnel == "" {
			s.Tunnel = tunnel
		}
		out = append(out, s)
	}
	return out, nil
}

// parseAdd reads add_tunnel's answer: an object (possibly wrapped, or alone
// in an array) with login and password, and comment (the tunnel name).
func parseAdd(body []byte) (NewTunnel, *answerError) {
	v, ok := decode(body)
	if !ok {
		return NewTunnel{}, unreadable("answer is not JSON", nil)
	}
	if msg, no := refusalIn(v); no {
		return NewTunnel{}, refused(msg, v)
	}
	m := unwrapObject(v, 0)
	if m == nil {
		return NewTunnel{}, unreadable("answer is not an object", v)
	}
	t := NewTunnel{
		Tunnel:   str(m, "comment", "tunnel", "name", "tunnel_name"),
		Login:    str(m, "login", "username", "user"),
		Password: str(m, "password", "pass", "tunnel_password"),
		Address:  str(m, "vpnki_address", "address", "server", "host"),
	}
	if t.Tunnel == "" {
		t.Tunnel = t.Login
	}
	if t.Login == "" || t.Password == "" {
		if msg := str(m, "message", "msg"); msg != "" {
			return NewTunnel{}, refused(msg, v)
		}
		return NewTunnel{}, unreadable("answer lacks the login or the password", v)
	}
	return t, nil
}

// unwrapObject finds the object holding the answer: v itself, its only
// element, or the object under a wrapping member.
func unwrapObject(v any, depth int) map[string]any {
	switch t := v.(type) {
	case []any:
		if len(t) == 1 && depth < 3 {
			return unwrapObject(t[0], depth+1)
		}
	case map[string]any:
		if _, ok := member(t, "login"); ok || depth >= 3 {
			return t
		}
		for _, k := range []string{"tunnel", "data", "result"} {
			if w, ok := member(t, k); ok {
				if inner := unwrapObject(w, depth+1); inner != nil {
					return inner
				}
			}
		}
		return t
	}
	return nil
}

// parseDel reads del_tunnel's answer, which says OK: {"status":"OK"},
// {"result":"ok"}, "OK", or OK bare.
func parseDel(body []byte) *answerError {
	trimmed := bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	if strings.EqualFold(string(trimmed), "ok") {
		return nil
	}
	v, ok := decode(body)
	if !ok {
		return unreadable("answer is not JSON", nil)
	}
	switch t := v.(type) {
	case string:
		if saysOK(t) {
			return nil
		}
	case bool:
		if t {
			return nil
		}
	case map[string]any:
		if msg, no := refusalIn(v); no {
			return refused(msg, v)
		}
		for _, k := range []string{"status", "result", "success"} {
			switch s, _ := member(t, k); s := s.(type) {
			case string:
				if saysOK(s) {
					return nil
				}
			case bool:
				if s {
					return nil
				}
			}
		}
		if msg := str(t, "message", "msg"); msg != "" {
			return refused(msg, v)
		}
		return unreadable("answer has no OK status", v)
	}
	if msg, no := refusalIn(v); no && msg != "" {
		return refused(msg, v)
	}
	return unreadable("answer has no OK status", v)
}

// member returns m[key], matching the key case-insensitively.
func member(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// str returns the first of keys present as a string or number.
func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		v, ok := member(m, k)
		if !ok {
			continue
		}
		switch t := v.(type) {
		case string:
			if s := strings.TrimSpace(t); s != "" {
				return s
			}
		case json.Number:
			return t.String()
		}
	}
	return ""
}

// num returns the first of keys present as a whole number (number or
// numeric string), clamped to int64; 0 if none.
func num(m map[string]any, keys ...string) int64 {
	for _, k := range keys {
		v, ok := member(m, k)
		if !ok {
			continue
		}
		var s string
		switch t := v.(type) {
		case string:
			s = strings.TrimSpace(t)
		case json.Number:
			s = t.String()
		default:
			continue
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
			switch {
			case f >= math.MaxInt64:
				return math.MaxInt64
			case f <= math.MinInt64:
				return math.MinInt64
			}
			return int64(f)
		}
	}
	return 0
}

// timeLayouts are the time formats an answer may use.
var timeLayouts = []string{TimeLayout, time.DateTime, time.RFC3339, "2006-01-02T15:04:05", time.DateOnly}

// tm returns the first of keys present as a time, UTC; zero if none can be read.
func tm(m map[string]any, keys ...string) time.Time {
	for _, k := range keys {
		v, ok := member(m, k)
		if !ok {
			continue
		}
		var s string
		switch t := v.(type) {
		case string:
			s = strings.TrimSpace(t)
		case json.Number:
			s = t.String()
		default:
			continue
		}
		if s == "" || strings.HasPrefix(s, "0000-00-00") {
			return time.Time{}
		}
		for _, layout := range timeLayouts {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return t.UTC()
			}
		}
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil && secs > 0 && secs < 253402300800 {
			return time.Unix(secs, 0).UTC()
		}
		return time.Time{}
	}
	return time.Time{}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// passwordsIn collects the string values of members whose name mentions a
// password, anywhere in v, to scrub them from errors.
func passwordsIn(v any, depth int, out []string) []string {
	if depth > 32 {
		return out
	}
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if strings.Contains(strings.ToLower(k), "pass") {
				switch s := val.(type) {
				case string:
					if s != "" {
						out = append(out, s)
					}
					continue
				case json.Number:
					out = append(out, s.String())
					continue
				}
			}
			out = passwordsIn(val, depth+1, out)
		}
	case []any:
		for _, e := range t {
			out = passwordsIn(e, depth+1, out)
		}
	}
	return out
}

// passwordText finds password members in an answer that may not be JSON
// (a PHP warning before it), as they appear on the wire.
var passwordText = regexp.MustCompile(`(?i)"[^"]{0,40}pass[^"]{0,40}"\s*:\s*"((?:[^"\\]|\\.){1,200})"`)

func passwordsInText(body []byte) []string {
	var out []string
	for _, m := range passwordText.FindAllSubmatch(body, 100) {
		out = append(out, string(m[1]))
	}
	return out
}
