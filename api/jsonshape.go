package api

import (
	"encoding/json"
	"slices"
)

// checkJSONShape rejects duplicate object keys, keys outside the API's
// alphabet (lowerASCII: encoding/json would match other spellings case-
// insensitively) and nesting deeper than maxDepth, and any malformed JSON
// before them, reading b as a stream of JSON values as json.Decoder's
// tokens do. It scans the bytes once and decodes only the keys; a walk of
// json.Decoder's tokens, which it replaced and which the tests hold it to
// (FuzzCheckJSONShapeScanner), decoded every string, petition text
// included, and took 3 % of a create's CPU.
func checkJSONShape(b []byte) error {
	s := shapeScanner{b: b}
	for {
		s.space()
		if s.i == len(s.b) {
			return nil
		}
		if err := s.value(); err != nil {
			return err
		}
		switch {
		case s.eof:
			// The tokens ended where another was due: the walk of
			// json.Decoder's tokens stopped there without an error, and
			// so does this (decodeStrict's decoding refuses the body).
			return nil
		case s.malformed:
			return badRequest("malformed JSON")
		}
	}
}

type shapeScanner struct {
	b         []byte
	i         int
	depth     int
	malformed bool // a syntax error
	eof       bool // the input ended between two tokens
}

// end reports whether the input has ended where a token is due, noting it.
func (s *shapeScanner) end() bool {
	s.space()
	if s.i == len(s.b) {
		s.eof = true
		return true
	}
	return false
}

// keySet holds an object's keys: a slice while it is small, a map beyond.
type keySet struct {
	list []string
	m    map[string]bool
}

func (k *keySet) add(key string) (dup bool) {
	if k.m != nil {
		if k.m[key] {
			return true
		}
		k.m[key] = true
		return false
	}
	if slices.Contains(k.list, key) {
		return true
	}
	k.list = append(k.list, key)
	if len(k.list) > 32 {
		k.m = make(map[string]bool, 64)
		for _, x := range k.list {
			k.m[x] = true
		}
	}
	return false
}

func (s *shapeScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value. A syntax error sets malformed and returns nil;
// the shape errors are returned as found.
func (s *shapeScanner) value() error {
	if s.end() {
		return nil
	}
	switch c := s.b[s.i]; {
	case c == '{' || c == '[':
		if s.depth >= maxDepth {
			return badRequest("JSON nested deeper than %d", maxDepth)
		}
		s.depth++
		s.i++
		var err error
		if c == '{' {
			err = s.object()
		} else {
			err = s.array()
		}
		s.depth--
		return err
	case c == '"':
		s.str()
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	default:
		s.malformed = true
	}
	return nil
}

func (s *shapeScanner) object() error {
	var keys keySet
	if s.closes('}') {
		return nil
	}
	for {
		if s.end() {
			return nil
		}
		if s.b[s.i] != '"' {
			s.malformed = true
			return nil
		}
		start := s.i
		plain := s.str()
		if s.malformed {
			return nil
		}
		var k string
		if plain {
			k = string(s.b[start+1 : s.i-1])
		} else if err := json.Unmarshal(s.b[start:s.i], &k); err != nil {
			s.malformed = true
			return nil
		}
		if !lowerASCII(k) {
			return badRequest("unknown field %q", truncate(k, 40))
		}
		if keys.add(k) {
			return badRequest("duplicate key %q", truncate(k, 40))
		}
		if s.end() {
			return nil
		}
		if s.b[s.i] != ':' {
			s.malformed = true
			return nil
		}
		s.i++
		if err := s.value(); err != nil || !s.more('}') {
			return err
		}
	}
}

func (s *shapeScanner) array() error {
	if s.closes(']') {
		return nil
	}
	for {
		if err := s.value(); err != nil || !s.more(']') {
			return err
		}
	}
}

// closes reads what follows a container's opening: end (an empty
// container) or the end of the input (noted) close it.
func (s *shapeScanner) closes(end byte) bool {
	if s.end() {
		return true
	}
	if s.b[s.i] == end {
		s.i++
		return true
	}
	return false
}

// more reads what follows a member of a container that closes with end:
// a comma, and another member is due; end, or a syntax error, or the end
// of the input (noted), and the container is done.
func (s *shapeScanner) more(end byte) bool {
	if s.malformed || s.eof || s.end() {
		return false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return true
	case end:
		s.i++
	default:
		s.malformed = true
	}
	return false
}

// str scans a string from its opening quote past its closing one, and
// reports whether it is plain: printable ASCII without escapes, its bytes
// its value.
func (s *shapeScanner) str() (plain bool) {
	plain = true
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return plain
		case c < 0x20:
			s.malformed = true
			return false
		case c == '\\':
			plain = false
			s.i++
			if s.i == len(s.b) {
				s.malformed = true
				return false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) || !isHex(s.b[s.i+1]) || !isHex(s.b[s.i+2]) || !isHex(s.b[s.i+3]) || !isHex(s.b[s.i+4]) {
					s.malformed = true
					return false
				}
				s.i += 5
			default:
				s.malformed = true
				return false
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			s.i++
		}
	}
	s.malformed = true
	return false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *shapeScanner) number() {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i == len(s.b) || !isDigit(s.b[s.i]) {
		s.malformed = true
		return
	}
	if s.b[s.i] == '0' {
		s.i++
	} else {
		s.digits()
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.i == len(s.b) || !isDigit(s.b[s.i]) {
			s.malformed = true
			return
		}
		s.digits()
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.i == len(s.b) || !isDigit(s.b[s.i]) {
			s.malformed = true
			return
		}
		s.digits()
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *shapeScanner) digits() {
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
}

func (s *shapeScanner) literal(word string) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.malformed = true
		return
	}
	s.i += len(word)
}
