package analysis

import (
	"bytes"
	"compress/gzip"
	"encoding/gob"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// anTinyDocs is a small corpus written for these tests: three classes with
// their own vocabulary, a few texts each.
var anTinyDocs = []Doc{
	{"项目部拖欠我们三个月工资，包工头不接电话。", "wage_arrears"},
	{"工地老板欠着工钱不发，过年回家的路费都没有。", "wage_arrears"},
	{"班组长说工资要等工程款下来才发，已经拖了半年。", "wage_arrears"},
	{"干完活结账时少算了二十天的工钱。", "wage_arrears"},
	{"工地晚上打桩噪音太大，孩子睡不着觉。", "construction_nuisance"},
	{"渣土车进出扬尘严重，路面全是泥。", "construction_nuisance"},
	{"夜里十二点还在浇混凝土，搅拌机轰隆隆响。", "construction_nuisance"},
	{"施工围挡占了人行道，老人出门只能走机动车道。", "construction_nuisance"},
	{"新房墙面开裂，卫生间漏水到楼下。", "quality"},
	{"交房不到一年外墙瓷砖脱落，窗户关不严。", "quality"},
	{"地面空鼓起砂，防水层没做好，墙角发霉。", "quality"},
	{"楼板裂缝越来越宽，担心房子结构有问题。", "quality"},
}

func anTrain(tb testing.TB, docs []Doc, o TrainOptions) *Model {
	tb.Helper()
	m, err := Train(docs, o)
	if err != nil {
		tb.Fatalf("Train: %v", err)
	}
	return m
}

func anLoad(tb testing.TB, b []byte) *Model {
	tb.Helper()
	m, err := Load(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return m
}

// anCheckPrediction checks the invariants of any prediction of m.
func anCheckPrediction(tb testing.TB, m *Model, p Prediction) {
	tb.Helper()
	if len(p.Probs) != len(m.Labels) {
		tb.Fatalf("%d probabilities for %d labels", len(p.Probs), len(m.Labels))
	}
	sum, best := 0.0, 0
	for i, x := range p.Probs {
		if !(x >= 0 && x <= 1) {
			tb.Errorf("probability %v of %s outside [0, 1]", x, m.Labels[i])
		}
		sum += x
		if x > p.Probs[best] {
			best = i
		}
	}
	if math.Abs(sum-1) > 1e-9 {
		tb.Errorf("probabilities sum to %v", sum)
	}
	if p.Confidence != p.Probs[best] || p.Label != m.Labels[best] {
		tb.Errorf("label %s confidence %v, want the most probable: %s %v", p.Label, p.Confidence, m.Labels[best], p.Probs[best])
	}
}

func TestTrainDeterministic(t *testing.T) {
	for _, o := range []TrainOptions{
		{Seed: 7},
		{Seed: 7, Kind: "nb"},
		{Seed: 7, Bits: 12, MaxN: 2, Epochs: 5},
		{Seed: 7, IDF: true},
	} {
		t.Run(o.Kind+anOptName(o), func(t *testing.T) {
			a, b := anTrain(t, anTinyDocs, o), anTrain(t, anTinyDocs, o)
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("two trainings with seed %d give different model bytes", o.Seed)
			}
			if a.Digest != b.Digest || a.Digest != DocsDigest(anTinyDocs, o) {
				t.Errorf("digests %s, %s, want DocsDigest %s", a.Digest, b.Digest, DocsDigest(anTinyDocs, o))
			}
			for _, d := range anTinyDocs {
				pa, pb := a.Predict(d.Text), b.Predict(d.Text)
				if !slices.Equal(pa.Probs, pb.Probs) {
					t.Errorf("predictions differ on %q: %v vs %v", d.Text, pa.Probs, pb.Probs)
				}
				anCheckPrediction(t, a, pa)
			}
			// Predict is a pure function of the model and the text.
			if p, q := a.Predict(anTinyDocs[0].Text), a.Predict(anTinyDocs[0].Text); !slices.Equal(p.Probs, q.Probs) {
				t.Errorf("the same model predicts differently twice")
			}
		})
	}
}

func anOptName(o TrainOptions) string {
	var parts []string
	if o.Bits != 0 {
		parts = append(parts, "bits")
	}
	if o.IDF {
		parts = append(parts, "idf")
	}
	if o.Kind == "" {
		parts = append(parts, "logreg")
	}
	return strings.Join(parts, "-")
}

func TestTrainLearnsTinyCorpus(t *testing.T) {
	for _, kind := range []string{"logreg", "nb"} {
		t.Run(kind, func(t *testing.T) {
			m := anTrain(t, anTinyDocs, TrainOptions{Kind: kind, Seed: 1})
			if !slices.Equal(m.Labels, []string{"construction_nuisance", "quality", "wage_arrears"}) {
				t.Errorf("labels %q, want the sorted distinct labels", m.Labels)
			}
			for _, d := range anTinyDocs {
				if p := m.Predict(d.Text); p.Label != d.Label {
					t.Errorf("%q: %s (%.2f), want its training label %s", d.Text, p.Label, p.Confidence, d.Label)
				}
			}
			for _, tt := range []struct{ text, want string }{
				{"包工头拖欠工资不发", "wage_arrears"},
				{"半夜打桩噪音扰民", "construction_nuisance"},
				{"墙面开裂漏水", "quality"},
			} {
				if p := m.Predict(tt.text); p.Label != tt.want {
					t.Errorf("%q: %s, want %s", tt.text, p.Label, tt.want)
				}
			}
		})
	}
}

// anMoreDocs extend anTinyDocs past the size at which Train calibrates.
var anMoreDocs = []Doc{
	{"包工头卷款跑了，二十多个工人的工钱没着落。", "wage_arrears"},
	{"劳务公司说工资已经打给班组长，可我们一分没收到。", "wage_arrears"},
	{"年底结算工资时扣了一大半，说是罚款。", "wage_arrears"},
	{"工资卡被包工头拿走，发下来的钱都被取走了。", "wage_arrears"},
	{"工地塔吊凌晨就开始作业，吵得整栋楼没法睡。", "construction_nuisance"},
	{"施工车辆堵住小区出口，早上送孩子上学出不去。", "construction_nuisance"},
	{"切割钢管的声音刺耳，周末也不停。", "construction_nuisance"},
	{"工地灯光直射卧室，整夜亮如白昼。", "construction_nuisance"},
	{"屋顶防水失效，一下雨天花板就滴水。", "quality"},
	{"门窗密封条老化脱落，冬天漏风严重。", "quality"},
	{"电梯频繁故障，新楼不到两年已经困人三次。", "quality"},
	{"阳台栏杆松动，一推就晃，担心孩子安全。", "quality"},
}

// TestTrainCalibrates: with enough documents Train fits a temperature on
// out-of-fold predictions; it rescales confidence without changing any
// label, and is deterministic too.
func TestTrainCalibrates(t *testing.T) {
	docs := append(slices.Clone(anTinyDocs), anMoreDocs...)
	o := TrainOptions{Seed: 1, Bits: 12, Epochs: 10}
	cal := anTrain(t, docs, o)
	o.NoCalibrate = true
	raw := anTrain(t, docs, o)
	if raw.Temperature != 1 {
		t.Errorf("uncalibrated temperature %v, want 1", raw.Temperature)
	}
	if cal.Temperature < 0.05 || cal.Temperature > 4 {
		t.Errorf("calibrated temperature %v outside the searched range", cal.Temperature)
	}
	if !slices.Equal(cal.W, raw.W) || !slices.Equal(cal.B, raw.B) {
		t.Error("calibration changed the weights")
	}
	for _, d := range append(docs, Doc{Text: "完全无关：今天食堂的包子很好吃。"}) {
		a, b := cal.Predict(d.Text), raw.Predict(d.Text)
		if a.Label != b.Label {
			t.Errorf("%q: calibrated %s, uncalibrated %s", d.Text, a.Label, b.Label)
		}
		anCheckPrediction(t, cal, a)
	}
	if again := anTrain(t, docs, TrainOptions{Seed: 1, Bits: 12, Epochs: 10}); !bytes.Equal(again.Bytes(), cal.Bytes()) {
		t.Error("calibrated training is not deterministic")
	}
}

func TestTrainErrors(t *testing.T) {
	if _, err := Train(nil, TrainOptions{}); err == nil {
		t.Error("Train with no documents: no error")
	}
	if _, err := Train(anTinyDocs, TrainOptions{Kind: "svm"}); err == nil {
		t.Error("Train with an unknown kind: no error")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	probes := []string{"", "。。。", "ABC abc １２３", "工资", "噪音", "漏水", "完全无关的一句话：今天天气不错。",
		strings.Repeat("拖欠工资", 200)}
	for _, d := range anTinyDocs {
		probes = append(probes, d.Text)
	}
	for _, o := range []TrainOptions{{Kind: "logreg", Seed: 3}, {Kind: "nb"}, {Kind: "logreg", IDF: true, Seed: 3}} {
		t.Run(o.Kind+anOptName(o), func(t *testing.T) {
			m := anTrain(t, anTinyDocs, o)
			var buf bytes.Buffer
			if err := m.Save(&buf); err != nil {
				t.Fatal(err)
			}
			l := anLoad(t, buf.Bytes())
			if l.Kind != m.Kind || !slices.Equal(l.Labels, m.Labels) || l.Bits != m.Bits || l.MaxN != m.MaxN ||
				l.Temperature != m.Temperature || l.Digest != m.Digest {
				t.Errorf("loaded header %s %q %d %d %v %s, saved %s %q %d %d %v %s", l.Kind, l.Labels, l.Bits, l.MaxN, l.Temperature, l.Digest,
					m.Kind, m.Labels, m.Bits, m.MaxN, m.Temperature, m.Digest)
			}
			if !slices.Equal(l.W, m.W) || !slices.Equal(l.B, m.B) {
				t.Error("loaded weights differ from the saved ones")
			}
			for _, p := range probes {
				a, b := m.Predict(p), l.Predict(p)
				if a.Label != b.Label || !slices.Equal(a.Probs, b.Probs) {
					t.Errorf("%q: saved model %s %v, loaded %s %v", p, a.Label, a.Probs, b.Label, b.Probs)
				}
				anCheckPrediction(t, l, b)
			}
		})
	}
}

// TestSaveLoadReencode: loading and saving again gives the same bytes.
func TestSaveLoadReencode(t *testing.T) {
	for _, kind := range []string{"logreg", "nb"} {
		m := anTrain(t, anTinyDocs, TrainOptions{Kind: kind, Seed: 5})
		b := m.Bytes()
		if again := anLoad(t, b).Bytes(); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding a loaded model changes its bytes (%d → %d)", kind, len(b), len(again))
		}
	}
}

// anModelFile gzips and gob-encodes mf, as Save does.
func anModelFile(tb testing.TB, mf *modelFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := gob.NewEncoder(zw).Encode(mf); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// anValidFile is a small well-formed model file: 2 labels, 2^4 buckets.
func anValidFile() modelFile {
	return modelFile{Kind: "logreg", Labels: []string{"a", "b"}, Bits: 4, MaxN: 2, B: []float32{0, 0}, Temperature: 1,
		Buckets: []uint32{1, 15}, Rows: []float32{1, -1, -1, 1}}
}

func TestLoadRejects(t *testing.T) {
	good := anTrain(t, anTinyDocs, TrainOptions{Seed: 1}).Bytes()
	nb := anTrain(t, anTinyDocs, TrainOptions{Kind: "nb"}).Bytes()
	valid := anValidFile()
	if _, err := Load(bytes.NewReader(anModelFile(t, &valid))); err != nil {
		t.Fatalf("the valid hand-made file: %v", err)
	}
	malformed := func(mod func(*modelFile)) []byte {
		mf := anValidFile()
		mod(&mf)
		return anModelFile(t, &mf)
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a model at all")},
		{"gzip of garbage", func() []byte {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write([]byte("not gob, just text"))
			zw.Close()
			return buf.Bytes()
		}()},
		{"gob without gzip", func() []byte {
			var buf bytes.Buffer
			mf := anValidFile()
			gob.NewEncoder(&buf).Encode(&mf)
			return buf.Bytes()
		}()},
		{"gzip header only", good[:10]},
		{"no labels", malformed(func(m *modelFile) { m.Labels = nil; m.B = nil; m.Rows = nil; m.Buckets = nil })},
		{"zero bits", malformed(func(m *modelFile) { m.Bits = 0 })},
		{"too many bits", malformed(func(m *modelFile) { m.Bits = 25 })},
		{"bias of the wrong length", malformed(func(m *modelFile) { m.B = []float32{0} })},
		{"rows of the wrong length", malformed(func(m *modelFile) { m.Rows = m.Rows[:3] })},
		{"more buckets than rows", malformed(func(m *modelFile) { m.Buckets = append(m.Buckets, 2) })},
		{"bucket out of range", malformed(func(m *modelFile) { m.Buckets[1] = 16 })},
		{"huge bucket", malformed(func(m *modelFile) { m.Buckets[0] = math.MaxUint32 })},
		{"n-grams of zero", malformed(func(m *modelFile) { m.MaxN = 0 })},
		{"n-grams of six", malformed(func(m *modelFile) { m.MaxN = 6 })},
		{"negative n-grams", malformed(func(m *modelFile) { m.MaxN = -1 })},
		{"unseen row of the wrong length", malformed(func(m *modelFile) { m.Kind = "nb"; m.Default = []float32{1, 2, 3} })},
	}
	badCRC := slices.Clone(good)
	badCRC[len(badCRC)-6] ^= 0xff // in the gzip trailer's CRC-32
	cases = append(cases, struct {
		name string
		in   []byte
	}{"gzip checksum wrong", badCRC})
	// Truncations of a real model at many lengths.
	for _, b := range [][]byte{good, nb} {
		for _, n := range []int{1, 2, 18, 19, 20, 50, len(b) / 4, len(b) / 2, len(b) - 100, len(b) - 9, len(b) - 1} {
			if n > 0 && n < len(b) {
				cases = append(cases, struct {
					name string
					in   []byte
				}{fmt.Sprintf("truncated to %d of %d bytes", n, len(b)), b[:n]})
			}
		}
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var m *Model
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Load panicked: %v", r)
					}
				}()
				m, err = Load(bytes.NewReader(tt.in))
			}()
			if err == nil {
				t.Errorf("Load accepted %d bytes (%s)", len(tt.in), tt.name)
			} else if m != nil {
				t.Error("Load returned a model with its error")
			}
		})
	}
}

