package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules guards the layout of DESIGN.md and STYLE.md: only api
// imports gin, only vault/store imports badger, and the domain packages
// never import the api (audit uses only the store package of the vault).
func TestImportRules(t *testing.T) {
	root := filepath.Join("..", "..")
	rules := []struct {
		pkg     string // import path prefix
		onlyIn  string // the only directory (relative to root) allowed to import it
		comment string
	}{
		{"github.com/gin-gonic/gin", "api", "only api imports gin"},
		{"github.com/dgraph-io/badger", "vault/store", "only the store imports badger"},
	}
	forbidden := map[string][]string{ // directory → imports it must not have
		"audit":    {"pvault/api", "pvault/vault"},
		"policy":   {"pvault/api", "pvault/vault", "pvault/audit"},
		"analysis": {"pvault/api", "pvault/vault", "pvault/audit", "pvault/policy"},
		"vault":    {"pvault/api"},
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, r := range rules {
				if strings.HasPrefix(p, r.pkg) && rel != r.onlyIn {
					t.Errorf("%s imports %s: %s", path, p, r.comment)
				}
			}
			top := strings.SplitN(rel, "/", 2)[0]
			for _, bad := range forbidden[top] {
				// Exact: audit may use the store (pvault/vault/store) it
				// commits in, but not the vault.
				if p == bad {
					t.Errorf("%s imports %s", path, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
