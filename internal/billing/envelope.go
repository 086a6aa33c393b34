package billing

import (
	"strconv"
	"strings"
)

// scanEnvelope reads an event's envelope from the top level of its JSON
// in one pass that decodes nothing else, while checking the whole payload
// against JSON's grammar as encoding/json does (json.Valid): the webhook
// reads only these fields of every event, and a full decode cost it more
// than the rest of its work together.
//
// ok is false if the payload is not one well-formed JSON object, or if it
// holds anything this scan does not read exactly as encoding/json would:
// a kept field whose value is not a plain string, integer or boolean (an
// escape, a byte beyond ASCII, null, a number with a fraction), a key with
// an escape or beyond ASCII, or a key that matches a field only when case
// is ignored, or nesting deeper than encoding/json allows. ParseEnvelope
// then decodes with encoding/json, which gives the answer and the error.
func scanEnvelope(p []byte) (e Envelope, ok bool) {
	e, _, ok = scanEvent(p, false)
	return e, ok
}

// scanEvent is scanEnvelope that also returns, if withObject, the raw
// bytes of data.object (nil if there is none), as ReadEvent reads them:
// a "data" that is not an object, or a key in it that matches "object"
// only when case is ignored, is left to encoding/json too. The bytes are
// p's, not a copy.
func scanEvent(p []byte, withObject bool) (e Envelope, object []byte, ok bool) {
	s := scanner{p: p}
	s.space()
	ok = s.object(func(key []byte, plain bool) bool {
		if !plain {
			return false
		}
		var ok bool
		switch string(key) {
		case "id":
			e.ID, ok = s.plainString()
		case "type":
			e.Type, ok = s.plainString()
		case "api_version":
			e.APIVersion, ok = s.plainString()
		case "created":
			e.Created, ok = s.integer()
		case "livemode":
			e.Livemode, ok = s.boolean()
		case "data":
			if withObject {
				ok = s.data(&object)
			} else {
				ok = s.value(1)
			}
		default:
			folds := foldsTo(key, envelopeFields[:]) || withObject && foldsTo(key, dataField)
			ok = !folds && s.value(1)
		}
		return ok
	})
	if !ok || !s.end() {
		return Envelope{}, nil, false
	}
	return e, object, true
}

// envelopeFields are the JSON keys of Envelope.
var envelopeFields = [...]string{"id", "type", "created", "livemode", "api_version"}

var (
	dataField   = []string{"data"}
	objectField = []string{"object"}
)

// foldsTo reports whether key, not one of fields, would match one of them
// in encoding/json, which ignores case.
func foldsTo(key []byte, fields []string) bool {
	for _, f := range fields {
		if strings.EqualFold(string(key), f) {
			return true
		}
	}
	return false
}

// data consumes the value of the top-level "data", an object, noting the
// raw bytes of its "object" (the last one, as encoding/json keeps it).
func (s *scanner) data(object *[]byte) bool {
	if s.i == len(s.p) || s.p[s.i] != '{' {
		return false // null or not an object: encoding/json decides
	}
	return s.object(func(key []byte, plain bool) bool {
		start := s.i
		switch {
		case !plain:
			return false
		case string(key) == "object":
			if !s.value(2) {
				return false
			}
			*object = s.p[start:s.i]
			return true
		case foldsTo(key, objectField):
			return false
		}
		return s.value(2)
	})
}

// maxDepth is encoding/json's limit of nested objects and arrays.
const maxDepth = 10000

type scanner struct {
	p []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.p) {
		switch s.p[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// take consumes c if it comes next.
func (s *scanner) take(c byte) bool {
	if s.i < len(s.p) && s.p[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.p)
}

// skipString consumes a well-formed string (ok), reporting whether it is
// plain: no escape, nothing beyond ASCII. start is where its content
// begins.
func (s *scanner) skipString() (start int, ok, plain bool) {
	if !s.take('"') {
		return 0, false, false
	}
	start, plain = s.i, true
	p := s.p
	for {
		i := s.i
		for i < len(p) && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' && p[i] < 0x80 {
			i++
		}
		s.i = i
		if i == len(p) || p[i] < 0x20 {
			return start, false, false
		}
		switch c := p[i]; {
		case c == '"':
			s.i++
			return start, true, plain
		case c >= 0x80:
			plain = false
			s.i++
		default: // a backslash
			plain = false
			if i+1 == len(p) {
				return start, false, false
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i = i + 2
			case 'u':
				if i+6 > len(p) || !isHex(p[i+2]) || !isHex(p[i+3]) || !isHex(p[i+4]) || !isHex(p[i+5]) {
					return start, false, false
				}
				s.i = i + 6
			default:
				return start, false, false
			}
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// plainString consumes a string and returns it if it is plain: no
// escape, nothing beyond ASCII (well-formed, but not read here).
func (s *scanner) plainString() (string, bool) {
	raw, plain, ok := s.rawString()
	return string(raw), ok && plain
}

// integer consumes a number written as an integer that fits in int64.
func (s *scanner) integer() (int64, bool) {
	start := s.i
	if !s.number() {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.p[start:s.i]), 10, 64)
	return n, err == nil
}

// boolean consumes true or false.
func (s *scanner) boolean() (bool, bool) {
	switch {
	case s.literal("true"):
		return true, true
	case s.literal("false"):
		return false, true
	}
	return false, false
}

func (s *scanner) literal(word string) bool {
	if len(s.p)-s.i >= len(word) && string(s.p[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// number consumes a number as JSON writes it.
func (s *scanner) number() bool {
	s.take('-')
	switch {
	case s.take('0'):
	case s.digits() == 0:
		return false
	}
	if s.take('.') && s.digits() == 0 {
		return false
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits consumes digits and returns how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.p) && s.p[s.i] >= '0' && s.p[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// object consumes an object, which must come next, calling member with
// each key (its raw bytes, and whether it is plain: see plainString) and the
// scanner at the key's value, which member consumes. It fails where the
// object or a member does.
func (s *scanner) object(member func(key []byte, plain bool) bool) bool {
	if !s.take('{') {
		return false
	}
	s.space()
	if s.take('}') {
		return true
	}
	for {
		s.space()
		key, plain, ok := s.rawString()
		if !ok {
			return false
		}
		s.space()
		if !s.take(':') {
			return false
		}
		s.space()
		if !member(key, plain) {
			return false
		}
		s.space()
		switch {
		case s.take(','):
		case s.take('}'):
			return true
		default:
			return false
		}
	}
}

// rawString consumes a string: its raw bytes between the quotes, whether
// it is plain (plainString), and whether it is well-formed.
func (s *scanner) rawString() (raw []byte, plain, ok bool) {
	start, ok, plain := s.skipString()
	if !ok {
		return nil, false, false
	}
	return s.p[start : s.i-1], plain, true
}

// value consumes any well-formed value at nesting depth (the top-level
// object is 1).
func (s *scanner) value(depth int) bool {
	if s.i == len(s.p) {
		return false
	}
	switch c := s.p[s.i]; {
	case c == '"':
		_, ok, _ := s.skipString()
		return ok
	case c == '{':
		if depth+1 > maxDepth {
			return false
		}
		return s.object(func([]byte, bool) bool { return s.value(depth + 1) })
	case c == '[':
		if depth+1 > maxDepth {
			return false
		}
		s.i++
		s.space()
		if s.take(']') {
			return true
		}
		for {
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			switch {
			case s.take(','):
			case s.take(']'):
				return true
			default:
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}
