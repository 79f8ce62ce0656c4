// Package analysis classifies petitions, scores their risk, finds near
// duplicates and spots hotspots. It is pure Go: no network, no cgo, no I/O
// beyond what callers hand it.
//
// Guarantees: everything runs on decrypted text inside the vault at intake;
// what leaves this package for storage is labels, scores, readable reasons,
// and keyed hashes (MinHash signatures over keyed shingle hashes), never text.
// Results are deterministic for a given model and key.
package analysis

import (
	"strings"
	"unicode"
)

// Normalize folds text for analysis: full-width ASCII to half-width, ASCII
// letters to lower case, traditional characters to simplified (t2s.go),
// whitespace removed, other characters kept.
func Normalize(s string) []rune {
	out := make([]rune, 0, len(s)/2)
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		case r == '\u3000':
			continue
		}
		if unicode.IsSpace(r) {
			continue
		}
		if r < 0x80 {
			r = unicode.ToLower(r)
		} else {
			r = simplified(r)
		}
		out = append(out, r)
	}
	return out
}

// isContent reports whether a rune carries meaning for n-grams (letters,
// digits, CJK); punctuation splits n-grams.
func isContent(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF: // CJK Unified Ideographs: all letters
		return true
	case r < 0x80:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// contentRuns calls fn with every run of content characters in text,
// digits folded to '0' so amounts and dates generalise: the n-grams of the
// runs are the features (hashNgrams). fn must not keep run.
func contentRuns(text []rune, fn func(run []rune)) {
	run := make([]rune, 0, 64)
	for _, r := range text {
		if !isContent(r) {
			if len(run) > 0 {
				fn(run)
				run = run[:0]
			}
			continue
		}
		if unicode.IsDigit(r) {
			r = '0'
		}
		run = append(run, r)
	}
	if len(run) > 0 {
		fn(run)
	}
}

// JoinText is the text analysed for a petition: title, content and requests.
func JoinText(title, content, requests string) string {
	var b strings.Builder
	b.Grow(len(title) + len(content) + len(requests) + 2)
	b.WriteString(title)
	b.WriteString("\n")
	b.WriteString(content)
	if requests != "" {
		b.WriteString("\n")
		b.WriteString(requests)
	}
	return b.String()
}