// TestLoadOversizedModel: a small file that declares 65,536 labels over
// 2^24 buckets asks for 4 TiB of weights; Load must refuse it with an error
// rather than die out of memory (which no recover can catch). The load runs
// in a child process under an address-space limit.
func TestLoadOversizedModel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs RLIMIT_AS")
	}
	if os.Getenv("AN_LOAD_OVERSIZED") == "1" {
		anLoadOversizedChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadOversizedModel$", "-test.v")
	cmd.Env = append(os.Environ(), "AN_LOAD_OVERSIZED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		first := string(out)
		if i := strings.Index(first, "\ngoroutine "); i > 0 {
			first = first[:i]
		}
		t.Errorf("loading a model that declares 65536 labels × 2^24 buckets killed the process (%v):\n%s", err, first)
	}
}

func anLoadOversizedChild(t *testing.T) {
	lim := syscall.Rlimit{Cur: 8 << 30, Max: 8 << 30}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	const k = 1 << 16
	mf := modelFile{Kind: "logreg", Labels: make([]string, k), Bits: 24, MaxN: 3, B: make([]float32, k), Temperature: 1}
	for i := range mf.Labels {
		mf.Labels[i] = fmt.Sprint(i)
	}
	b := anModelFile(t, &mf)
	t.Logf("file of %d bytes", len(b))
	if _, err := Load(bytes.NewReader(b)); err == nil {
		t.Error("Load accepted a model of 4 TiB of weights")
	}
}

