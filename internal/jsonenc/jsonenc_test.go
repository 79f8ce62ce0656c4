package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func FuzzMatchesEncodingJSON(f *testing.F) {
	f.Add("a<b>&c \u2028\u2029 \x00\x1f\x7f \"\\ \b\f\n\r\t 日本", 0.91, int64(1764300000), int64(123), int64(8*3600))
	f.Add("\xff", 1e-7, int64(-62135596800), int64(0), int64(-5*3600-30))
	f.Add("", 1e21, int64(253402300800), int64(999999999), int64(24*3600))
	// The edges of AppendString's three-byte fast path: an overlong
	// encoding, a surrogate, U+2028 and U+2029 and their neighbours, the
	// largest three-byte rune and sequences cut short.
	for _, s := range []string{"\xe0\x80\xaf", "\xe0\xa0\x80", "\xed\xa0\x80", "\xed\x9f\xbf", "\xe2\x80\xa7\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaa", "\xef\xbf\xbf", "日\xe6\x97", "\xe6"} {
		f.Add(s, 0.5, int64(0), int64(0), int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, x float64, unix, nsec, off int64) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		fw, ferr := json.Marshal(x)
		if got, ok := AppendFloat(nil, x); ok != (ferr == nil) || ok && !bytes.Equal(got, fw) {
			t.Fatalf("AppendFloat(%v) = %s, %v; encoding/json %s, %v", x, got, ok, fw, ferr)
		}
		tm := time.Unix(unix, nsec).In(time.FixedZone("z", int(off%(48*3600))))
		tw, terr := json.Marshal(tm)
		if got, ok := AppendTime(nil, tm); ok != (terr == nil) || ok && !bytes.Equal(got, tw) {
			t.Fatalf("AppendTime(%v) = %s, %v; encoding/json %s, %v", tm, got, ok, tw, terr)
		}
	})
}

func TestRefusals(t *testing.T) {
	if got := AppendString(nil, "a\xffb"); string(got) != `"a\ufffdb"` {
		t.Errorf("invalid UTF-8 written %s", got)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, ok := AppendFloat(nil, x); ok {
			t.Errorf("%v accepted", x)
		}
	}
	if _, ok := AppendTime(nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("year 10000 accepted")
	}
	if _, ok := AppendTime(nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 24*3600))); ok {
		t.Error("a zone a day ahead accepted")
	}
}

// BenchmarkAppendStringCJK: a petition title and a few risk reasons, the
// strings a list page writes most.
func BenchmarkAppendStringCJK(b *testing.B) {
	ss := []string{"三号工地项目部拖欠十二名工人三个月工资共计十二万元", "threat of self-harm: 同归于尽", "group/east", "01M8FZ54CZ9Q3HMFHMSRE1V5DN"}
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range ss {
			buf = AppendString(buf, s)
		}
	}
}
