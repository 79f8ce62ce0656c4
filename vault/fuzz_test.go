package vault

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets for the vault's input checks and sealed records (issue 10,
// item 3). FuzzNormalizeReceiptCode, FuzzValidUnit and FuzzParseCalendar
// live beside their tests. Helpers are prefixed hx.

func FuzzCheckText(f *testing.F) {
	for _, s := range []string{
		"拖欠工资三个月", "我们在三号工地干活，\n项目部已经拖欠我们三个月工资。", "", " ", "\u3000", "a\x00b", "a\u202eb", "a\u200bb",
		"\ufeffa", "a\u2028b", "a\x1bb", "a\tb", "a\r\nb", "\xff\xfe", "👩\u200d👩\u200d👧", "a\u2066b\u2069", "a\ufffdb",
		strings.Repeat("长", 201), "\u0600", "\U000E0001",
	} {
		f.Add(s, uint16(1), uint16(200), false)
		f.Add(s, uint16(0), uint16(20000), true)
	}
	f.Fuzz(func(t *testing.T, s string, min, max uint16, multiline bool) {
		lo, hi := int(min%300), int(max%300)
		err := checkText("field", s, lo, hi, multiline)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || ie.Field != "field" {
				t.Fatalf("error %v is not an *InvalidError for the field", err)
			}
			if s != "" && len(s) > 3 && strings.Contains(ie.Msg, s) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("accepted invalid UTF-8 %q", s)
		}
		if n := utf8.RuneCountInString(s); n < lo || n > hi {
			t.Fatalf("accepted %d runes outside [%d, %d]", n, lo, hi)
		}
		for _, r := range s {
			if multiline && (r == '\n' || r == '\r' || r == '\t') {
				continue
			}
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
				t.Fatalf("accepted %q with the control character %U (multiline %v)", s, r, multiline)
			}
			if unicode.Is(unicode.Cf, r) && r != '\u200d' {
				t.Fatalf("accepted %q with the invisible character %U", s, r)
			}
		}
		if lo > 0 && strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u3000' }) == "" {
			t.Fatalf("accepted blank %q for a required field", s)
		}
	})
}

func FuzzCheckPassword(f *testing.F) {
	for _, s := range []string{"correct-horse-battery-staple", "short", "password1234", "PASSWORD1234", "admin-user-name", strings.Repeat("密", 257), "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4", "a\x00b\x00c\x00d\x00e\x00f\x00"} {
		f.Add(s, "admin-user-name")
	}
	messages := []string{"password: not valid UTF-8", "password: at least 12 characters", "password: at most 256 characters",
		"password: must not equal the username", "password: too common", "password: contains a control or invisible character"}
	f.Fuzz(func(t *testing.T, password, username string) {
		err := CheckPassword(password, username)
		if err != nil {
			// The message is one of a fixed few: it never echoes the password.
			if !errors.Is(err, ErrInvalid) || !slices.Contains(messages, err.Error()) {
				t.Fatalf("error %q", err)
			}
			return
		}
		if !utf8.ValidString(password) {
			t.Fatalf("accepted invalid UTF-8")
		}
		if n := utf8.RuneCountInString(password); n < 12 || n > 256 {
			t.Fatalf("accepted a password of %d characters", n)
		}
		if username != "" && strings.ToLower(password) == strings.ToLower(username) {
			t.Fatalf("accepted the username as the password")
		}
		if commonPasswords[strings.ToLower(password)] {
			t.Fatalf("accepted a common password")
		}
	})
}

// FuzzOpenEnvelope feeds arbitrary bytes, real envelopes and their
// mutations to the vault's envelope opener: it never panics, and every
// failure wraps ErrCorrupt.
func FuzzOpenEnvelope(f *testing.F) {
	v := newTestVault(f, nil)
	addEnvelopeSeeds(f, v)
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n\n--- AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := v.open(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: %v does not wrap ErrCorrupt", err)
		}
	})
}

// addEnvelopeSeeds adds envelopes sealed by v, and truncations of them, to
// a fuzz corpus.
func addEnvelopeSeeds(f *testing.F, v *Vault) {
	for _, pt := range []string{"", "hello", `{"title":"拖欠工资三个月","content":"我们在三号工地干活。"}`} {
		ct, err := v.seal([]byte(pt))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ct)
		f.Add(ct[:len(ct)/2])
		f.Add(ct[:len(ct)-1])
	}
}

// FuzzDecodeULID: decodeULID accepts exactly the ids ValidID accepts, and
// inverts encodeULID on them; the bytes of two ids order as the ids do (the
// duplicate lookup ranks ties newest first by the bytes).
func FuzzDecodeULID(f *testing.F) {
	var g idGen
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	f.Add(g.next(now), g.next(now.Add(time.Hour)))
	f.Add("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "00000000000000000000000000")
	f.Add("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01j00000000000000000000000")
	f.Add("01JDQ5ZBXKQH8V4N3W2YVC6RAI", "01JDQ5ZBXKQH8V4N3W2YVC6RA")
	f.Fuzz(func(t *testing.T, a, b string) {
		ida, oka := decodeULID(a)
		if oka != ValidID(a) {
			t.Fatalf("decodeULID(%q) ok = %v, ValidID = %v", a, oka, ValidID(a))
		}
		if bid, ok := decodeULID([]byte(a)); ok != oka || bid != ida {
			t.Fatalf("decodeULID of the bytes of %q differs", a)
		}
		if !oka {
			return
		}
		if got := ida.String(); got != a {
			t.Fatalf("encodeULID(decodeULID(%q)) = %q", a, got)
		}
		if idb, ok := decodeULID(b); ok {
			if got, want := bytes.Compare(ida[:], idb[:]), strings.Compare(a, b); got != want {
				t.Fatalf("%q vs %q: bytes compare %d, ids %d", a, b, got, want)
			}
		}
	})
}