// TestLoadFlippedBytes: a model with any byte changed loads with an error
// or as a model that predicts without panicking.
func TestLoadFlippedBytes(t *testing.T) {
	good := anTrain(t, anTinyDocs, TrainOptions{Seed: 1, Bits: 10, MaxN: 2, Epochs: 2}).Bytes()
	step := max(1, len(good)/200)
	for i := 0; i < len(good); i += step {
		b := slices.Clone(good)
		b[i] ^= 0x55
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("byte %d flipped: panic %v", i, r)
				}
			}()
			m, err := Load(bytes.NewReader(b))
			if err == nil {
				anCheckLoaded(t, m)
			}
		}()
	}
}

// anCheckLoaded checks that a model Load accepted can be used.
func anCheckLoaded(tb testing.TB, m *Model) {
	tb.Helper()
	if len(m.Labels) == 0 || len(m.W) != (1<<m.Bits)*len(m.Labels) || len(m.B) != len(m.Labels) {
		tb.Fatalf("loaded model with %d labels, %d weights, %d biases, bits %d", len(m.Labels), len(m.W), len(m.B), m.Bits)
	}
	for _, s := range []string{"", "拖欠工资三个月", "abc"} {
		p := m.Predict(s)
		if len(p.Probs) != len(m.Labels) || !slices.Contains(m.Labels, p.Label) {
			tb.Errorf("Predict(%q) = %+v", s, p)
		}
	}
}

