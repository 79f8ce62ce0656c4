package analysis

import (
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestSimplify(t *testing.T) {
	for in, want := range map[string]string{
		"業主約定售樓處靜坐":          "业主约定售楼处静坐",
		"若兩星期內仍未安排維修，將向傳媒投訴": "若两星期内仍未安排维修，将向传媒投诉",
		"拖欠工资三个月":            "拖欠工资三个月",
		"":                   "",
		"abc 123":            "abc 123",
	} {
		if got := Simplify(in); got != want {
			t.Errorf("Simplify(%q) = %q, want %q", in, got, want)
		}
	}
	// Simplified text comes back as it is, without a copy.
	s := "我们已经决定本周六上午十点到售楼处"
	if got := Simplify(s); got != s || unsafe.StringData(got) != unsafe.StringData(s) {
		t.Errorf("Simplify changed simplified text: %q", got)
	}
	// Normalize, which every model reads through, simplifies too.
	if got := string(Normalize("傳媒 曝光")); got != "传媒曝光" {
		t.Errorf("Normalize = %q", got)
	}
}

// TestSimplifyTable: the table maps to characters that map no further, so
// simplifying is idempotent, and every line of t2s.txt was read.
func TestSimplifyTable(t *testing.T) {
	n := 0
	for i, s := range t2sTable {
		if s == 0 {
			continue
		}
		n++
		if simplified(rune(s)) != rune(s) {
			t.Errorf("%c → %c maps on to %c", rune(i+t2sLo), rune(s), simplified(rune(s)))
		}
	}
	if n < 2500 {
		t.Errorf("table has %d pairs, want the 2,956 of t2s.txt", n)
	}
	if !utf8.ValidString(t2sData) {
		t.Error("t2s.txt is not UTF-8")
	}
}

func FuzzSimplify(f *testing.F) {
	f.Add("業主靜坐")
	f.Add("\xff\xfe")
	f.Add("業\xff主")
	f.Fuzz(func(t *testing.T, s string) {
		got := Simplify(s)
		if Simplify(got) != got {
			t.Fatalf("not idempotent on %q", s)
		}
		if utf8.RuneCountInString(got) != utf8.RuneCountInString(s) || utf8.ValidString(got) != utf8.ValidString(s) {
			t.Fatalf("runes changed: %q → %q", s, got)
		}
	})
}
