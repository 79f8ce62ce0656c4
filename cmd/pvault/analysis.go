package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"pvault/analysis"
)

// cmdAnalysis trains and evaluates classifiers, and retrains a vault's.
func cmdAnalysis(args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pvault analysis train|eval|retrain …")
		return errUsage
	}
	switch args[0] {
	case "train":
		fs := newFlags("analysis train", stderr)
		data := fs.String("data", "", "training data: a JSON Lines file or a directory of them (default: the shipped corpus)")
		out := fs.String("out", "", "where to write the model")
		kind := fs.String("kind", "logreg", "logreg or nb")
		split := fs.String("split", "train", "which split of the data to train on (\"\" for all)")
		risk := fs.Bool("risk", false, "train the risk model (on the risk levels of the data) instead of the category model")
		if err := fs.Parse(args[1:]); err != nil {
			return errUsage
		}
		if *out == "" {
			return fmt.Errorf("analysis train: --out MODEL is required")
		}
		ex, err := loadExamples(*data)
		if err != nil {
			return err
		}
		if *split != "" {
			ex = analysis.Split(ex, *split)
		}
		docs, opts := analysis.Docs(ex), analysis.TrainOptions{Kind: *kind}
		if *risk {
			docs, opts = analysis.RiskDocs(ex), analysis.RiskOptions
			opts.Kind = *kind
		}
		m, err := analysis.Train(docs, opts)
		if err != nil {
			return err
		}
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		if err := m.Save(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pvault: trained a %s model on %d texts (%d labels) → %s\n", *kind, len(docs), len(m.Labels), *out)
		return nil
	case "eval":
		fs := newFlags("analysis eval", stderr)
		data := fs.String("data", "", "labelled data: a JSON Lines file or a directory of them (default: the shipped corpus)")
		model := fs.String("model", "", "a model file (default: the shipped model)")
		split := fs.String("split", "eval", "which split of the data to score (\"\" for all)")
		asJSON := fs.Bool("json", false, "print the report as JSON")
		risk := fs.Bool("risk", false, "score the risk levels (the rules and the shipped risk model) instead of the categories")
		if err := fs.Parse(args[1:]); err != nil {
			return errUsage
		}
		if *risk && *model != "" {
			return fmt.Errorf("analysis eval: --risk scores the shipped risk model; --model is for the category model")
		}
		ex, err := loadExamples(*data)
		if err != nil {
			return err
		}
		if *split != "" {
			ex = analysis.Split(ex, *split)
		}
		if len(ex) == 0 {
			return fmt.Errorf("analysis eval: no examples (split %q)", *split)
		}
		var rep interface{ Print(io.Writer) }
		if *risk {
			rr := analysis.EvaluateRisk(ex)
			if rr.N == 0 {
				return fmt.Errorf("analysis eval: no example has a risk level")
			}
			rep = rr
		} else {
			m, err := loadModel(*model)
			if err != nil {
				return err
			}
			rep = analysis.Evaluate(m, analysis.Docs(ex))
		}
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		rep.Print(stdout)
		return nil
	case "retrain":
		fs := newFlags("analysis retrain", stderr)
		vf := addVaultFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return errUsage
		}
		v, err := vf.open("analysis retrain", getenv)
		if err != nil {
			return err
		}
		defer v.Close()
		n, err := v.Retrain()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pvault: retrained the classifier on the shipped corpus and %d officer corrections\n", n)
		return nil
	}
	fmt.Fprintln(stderr, "usage: pvault analysis train|eval|retrain …")
	return errUsage
}

func loadExamples(path string) ([]analysis.Example, error) {
	if path == "" {
		return analysis.Corpus()
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = filepath.Glob(filepath.Join(path, "*.jsonl")); err != nil {
			return nil, err
		}
	}
	var out []analysis.Example
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ex, err := analysis.ReadExamples(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, ex...)
	}
	return out, nil
}

func loadModel(path string) (*analysis.Model, error) {
	if path == "" {
		return analysis.DefaultModel()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return analysis.Load(f)
}