// anHandModel is a model made by hand: the characters 甲, 乙, 丙 vote
// strongly for the labels a, b, c.
func anHandModel(tb testing.TB) *Model {
	tb.Helper()
	m := &Model{Kind: "logreg", Labels: []string{"a", "b", "c"}, Bits: 10, MaxN: 1, B: make([]float32, 3), Temperature: 1}
	m.W = make([]float32, (1<<m.Bits)*3)
	for c, ch := range []string{"甲", "乙", "丙"} {
		f, w := features(ch, m.Bits, m.MaxN, nil)
		if len(f) != 1 || w != 1 {
			tb.Fatalf("features(%s) = %v, %v", ch, f, w)
		}
		m.W[int(f[0])*3+c] = 10
	}
	return m
}

func TestEvaluateConfusion(t *testing.T) {
	m := anHandModel(t)
	for c, ch := range []string{"甲", "乙", "丙"} {
		if p := m.Predict(ch); p.Label != m.Labels[c] {
			t.Fatalf("hand model: %s → %s", ch, p.Label)
		}
	}
	// Rows: true a, b, c, d (d unknown to the model); columns: predicted.
	//   a: 3 1 0 0
	//   b: 1 2 0 0
	//   c: 2 0 1 0
	//   d: 0 0 1 0
	var docs []Doc
	add := func(n int, text, label string) {
		for range n {
			docs = append(docs, Doc{Text: text, Label: label})
		}
	}
	add(3, "甲", "a")
	add(1, "乙", "a")
	add(1, "甲", "b")
	add(2, "乙", "b")
	add(2, "甲", "c")
	add(1, "丙", "c")
	add(1, "丙", "d")
	r := Evaluate(m, docs)
	if !slices.Equal(r.Labels, []string{"a", "b", "c", "d"}) {
		t.Fatalf("labels %q", r.Labels)
	}
	want := [][]int{{3, 1, 0, 0}, {1, 2, 0, 0}, {2, 0, 1, 0}, {0, 0, 1, 0}}
	for i := range want {
		if !slices.Equal(r.Confusion[i], want[i]) {
			t.Errorf("confusion row %s = %v, want %v", r.Labels[i], r.Confusion[i], want[i])
		}
	}
	wantClasses := []ClassReport{
		{Label: "a", Support: 4, Precision: 0.5, Recall: 0.75, F1: 0.6, TruePos: 3, FalsePos: 3, FalseNeg: 1},
		{Label: "b", Support: 3, Precision: 2.0 / 3, Recall: 2.0 / 3, F1: 2.0 / 3, TruePos: 2, FalsePos: 1, FalseNeg: 1},
		{Label: "c", Support: 3, Precision: 0.5, Recall: 1.0 / 3, F1: 0.4, TruePos: 1, FalsePos: 1, FalseNeg: 2},
		{Label: "d", Support: 1, Precision: 0, Recall: 0, F1: 0, TruePos: 0, FalsePos: 0, FalseNeg: 1},
	}
	if len(r.Classes) != len(wantClasses) {
		t.Fatalf("%d classes", len(r.Classes))
	}
	for i, w := range wantClasses {
		g := r.Classes[i]
		if g.Label != w.Label || g.Support != w.Support || g.TruePos != w.TruePos || g.FalsePos != w.FalsePos || g.FalseNeg != w.FalseNeg ||
			!anNear(g.Precision, w.Precision) || !anNear(g.Recall, w.Recall) || !anNear(g.F1, w.F1) {
			t.Errorf("class %s = %+v, want %+v", w.Label, g, w)
		}
	}
	if !anNear(r.MacroF1, (0.6+2.0/3+0.4+0)/4) {
		t.Errorf("macro-F1 %v, want %v", r.MacroF1, (0.6+2.0/3+0.4)/4)
	}
	if r.N != 11 || !anNear(r.Accuracy, 6.0/11) {
		t.Errorf("n %d accuracy %v, want 11 and 6/11", r.N, r.Accuracy)
	}
	// Every prediction is about 0.9999 sure and 6 of 11 are right.
	if math.Abs(r.ECE-(0.99991-6.0/11)) > 0.001 {
		t.Errorf("ECE %v, want about %v", r.ECE, 0.99991-6.0/11)
	}
	var out strings.Builder
	r.Print(&out)
	for _, s := range []string{"macro-F1 0.417", "accuracy 0.545", "n=11", "confusion (rows: true, columns: predicted)",
		"a                          0.500     0.750     0.600        4"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("printed report lacks %q:\n%s", s, out.String())
		}
	}
	if empty := Evaluate(m, nil); empty.N != 0 || empty.MacroF1 != 0 || empty.Accuracy != 0 || math.IsNaN(empty.ECE) {
		t.Errorf("empty evaluation: %+v", empty)
	}
}

