package analysis

import (
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hashNgramsRef is the definition of the features: every character n-gram
// (1 ≤ n ≤ maxN) of the runs of content characters, digits folded to '0',
// hashed by FNV-1a over its UTF-8 bytes and then its length, in the order
// of their starts and, at a start, of their lengths.
func hashNgramsRef(text string, bits uint, maxN int) []uint32 {
	var out []uint32
	var run []rune
	flush := func() {
		for i := range run {
			for n := 1; n <= maxN && i+n <= len(run); n++ {
				h := uint32(2166136261)
				for _, c := range []byte(string(run[i : i+n])) {
					h ^= uint32(c)
					h *= 16777619
				}
				h ^= uint32(byte(n))
				h *= 16777619
				out = append(out, h&(1<<bits-1))
			}
		}
		run = run[:0]
	}
	for _, r := range Normalize(text) {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			flush()
			continue
		}
		if unicode.IsDigit(r) {
			r = '0'
		}
		run = append(run, r)
	}
	flush()
	return out
}

// TestHashNgrams: the incremental hashing gives the definition's buckets,
// in its order, on the corpus, long letters and mixed scripts.
func TestHashNgrams(t *testing.T) {
	texts := append(anTypicalTexts(t), anLetters(t)...)
	texts = append(texts, "", "a", "ab1 2c", "Ｅｍａｉｌ：zhang.san@例子.cn，电话13800138000！", "𠀀𠀁𠀂 é ü ß 한국어 русский", "\xff\xfe乱码")
	for _, text := range texts {
		for _, maxN := range []int{1, 2, 3, 4} {
			want := hashNgramsRef(text, 18, maxN)
			if got := hashNgrams(text, 18, maxN, nil); !slices.Equal(got, want) {
				t.Fatalf("maxN %d, %.40q: %d buckets, want %d", maxN, text, len(got), len(want))
			}
		}
	}
}

// TestIsContent: the fast paths answer as unicode.IsLetter or IsDigit does,
// for every rune.
func TestIsContent(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if want := unicode.IsLetter(r) || unicode.IsDigit(r); isContent(r) != want {
			t.Fatalf("isContent(%U) = %v", r, !want)
		}
	}
	if isContent(utf8.RuneError) {
		t.Error("the replacement character is content")
	}
}

func FuzzHashNgrams(f *testing.F) {
	f.Add("我们在三号工地干活，工资拖欠3个月。", 3)
	f.Fuzz(func(t *testing.T, text string, maxN int) {
		maxN = 1 + (maxN%4+4)%4
		if got, want := hashNgrams(text, 18, maxN, nil), hashNgramsRef(text, 18, maxN); !slices.Equal(got, want) {
			t.Fatalf("%q, maxN %d: differs from the definition", text, maxN)
		}
	})
}
