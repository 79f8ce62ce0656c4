package analysis

import (
	"bytes"
	"strings"
	"testing"
)

// Fuzz targets for every input the analysis package parses or scores. With
// plain `go test` they run their seed corpus; `go test -fuzz=FuzzX` explores.

func FuzzReadExamples(f *testing.F) {
	f.Add([]byte(`{"id":"a-1","label":"wage_arrears","title":"欠薪","text":"拖欠工资三个月","risk":"low","group_size":3,"split":"train"}`))
	f.Add([]byte("{\"label\":\"other\",\"text\":\"x\"}\n\n   \n{\"label\":\"quality\",\"title\":\"墙裂了\"}\n"))
	f.Add([]byte(`{"label":"","text":"no label"}`))
	f.Add([]byte(`{"label":"other"}`))
	f.Add([]byte(`{"label":"other","text":"x"} trailing`))
	f.Add([]byte(`{"label":1,"text":"wrong type"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`null`))
	f.Add([]byte("\xff\xfe{\"label\":\"a\",\"text\":\"b\"}"))
	f.Add([]byte(strings.Repeat(`{"label":"a","text":"b"}`+"\n", 50)))
	f.Add([]byte(`{"label":"a","text":"` + strings.Repeat("长", 30000) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := ReadExamples(bytes.NewReader(data))
		if err != nil {
			if ex != nil {
				t.Errorf("examples returned with error %v", err)
			}
			return
		}
		for i, e := range ex {
			if e.Label == "" || (e.Text == "" && e.Title == "") {
				t.Errorf("example %d accepted without a label or text: %+v", i, e)
			}
		}
		// Every accepted example can be turned into a training document.
		for i, d := range Docs(ex) {
			if d.Label != ex[i].Label || !strings.Contains(d.Text, ex[i].Text) {
				t.Errorf("doc %d = %+v from %+v", i, d, ex[i])
			}
		}
	})
}

func FuzzLoadModel(f *testing.F) {
	small, err := Train(anTinyDocs, TrainOptions{Bits: 8, MaxN: 2, Epochs: 3, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	nb, err := Train(anTinyDocs, TrainOptions{Kind: "nb", Bits: 8, MaxN: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	f.Add(nb.Bytes())
	valid := anValidFile()
	f.Add(anModelFile(f, &valid))
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})
	f.Add(small.Bytes()[:len(small.Bytes())/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Error("a model returned with an error")
			}
			return
		}
		anCheckLoaded(t, m)
	})
}

func FuzzScoreRisk(f *testing.F) {
	for _, tt := range anRiskCases {
		f.Add(tt.text, tt.group, 0, 0)
	}
	for _, tt := range anHardNegatives {
		f.Add(tt.text, 1, 1, 0)
	}
	f.Add("", 0, 0, 0)
	f.Add("\xff\xfe\xfd", -1, -1, -1)
	f.Add("明天3月5日早上8点一百多人去堵国道", 1<<30, 1<<30, 1<<30)
	f.Add(strings.Repeat("跳", 5000), 1, 1000, 1000)
	f.Add("第99999999999999999999次反映，99999999999999999999人", 1, 0, 0)
	f.Fuzz(func(t *testing.T, text string, group, repeats, unresolved int) {
		r := ScoreRisk(RiskInput{Text: text, GroupSize: group, Repeats: repeats, Unresolved: unresolved})
		switch r.Level {
		case Low, Medium, High, Critical:
		default:
			t.Fatalf("level %q", r.Level)
		}
		if r.Score < 0 || r.Score > 100 {
			t.Errorf("score %d outside 0–100", r.Score)
		}
		if r.Reasons == nil {
			t.Error("reasons nil")
		}
		if r.Level != Low && len(r.Reasons) == 0 {
			t.Errorf("level %s without a reason", r.Level)
		}
	})
}

// anHasBigram reports whether text has two adjacent content characters once
// normalised: the shingles a signature is made of.
func anHasBigram(text string) bool {
	rs := Normalize(text)
	for i := 1; i < len(rs); i++ {
		if isContent(rs[i-1]) && isContent(rs[i]) {
			return true
		}
	}
	return false
}

func FuzzSign(f *testing.F) {
	for _, tt := range anRiskCases {
		f.Add(tt.text, "")
	}
	f.Add("", "")
	f.Add("。，！", "？")
	f.Add("好", "好")
	f.Add("a,b,c", "abc")
	f.Add("ＡＢＣ", "abc")
	f.Add("拖 欠 工 资", "拖欠工资")
	f.Add("\xff\xfe", "\x00\x00")
	f.Add(strings.Repeat("工资", 10000), "工资")
	sh := NewShingler([]byte("a fuzzing key 16"))
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := sh.Sign(a), sh.Sign(b)
		self := Similarity(&sa, &sa)
		switch {
		case anHasBigram(a) && self != 1:
			t.Errorf("similarity of %q with itself %v, want 1", a, self)
		case !anHasBigram(a) && self != 0:
			t.Errorf("similarity of %q (no content bigram) with itself %v, want 0", a, self)
		}
		if again := sh.Sign(a); again != sa {
			t.Error("signing twice differs")
		}
		ab, ba := Similarity(&sa, &sb), Similarity(&sb, &sa)
		if ab != ba || ab < 0 || ab > 1 {
			t.Errorf("similarity %v / %v", ab, ba)
		}
		if p, ok := ParseSignature(sa.Bytes()); !ok || p != sa {
			t.Error("signature does not round-trip through Bytes")
		}
		if ka, kb := sa.BandKeys(), sb.BandKeys(); sa == sb && ka != kb {
			t.Error("equal signatures with different band keys")
		}
	})
}
