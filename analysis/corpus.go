package analysis

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

// Example is one line of a corpus file (JSON Lines).
type Example struct {
	ID        string `json:"id"`
	Label     string `json:"label"`
	Title     string `json:"title"`
	Text      string `json:"text"`
	Risk      string `json:"risk"`
	GroupSize int    `json:"group_size"`
	Channel   string `json:"channel"`
	Split     string `json:"split"`
}

// FullText is the text classified: title and body.
func (e Example) FullText() string { return JoinText(e.Title, e.Text, "") }

// ReadExamples reads JSON Lines examples.
func ReadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Example
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if e.Label == "" || (e.Text == "" && e.Title == "") {
			return nil, fmt.Errorf("line %d: label and text are required", n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

//go:embed testdata/corpus/*.jsonl
var corpusFS embed.FS

var (
	corpusOnce sync.Once
	corpus     []Example
	corpusErr  error
)

// Corpus returns the shipped corpus (analysis/testdata/corpus), every split.
func Corpus() ([]Example, error) {
	corpusOnce.Do(func() {
		files, err := fs.Glob(corpusFS, "testdata/corpus/*.jsonl")
		if err != nil {
			corpusErr = err
			return
		}
		sort.Strings(files)
		for _, f := range files {
			r, err := corpusFS.Open(f)
			if err != nil {
				corpusErr = err
				return
			}
			ex, err := ReadExamples(r)
			r.Close()
			if err != nil {
				corpusErr = fmt.Errorf("%s: %w", path.Base(f), err)
				return
			}
			corpus = append(corpus, ex...)
		}
	})
	return corpus, corpusErr
}

// Split returns the examples of one split ("train" or "eval").
func Split(ex []Example, split string) []Example {
	var out []Example
	for _, e := range ex {
		if e.Split == split {
			out = append(out, e)
		}
	}
	return out
}

// Docs turns examples into training documents.
func Docs(ex []Example) []Doc {
	out := make([]Doc, len(ex))
	for i, e := range ex {
		out[i] = Doc{Text: e.FullText(), Label: e.Label}
	}
	return out
}

var (
	defaultOnce  sync.Once
	defaultModel *Model
	defaultErr   error
)

//go:embed model/default.model
var shippedModel []byte

// DefaultModel is the classifier trained on the train split of the shipped
// corpus with the default options. It ships with the binary
// (analysis/model/default.model, made by `pvault analysis train --out
// analysis/model/default.model`); TestShippedModelIsCurrent fails when the
// corpus changes without it.
func DefaultModel() (*Model, error) {
	defaultOnce.Do(func() {
		defaultModel, defaultErr = Load(bytes.NewReader(shippedModel))
	})
	return defaultModel, defaultErr
}