func anNear(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPredictProbabilities(t *testing.T) {
	dm, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]*Model{
		"default": dm,
		"logreg":  anTrain(t, anTinyDocs, TrainOptions{Seed: 2}),
		"nb":      anTrain(t, anTinyDocs, TrainOptions{Kind: "nb"}),
		"idf":     anTrain(t, anTinyDocs, TrainOptions{IDF: true, Seed: 2}),
		"hand":    anHandModel(t),
	}
	texts := []string{"", " \n\t", "？！。", "甲", "工资", "ＡＢＣ１２３", strings.Repeat("噪音", 3000), "\xff\xfe invalid utf-8",
		"我家楼下的工地每天半夜施工。"}
	for name, m := range models {
		for _, s := range texts {
			anCheckPrediction(t, m, m.Predict(s))
		}
		_ = name
	}
}

// TestDefaultModelPlainPetitions: plainly worded petitions written for this
// test (not from the corpus) get the obvious label.
func TestDefaultModelPlainPetitions(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Labels, Categories) && len(m.Labels) != len(Categories) {
		t.Errorf("default model labels %q, want the categories %q", m.Labels, Categories)
	}
	for _, l := range m.Labels {
		if !slices.Contains(Categories, l) {
			t.Errorf("default model label %q is not a category", l)
		}
	}
	for _, tt := range []struct{ text, want string }{
		{"我在工地干了四个月木工，包工头一直拖着不发工资，一共欠我两万三千块钱，请帮忙讨回工资。", "wage_arrears"},
		{"公司已经连续三个月没有发工资了，我们去问财务，只说再等等，家里房贷都还不上了。", "wage_arrears"},
		{"小区对面的工地每天晚上十一点以后还在施工，噪音扰民，老人孩子都睡不好觉。", "construction_nuisance"},
		{"去年交付的新房，客厅墙面出现好几条裂缝，卫生间漏水开裂，请施工单位来维修，这房子质量太差了。", "quality"},
		{"举报分公司副经理受贿，他收了供应商的好处费，让质量不合格的材料进了工地。", "discipline"},
		{"公司两年没有给我交养老保险和医疗保险，到社保局查缴费记录是空的。", "social_insurance"},
		{"隧道里的通风机坏了一个星期没人修，安全帽也不够，工人冒险作业，迟早要出事故。", "work_safety"},
		{"分包合同约定的工程进度款，总包方已经拖了八个月没有支付，我们公司垫资一百多万。", "contract_payment"},
	} {
		p := m.Predict(tt.text)
		anCheckPrediction(t, m, p)
		if p.Label != tt.want {
			t.Errorf("%q: %s (%.2f), want %s", tt.text, p.Label, p.Confidence, tt.want)
		}
	}
}

