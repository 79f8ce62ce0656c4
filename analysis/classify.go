package analysis

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Categories are the default petition categories (DESIGN.md).
var Categories = []string{"wage_arrears", "contract_payment", "labor_relations", "social_insurance", "work_safety",
	"construction_nuisance", "quality", "discipline", "restructuring", "housing_welfare", "other"}

// Doc is a labelled training text.
type Doc struct {
	Text  string
	Label string
}

// Prediction is a classifier's answer.
type Prediction struct {
	Label      string
	Confidence float64   // the probability of Label
	Probs      []float64 // in the order of Model.Labels
}

// Model is a trained classifier: multinomial logistic regression (default) or
// naive Bayes over hashed character n-grams (1–3) of the normalised text.
type Model struct {
	Kind   string // "logreg" or "nb"
	Labels []string
	Bits   uint // feature space is 2^Bits buckets
	MaxN   int
	W      []float32 // bucket-major: W[f*len(Labels)+c]
	B      []float32 // per class bias (log prior for nb)
	// Temperature divides the scores before the softmax (calibration).
	Temperature float64
	// Unseen is the row of a bucket no training text had (nb only).
	Unseen []float32
	// IDF, when set, weighs each bucket (logreg): rare n-grams count more.
	IDF map[uint32]float32
	// Digest identifies the training documents and options (see DocsDigest).
	Digest string

	joint atomic.Pointer[joint] // see PairRisk
}

// TrainOptions tune training; the zero value means the defaults.
type TrainOptions struct {
	Kind   string  // "logreg" (default) or "nb"
	Bits   uint    // default 18
	MaxN   int     // default 3
	Epochs int     // logreg, default 40
	L2     float64 // logreg, default 1e-5
	Alpha  float64 // nb smoothing, default 0.1
	Seed   uint64
	// IDF weighs features by inverse document frequency (logreg).
	IDF bool
	// NoCalibrate skips fitting the softmax temperature. By default it is
	// fitted on out-of-fold predictions (5-fold cross-validation on the
	// training documents), so that stated confidence matches accuracy.
	NoCalibrate bool
}

// features returns the distinct hashed n-gram buckets of text and the weight
// of each (1/sqrt(n), an L2-normalised binary vector).
func features(text string, bits uint, maxN int, buf []uint32) ([]uint32, float32) {
	buf = hashNgrams(text, bits, maxN, buf[:0])
	buf = sortUnique(buf, bits)
	if len(buf) == 0 {
		return buf, 0
	}
	return buf, float32(1 / math.Sqrt(float64(len(buf))))
}

// featureSets are bitsets of the default feature space, reused.
var featureSets = sync.Pool{New: func() any { return new([1 << 18 / 64]uint64) }}

// sortUnique sorts buf and removes repeats: in a bitset of the feature
// space when it is the default one (a petition of 4 KiB has thousands of
// n-grams, and sorting them was over a third of classifying it), else by
// sorting.
func sortUnique(buf []uint32, space uint) []uint32 {
	if space > 18 {
		slices.Sort(buf)
		return slices.Compact(buf)
	}
	set := featureSets.Get().(*[1 << 18 / 64]uint64)
	defer featureSets.Put(set)
	lo, hi := len(set), 0
	for _, x := range buf {
		w := int(x / 64)
		set[w] |= 1 << (x % 64)
		lo, hi = min(lo, w), max(hi, w)
	}
	buf = buf[:0]
	for w := lo; w <= hi; w++ {
		for word := set[w]; word != 0; word &= word - 1 {
			buf = append(buf, uint32(w*64+bits.TrailingZeros64(word)))
		}
		set[w] = 0
	}
	return buf
}

