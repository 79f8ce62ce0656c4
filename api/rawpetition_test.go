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

// rpSplice builds a petition reply the way a read does (the text as the
// record's JSON strings) and the way encoding/json writes it whole.
func rpSplice(t *testing.T, unit, title, content, requests string) (got, want []byte) {
	t.Helper()
	// The record's strings are as encoding/json writes them (vault tests
	// check that reads take them out of the record unchanged).
	var raw vault.RawText
	for _, f := range []struct {
		dst *[]byte
		s   string
	}{{&raw.Title, title}, {&raw.Content, content}, {&raw.Requests, requests}} {
		b, err := json.Marshal(f.s)
		if err != nil {
			t.Fatal(err)
		}
		*f.dst = b
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	p := PetitionJSON{ID: "p1", Unit: unit, Channel: "letter", Subjects: []string{"张三"}, Duplicates: []vault.Duplicate{},
		Status: "registered", ReceivedAt: now, CreatedAt: now, UpdatedAt: now}
	var err error
	if got, err = (rawPetition{p: p, raw: &raw}).marshalResponse(); err != nil {
		t.Fatal(err)
	}
	p.Title, p.Content, p.Requests = title, content, requests
	if want, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	return got, want
}

// TestRawPetitionMatchesEncodingJSON: a read's spliced reply is byte for
// byte what encoding/json writes for the decoded petition.
func TestRawPetitionMatchesEncodingJSON(t *testing.T) {
	for _, tt := range [][4]string{
		{"group/east", "拖欠工资", "我们在三号工地干活，\n项目部已经拖欠我们三个月工资。", ""},
		{"group/east", `a "quoted" \ title`, "<script>&amp;</script>\u2028\u2029\t\r\x01", "请求\n"},
		{`group/"title":"","content":"","requests":""`, `"title":"","content":"","requests":""`, "", ""},
		{"group/east", "\xff\xfe invalid", strings.Repeat("长信", 3000), "😀"},
	} {
		got, want := rpSplice(t, tt[0], tt[1], tt[2], tt[3])
		if !bytes.Equal(got, want) {
			t.Errorf("spliced reply\n%.300s\nencoding/json\n%.300s", got, want)
		}
	}
}

func FuzzRawPetition(f *testing.F) {
	f.Add("group/east", "拖欠工资", "正文\n<>&", "")
	f.Add(`"title":""`, `\"`, "\u2028", "\xff")
	f.Fuzz(func(t *testing.T, unit, title, content, requests string) {
		got, want := rpSplice(t, unit, title, content, requests)
		if !bytes.Equal(got, want) {
			t.Fatalf("spliced reply\n%s\nencoding/json\n%s", got, want)
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