func BenchmarkPredict(b *testing.B) {
	m, err := DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	texts := anTypicalTexts(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Predict(texts[i%len(texts)])
		i++
	}
}

// BenchmarkPredictLetter classifies letters of about 1,000 characters:
// thousands of features, each a row of the weight matrix read at random.
func BenchmarkPredictLetter(b *testing.B) {
	m, err := DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	letters := anLetters(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Predict(letters[i%len(letters)])
		i++
	}
}

func BenchmarkScoreRisk(b *testing.B) {
	texts := anTypicalTexts(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ScoreRisk(RiskInput{Text: texts[i%len(texts)], GroupSize: 3})
		i++
	}
}

// BenchmarkScoreRiskLetter scores letters of about 1,000 characters (3 KB,
// the load tool's petitions are 2–4 KiB): eval-split texts joined until
// they are that long. The risk model reads every run of three sentences.
func BenchmarkScoreRiskLetter(b *testing.B) {
	letters := anLetters(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ScoreRisk(RiskInput{Text: letters[i%len(letters)], GroupSize: 3})
		i++
	}
}

func BenchmarkSign(b *testing.B)       { benchSign(b, anTypicalTexts(b)) }
func BenchmarkSignLetter(b *testing.B) { benchSign(b, anLetters(b)) }

