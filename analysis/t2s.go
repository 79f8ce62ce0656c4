package analysis

import (
	_ "embed"
	"strings"
	"unicode/utf8"
)

// Petitions from Hong Kong, Macao and Taiwan contractors, and some older
// writers, come in traditional characters (靜坐, 傳媒, 追討). The rules and the
// models read simplified characters, so every text is read through this
// character map first (t2s.txt: OpenCC's table, single characters only).

//go:embed t2s.txt
var t2sData string

const t2sLo, t2sHi = 0x3400, 0x9FFF

// t2sTable maps a rune in [t2sLo, t2sHi] to its simplified form, 0 for
// itself.
var t2sTable = func() []uint16 {
	t := make([]uint16, t2sHi-t2sLo+1)
	for _, line := range strings.Split(t2sData, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		from, n := utf8.DecodeRuneInString(line)
		to, _ := utf8.DecodeRuneInString(line[n:])
		if from >= t2sLo && from <= t2sHi && to <= 0xFFFF {
			t[from-t2sLo] = uint16(to)
		}
	}
	return t
}()

// simplified returns r's simplified form (r itself when it has none).
func simplified(r rune) rune {
	if r >= t2sLo && r <= t2sHi {
		if s := t2sTable[r-t2sLo]; s != 0 {
			return rune(s)
		}
	}
	return r
}

// Simplify returns s with traditional characters replaced by simplified
// ones; s itself when it has none.
func Simplify(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return simplified(r) != r })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for rest := s[i:]; rest != ""; {
		r, size := utf8.DecodeRuneInString(rest)
		if r == utf8.RuneError && size <= 1 {
			b.WriteString(rest[:size]) // an invalid byte stays as it was
		} else {
			b.WriteRune(simplified(r))
		}
		rest = rest[size:]
	}
	return b.String()
}
