package vault

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeContent decodes a content record into c as json.Unmarshal would,
// in one pass: encoding/json validates the whole record before decoding it
// and unquotes strings as a second pass, which made it a tenth of a
// petition read's CPU for letters of a few KiB. It reads the members the
// vault writes (title, content, requests as strings, subjects and masked
// through encoding/json, as they are small) and reports false, leaving c
// to be decoded by json.Unmarshal, on anything else: another key or a key
// in other case, a string field that is not a string, invalid UTF-8, a
// malformed record. FuzzDecodeContent checks that whatever it accepts,
// json.Unmarshal decodes to the same Content.
func decodeContent(pt []byte, c *Content) bool { return parseContent(pt, c, false, false) }

// DecodeContentRaw decodes a content record, keeping its title, content and
// requests in c.Raw as the record's JSON strings when each is exactly what
// encoding/json writes for its text (see rawString); otherwise it decodes
// them (Raw nil).
func DecodeContentRaw(pt []byte) (*Content, error) { return decodeContentRaw(pt, false) }

// decodeContentRaw is DecodeContentRaw; utf8OK says pt is known to be
// valid UTF-8 (it was checked when the same envelope was opened before).
// A result with Raw set was checked (or known) to be valid UTF-8; one
// decoded by encoding/json was not.
func decodeContentRaw(pt []byte, utf8OK bool) (*Content, error) {
	var c Content
	if parseContent(pt, &c, true, utf8OK) {
		return &c, nil
	}
	return unmarshalContent(pt)
}

// unmarshalContent decodes a content record: in one pass where it can,
// else with encoding/json.
func unmarshalContent(pt []byte) (*Content, error) {
	var c Content
	if !decodeContent(pt, &c) && json.Unmarshal(pt, &c) != nil {
		return nil, errors.New("vault: content record malformed")
	}
	return &c, nil
}

// RawText is the title, content and requests of a petition as the JSON
// strings its record holds (quoted and escaped as encoding/json wrote
// them, checked to be valid JSON strings), for a response that copies them
// without decoding and encoding them again.
type RawText struct{ Title, Content, Requests []byte }

// parseContent is decodeContent; with raw, the three text members are kept
// as they are in c.Raw instead of decoded (all three must be present).
func parseContent(pt []byte, c *Content, raw, utf8OK bool) bool {
	var out Content
	var rt RawText
	i := skipSpace(pt, 0)
	if i >= len(pt) || pt[i] != '{' {
		return false
	}
	if !utf8OK && !utf8.Valid(pt) {
		return false
	}
	i = skipSpace(pt, i+1)
	if i < len(pt) && pt[i] == '}' {
		i++
	} else {
		for {
			if i >= len(pt) || pt[i] != '"' {
				return false
			}
			end, esc := stringEnd(pt, i)
			if end < 0 || esc {
				return false // keys the vault writes have no escapes
			}
			key := pt[i+1 : end-1]
			i = skipSpace(pt, end)
			if i >= len(pt) || pt[i] != ':' {
				return false
			}
			i = skipSpace(pt, i+1)
			var ok bool
			switch string(key) {
			case "title":
				i, ok = textMember(pt, i, raw, &out.Title, &rt.Title)
			case "content":
				i, ok = textMember(pt, i, raw, &out.Content, &rt.Content)
			case "requests":
				i, ok = textMember(pt, i, raw, &out.Requests, &rt.Requests)
			case "subjects":
				i, ok = stringList(pt, i, &out.Subjects)
			case "masked":
				i, ok = maskedMember(pt, i, &out.Masked)
			}
			if !ok {
				return false
			}
			i = skipSpace(pt, i)
			if i < len(pt) && pt[i] == ',' {
				i = skipSpace(pt, i+1)
				continue
			}
			if i < len(pt) && pt[i] == '}' {
				i++
				break
			}
			return false
		}
	}
	if skipSpace(pt, i) != len(pt) {
		return false
	}
	if raw {
		if rt.Title == nil || rt.Content == nil || rt.Requests == nil {
			return false
		}
		out.Raw = &rt
	}
	*c = out
	return true
}

// textMember reads the string at b[i] into s, or with raw as it is into r.
func textMember(b []byte, i int, raw bool, s *string, r *[]byte) (int, bool) {
	var ok bool
	if raw {
		*r, i, ok = rawString(b, i)
	} else {
		*s, i, ok = jsonString(b, i)
	}
	return i, ok
}

// rawString returns the JSON string at b[i] as it is, quotes included,
// when it is exactly what encoding/json writes for the text it holds, so
// that a reply copying it is byte for byte the reply encoding/json would
// write: no raw '<', '>', '&', U+2028 or U+2029 (encoding/json escapes
// them) and no control character, and only the escapes encoding/json
// writes, in its form (\" \\ \b \f \n \r \t, \u00xx for other
// control characters and <>&, \u2028, \u2029; lower-case hex). Anything
// else, such as the \ufffd it writes for invalid UTF-8, which decodes to
// a different text, is refused and decoded instead. The caller has checked
// that b is valid UTF-8.
func rawString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		if j = skipOrdinary(b, j, &rawSpecial); j == len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			return b[i : j+1], j + 1, true
		case c == '\\':
			if j+1 >= len(b) {
				return nil, i, false
			}
			switch b[j+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				r, ok := hex4(b, j+2)
				if !ok || string(b[j:j+6]) != jsonEscape(r) {
					return nil, i, false
				}
				j += 5
			default:
				return nil, i, false
			}
		case c < 0x20, c == '<', c == '>', c == '&':
			return nil, i, false
		case c == 0xE2 && j+2 < len(b) && b[j+1] == 0x80 && (b[j+2] == 0xA8 || b[j+2] == 0xA9):
			return nil, i, false
		}
	}
	return nil, i, false
}

