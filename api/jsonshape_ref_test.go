package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// checkJSONShapeTokens is the token-by-token checkJSONShape of earlier
// versions, the reference the scanner is held to: it walks the tokens of b and rejects duplicate object keys and
// nesting deeper than maxDepth.
func checkJSONShapeTokens(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badRequest("malformed JSON")
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expKey = true
				}
				continue
			}
			k, _ := tok.(string)
			// Every field of the API is lower-case ASCII; encoding/json would
			// match other spellings case-insensitively, so they are refused.
			if !lowerASCII(k) {
				return badRequest("unknown field %q", truncate(k, 40))
			}
			if top.keys[k] {
				return badRequest("duplicate key %q", truncate(k, 40))
			}
			top.keys[k] = true
			top.expKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxDepth {
				return badRequest("JSON nested deeper than %d", maxDepth)
			}
			stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, expKey: d == '{'})
			continue
		case ']', '}':
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].expKey = true
		}
	}
}

// FuzzCheckJSONShapeScanner holds checkJSONShape to the token walk it
// replaced: the same verdict and the same message, on any input.
func FuzzCheckJSONShapeScanner(f *testing.F) {
	for _, b := range hxSeedBodies() {
		f.Add(b)
	}
	for _, s := range []string{
		hxDeepArrays, hxDeepObjects, ``, ` `, `{}{}`, `01`, `[01]`, `truefalse`, `1 2`, `"a""b"`,
		`{"a":1,"a":2, bad`, `{"A":`, `{"a" 1}`, `{"a":1 "b":2}`, `[1,]`, `{,}`, `nul`, `nulll`, `-`, `1.`, `1e`, `1e+`,
		`-0.5e-7`, `"\u00e9"`, `{"\u0061":1,"a":2}`, `{"caf\u00e9":1}`, "{\"a\x01\":1}", `"\x"`, `"\u12"`, `{"a":[1,{"b":}]}`,
		"{\"k\xff\":1}", `{"a":1}}`, `]`, `{"a":{"b":{"c":1,"c":2}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := checkJSONShape(b), checkJSONShapeTokens(b)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("checkJSONShape(%q) = %v, the token walk %v", b, got, want)
		}
	})
}

// TestCheckJSONShapeManyKeys: an object of many keys is checked in about
// linear time (a quadratic search of a megabyte of keys would not finish).
func TestCheckJSONShapeManyKeys(t *testing.T) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range 60000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":0`, i)
	}
	b.WriteString(`,"k59999":1}`)
	if err := checkJSONShape(b.Bytes()); err == nil || !strings.Contains(err.Error(), `duplicate key "k59999"`) {
		t.Fatalf("a duplicate last key: %v", err)
	}
}
