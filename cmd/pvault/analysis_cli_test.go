package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pvault/analysis"
)

// `pvault analysis train|eval|retrain`. Helpers are prefixed an.

// anRun runs the command line with an empty environment.
func anRun(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// anData is a small labelled data set written for this test: three classes,
// a train and an eval split.
const anData = `{"id":"w1","label":"wage_arrears","title":"欠薪","text":"项目部拖欠我们三个月工资，包工头不接电话。","split":"train"}
{"id":"w2","label":"wage_arrears","title":"工钱","text":"工地老板欠着工钱不发，过年回家的路费都没有。","split":"train"}
{"id":"w3","label":"wage_arrears","title":"工资","text":"班组长说工资要等工程款下来才发，已经拖了半年。","split":"train"}
{"id":"w4","label":"wage_arrears","title":"结账","text":"干完活结账时少算了二十天的工钱。","split":"train"}
{"id":"n1","label":"construction_nuisance","title":"打桩","text":"工地晚上打桩噪音太大，孩子睡不着觉。","split":"train"}
{"id":"n2","label":"construction_nuisance","title":"扬尘","text":"渣土车进出扬尘严重，路面全是泥。","split":"train"}
{"id":"n3","label":"construction_nuisance","title":"夜间施工","text":"夜里十二点还在浇混凝土，搅拌机轰隆隆响。","split":"train"}
{"id":"n4","label":"construction_nuisance","title":"占道","text":"施工围挡占了人行道，老人出门只能走机动车道。","split":"train"}

{"id":"q1","label":"quality","title":"开裂","text":"新房墙面开裂，卫生间漏水到楼下。","split":"train"}
{"id":"q2","label":"quality","title":"瓷砖","text":"交房不到一年外墙瓷砖脱落，窗户关不严。","split":"train"}
{"id":"q3","label":"quality","title":"空鼓","text":"地面空鼓起砂，防水层没做好，墙角发霉。","split":"train"}
{"id":"q4","label":"quality","title":"裂缝","text":"楼板裂缝越来越宽，担心房子结构有问题。","split":"train"}
{"id":"e1","label":"wage_arrears","title":"讨薪","text":"包工头拖欠工资半年不发。","split":"eval"}
{"id":"e2","label":"construction_nuisance","title":"噪音","text":"半夜打桩噪音扰民。","split":"eval"}
{"id":"e3","label":"quality","title":"漏水","text":"墙面开裂漏水。","split":"eval"}
`

// anLoadModel loads a model file written by analysis train.
func anLoadModel(tb testing.TB, path string) *analysis.Model {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, err := analysis.Load(f)
	if err != nil {
		tb.Fatalf("the written model does not load: %v", err)
	}
	return m
}

func anWrite(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

var anMacroRE = regexp.MustCompile(`macro-F1 ([0-9.]+)`)

// anMacroF1 reads the macro-F1 from a printed report.
func anMacroF1(tb testing.TB, out string) float64 {
	tb.Helper()
	m := anMacroRE.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("no macro-F1 in:\n%s", out)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestAnalysisCLIEvalRisk: --risk scores the risk levels of the data with
// the rules and the shipped risk model, as text and as JSON.
func TestAnalysisCLIEvalRisk(t *testing.T) {
	out, _, err := anRun("analysis", "eval", "--risk")
	if err != nil {
		t.Fatalf("analysis eval --risk: %v", err)
	}
	for _, s := range []string{"critical recall", "level accuracy", "n=225", "confusion (rows: labelled, columns: scored)", "low", "medium", "high", "critical"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	out, _, err = anRun("analysis", "eval", "--risk", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep analysis.RiskReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	if rep.N != 225 || rep.CriticalRecall < 0.95 || rep.CriticalPrecision < 0.8 || len(rep.Confusion) != 4 {
		t.Errorf("risk report %+v", rep)
	}
	total := 0
	for _, row := range rep.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if total != rep.N {
		t.Errorf("confusion holds %d, want %d", total, rep.N)
	}
	// Examples without a risk level are skipped.
	lines := `{"id":"a","label":"other","title":"t","text":"我就从楼顶跳下去。","risk":"critical","split":"eval"}
{"id":"b","label":"other","title":"t","text":"食堂的菜有点咸。","split":"eval"}
`
	out, _, err = anRun("analysis", "eval", "--risk", "--data", anWrite(t, "r.jsonl", lines))
	if err != nil || !strings.Contains(out, "critical recall 1.000") || !strings.Contains(out, "n=1") {
		t.Errorf("eval --risk of one labelled example: %v\n%s", err, out)
	}
}

func TestAnalysisCLIEvalShipped(t *testing.T) {
	out, _, err := anRun("analysis", "eval")
	if err != nil {
		t.Fatalf("analysis eval: %v", err)
	}
	if f := anMacroF1(t, out); f < 0.85 {
		t.Errorf("shipped model on the eval split: macro-F1 %.3f < 0.85", f)
	}
	for _, s := range append([]string{"precision", "recall", "f1", "support", "confusion (rows: true, columns: predicted)"}, analysis.Categories...) {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	// As JSON.
	out, _, err = anRun("analysis", "eval", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep analysis.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	if rep.MacroF1 < 0.85 || rep.N == 0 || len(rep.Classes) != len(analysis.Categories) || len(rep.Confusion) != len(rep.Labels) {
		t.Errorf("JSON report: macro-F1 %v, n %d, %d classes, %d confusion rows", rep.MacroF1, rep.N, len(rep.Classes), len(rep.Confusion))
	}
}

func TestAnalysisCLITrainEval(t *testing.T) {
	data := anWrite(t, "small.jsonl", anData)
	for _, kind := range []string{"logreg", "nb"} {
		t.Run(kind, func(t *testing.T) {
			model := filepath.Join(t.TempDir(), "small.model")
			out, _, err := anRun("analysis", "train", "--data", data, "--out", model, "--kind", kind)
			if err != nil {
				t.Fatalf("train: %v", err)
			}
			if !strings.Contains(out, "trained a "+kind+" model on 12 texts (3 labels)") {
				t.Errorf("train output %q", out)
			}
			m := anLoadModel(t, model)
			if m.Kind != kind || len(m.Labels) != 3 {
				t.Errorf("model %s with labels %q", m.Kind, m.Labels)
			}
			out, _, err = anRun("analysis", "eval", "--model", model, "--data", data)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if !strings.Contains(out, "n=3") {
				t.Errorf("eval scored other than the 3 eval examples:\n%s", out)
			}
			if f := anMacroF1(t, out); f != 1 {
				t.Errorf("macro-F1 %.3f on plain eval texts, want 1.000:\n%s", f, out)
			}
			// All splits.
			out, _, err = anRun("analysis", "eval", "--model", model, "--data", data, "--split", "")
			if err != nil || !strings.Contains(out, "n=15") {
				t.Errorf("eval of every split: %v\n%s", err, out)
			}
		})
	}
	// A directory of data files works like the file.
	dir := filepath.Dir(data)
	model := filepath.Join(t.TempDir(), "dir.model")
	if out, _, err := anRun("analysis", "train", "--data", dir, "--out", model); err != nil || !strings.Contains(out, "on 12 texts") {
		t.Errorf("train on a directory: %v %q", err, out)
	}
}

func TestAnalysisCLIErrors(t *testing.T) {
	data := anWrite(t, "small.jsonl", anData)
	bad := anWrite(t, "bad.jsonl", `{"label":"other","text":"ok"}`+"\n"+`{"label":"other","text":`+"\n")
	garbage := anWrite(t, "garbage.model", "not a model")
	out := filepath.Join(t.TempDir(), "m.model")
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool   // errUsage
		msg   string // otherwise an error containing this
	}{
		{"no subcommand", []string{"analysis"}, true, ""},
		{"unknown subcommand", []string{"analysis", "predict"}, true, ""},
		{"train: unknown flag", []string{"analysis", "train", "--nope"}, true, ""},
		{"train: flag without value", []string{"analysis", "train", "--data"}, true, ""},
		{"train: help", []string{"analysis", "train", "-h"}, true, ""},
		{"eval: unknown flag", []string{"analysis", "eval", "--nope"}, true, ""},
		{"eval: bad bool", []string{"analysis", "eval", "--json=maybe"}, true, ""},
		{"retrain: unknown flag", []string{"analysis", "retrain", "--nope"}, true, ""},
		{"train: no --out", []string{"analysis", "train", "--data", data}, false, "--out"},
		{"train: unknown kind", []string{"analysis", "train", "--data", data, "--out", out, "--kind", "svm"}, false, "svm"},
		{"train: missing data", []string{"analysis", "train", "--data", filepath.Join(t.TempDir(), "none.jsonl"), "--out", out}, false, "none.jsonl"},
		{"train: bad line", []string{"analysis", "train", "--data", bad, "--out", out}, false, "line 2"},
		{"train: empty split", []string{"analysis", "train", "--data", data, "--out", out, "--split", "holdout"}, false, "no training documents"},
		{"eval: empty split", []string{"analysis", "eval", "--data", data, "--split", "holdout"}, false, "no examples"},
		{"eval: garbage model", []string{"analysis", "eval", "--data", data, "--model", garbage}, false, "model"},
		{"eval: missing model", []string{"analysis", "eval", "--data", data, "--model", filepath.Join(t.TempDir(), "none.model")}, false, "none.model"},
		{"eval --risk: with --model", []string{"analysis", "eval", "--risk", "--model", garbage}, false, "--model"},
		{"eval --risk: no risk levels", []string{"analysis", "eval", "--risk", "--data", data}, false, "no example has a risk level"},
		{"retrain: no data directory", []string{"analysis", "retrain"}, false, "--data"},
		{"retrain: not a vault", []string{"analysis", "retrain", "--data", t.TempDir()}, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := anRun(tt.args...)
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.usage && !errors.Is(err, errUsage):
				t.Errorf("error %v, want errUsage", err)
			case !tt.usage && errors.Is(err, errUsage):
				t.Errorf("errUsage, want %q", tt.msg)
			case !tt.usage && !strings.Contains(err.Error(), tt.msg):
				t.Errorf("error %q, want it to mention %q", err, tt.msg)
			}
			if tt.usage && exitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", exitCode(err))
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed training left a model file")
	}
}

// TestAnalysisCLITrainRisk: --risk trains the risk model on the examples'
// risk levels, whatever their category, leaving out those without one, and
// it tells the levels apart on its own training texts.
func TestAnalysisCLITrainRisk(t *testing.T) {
	texts := map[string][]string{
		"low":      {"想咨询一下年休假怎么计算。", "请问体检安排在哪一天？", "建议食堂多做几个素菜。", "询问工资条在哪里查看。"},
		"medium":   {"工资拖欠三个月，孩子学费交不上了。", "工伤住院两个月，医药费一直没人管。", "工程款欠了八十万，银行贷款快逾期了。", "被无故辞退，房租都交不起了。"},
		"high":     {"我们二十个工友联名反映，要去省里上访。", "再不解决就找记者曝光。", "这是第五次反映了，还是没人管。", "三十名职工联名要求补缴社保。"},
		"critical": {"再不给钱我就从楼顶跳下去。", "明天一早我们全体去堵公司大门。", "逼急了我就拿刀去找他算账。", "我不想活了，遗书都写好了。"},
	}
	var lines []string
	for level, ts := range texts {
		for i, tx := range ts {
			lines = append(lines, fmt.Sprintf(`{"id":"%s%d","label":"other","title":"反映","text":%q,"risk":%q,"split":"train"}`, level, i, tx, level))
		}
	}
	lines = append(lines, `{"id":"n1","label":"other","title":"反映","text":"没有风险标注的一条。","split":"train"}`)
	data := anWrite(t, "risk.jsonl", strings.Join(lines, "\n")+"\n")
	model := filepath.Join(t.TempDir(), "risk.model")
	out, _, err := anRun("analysis", "train", "--risk", "--data", data, "--out", model)
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	if !strings.Contains(out, "on 16 texts (4 labels)") {
		t.Errorf("train output %q, want 16 texts (the unlabelled one left out) and 4 labels", out)
	}
	m := anLoadModel(t, model)
	for level, ts := range texts {
		for _, tx := range ts {
			if l := m.Predict(analysis.JoinText("反映", tx, "")).Label; l != level {
				t.Errorf("%s: %s, want %s", tx, l, level)
			}
		}
	}
}
