package analysis

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// ClassReport is the precision, recall and F1 of one class.
type ClassReport struct {
	Label                       string
	Support                     int
	Precision, Recall, F1       float64
	TruePos, FalsePos, FalseNeg int
}

// Report is the evaluation of a classifier on labelled examples.
type Report struct {
	Labels    []string
	Classes   []ClassReport
	MacroF1   float64
	Accuracy  float64
	Confusion [][]int // [true][predicted], in the order of Labels
	// ECE is the expected calibration error over 10 confidence bins: how
	// far stated confidence is from observed accuracy.
	ECE float64
	N   int
}

// Evaluate scores m on docs.
func Evaluate(m *Model, docs []Doc) Report {
	labels := append([]string(nil), m.Labels...)
	for _, d := range docs {
		if indexOf(labels, d.Label) < 0 {
			labels = append(labels, d.Label)
		}
	}
	K := len(labels)
	r := Report{Labels: labels, Confusion: make([][]int, K), N: len(docs)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, K)
	}
	type bin struct {
		n, correct int
		conf       float64
	}
	bins := make([]bin, 10)
	correct := 0
	for _, d := range docs {
		p := m.Predict(d.Text)
		t, g := indexOf(labels, d.Label), indexOf(labels, p.Label)
		r.Confusion[t][g]++
		b := min(int(p.Confidence*10), 9)
		bins[b].n++
		bins[b].conf += p.Confidence
		if t == g {
			correct++
			bins[b].correct++
		}
	}
	sum := 0.0
	for c, l := range labels {
		cr := ClassReport{Label: l}
		for j := range K {
			if j == c {
				cr.TruePos = r.Confusion[c][c]
			} else {
				cr.FalseNeg += r.Confusion[c][j]
				cr.FalsePos += r.Confusion[j][c]
			}
		}
		cr.Support = cr.TruePos + cr.FalseNeg
		cr.Precision = ratio(cr.TruePos, cr.TruePos+cr.FalsePos)
		cr.Recall = ratio(cr.TruePos, cr.TruePos+cr.FalseNeg)
		if cr.Precision+cr.Recall > 0 {
			cr.F1 = 2 * cr.Precision * cr.Recall / (cr.Precision + cr.Recall)
		}
		r.Classes = append(r.Classes, cr)
		sum += cr.F1
	}
	r.MacroF1 = sum / float64(K)
	r.Accuracy = ratio(correct, len(docs))
	for _, b := range bins {
		if b.n > 0 {
			r.ECE += float64(b.n) / float64(len(docs)) * math.Abs(float64(b.correct)/float64(b.n)-b.conf/float64(b.n))
		}
	}
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// Print writes the report as text: per-class precision/recall/F1, macro-F1,
// accuracy, calibration error and the confusion matrix.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-22s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support")
	for _, c := range r.Classes {
		fmt.Fprintf(w, "%-22s %9.3f %9.3f %9.3f %8d\n", c.Label, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(w, "\nmacro-F1 %.3f  accuracy %.3f  calibration error (ECE) %.3f  n=%d\n\nconfusion (rows: true, columns: predicted)\n", r.MacroF1, r.Accuracy, r.ECE, r.N)
	short := make([]string, len(r.Labels))
	for i, l := range r.Labels {
		short[i] = abbrev(l)
	}
	fmt.Fprintf(w, "%-6s %s\n", "", strings.Join(padAll(short, 5), " "))
	for i, row := range r.Confusion {
		cells := make([]string, len(row))
		for j, n := range row {
			cells[j] = fmt.Sprintf("%5d", n)
		}
		fmt.Fprintf(w, "%-6s %s\n", short[i], strings.Join(cells, " "))
	}
}

func abbrev(l string) string {
	parts := strings.Split(l, "_")
	s := ""
	for _, p := range parts {
		if len(p) > 0 {
			s += p[:min(3, len(p))]
		}
	}
	return s[:min(5, len(s))]
}

func padAll(xs []string, n int) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%*s", n, x)
	}
	return out
}

// RiskReport is the evaluation of ScoreRisk (rules and the shipped risk
// model) on examples labelled with a risk level.
type RiskReport struct {
	Levels    []string // low, medium, high, critical
	Confusion [][]int  // [labelled][scored], in the order of Levels
	// Critical recall and precision: the quality bars of issue 7.
	CriticalRecall, CriticalPrecision float64
	Accuracy                          float64 // of the level
	N                                 int
}

// EvaluateRisk scores every example that has a risk level (the others are
// skipped).
func EvaluateRisk(ex []Example) RiskReport {
	r := RiskReport{Levels: riskLevels, Confusion: make([][]int, len(riskLevels))}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, len(riskLevels))
	}
	right := 0
	for _, e := range ex {
		want := indexOf(riskLevels, e.Risk)
		if want < 0 {
			continue
		}
		got := indexOf(riskLevels, ScoreRisk(RiskInput{Text: e.FullText(), GroupSize: e.GroupSize}).Level)
		r.Confusion[want][got]++
		r.N++
		if got == want {
			right++
		}
	}
	c := indexOf(riskLevels, Critical)
	tp, fn, fp := r.Confusion[c][c], 0, 0
	for j := range riskLevels {
		if j != c {
			fn += r.Confusion[c][j]
			fp += r.Confusion[j][c]
		}
	}
	r.CriticalRecall, r.CriticalPrecision, r.Accuracy = ratio(tp, tp+fn), ratio(tp, tp+fp), ratio(right, r.N)
	return r
}

// Print writes the risk report as text.
func (r RiskReport) Print(w io.Writer) {
	fmt.Fprintf(w, "critical recall %.3f  precision %.3f  level accuracy %.3f  n=%d\n\nconfusion (rows: labelled, columns: scored)\n",
		r.CriticalRecall, r.CriticalPrecision, r.Accuracy, r.N)
	fmt.Fprintf(w, "%-9s %s\n", "", strings.Join(padAll(r.Levels, 8), " "))
	for i, row := range r.Confusion {
		cells := make([]string, len(row))
		for j, n := range row {
			cells[j] = fmt.Sprintf("%8d", n)
		}
		fmt.Fprintf(w, "%-9s %s\n", r.Levels[i], strings.Join(cells, " "))
	}
}
