package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"pvault/vault"
)

// rpSplice builds a petition reply from a content record the way a read
// does (the text copied as the record's JSON strings, when the vault keeps
// them) and the way the handler did before (the record decoded, the reply
// encoded by encoding/json). raw is false when the vault decoded the text.
func rpSplice(t *testing.T, unit string, rec []byte) (got, want []byte, raw bool) {
	t.Helper()
	c, err := vault.DecodeContentRaw(rec)
	if err != nil {
		return nil, nil, false
	}
	var full vault.Content
	if err := json.Unmarshal(rec, &full); err != nil {
		t.Fatalf("%q: the vault decoded a record encoding/json refuses: %v", rec, err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	p := PetitionJSON{ID: "p1", Unit: unit, Channel: "letter", Subjects: []string{"张三"}, Duplicates: []vault.Duplicate{},
		Status: "registered", ReceivedAt: now, CreatedAt: now, UpdatedAt: now}
	if c.Raw != nil {
		r := &rawPetition{p: p, content: c}
		if got, err = r.marshalResponse(); err != nil {
			t.Fatal(err)
		}
		got = append([]byte(nil), got...)
		r.release(true)
	}
	p.Title, p.Content, p.Requests = full.Title, full.Content, full.Requests
	if want, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	return got, want, c.Raw != nil
}

// rpRecord is a content record as the vault writes it.
func rpRecord(t *testing.T, title, content, requests string) []byte {
	b, err := json.Marshal(&vault.Content{Title: title, Content: content, Requests: requests, Subjects: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRawPetitionMatchesEncodingJSON: a read's spliced reply is byte for
// byte the reply encoding/json writes for the decoded record; records whose
// strings encoding/json would write otherwise are decoded instead.
func TestRawPetitionMatchesEncodingJSON(t *testing.T) {
	recs := [][]byte{
		rpRecord(t, "拖欠工资", "我们在三号工地干活，\n项目部已经拖欠我们三个月工资。", ""),
		rpRecord(t, `a "quoted" \ title`, "<script>&amp;</script>\u2028\u2029\t\r\x01\b\f", "请求\n"),
		rpRecord(t, `"title":"","content":"","requests":""`, "", ""),
		rpRecord(t, "\xff\xfe invalid", strings.Repeat("长信", 3000), "😀"),
		[]byte(`{"title":"\ufffd","content":"\/","requests":"\u0041"}`),
		[]byte(`{"title":"<","content":"a","requests":""}`),
	}
	spliced := 0
	for _, rec := range recs {
		got, want, raw := rpSplice(t, `group/"title":"","content":"","requests":""`, rec)
		if raw {
			spliced++
			if !bytes.Equal(got, want) {
				t.Errorf("spliced reply\n%.300s\nencoding/json\n%.300s", got, want)
			}
		}
	}
	if spliced != 3 {
		t.Errorf("%d of the records spliced, want the 3 whose strings encoding/json writes as they are", spliced)
	}
}

func FuzzRawPetition(f *testing.F) {
	f.Add("group/east", "拖欠工资", "正文\n<>&", "", false)
	f.Add(`"title":""`, `\"`, "\u2028", "\xff", false)
	f.Add("u", `\ufffd`, `\/`, `\u001f`, true)
	f.Fuzz(func(t *testing.T, unit, title, content, requests string, asJSON bool) {
		// The strings as texts the vault stores, or as the bodies of the
		// record's JSON strings.
		rec := rpRecord(t, title, content, requests)
		if asJSON {
			rec = []byte(`{"title":"` + title + `","content":"` + content + `","requests":"` + requests + `"}`)
		}
		if got, want, raw := rpSplice(t, unit, rec); raw && !bytes.Equal(got, want) {
			t.Fatalf("record %q: spliced reply\n%s\nencoding/json\n%s", rec, got, want)
		}
	})
}

// TestReadRepliesWithStoredText: a petition read through the API returns
// the text it was registered with, escapes and all.
func TestReadRepliesWithStoredText(t *testing.T) {
	h := newHarness(t)
	_, sup := h.user("sup1", "group/east", "supervisor")
	body := petitionBody("group/east")
	body["title"] = `工资 "拖欠" <紧急> & \ 反映`
	body["content"] = "第一段，\n第二段：<b>加粗</b> \"引号\" \\ 反斜杠。我们在三号工地干活，项目部已经拖欠我们三个月工资。"
	body["requests"] = "请求\n补发"
	id := h.petition(sup, body)["id"].(string)
	w := h.do("GET", "/api/v1/petitions/"+id, sup, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body, &got); err != nil {
		t.Fatalf("reply is not JSON: %v", err)
	}
	for _, k := range []string{"title", "content", "requests"} {
		if got[k] != body[k] {
			t.Errorf("%s = %q, want %q", k, got[k], body[k])
		}
	}
	if got["id"] != id || got["identity_masked"] != true {
		t.Errorf("reply %v", got)
	}
}

// TestRawPetitionRelease: after a written response the reply's buffer is
// zeroed and pooled; after a failed write (HTTP/2 may still be sending it)
// it is left alone.
func TestRawPetitionRelease(t *testing.T) {
	rec := rpRecord(t, "标题", "工资被拖欠了三个月。", "请求支付")
	for _, reuse := range []bool{true, false} {
		c, err := vault.DecodeContentRaw(rec)
		if err != nil || c.Raw == nil {
			t.Fatalf("DecodeContentRaw: %+v, %v", c, err)
		}
		r := &rawPetition{p: PetitionJSON{Subjects: []string{}, Duplicates: []vault.Duplicate{}}, content: c}
		b, err := r.marshalResponse()
		if err != nil {
			t.Fatal(err)
		}
		r.release(reuse)
		zeroed := !bytes.ContainsFunc(b, func(r rune) bool { return r != 0 })
		if zeroed != reuse {
			t.Errorf("release(%v): response zeroed %v", reuse, zeroed)
		}
		if reuse && !strings.Contains(string(rec), "工资") {
			t.Fatal("the record itself changed")
		}
	}
}
