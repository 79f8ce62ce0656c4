package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// cjSamples are content records as the vault writes them and as it never
// does: escapes of every kind, surrogates whole, lone and reversed, keys
// in other case, wrong types, trailing bytes.
func cjSamples() []string {
	written := []Content{
		{Title: "拖欠工资", Content: "我们在三号工地干活，\n项目部已经拖欠我们三个月工资。\t\"老板\"说<下个月>&再说。\u2028", Requests: "", Subjects: []string{"张三", "李四"}},
		{Title: "t", Content: strings.Repeat("长信", 2000), Masked: &Petitioner{Name: "张*", Phone: "138****5678"}},
		{Title: "😀 emoji \\ backslash /", Content: "\x01\x1f\u007f\u0080\ufffd"},
		{},
	}
	var out []string
	for _, c := range written {
		b, err := json.Marshal(&c)
		if err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	return append(out,
		`{"title":"a\ud83d\ude00b","content":"\ud83d","requests":"\ude00\ud83d","subjects":null,"masked":null}`,
		`{"title":"\ud83dx","content":"\ud83d\u0041"}`,
		`{"title":"\/\b\f\n\r\t\"\\"}`,
		` { "title" : "a" , "content" : "b" } `,
		`{"Title":"a"}`, `{"title":null}`, `{"title":1}`, `{"title":"a"}x`, `{"title":"a",}`,
		`{"title":"a\x"}`, `{"title":"a\u12"}`, "{\"title\":\"a\x01\"}", "{\"title\":\"\xff\"}",
		`{"subjects":["a",1]}`, `{"subjects":["a"],"subjects":["b","c"]}`,
		`{"masked":{"name":"a"},"masked":{"phone":"b"}}`, `{"masked":{"name":"a"},"masked":null}`,
		`{"title":"a\q","content":"","requests":""}`, `{"title":"\u12","content":"","requests":""}`,
		`{"title":"\u12x4","content":"","requests":""}`, `{"title":"a","content":""}`,
		`{"title":"\ufffd","content":"\/","requests":"\u0041"}`, `{"title":"\u001F","content":"\u001f","requests":"\u003c"}`,
		`{"title":"<","content":"\u2028","requests":"`+"\u2028"+`"}`, `{"title":"\u003C","content":"&","requests":""}`,
		`{"other":"x"}`, `{}`, `[]`, ``, `{"title":"a"`, `{"subjects":[}`, `{"masked":{"name":"]"}}`,
	)
}

// TestDecodeContent: decodeContent decodes what the vault writes, and
// whatever it accepts json.Unmarshal decodes to the same Content.
func TestDecodeContent(t *testing.T) {
	for i, s := range cjSamples() {
		var got Content
		ok := decodeContent([]byte(s), &got)
		var raw Content
		if i < 4 && (!ok || !parseContent([]byte(s), &raw, true, false)) {
			t.Errorf("a record the vault writes was refused: %.80q", s)
		}
		cjCheck(t, s, ok, &got)
	}
}

func cjCheck(t *testing.T, s string, ok bool, got *Content) {
	t.Helper()
	var want Content
	err := json.Unmarshal([]byte(s), &want)
	// Kept raw, the text members are valid JSON strings that decode to
	// what json.Unmarshal gives, and the rest is decoded the same.
	var raw Content
	if parseContent([]byte(s), &raw, true, false) {
		if err != nil {
			t.Fatalf("%q accepted raw, but json.Unmarshal refuses it: %v", s, err)
		}
		rt := raw.Raw
		texts := []*string{&raw.Title, &raw.Content, &raw.Requests}
		for i, r := range [][]byte{rt.Title, rt.Content, rt.Requests} {
			if !json.Valid(r) {
				t.Fatalf("%q: raw member %q is not valid JSON", s, r)
			}
			if *texts[i] != "" {
				t.Fatalf("%q: raw content also decoded", s)
			}
			if json.Unmarshal(r, texts[i]) != nil {
				t.Fatalf("%q: raw member %q is not a string", s, r)
			}
			// Byte for byte what encoding/json writes for its text.
			if m, _ := json.Marshal(*texts[i]); !bytes.Equal(m, r) {
				t.Fatalf("%q: raw member %q, encoding/json writes %q", s, r, m)
			}
		}
		raw.Raw = nil
		if !reflect.DeepEqual(raw, want) {
			t.Fatalf("%q: raw %#v, json.Unmarshal %#v", s, raw, want)
		}
	}
	if !ok {
		if !reflect.DeepEqual(*got, Content{}) {
			t.Fatalf("%q refused but decoded into the destination", s)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q accepted, but json.Unmarshal refuses it: %v", s, err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q: decoded %#v, json.Unmarshal %#v", s, *got, want)
	}
}

func FuzzDecodeContent(f *testing.F) {
	for _, s := range cjSamples() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got Content
		cjCheck(t, s, decodeContent([]byte(s), &got), &got)
	})
}

