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
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// ngrams calls fn with every character n-gram (1 ≤ n ≤ maxN) of the runs of
// content characters in text, digits folded to '0' so amounts and dates
// generalise.
func ngrams(text []rune, maxN int, fn func(g []rune)) {
	run := make([]rune, 0, 64)
	flush := func() {
		for i := range run {
			for n := 1; n <= maxN && i+n <= len(run); n++ {
				fn(run[i : i+n])
			}
		}
		run = run[:0]
	}
	for _, r := range text {
		if !isContent(r) {
			flush()
			continue
		}
		if unicode.IsDigit(r) {
			r = '0'
		}
		run = append(run, r)
	}
	flush()
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
