package analysis

import (
	"bytes"
	_ "embed"
	"sync"
)

// The severity model tells a medium petition from a low one where no rule
// applies: the rules of ScoreRisk find threats, mass action, groups,
// escalation and repeats, but "medium" (a real grievance with harm or
// urgency: wages owed for months, a worker injured, a deadline about to
// pass) and "low" (a question, a suggestion, a mild complaint) differ in
// what the whole letter says, not in a few words. It is a classifier like
// the category model, trained on the risk labels of the corpus's train
// split (SeverityDocs).

// SeverityDocs are the training documents of the severity model: the
// examples labelled low or medium, labelled with their risk level.
func SeverityDocs(ex []Example) []Doc {
	var out []Doc
	for _, e := range ex {
		if e.Risk == Low || e.Risk == Medium {
			out = append(out, Doc{Text: e.FullText(), Label: e.Risk})
		}
	}
	return out
}

// SeverityOptions are the training options of the shipped severity model:
// uncalibrated, as only which side of one half it falls matters.
var SeverityOptions = TrainOptions{NoCalibrate: true}

//go:embed model/severity.model
var shippedSeverity []byte

var (
	severityOnce  sync.Once
	severityModel *Model
	severityErr   error
)

// SeverityModel is the shipped severity model (analysis/model/severity.model,
// made by `pvault analysis train --severity --out
// analysis/model/severity.model`); TestShippedSeverityModelIsCurrent fails
// when the corpus changes without it.
func SeverityModel() (*Model, error) {
	severityOnce.Do(func() {
		severityModel, severityErr = Load(bytes.NewReader(shippedSeverity))
	})
	return severityModel, severityErr
}

// mediumProbability is the severity model's probability that text is a
// medium petition rather than a low one, or -1 without a model.
func mediumProbability(text string) float64 {
	m, err := SeverityModel()
	if err != nil {
		return -1
	}
	p := m.Predict(text)
	if p.Label == Medium {
		return p.Confidence
	}
	return 1 - p.Confidence
}