// Train fits a model to docs.
func Train(docs []Doc, o TrainOptions) (*Model, error) {
	m, err := train(docs, o)
	if err == nil {
		m.Digest = DocsDigest(docs, o)
	}
	if err != nil || o.NoCalibrate || len(docs) < 20 {
		return m, err
	}
	// Out-of-fold scores: each document scored by a model that never saw it.
	const k = 5
	type oof struct {
		scores []float64
		y      int
	}
	var all []oof
	idx := map[string]int{}
	for i, l := range m.Labels {
		idx[l] = i
	}
	for fold := 0; fold < k; fold++ {
		var tr, te []Doc
		for i, d := range docs {
			if i%k == fold {
				te = append(te, d)
			} else {
				tr = append(tr, d)
			}
		}
		fm, err := train(tr, o)
		if err != nil {
			return nil, err
		}
		for _, d := range te {
			f, w := features(d.Text, fm.Bits, fm.MaxN, nil)
			sc := make([]float64, len(fm.Labels))
			fm.scores(f, fm.values(f, w), sc)
			// Map the fold model's labels to the full model's order.
			full := make([]float64, len(m.Labels))
			for i := range full {
				full[i] = -1e9
			}
			for c, l := range fm.Labels {
				full[idx[l]] = sc[c]
			}
			all = append(all, oof{full, idx[d.Label]})
		}
	}
	best, bestNLL := 1.0, math.Inf(1)
	p := make([]float64, len(m.Labels))
	for t := 0.05; t <= 4; t *= 1.1 {
		nll := 0.0
		for _, x := range all {
			copy(p, x.scores)
			softmax(p, t)
			nll -= math.Log(math.Max(p[x.y], 1e-12))
		}
		if nll < bestNLL {
			best, bestNLL = t, nll
		}
	}
	m.Temperature = best
	return m, nil
}

