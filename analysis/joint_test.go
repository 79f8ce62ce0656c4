package analysis

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

// TestPairRisk: a model paired with the risk model predicts, and lets the
// risk model predict, exactly what each does alone, on the corpus and on
// long letters; ScoreRisk gives the same answers with paired features.
func TestPairRisk(t *testing.T) {
	def, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	risk, err := RiskModel()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh copy of the default model, so that the shared one stays unpaired.
	m, err := Load(bytes.NewReader(def.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !m.PairRisk() || !m.PairRisk() {
		t.Fatal("the default model does not pair with the risk model")
	}
	texts := append(anTypicalTexts(t), anLetters(t)...)
	for _, text := range texts {
		alone, aloneRisk := def.Predict(text), risk.PredictFeatures(def.Featurize(text))
		f := m.Featurize(text)
		paired := m.PredictFeatures(f)
		if f.paired == nil {
			t.Fatal("a paired prediction left no risk scores")
		}
		pairedRisk := risk.PredictFeatures(f)
		if paired.Label != alone.Label || !slices.Equal(paired.Probs, alone.Probs) {
			t.Fatalf("category of %.40q: paired %v, alone %v", text, paired.Probs, alone.Probs)
		}
		if !slices.Equal(pairedRisk.Probs, aloneRisk.Probs) {
			t.Fatalf("risk of %.40q: paired %v, alone %v", text, pairedRisk.Probs, aloneRisk.Probs)
		}
		in := RiskInput{Text: text, GroupSize: 1}
		want := ScoreRisk(in)
		in.Features = f
		if got := ScoreRisk(in); got.Level != want.Level || got.Score != want.Score || !slices.Equal(got.Reasons, want.Reasons) {
			t.Fatalf("ScoreRisk of %.40q with paired features: %+v, want %+v", text, got, want)
		}
	}
	// Scores a paired pass left for the risk model serve only that model.
	f := m.Featurize(texts[0])
	m.PredictFeatures(f)
	if got := m.PredictFeatures(f); !slices.Equal(got.Probs, def.Predict(texts[0]).Probs) {
		t.Error("a second prediction by the paired model differs")
	}
}

// TestPairRiskRefuses: models that cannot share a pass with the risk model
// are left alone and predict as before.
func TestPairRiskRefuses(t *testing.T) {
	docs := []Doc{{"拖欠工资三个月", "wage_arrears"}, {"工地噪音扰民", "construction_nuisance"}, {"食堂饭菜质量差", "other"}}
	for _, o := range []TrainOptions{{Kind: "nb"}, {Bits: 16}, {MaxN: 2}, {IDF: true}} {
		o.Epochs, o.NoCalibrate = 2, true
		m, err := Train(docs, o)
		if err != nil {
			t.Fatal(err)
		}
		before := m.Predict("拖欠工资")
		if m.PairRisk() {
			t.Errorf("%+v: paired", o)
		}
		if after := m.Predict("拖欠工资"); !slices.EqualFunc(after.Probs, before.Probs, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("%+v: prediction changed", o)
		}
	}
}
