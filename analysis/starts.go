package analysis

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// A starter finds the matches of a pattern the way FindAllStringIndex does,
// but runs the pattern only where a match can begin. Go's regexp tries an
// unanchored pattern at every rune of its input when the pattern has no
// literal prefix, as most alternatives of the risk patterns have not
// ("(就|要|扬言)(从|到|上)…"). The runes a match must begin with are worked
// out from the syntax tree; the starter steps over the clause rune by rune
// and runs the pattern, anchored, only at those runes. The matches are
// the same: the leftmost match of an unanchored search begins at the first
// position where an anchored run matches, and both choose among the
// matches there by the same priorities.
type starter struct {
	anch  *regexp.Regexp // ^(?:pattern)
	first []rune
	mask  runeMask // of first
}

// maxStartRunes bounds the runes a starter looks for; a pattern that may
// begin with more is run as it is.
const maxStartRunes = 64

// newStarter returns a starter for re, or nil when re may match the empty
// string, may begin with any of many runes, or holds an assertion that
// depends on the text before a match (^, \A, \b, \B), which an anchored
// run on the rest of the text would read differently.
func newStarter(re *syntax.Regexp) *starter {
	if contextual(re) {
		return nil
	}
	first, nullable, ok := firstRunes(re)
	if !ok || nullable || len(first) == 0 || len(first) > maxStartRunes {
		return nil
	}
	anch, err := regexp.Compile(`^(?:` + re.String() + `)`)
	if err != nil {
		return nil
	}
	s := &starter{anch: anch, first: dedupRunes(first)}
	for _, r := range s.first {
		s.mask.add(r)
	}
	return s
}

// mustStarter is newStarter of a pattern known to have one.
func mustStarter(pattern string) *starter {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	st := newStarter(tree)
	if st == nil {
		panic("analysis: no starter for " + pattern)
	}
	return st
}

// contextual reports whether re holds an assertion about the text before
// a position.
func contextual(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	return slices.ContainsFunc(re.Sub, contextual)
}

// firstRunes returns the runes a non-empty match of re can begin with,
// whether re can match the empty string, and false when the runes are not
// a short known list (any character, a wide or negated class, case
// folding, an assertion).
func firstRunes(re *syntax.Regexp) (first []rune, nullable, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return nil, true, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false, false
		}
		if len(re.Rune) == 0 {
			return nil, true, true
		}
		return []rune{re.Rune[0]}, false, true
	case syntax.OpCharClass:
		var out []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] >= maxStartRunes || len(out) > maxStartRunes {
				return nil, false, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, r)
			}
		}
		return out, false, len(out) > 0 && len(out) <= maxStartRunes
	case syntax.OpCapture:
		return firstRunes(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		f, _, ok := firstRunes(re.Sub[0])
		return f, true, ok
	case syntax.OpPlus:
		return firstRunes(re.Sub[0])
	case syntax.OpRepeat:
		f, n, ok := firstRunes(re.Sub[0])
		if re.Max == 0 {
			return nil, true, true
		}
		return f, n || re.Min == 0, ok
	case syntax.OpConcat:
		var out []rune
		for _, sub := range re.Sub {
			f, n, ok := firstRunes(sub)
			if !ok {
				return nil, false, false
			}
			out = append(out, f...)
			if !n {
				return out, false, true
			}
		}
		return out, true, true
	case syntax.OpAlternate:
		var out []rune
		nullable := false
		for _, sub := range re.Sub {
			f, n, ok := firstRunes(sub)
			if !ok {
				return nil, false, false
			}
			out = append(out, f...)
			nullable = nullable || n
		}
		return out, nullable, true
	}
	return nil, false, false
}

// findAll appends to out the matches of the pattern in s, as
// FindAllStringIndex(s, -1) returns them, each shifted by base.
func (st *starter) findAll(s string, base int, out [][]int) [][]int {
	for pos := 0; pos < len(s); {
		r, size := utf8.DecodeRuneInString(s[pos:])
		if st.has(r) {
			if loc := st.anch.FindStringIndex(s[pos:]); loc != nil {
				// Matches are never empty (newStarter), so the search
				// goes on after this one, as FindAll's does.
				out = append(out, []int{base + pos, base + pos + loc[1]})
				pos += loc[1]
				continue
			}
		}
		pos += size
	}
	return out
}

// findAllSubmatch calls fn with the submatch indexes of every match of
// the pattern in s, as FindAllStringSubmatchIndex(s, -1) returns them.
func (st *starter) findAllSubmatch(s string, fn func(m []int)) {
	for pos := 0; pos < len(s); {
		r, size := utf8.DecodeRuneInString(s[pos:])
		if st.has(r) {
			if m := st.anch.FindStringSubmatchIndex(s[pos:]); m != nil {
				for i := range m {
					if m[i] >= 0 {
						m[i] += pos
					}
				}
				fn(m)
				pos = m[1]
				continue
			}
		}
		pos += size
	}
}

func (st *starter) has(r rune) bool {
	return st.mask.has(r) && slices.Contains(st.first, r)
}

// matches reports whether re matches s, running each alternative of re
// only when its prefilter lets s through, and from the runes where a
// match of it can begin.
func matches(re *regexp.Regexp, s string) bool {
	if !prefilterOf(re).mayMatch(s) {
		return false
	}
	for _, p := range partsOf(re) {
		if !p.pf.mayMatch(s) {
			continue
		}
		if p.st == nil {
			if p.re.MatchString(s) {
				return true
			}
			continue
		}
		for pos := 0; pos < len(s); {
			r, size := utf8.DecodeRuneInString(s[pos:])
			if p.st.has(r) && p.st.anch.MatchString(s[pos:]) {
				return true
			}
			pos += size
		}
	}
	return false
}