// DocsDigest is a SHA-256 of training documents and options: a model whose
// Digest matches was trained on exactly these.
func DocsDigest(docs []Doc, o TrainOptions) string {
	o = o.withDefaults()
	h := sha256.New()
	fmt.Fprintf(h, "%+v\n", o)
	for _, d := range docs {
		fmt.Fprintf(h, "%q %q\n", d.Label, d.Text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Kind == "" {
		o.Kind = "logreg"
	}
	if o.Bits == 0 {
		o.Bits = 18
	}
	if o.MaxN == 0 {
		o.MaxN = 3
	}
	if o.Epochs == 0 {
		o.Epochs = 40
	}
	if o.L2 == 0 {
		o.L2 = 1e-5
	}
	if o.Alpha == 0 {
		o.Alpha = 0.1
	}
	return o
}

func train(docs []Doc, o TrainOptions) (*Model, error) {
	if len(docs) == 0 {
		return nil, errors.New("analysis: no training documents")
	}
	o = o.withDefaults()
	labels := labelsOf(docs)
	m := &Model{Kind: o.Kind, Labels: labels, Bits: o.Bits, MaxN: o.MaxN, Temperature: 1}
	idx := map[string]int{}
	for i, l := range labels {
		idx[l] = i
	}
	type ex struct {
		f []uint32
		v []float32
		w float32
		y int
	}
	exs := make([]ex, len(docs))
	df := map[uint32]int{}
	for i, d := range docs {
		f, w := features(d.Text, o.Bits, o.MaxN, nil)
		exs[i] = ex{f: f, w: w, y: idx[d.Label]}
		for _, x := range f {
			df[x]++
		}
	}
	if o.IDF && o.Kind == "logreg" {
		m.IDF = make(map[uint32]float32, len(df))
		for x, n := range df {
			m.IDF[x] = float32(1 + math.Log(float64(len(docs)+1)/float64(n+1)))
		}
	}
	for i := range exs {
		exs[i].v = m.values(exs[i].f, exs[i].w)
	}
	K := len(labels)
	m.W = newWeights((1 << o.Bits) * K)
	m.B = make([]float32, K)
	switch o.Kind {
	case "nb":
		counts := make([]float64, K)
		totals := make([]float64, K)
		for _, e := range exs {
			counts[e.y]++
			for _, f := range e.f {
				m.W[int(f)*K+e.y]++
				totals[e.y]++
			}
		}
		V := float64(int(1) << o.Bits)
		m.Unseen = make([]float32, K)
		for c := range K {
			m.Unseen[c] = float32(math.Log(o.Alpha / (totals[c] + o.Alpha*V)))
		}
		for f := 0; f < 1<<o.Bits; f++ {
			for c := range K {
				m.W[f*K+c] = float32(math.Log((float64(m.W[f*K+c]) + o.Alpha) / (totals[c] + o.Alpha*V)))
			}
		}
		for c := range K {
			m.B[c] = float32(math.Log((counts[c] + 1) / (float64(len(exs)) + float64(K))))
		}
		// Naive Bayes sums one log-likelihood per feature and is far too
		// sure of itself; dividing by the typical feature count tames it.
		n := 0.0
		for _, e := range exs {
			n += float64(len(e.f))
		}
		m.Temperature = math.Max(1, n/float64(len(exs))/8)
	case "logreg":
		// Multinomial logistic regression by AdaGrad with L2, on a fixed
		// shuffle per epoch (deterministic for a seed).
		G := make([]float32, len(m.W))
		GB := make([]float32, K)
		rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
		order := make([]int, len(exs))
		for i := range order {
			order[i] = i
		}
		p := make([]float64, K)
		const lr = 0.5
		for epoch := 0; epoch < o.Epochs; epoch++ {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, i := range order {
				e := exs[i]
				m.scores(e.f, e.v, p)
				softmax(p, 1)
				for c := range K {
					g := p[c]
					if c == e.y {
						g -= 1
					}
					if g == 0 {
						continue
					}
					gb := float32(g)
					GB[c] += gb * gb
					m.B[c] -= lr * gb / float32(math.Sqrt(float64(GB[c]))+1e-8)
					for fi, f := range e.f {
						j := int(f)*K + c
						gw := float32(g)*e.v[fi] + float32(o.L2)*m.W[j]
						G[j] += gw * gw
						m.W[j] -= lr * gw / float32(math.Sqrt(float64(G[j]))+1e-8)
					}
				}
			}
		}
	default:
		return nil, fmt.Errorf("analysis: unknown model kind %q", o.Kind)
	}
	return m, nil
}

func labelsOf(docs []Doc) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range docs {
		if !seen[d.Label] {
			seen[d.Label] = true
			out = append(out, d.Label)
		}
	}
	sort.Strings(out)
	return out
}

// values are the feature values of buckets f: 1 for naive Bayes; for
// logistic regression the L2-normalised binary (or IDF) vector.
func (m *Model) values(f []uint32, w float32) []float32 {
	v := make([]float32, len(f))
	if m.Kind == "nb" {
		for i := range v {
			v[i] = 1
		}
		return v
	}
	if m.IDF == nil {
		for i := range v {
			v[i] = w
		}
		return v
	}
	norm := 0.0
	for i, x := range f {
		idf, ok := m.IDF[x]
		if !ok {
			idf = 1 + float32(math.Log(2)) // unseen: as rare as it gets
		}
		v[i] = idf
		norm += float64(idf * idf)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}

func (m *Model) scores(f []uint32, v []float32, out []float64) {
	K := len(m.Labels)
	for c := range K {
		out[c] = float64(m.B[c])
	}
	for i, x := range f {
		row := m.W[int(x)*K : int(x)*K+K]
		for c := range K {
			out[c] += float64(row[c] * v[i])
		}
	}
}

func softmax(p []float64, temp float64) {
	mx := math.Inf(-1)
	for _, x := range p {
		mx = math.Max(mx, x)
	}
	sum := 0.0
	for i, x := range p {
		p[i] = math.Exp((x - mx) / temp)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}

// Predict classifies text.
func (m *Model) Predict(text string) Prediction {
	return m.PredictFeatures(m.Featurize(text))
}

// Features are the n-gram features of a text for models of one feature
// space: computed once, they serve every such model (the category and the
// risk model). A paired model's prediction stores the risk model's scores
// in them (see PairRisk), so one Features is for one goroutine at a time.
type Features struct {
	f    []uint32
	w    float32
	bits uint
	maxN int
	// paired holds the risk model's scores when a paired model's
	// prediction has worked them out (see PairRisk).
	paired *pairedScores
}

// Featurize computes the features of text in m's feature space.
func (m *Model) Featurize(text string) *Features {
	f, w := features(text, m.Bits, m.MaxN, make([]uint32, 0, 1024))
	return &Features{f: f, w: w, bits: m.Bits, maxN: m.MaxN}
}

// Fits reports whether f are features of m's feature space.
func (m *Model) Fits(f *Features) bool { return f != nil && f.bits == m.Bits && f.maxN == m.MaxN }

// PredictFeatures classifies a text by its features, which must fit m.
func (m *Model) PredictFeatures(ft *Features) Prediction {
	f, w := ft.f, ft.w
	p := make([]float64, len(m.Labels))
	switch {
	case m.joint.Load() != nil && m.Fits(ft):
		j := m.joint.Load()
		ft.paired = &pairedScores{risk: j.risk, z: m.jointScores(j, ft, p)}
	case ft.paired != nil && ft.paired.risk == m:
		copy(p, ft.paired.z)
	default:
		m.scores(f, m.values(f, w), p)
	}
	softmax(p, m.Temperature)
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	return Prediction{Label: m.Labels[best], Confidence: p[best], Probs: p}
}

// WindowMax is the highest probability of label over every run of k
// consecutive sentences of text (split as clauses splits them), each read
// as a text of its own, and 0 when text has k sentences or fewer or m is
// not a logistic regression without IDF. A run needs minRunes content
// characters. N-grams never span a sentence end, so each sentence's
// features are found once and a run's scores are sums over its sentences
// (a feature repeated in two sentences of a run counts twice, which the
// whole-text features would count once).
func (m *Model) WindowMax(text, label string, k, minRunes int) float64 {
	li := indexOf(m.Labels, label)
	if li < 0 || m.Kind == "nb" || m.IDF != nil || k < 1 {
		return 0
	}
	K := len(m.Labels)
	type sentence struct {
		z     []float64 // Σ of the weight rows of its features
		n     int       // its distinct features
		runes int
	}
	count := 0
	clauses(text, func(int, string) { count++ })
	if count <= k {
		return 0
	}
	sents := make([]sentence, 0, count)
	zs := make([]float64, count*K)
	buf := make([]uint32, 0, 256)
	clauses(text, func(_ int, c string) {
		buf = sentenceFeatures(c, m.Bits, m.MaxN, buf)
		st := sentence{z: zs[len(sents)*K : len(sents)*K+K], n: len(buf)}
		var touch float32 // rows read early, as jointScores does
		for i, x := range buf {
			if i+prefetchAhead < len(buf) {
				touch += m.W[int(buf[i+prefetchAhead])*K]
			}
			row := m.W[int(x)*K : int(x)*K+K]
			for j := range K {
				st.z[j] += float64(row[j])
			}
		}
		runtime.KeepAlive(touch)
		for _, r := range c {
			if isContent(r) {
				st.runes++
			}
		}
		sents = append(sents, st)
	})
	best := 0.0
	p := make([]float64, K)
	for i := 0; i+k <= len(sents); i++ {
		n, runes := 0, 0
		for _, st := range sents[i : i+k] {
			n, runes = n+st.n, runes+st.runes
		}
		if n == 0 || runes < minRunes {
			continue
		}
		w := 1 / math.Sqrt(float64(n))
		for c := range K {
			p[c] = float64(m.B[c])
			for _, st := range sents[i : i+k] {
				p[c] += st.z[c] * w
			}
		}
		softmax(p, m.Temperature)
		best = max(best, p[li])
	}
	return best
}

// sentenceFeatures are the distinct feature buckets of one sentence, in
// buf: sorted, as a sentence has few.
func sentenceFeatures(s string, bits uint, maxN int, buf []uint32) []uint32 {
	buf = hashNgrams(s, bits, maxN, buf[:0])
	slices.Sort(buf)
	return slices.Compact(buf)
}

// hashNgrams appends to buf the feature bucket of every n-gram of text:
// FNV-1a over the UTF-8 bytes of the n-gram, then its length. The n-grams
// starting at a rune are its prefixes, so each extends the hash state of
// the one before instead of hashing from the start (hashNgramsRef is the
// plain definition; TestHashNgrams compares them).
func hashNgrams(text string, bits uint, maxN int, buf []uint32) []uint32 {
	mask := uint32(1)<<bits - 1
	contentRuns(Normalize(text), func(run []rune) {
		for i := range run {
			h := uint32(2166136261)
			for n := 1; n <= maxN && i+n <= len(run); n++ {
				h = fnvRune(h, run[i+n-1])
				f := (h ^ uint32(byte(n))) * 16777619
				buf = append(buf, f&mask)
			}
		}
	})
	return buf
}

// fnvRune feeds the UTF-8 bytes of r to the FNV-1a state h.
func fnvRune(h uint32, r rune) uint32 {
	var b [utf8.UTFMax]byte
	for _, c := range b[:utf8.EncodeRune(b[:], r)] {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// modelFile is the serialised form: only non-zero buckets.
type modelFile struct {
	Kind        string
	Labels      []string
	Bits        uint
	MaxN        int
	B           []float32
	Temperature float64
	Buckets     []uint32
	Rows        []float32
	Default     []float32 // nb: the row of an unseen bucket
	IDFBuckets  []uint32
	IDFValues   []float32
	Digest      string
}

// Save writes the model (gzip-compressed gob).
func (m *Model) Save(w io.Writer) error {
	K := len(m.Labels)
	mf := modelFile{Kind: m.Kind, Labels: m.Labels, Bits: m.Bits, MaxN: m.MaxN, B: m.B, Temperature: m.Temperature, Digest: m.Digest}
	if m.IDF != nil {
		for b := range m.IDF {
			mf.IDFBuckets = append(mf.IDFBuckets, b)
		}
		slices.Sort(mf.IDFBuckets)
		for _, b := range mf.IDFBuckets {
			mf.IDFValues = append(mf.IDFValues, m.IDF[b])
		}
	}
	var def []float32
	if m.Kind == "nb" {
		def = m.Unseen
		mf.Default = def
	}
	for f := 0; f < 1<<m.Bits; f++ {
		row := m.W[f*K : f*K+K]
		if (def == nil && allZero(row)) || (def != nil && slices.Equal(row, def)) {
			continue
		}
		mf.Buckets = append(mf.Buckets, uint32(f))
		mf.Rows = append(mf.Rows, row...)
	}
	zw := gzip.NewWriter(w)
	if err := gob.NewEncoder(zw).Encode(&mf); err != nil {
		return err
	}
	return zw.Close()
}

// Load reads a model written by Save.
func Load(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("analysis: model: %w", err)
	}
	var mf modelFile
	lr := io.LimitReader(zr, 256<<20)
	if err := gob.NewDecoder(lr).Decode(&mf); err != nil {
		return nil, fmt.Errorf("analysis: model: %w", err)
	}
	// Reading to the end checks the gzip checksum and length.
	if n, err := io.Copy(io.Discard, lr); err != nil || n != 0 {
		return nil, errors.New("analysis: model damaged")
	}
	K := len(mf.Labels)
	if K == 0 || K > 256 || mf.Bits == 0 || mf.Bits > 22 || (1<<mf.Bits)*K > 1<<25 || len(mf.B) != K || len(mf.Rows) != len(mf.Buckets)*K || mf.MaxN < 1 || mf.MaxN > 5 {
		return nil, errors.New("analysis: model malformed")
	}
	m := &Model{Kind: mf.Kind, Labels: mf.Labels, Bits: mf.Bits, MaxN: mf.MaxN, B: mf.B, Temperature: mf.Temperature, Unseen: mf.Default, Digest: mf.Digest}
	if len(mf.IDFBuckets) != len(mf.IDFValues) {
		return nil, errors.New("analysis: model malformed")
	}
	if len(mf.IDFBuckets) > 0 {
		m.IDF = make(map[uint32]float32, len(mf.IDFBuckets))
		for i, b := range mf.IDFBuckets {
			m.IDF[b] = mf.IDFValues[i]
		}
	}
	m.W = newWeights((1 << mf.Bits) * K)
	if mf.Default != nil {
		if len(mf.Default) != K {
			return nil, errors.New("analysis: model malformed")
		}
		for f := 0; f < 1<<mf.Bits; f++ {
			copy(m.W[f*K:], mf.Default)
		}
	}
	for i, f := range mf.Buckets {
		if f >= 1<<mf.Bits {
			return nil, errors.New("analysis: model malformed")
		}
		copy(m.W[int(f)*K:int(f)*K+K], mf.Rows[i*K:i*K+K])
	}
	return m, nil
}

// Bytes is the serialised model.
func (m *Model) Bytes() []byte {
	var buf bytes.Buffer
	_ = m.Save(&buf)
	return buf.Bytes()
}

func allZero(r []float32) bool {
	for _, x := range r {
		if x != 0 {
			return false
		}
	}
	return true
}