// rawSpecial marks the bytes rawString must look at: the quote, the
// backslash, what encoding/json escapes (control characters, <, >, &) and
// 0xE2, which leads U+2028 and U+2029.
var rawSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range []byte{'"', '\\', '<', '>', '&', 0xE2} {
		t[c] = true
	}
	return t
}()

// endSpecial marks the bytes stringEnd must look at: the quote, the
// backslash and control characters.
var endSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// skipOrdinary returns the index of the first byte from b[j] on that
// special marks, or len(b).
func skipOrdinary(b []byte, j int, special *[256]bool) int {
	for j < len(b) && !special[b[j]] {
		j++
	}
	return j
}

// jsonEscape is the \u escape encoding/json writes for r, or "" when it
// writes r otherwise.
func jsonEscape(r rune) string {
	switch {
	case r == '\b', r == '\f', r == '\n', r == '\r', r == '\t':
		return ""
	case r < 0x20, r == '<', r == '>', r == '&', r == 0x2028, r == 0x2029:
		const hex = "0123456789abcdef"
		return string([]byte{'\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15]})
	}
	return ""
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i]
// (a quote), and whether it holds escapes; -1 if it is unterminated or
// holds a control character.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		if j = skipOrdinary(b, j, &endSpecial); j == len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, esc
		case c == '\\':
			esc = true
			j++
		case c < 0x20:
			return -1, false
		}
	}
	return -1, false
}

// jsonString decodes the JSON string at b[i] (the caller has checked that b
// is valid UTF-8).
func jsonString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	end, esc := stringEnd(b, i)
	if end < 0 {
		return "", i, false
	}
	if !esc {
		return string(b[i+1 : end-1]), end, true
	}
	s, ok := unquote(b[i+1 : end-1])
	return s, end, ok
}

// unquote decodes the escapes of a JSON string's body as encoding/json
// does: a lone or reversed surrogate becomes U+FFFD.
func unquote(s []byte) (string, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			out = append(out, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			out = append(out, s[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok2 = hex4(s, i+2)
				}
				if ok2 {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(out), true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s[i:i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// jsonValue decodes the JSON array, object or null at b[i] into dst with
// encoding/json.
// stringList reads the array of strings or null at b[i] into dst, as
// json.Unmarshal would; anything else is left to jsonValue.
func stringList(b []byte, i int, dst *[]string) (int, bool) {
	if i+4 <= len(b) && string(b[i:i+4]) == "null" {
		*dst = nil
		return i + 4, true
	}
	if i >= len(b) || b[i] != '[' {
		return jsonValue(b, i, dst)
	}
	out := []string{}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		*dst = out
		return j + 1, true
	}
	for {
		s, next, ok := jsonString(b, j)
		if !ok {
			return jsonValue(b, i, dst)
		}
		out = append(out, s)
		j = skipSpace(b, next)
		switch {
		case j < len(b) && b[j] == ',':
			j = skipSpace(b, j+1)
		case j < len(b) && b[j] == ']':
			*dst = out
			return j + 1, true
		default:
			return jsonValue(b, i, dst)
		}
	}
}

// maskedMember reads the masked identity (an object of the five petitioner
// fields, or null) at b[i] into dst, as json.Unmarshal would; anything else
// (another key, whose case json.Unmarshal would fold) is left to jsonValue.
func maskedMember(b []byte, i int, dst **Petitioner) (int, bool) {
	if i+4 <= len(b) && string(b[i:i+4]) == "null" {
		*dst = nil
		return i + 4, true
	}
	if i >= len(b) || b[i] != '{' {
		return jsonValue(b, i, dst)
	}
	var p Petitioner
	if *dst != nil {
		p = **dst // json.Unmarshal decodes a repeated member into the same value
	}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == '}' {
		*dst = &p
		return j + 1, true
	}
	for {
		key, next, ok := jsonString(b, j)
		if !ok {
			return jsonValue(b, i, dst)
		}
		var field *string
		switch key {
		case "name":
			field = &p.Name
		case "id_number":
			field = &p.IDNumber
		case "phone":
			field = &p.Phone
		case "address":
			field = &p.Address
		case "employee_no":
			field = &p.EmployeeNo
		default:
			return jsonValue(b, i, dst)
		}
		j = skipSpace(b, next)
		if j >= len(b) || b[j] != ':' {
			return jsonValue(b, i, dst)
		}
		if *field, next, ok = jsonString(b, skipSpace(b, j+1)); !ok {
			return jsonValue(b, i, dst)
		}
		j = skipSpace(b, next)
		switch {
		case j < len(b) && b[j] == ',':
			j = skipSpace(b, j+1)
		case j < len(b) && b[j] == '}':
			*dst = &p
			return j + 1, true
		default:
			return jsonValue(b, i, dst)
		}
	}
}

func jsonValue(b []byte, i int, dst any) (int, bool) {
	end := valueEnd(b, i)
	if end < 0 {
		return i, false
	}
	if json.Unmarshal(b[i:end], dst) != nil {
		return i, false
	}
	return end, true
}

// valueEnd returns the index just past the array, object or null at b[i],
// or -1. Brackets are matched outside strings; encoding/json checks the
// rest.
func valueEnd(b []byte, i int) int {
	if i+4 <= len(b) && string(b[i:i+4]) == "null" {
		return i + 4
	}
	if i >= len(b) || (b[i] != '[' && b[i] != '{') {
		return -1
	}
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end, _ := stringEnd(b, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}