func BenchmarkDecodeContent(b *testing.B) {
	c := Content{Title: "拖欠工资", Content: strings.Repeat("我们在三号工地干活，项目部已经拖欠我们三个月工资。\n", 40), Subjects: []string{"张三"}, Masked: &Petitioner{Name: "张*"}}
	pt, _ := json.Marshal(&c)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var c Content
			if !decodeContent(pt, &c) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if c, err := DecodeContentRaw(pt); err != nil || c.Raw == nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var c Content
			if json.Unmarshal(pt, &c) != nil {
				b.Fatal("refused")
			}
		}
	})
}

// TestOpenContentRaw: a stored petition opens with its text as the JSON
// strings of its record, and those decode to what OpenContent gives.
func TestOpenContentRaw(t *testing.T) {
	v := newTestVault(t, nil)
	in := samplePetition()
	in.Content = "第一段，\n第二段：<b>\"引号\"</b> \\ 反斜杠。"
	c, err := v.CreatePetition(in, nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := v.OpenContentRaw(c.Meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	full, err := v.OpenContent(c.Meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Raw == nil || raw.Title != "" || raw.Content != "" {
		t.Fatalf("OpenContentRaw = %+v, want the text raw only", raw)
	}
	var title, content, requests string
	for _, x := range []struct {
		b   []byte
		dst *string
	}{{raw.Raw.Title, &title}, {raw.Raw.Content, &content}, {raw.Raw.Requests, &requests}} {
		if err := json.Unmarshal(x.b, x.dst); err != nil {
			t.Fatalf("raw %q: %v", x.b, err)
		}
	}
	if title != full.Title || content != full.Content || content != in.Content || requests != full.Requests ||
		!reflect.DeepEqual(raw.Subjects, full.Subjects) || !reflect.DeepEqual(raw.Masked, full.Masked) {
		t.Errorf("raw %+v (%q, %q, %q), decoded %+v", raw, title, content, requests, full)
	}
}

// TestOpenContentRawRelease: Release zeroes the plaintext the raw text
// points into, and reads that reuse released buffers, concurrently, each
// get their own petition's text.
func TestOpenContentRawRelease(t *testing.T) {
	v := newTestVault(t, nil)
	var ids, texts []string
	for i := range 4 {
		in := samplePetition()
		in.Content = strings.Repeat(fmt.Sprintf("第%d封信：工资没有发。", i), 10*(i+1))
		c, err := v.CreatePetition(in, nil, entry("petition.create"))
		if err != nil {
			t.Fatal(err)
		}
		ids, texts = append(ids, c.Meta.ID), append(texts, in.Content)
	}
	c, err := v.OpenContentRaw(ids[0])
	if err != nil || c.Raw == nil {
		t.Fatalf("OpenContentRaw: %+v, %v", c, err)
	}
	held := c.Raw.Content
	c.Release()
	if c.Raw != nil {
		t.Error("Raw kept after Release")
	}
	if bytes.ContainsFunc(held, func(r rune) bool { return r != 0 }) {
		t.Errorf("released plaintext not zeroed: %q", held)
	}
	c.Release() // a second call does nothing

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 50 {
				i := (g + n) % len(ids)
				c, err := v.OpenContentRaw(ids[i])
				if err != nil {
					errs <- err
					return
				}
				var got string
				if err := json.Unmarshal(c.Raw.Content, &got); err != nil || got != texts[i] {
					errs <- fmt.Errorf("petition %d read %q (%v)", i, got, err)
					return
				}
				c.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
