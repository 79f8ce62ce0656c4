package analysis

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

// anStarterAgrees fails when a starter finds other matches than its
// pattern does, or matches says otherwise than MatchString.
func anStarterAgrees(t *testing.T, s string) {
	t.Helper()
	for _, re := range anRuleRegexps {
		if got, want := matches(re, s), re.MatchString(s); got != want {
			t.Fatalf("matches(%.40s…, %q) = %v, MatchString %v", re, s, got, want)
		}
		for _, p := range partsOf(re) {
			if p.st == nil {
				continue
			}
			got := p.st.findAll(s, 0, nil)
			want := p.re.FindAllStringIndex(s, -1)
			if !slices.EqualFunc(got, want, slices.Equal[[]int]) {
				t.Fatalf("starter of %.40s… on %q: %v, FindAllStringIndex %v", p.re, s, got, want)
			}
		}
	}
}

// TestStartersAgree runs every starter of the risk patterns over every
// clause of the corpus and the risk cases, and over the whole texts.
func TestStartersAgree(t *testing.T) {
	// Every third text, whole (the first 200) and clause by clause.
	anEveryThird(t, func(i int, e Example) {
		text := Simplify(strings.Join(strings.Fields(e.FullText()), ""))
		if i < 600 {
			anStarterAgrees(t, text)
		}
		clauses(text, func(_ int, c string) { anStarterAgrees(t, c) })
	})
	for _, tt := range anRiskCases {
		anStarterAgrees(t, tt.text)
	}
	// Nearly every alternative of the trigger patterns has one.
	for _, re := range []*regexp.Regexp{selfHarmRE, violenceRE, disruptRE, authorityRE, benignRE} {
		for _, p := range partsOf(re) {
			if p.st == nil {
				t.Errorf("no starter for %.60s", p.re)
			}
		}
	}
}

func FuzzStarters(f *testing.F) {
	for _, tt := range anRiskCases {
		f.Add(tt.text)
	}
	f.Add("他说要从楼上跳下去，\xff跳楼")
	f.Fuzz(func(t *testing.T, s string) { anStarterAgrees(t, s) })
}

func TestFirstRunes(t *testing.T) {
	for _, tt := range []struct {
		re    string
		first string // "" when there is no starter
	}{
		{`跳楼|跳河`, "跳"},
		{`(上)?跳`, "上跳"},
		{`(就|要)(从|到).{0,10}楼`, "就要"},
		{`[0-9]+次`, "0123456789"},
		{`第[二三]?次`, "第"},
		{`x{0,3}y`, "xy"},
		{`.{0,12}跳`, ""},               // may begin with anything
		{`[^，。]{0,8}跳`, ""},            // a negated class
		{`(上)?`, ""},                   // matches the empty string
		{`跳*`, ""},                     // likewise
		{`\b跳`, ""},                    // reads the text before a match
		{`(?i)abc`, ""},                // case folding
		{`^跳楼`, ""},                    // anchored to the text's start
		{`跳楼$`, "跳"},                   // an end assertion is kept
		{`(?:a|b)(?:|c)d`, "ab"},       // nullable after a non-nullable
		{`(?:|c)d`, "cd"},              // nullable first
		{`x{0}y`, "y"},                 // a repeat of nothing
		{`[a-z\x{4e00}-\x{9fff}]`, ""}, // a wide class
	} {
		tree, err := syntax.Parse(tt.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		st := newStarter(tree)
		got := ""
		if st != nil {
			rs := slices.Clone(st.first)
			slices.Sort(rs)
			got = string(rs)
		}
		want := []rune(tt.first)
		slices.Sort(want)
		if got != string(want) {
			t.Errorf("%s: first runes %q, want %q", tt.re, got, string(want))
		}
	}
}

// anDeniedAgrees fails when denied disagrees with deniedRE.
func anDeniedAgrees(t *testing.T, after string) {
	t.Helper()
	head := prefixRunes(after, deniedReach)
	if got, want := denied(after), deniedRE.MatchString(head); got != want {
		t.Fatalf("denied(%q) = %v, deniedRE %v", after, got, want)
	}
}

func TestDeniedAgrees(t *testing.T) {
	for _, s := range []string{
		"", "这是谣言", "，这完全是谣言", "一二三四五六七八九十一二三四五六七八九十一二三四谣言",
		"一二三四五六七八九十一二三四五六七八九十一二三四五谣言",
		"我们去静坐。被我们劝住了", "去静坐。一二三四五六七八九十一二三四五六劝住",
		"去静坐。一二三四五六七八九十一二三四五六七劝住", "去静坐。。劝住", "去静坐；\xff劝下来",
		"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十。气话",
		"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一。气话",
		"没有这个想法", "没这种打算。", "没有这", "被我制止", "被我们拦",
	} {
		anDeniedAgrees(t, s)
	}
	anEveryThird(t, func(_ int, e Example) {
		text := e.FullText()
		for pos := range text {
			if pos%7 == 0 {
				anDeniedAgrees(t, text[pos:])
			}
		}
	})
}

// anEveryThird calls fn with every third text of the corpus and its index:
// the rest adds time, not cases (the fuzz targets go on from there).
func anEveryThird(t *testing.T, fn func(i int, e Example)) {
	t.Helper()
	ex, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range ex {
		if i%3 == 0 {
			fn(i, e)
		}
	}
}

func FuzzDenied(f *testing.F) {
	f.Add("，这完全是谣言")
	f.Add("去静坐。被我们劝住了")
	f.Fuzz(func(t *testing.T, s string) { anDeniedAgrees(t, s) })
}

// anSubmatchAgrees fails when peopleSt finds other head counts than
// peopleRE does.
func anSubmatchAgrees(t *testing.T, s string) {
	t.Helper()
	var got [][]int
	peopleSt.findAllSubmatch(s, func(m []int) { got = append(got, slices.Clone(m)) })
	if want := peopleRE.FindAllStringSubmatchIndex(s, -1); !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Fatalf("peopleSt on %q: %v, FindAllStringSubmatchIndex %v", s, got, want)
	}
}

func TestSubmatchAgrees(t *testing.T) {
	for _, s := range []string{"", "我们三十多名工人", "1200人和两百户", "一二三人", "十个人来了5名工人", "3\xff人"} {
		anSubmatchAgrees(t, s)
	}
	ex, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		anSubmatchAgrees(t, e.FullText())
	}
}

func FuzzSubmatch(f *testing.F) {
	f.Add("我们三十多名工人")
	f.Fuzz(func(t *testing.T, s string) { anSubmatchAgrees(t, s) })
}