func benchSign(b *testing.B, texts []string) {
	sh := NewShingler([]byte("a benchmark key!"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sh.Sign(texts[i%len(texts)])
		i++
	}
}

// anLetters are eval-split texts joined until each is about 1,000
// characters long (3 KB; the load tool's petitions are 2–4 KiB).
func anLetters(tb testing.TB) []string {
	tb.Helper()
	ex, err := Corpus()
	if err != nil {
		tb.Fatal(err)
	}
	var letters []string
	var cur []string
	n := 0
	for _, e := range Split(ex, "eval") {
		cur = append(cur, e.Text)
		if n += len([]rune(e.Text)); n >= 1000 {
			letters = append(letters, strings.Join(cur, "\n"))
			cur, n = nil, 0
		}
	}
	return letters
}

// anTypicalTexts are eval-split petitions of the shipped corpus cut or
// repeated to 300 characters.
func anTypicalTexts(tb testing.TB) []string {
	tb.Helper()
	ex, err := Corpus()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range Split(ex, "eval") {
		r := []rune(e.FullText())
		for len(r) < 300 {
			r = append(r, r...)
		}
		out = append(out, string(r[:300]))
	}
	if len(out) == 0 {
		tb.Fatal("no eval texts")
	}
	return out
}

// TestSortUnique: the bitset path gives what sorting and compacting give,
// leaves its bitset clear for the next call, and larger feature spaces
// still sort.
func TestSortUnique(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, space := range []uint{4, 12, 18, 20} {
		for _, n := range []int{0, 1, 2, 50, 5000} {
			buf := make([]uint32, n)
			for i := range buf {
				buf[i] = rng.Uint32() & (1<<space - 1)
				if i > 0 && rng.IntN(4) == 0 {
					buf[i] = buf[rng.IntN(i)] // repeats
				}
			}
			want := slices.Compact(slices.Sorted(slices.Values(buf)))
			if got := sortUnique(slices.Clone(buf), space); !slices.Equal(got, want) {
				t.Fatalf("space %d, %d features: got %d unique, want %d", space, n, len(got), len(want))
			}
		}
	}
	set := featureSets.Get().(*[1 << 18 / 64]uint64)
	defer featureSets.Put(set)
	for w, word := range set {
		if word != 0 {
			t.Fatalf("bitset word %d left set", w)
		}
	}
}
