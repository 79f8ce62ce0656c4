package analysis

import (
	"bytes"
	_ "embed"
	"slices"
	"sync"
)

// The risk model reads the whole petition for what the rules of ScoreRisk
// cannot list: a threat or a despair put in the writer's own words ("信已经
// 写好了", "让他在医院过年"), and the difference between a medium petition
// (a real grievance with harm or urgency: wages owed for months, a worker
// injured, a deadline about to pass) and a low one (a question, a
// suggestion, a mild complaint). It is a classifier like the category
// model, over the four risk levels, trained on the risk labels of the
// corpus's train split (RiskDocs). The rules decide first; the model can
// raise a petition to critical and tells medium from low below high.

// RiskDocs are the training documents of the risk model: every example
// with a risk level, labelled with it.
func RiskDocs(ex []Example) []Doc {
	var out []Doc
	for _, e := range ex {
		if slices.Contains(riskLevels, e.Risk) {
			out = append(out, Doc{Text: e.FullText(), Label: e.Risk})
		}
	}
	return out
}

var riskLevels = []string{Low, Medium, High, Critical}

// RiskOptions are the training options of the shipped risk model: the
// defaults, calibrated, as its probability of critical is compared with a
// threshold.
var RiskOptions = TrainOptions{}

// modelCritical is the risk model's probability of critical above which a
// petition is critical whatever the rules found. When it was chosen (third
// session of 2026-11-27), on the 132 blind petitions of testdata/blind the
// rules found 6 of 33 critical ones, rules and model 31, with no false
// alarm from 0.5 to 0.7 (30 at 0.8); at 0.6 a plain complaint
// ("我们班组一共十二个人，三个月工资没有发放") read 0.62. Weighed again in the
// fourth session on two sets before they were trained on: 0.8 would have
// removed one of blind_n's three false alarms and missed one more veiled
// threat of blind_m (docs/ANALYSIS.md).
const modelCritical = 0.7

// A long letter may hold its threat in one passage, which the whole
// letter's features dilute: the model also reads every run of
// modelWindow sentences, and a run at modelWindowCritical or more makes
// the petition critical. On 198 long letters (400–900 characters) written
// blind to the corpus, before they were trained on (blind_f), the whole
// text alone found 39 of 55 critical ones (precision 0.951); with runs of
// three sentences at 0.8, 54 (precision 0.931). The threshold is higher
// than the whole text's: a run has less to go on. At 0.85, blind_m (long
// letters, scored before training) would have had four false alarms fewer
// and one critical petition missed.
const (
	modelWindow         = 3
	modelWindowCritical = 0.8
)

// windowCritical is the risk model's highest probability of critical over
// the runs of modelWindow sentences of text, or 0.
func windowCritical(text string) float64 {
	m, err := RiskModel()
	if err != nil {
		return 0
	}
	return m.WindowMax(text, Critical, modelWindow, modelMinRunes)
}

// modelMinRunes is the least text the model must have read to raise a
// petition to critical on its own: on a few words (what is left of a text
// whose dangerous words the rules explained away) its probabilities are
// noise.
const modelMinRunes = 20

//go:embed model/risk.model
var shippedRisk []byte

var (
	riskOnce  sync.Once
	riskModel *Model
	riskErr   error
)

// RiskModel is the shipped risk model (analysis/model/risk.model, made by
// `pvault analysis train --risk --out analysis/model/risk.model`);
// TestShippedRiskModelIsCurrent fails when the corpus changes without it.
func RiskModel() (*Model, error) {
	riskOnce.Do(func() {
		riskModel, riskErr = Load(bytes.NewReader(shippedRisk))
	})
	return riskModel, riskErr
}

// levelProbs is the risk model's probability of each level for text (by
// its features when they are given and fit), or nil without a model.
func levelProbs(text string, f *Features) map[string]float64 {
	m, err := RiskModel()
	if err != nil {
		return nil
	}
	if !m.Fits(f) {
		f = m.Featurize(text)
	}
	p := m.PredictFeatures(f)
	out := make(map[string]float64, len(m.Labels))
	for i, l := range m.Labels {
		out[l] = p.Probs[i]
	}
	return out
}
