package analysis

import "runtime"

// A joint table interleaves the weight rows of a category model and of the
// risk model, one 64-byte row per feature bucket: the model's labels, then
// the risk model's. Intake scores every petition with both on the same
// features, and a feature's row is one random read in megabytes of
// weights; under load those reads miss the caches, and the two models'
// rows (44 and 16 bytes, the first across two cache lines more often than
// not) cost two or three misses per feature where the joint row costs one.
// In the load tool's create profile the two models' scoring was 9 % of the
// CPU, the largest single cost.
type joint struct {
	risk *Model
	w    []float32 // jointStride per bucket
}

const jointStride = 16

// prefetchAhead is how many features ahead jointScores reads a row's
// first word, unused, so that the row is on its way to the cache by the
// time its turn comes: each row is a miss of its own (feature buckets are
// far apart), and without the early read the core waits for one or two
// at a time. With letters and a cold cache the pass took 171 µs, 128 µs
// with 8 ahead (4: 131 µs, 16: 128, 32: 131).
const prefetchAhead = 8

// pairedScores are the risk model's raw scores of a text, worked out by a
// joint pass alongside another model's.
type pairedScores struct {
	risk *Model
	z    []float64
}

// PairRisk prepares m to score the shipped risk model in the same pass
// over a text's features as its own (see joint), when the two can share
// one: logistic regressions without IDF weights, of one feature space,
// with at most jointStride labels between them. It reports whether they
// do. m's weights must not change afterwards; a retrained model is a new
// Model, to be paired again.
func (m *Model) PairRisk() bool {
	if m.joint.Load() != nil {
		return true
	}
	r, err := RiskModel()
	if err != nil || !m.canJoin(r) || !r.canJoin(m) || len(m.Labels)+len(r.Labels) > jointStride {
		return false
	}
	K, R, n := len(m.Labels), len(r.Labels), 1<<m.Bits
	if len(m.W) != n*K || len(r.W) != n*R {
		return false
	}
	w := newWeights(n * jointStride)
	for f := range n {
		copy(w[f*jointStride:], m.W[f*K:f*K+K])
		copy(w[f*jointStride+K:], r.W[f*R:f*R+R])
	}
	m.joint.CompareAndSwap(nil, &joint{risk: r, w: w})
	return true
}

func (m *Model) canJoin(o *Model) bool {
	return m.Kind == "logreg" && m.IDF == nil && m.Bits == o.Bits && m.MaxN == o.MaxN
}

// jointScores computes m's scores into out and the risk model's into the
// returned slice, in one pass. The sums are made in the order scores
// makes them, so the answers are the same to the last bit.
func (m *Model) jointScores(j *joint, ft *Features, out []float64) []float64 {
	K, R := len(m.Labels), len(j.risk.Labels)
	var acc [jointStride]float64
	for c := range K {
		acc[c] = float64(m.B[c])
	}
	for c := range R {
		acc[K+c] = float64(j.risk.B[c])
	}
	w := ft.w
	f := ft.f
	var touch float32
	for i, x := range f {
		if i+prefetchAhead < len(f) {
			touch += j.w[int(f[i+prefetchAhead])*jointStride]
		}
		row := (*[jointStride]float32)(j.w[int(x)*jointStride:])
		for c := range K + R {
			acc[c] += float64(row[c] * w)
		}
	}
	runtime.KeepAlive(touch) // the loads ahead stay
	copy(out, acc[:K])
	return append([]float64(nil), acc[K:K+R]...)
}
