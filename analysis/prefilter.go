package analysis

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
)

// A prefilter skips a regular expression on clauses that cannot match it:
// sets of runes such that every match contains a rune of each set, worked
// out from the expression's syntax tree ("(用|按)我的方式" needs one of 用按,
// and 式, and 方). Most clauses of a petition lack a pattern's key
// characters, so most regexp runs are skipped. The rarest set is tried
// first.
type prefilter struct {
	any   bool // no constraint found: always run
	sets  [][]rune
	masks []runeMask // of each set
}

// runeMask is a hashed set of runes, 1,024 bits: a clause's mask shares no
// bit with a set's mask only if the clause holds no rune of the set. A
// clause's few dozen runes fill about 3 % of it, so most clauses without a
// pattern's runes are told so by a few word operations, not by scans.
type runeMask [16]uint64

func (m *runeMask) add(r rune) {
	h := runeBit(r)
	m[h>>6] |= 1 << (h & 63)
}

// has reports whether r's bit is set: r may be in the set, or surely not.
func (m *runeMask) has(r rune) bool {
	h := runeBit(r)
	return m[h>>6]&(1<<(h&63)) != 0
}

// runeBit is r's bit in a runeMask.
func runeBit(r rune) uint32 { return uint32(r) * 0x9E3779B1 >> 22 }

func (m *runeMask) meets(o *runeMask) bool {
	var x uint64
	for i := range m {
		x |= m[i] & o[i]
	}
	return x != 0
}

// mayMatchClause is mayMatch on a clause, ruling out first by the masks.
func (p *prefilter) mayMatchClause(c *clause) bool {
	if p.any {
		return true
	}
	for i := range p.masks {
		if !p.masks[i].meets(&c.mask) {
			return false
		}
	}
	return p.mayMatch(c.s)
}

// mayMatch reports whether s contains a rune of every set.
func (p *prefilter) mayMatch(s string) bool {
	return p.each(func(r rune) bool { return strings.ContainsRune(s, r) })
}

// each reports whether every set has a rune for which has is true.
func (p *prefilter) each(has func(rune) bool) bool {
	if p.any {
		return true
	}
	for _, set := range p.sets {
		if !slices.ContainsFunc(set, has) {
			return false
		}
	}
	return true
}

// runeSet is the set of runes of a text (the Basic Multilingual Plane; runes
// above it are always taken as present).
type runeSet [1 << 16 / 64]uint64

func (rs *runeSet) fill(s string) {
	for _, r := range s {
		if r < 1<<16 {
			rs[r/64] |= 1 << (r % 64)
		}
	}
}

// mayMatchSet reports whether the rune set holds a rune of every set of
// the prefilter.
func (p *prefilter) mayMatchSet(rs *runeSet) bool {
	return p.each(func(r rune) bool { return r >= 1<<16 || rs[r/64]&(1<<(r%64)) != 0 })
}

// required returns runes one of which every match of re must contain, or
// nil when there is no such finite set.
func required(re *syntax.Regexp) []rune {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 || re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		// The rarest rune of the literal.
		best := re.Rune[0]
		for _, r := range re.Rune[1:] {
			if commonness(r) < commonness(best) {
				best = r
			}
		}
		return []rune{best}
	case syntax.OpCharClass:
		var out []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] > 64 || len(out) > 64 {
				return nil
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, r)
			}
		}
		return out
	case syntax.OpCapture, syntax.OpPlus, syntax.OpRepeat:
		if sub := inner(re); sub != nil {
			return required(sub)
		}
		return nil
	case syntax.OpConcat:
		var best []rune
		for _, sub := range re.Sub {
			if r := required(sub); r != nil && (best == nil || cost(r) < cost(best)) {
				best = r
			}
		}
		return best
	case syntax.OpAlternate:
		var out []rune
		for _, sub := range re.Sub {
			r := required(sub)
			if r == nil {
				return nil
			}
			out = append(out, r...)
		}
		return out
	}
	return nil
}

var prefilters sync.Map // *regexp.Regexp → *prefilter

func prefilterOf(re *regexp.Regexp) *prefilter {
	if p, ok := prefilters.Load(re); ok {
		return p.(*prefilter)
	}
	p := &prefilter{any: true}
	if tree, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		if sets := requiredAll(tree.Simplify()); len(sets) > 0 {
			p.any = false
			sort.SliceStable(sets, func(i, j int) bool { return cost(sets[i]) < cost(sets[j]) })
			// Three sets are plenty; more cost scans and rarely prune.
			p.sets = sets[:min(len(sets), 3)]
			p.masks = make([]runeMask, len(p.sets))
			for i, set := range p.sets {
				for _, r := range set {
					p.masks[i].add(r)
				}
			}
		}
	}
	prefilters.Store(re, p)
	return p
}

// requiredAll returns sets of runes such that every match of re contains
// a rune of each: those of the parts of a concatenation, or the one set of
// required.
func requiredAll(re *syntax.Regexp) [][]rune {
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus, syntax.OpRepeat:
		if sub := inner(re); sub != nil {
			return requiredAll(sub)
		}
		return nil
	case syntax.OpConcat:
		var out [][]rune
		for _, sub := range re.Sub {
			out = append(out, requiredAll(sub)...)
		}
		return out
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		// Each rune of the literal; the rarest sort first.
		var out [][]rune
		seen := map[rune]bool{}
		for _, r := range re.Rune {
			if !seen[r] {
				seen[r] = true
				out = append(out, []rune{r})
			}
		}
		return out
	}
	if r := required(re); r != nil {
		return [][]rune{dedupRunes(r)}
	}
	return nil
}

// inner returns the subexpression every match of a capture, a plus or a
// repeat must match: nil when the repeat may match nothing.
func inner(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpRepeat && re.Min == 0 {
		return nil
	}
	return re.Sub[0]
}

func dedupRunes(rs []rune) []rune {
	var out []rune
	for _, r := range rs {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// frequent are the most frequent Chinese characters (and ASCII digits):
// a set holding them matches almost every clause.
const frequent = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分老因很给名法间知世什两次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许稳先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军候民岁往何度山觉路带万男边风解叫任金快原吃妈变通师立象数四失满战远格士音轻目条呢0123456789"

var frequentRank = func() map[rune]int {
	m := map[rune]int{}
	for i, r := range []rune(frequent) {
		m[r] = i
	}
	return m
}()

// commonness ranks a rune: lower is rarer (and better for a prefilter).
func commonness(r rune) int {
	if i, ok := frequentRank[r]; ok {
		return 1000 - i
	}
	return 0
}

// cost of a prefilter set: its size, with frequent runes counting heavily.
func cost(rs []rune) int {
	c := 0
	for _, r := range rs {
		c += 1 + commonness(r)
	}
	return c
}
