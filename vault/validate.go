package vault

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every *InvalidError.
var ErrInvalid = errors.New("vault: invalid input")

// InvalidError reports bad input; Field names the offending field.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, a ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// checkText validates a text field: valid UTF-8, length in runes within
// [min, max], and no control characters (multi-line text may hold tabs and
// line breaks).
func checkText(field, s string, min, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return invalid(field, "required")
		}
		return invalid(field, "at least %d characters", min)
	}
	if n > max {
		return invalid(field, "at most %d characters", max)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return invalid(field, "contains a control character")
		}
		if hiddenFormat(r) {
			return invalid(field, "contains an invisible or text-direction character")
		}
	}
	if min > 0 && strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u3000' }) == "" {
		return invalid(field, "must not be blank")
	}
	return nil
}

// hiddenFormat reports format characters that change how text is shown
// without being seen: bidirectional overrides and isolates (the "Trojan
// Source" trick), zero-width spaces and joiners, the BOM, and other Cf
// characters. Zero-width joiners inside emoji sequences are kept.
func hiddenFormat(r rune) bool {
	switch r {
	case '\u200d': // zero-width joiner (emoji)
		return false
	}
	return unicode.Is(unicode.Cf, r)
}

var (
	unitSegment = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	usernameRE  = regexp.MustCompile(`^[a-z0-9._-]{3,32}$`)
)

// MaxUnitDepth is the deepest unit path accepted.
const MaxUnitDepth = 8

// ValidUnit reports whether s is a unit path: slash-separated segments of
// [a-z0-9-], at most MaxUnitDepth deep and 200 bytes long.
func ValidUnit(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	segs := strings.Split(s, "/")
	if len(segs) > MaxUnitDepth {
		return false
	}
	for _, seg := range segs {
		if !unitSegment.MatchString(seg) {
			return false
		}
	}
	return true
}

// ValidUsername reports whether s is a valid username.
func ValidUsername(s string) bool { return usernameRE.MatchString(s) }

// commonPasswords are refused whatever their length.
var commonPasswords = map[string]bool{
	"123456789012": true, "1234567890123": true, "12345678901234": true, "password1234": true,
	"password12345": true, "passwordpassword": true, "qwertyuiop12": true, "qwertyuiopasdf": true,
	"111111111111": true, "000000000000": true, "abcdefghijkl": true, "abc123456789": true,
	"iloveyou1234": true, "administrator": true, "admin1234567": true, "admin123456789": true,
	"letmein12345": true, "welcome12345": true, "changeme1234": true, "passw0rd1234": true,
	"p@ssw0rd1234": true, "1qaz2wsx3edc": true, "1q2w3e4r5t6y": true, "qazwsxedcrfv": true,
	"zaq12wsxcde3": true, "woaini131452": true, "woaini520520": true, "aaaaaaaaaaaa": true,
	"123123123123": true, "987654321098": true, "password123!": true, "qwerty123456": true,
}

// CheckPassword applies the password rules: at least 12 characters, at most
// 256, not the username, not a common password.
func CheckPassword(password, username string) error {
	if !utf8.ValidString(password) {
		return invalid("password", "not valid UTF-8")
	}
	n := utf8.RuneCountInString(password)
	if n < 12 {
		return invalid("password", "at least 12 characters")
	}
	if n > 256 {
		return invalid("password", "at most 256 characters")
	}
	for _, r := range password {
		if unicode.IsControl(r) || hiddenFormat(r) || r == '\u2028' || r == '\u2029' {
			return invalid("password", "contains a control or invisible character")
		}
	}
	lower := strings.ToLower(password)
	if username != "" && lower == strings.ToLower(username) {
		return invalid("password", "must not equal the username")
	}
	if commonPasswords[lower] {
		return invalid("password", "too common")
	}
	return nil
}

// normalizeName folds a person's name for keyed hashing: trimmed, inner
// whitespace collapsed, lower case, full-width ASCII folded.
func normalizeName(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII
			r -= 0xFEE0
		}
		if r == '\u3000' || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
