package vault

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"pvault/vault/store"
)

// mcFull returns a Meta with every pointer and slice set.
func mcFull() *Meta {
	t := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	at := func(d int) *time.Time { x := t.AddDate(0, 0, d); return &x }
	yes := true
	return &Meta{ID: "p1", Unit: "group/a", Status: StatusRegistered, Subjects: []string{"s1", "s2"},
		Deadlines:  Deadlines{AcceptBy: at(1), ResolveBy: at(2), ReviewRequestBy: at(3), ReviewBy: at(4), ObjectionBy: at(5)},
		Category:   &Category{Label: "wage_arrears", Confidence: 0.9, Source: "model"},
		Risk:       &Risk{Level: "high", Score: 30, Reasons: []string{"group of 12"}},
		Duplicates: []Duplicate{{ID: "p0", Similarity: 0.8}},
		AcceptedAt: at(6), FirstReplyAt: at(7), InTime: &yes, ClosedAt: at(8),
		PetitionerKeys: []string{"k1"}}
}

// mcShared reports a pointer or slice reachable from both a and b at the
// same address.
func mcShared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return mcShared(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := 0; i < min(a.Len(), b.Len()); i++ {
			if p := mcShared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if p := mcShared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

// mcNil reports a nil pointer or slice in v (the fixture must set them all,
// so that a field added to Meta later is covered by clone's test).
func mcNil(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice:
		if v.IsNil() {
			return path
		}
		if v.Kind() == reflect.Pointer {
			return mcNil(v.Elem(), path)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return ""
		}
		for i := 0; i < v.NumField(); i++ {
			if p := mcNil(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestMetaCloneSharesNothing(t *testing.T) {
	m := mcFull()
	if p := mcNil(reflect.ValueOf(m), "Meta"); p != "" {
		t.Fatalf("the fixture leaves %s nil: set it, and copy it in clone", p)
	}
	c := m.clone()
	if !reflect.DeepEqual(m, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", m, c)
	}
	if p := mcShared(reflect.ValueOf(m), reflect.ValueOf(c), "Meta"); p != "" {
		t.Fatalf("clone shares %s with the original", p)
	}
}

func TestMetaCacheReturnsOwnedCopies(t *testing.T) {
	var c metaCache
	b, err := json.Marshal(mcFull())
	if err != nil {
		t.Fatal(err)
	}
	var want Meta
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	first, err := c.decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// The caller owns what it gets: changing it changes no later answer.
	first.Status = StatusClosed
	first.Risk.Reasons[0] = "changed"
	*first.Deadlines.AcceptBy = time.Time{}
	first.Subjects[0] = "changed"
	for range 2 {
		got, err := c.decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("decode = %+v, want %+v", got, &want)
		}
		got.Risk.Reasons[0] = "changed again"
	}
	// Other bytes are another record: never the cached one.
	next := want
	next.Status = StatusClosed
	b2, _ := json.Marshal(&next)
	got, err := c.decode(b2)
	if err != nil || got.Status != StatusClosed {
		t.Fatalf("decode of changed bytes = %v, %v; want status %s", got, err, StatusClosed)
	}
	if _, err := c.decode([]byte(`{"id":`)); err == nil {
		t.Fatal("malformed metadata decoded")
	}
}

func TestMetaCacheBounded(t *testing.T) {
	var c metaCache
	for i := range maxCachedMetas + 10 {
		m := Meta{ID: "p", Events: int64(i)}
		b, _ := json.Marshal(&m)
		if got, err := c.decode(b); err != nil || got.Events != int64(i) {
			t.Fatalf("decode %d = %v, %v", i, got, err)
		}
	}
	if n := len(c.m); n > maxCachedMetas {
		t.Fatalf("cache holds %d records, bound %d", n, maxCachedMetas)
	}
}

// FuzzLeadingTitle: the title read as content's first member is the title
// the full decoder reads from every Content the vault marshals, and no
// input makes it panic.
func FuzzLeadingTitle(f *testing.F) {
	f.Add("工资拖欠", "正文", []byte(`{"title":"x","content":"y"}`))
	f.Add("a\"b\\c\u2028", "", []byte(`{"content":"y","title":"x"}`))
	f.Add("\xff", "\x00", []byte(`{"title":1}`))
	f.Add("", "", []byte(`{"title":"unterminated`))
	f.Fuzz(func(t *testing.T, title, text string, raw []byte) {
		// Whatever it reads, encoding/json's tokens read the same.
		if got, ok := leadingTitle(raw); ok {
			if want, wok := tokenTitle(raw); !wok || got != want {
				t.Fatalf("leadingTitle(%q) = %q; the JSON tokens give %q, %v", raw, got, want, wok)
			}
		}
		b, err := json.Marshal(&Content{Title: title, Content: text, Requests: text, Subjects: []string{text}})
		if err != nil {
			t.Fatal(err)
		}
		var want Content
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := leadingTitle(b)
		if !ok || got != want.Title {
			t.Fatalf("leadingTitle = %q, %v; want %q", got, ok, want.Title)
		}
	})
}

// tokenTitle is the value of a JSON object's first member when that member
// is "title" and a string, read with encoding/json's tokens.
func tokenTitle(pt []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(pt))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	if t, err := dec.Token(); err != nil || t != "title" {
		return "", false
	}
	t, err := dec.Token()
	title, ok := t.(string)
	return title, ok && err == nil
}

// TestMetaStaysInTree: the largest metadata of a registered petition seen
// at a million petitions (ten duplicates, nine risk reasons, an identity)
// is shorter than store.DefaultValueThreshold, so badger keeps metadata,
// which every action rewrites, in the tree and not in the value log, where
// each rewrite would leave a stale copy (handling adds up to about 210
// bytes: see DefaultValueThreshold). Meta must encode the record
// unchanged: a field added to Meta means checking the threshold again.
func TestMetaStaysInTree(t *testing.T) {
	const largest = `{"id":"01M8FZ54CZ9Q3HMFHMSRE1V5DN","unit":"group/scale","channel":"phone","status":"registered","group_size":3,"subjects":null,"registered_by":"01M8FW8NMQ75J98C2YHYVX125H","registered_by_name":"admin","assignee":"","assignee_name":"","has_identity":true,"receipt_hash":"e3c894dcbffab467b6cec1986c9531bd","received_at":"2026-11-28T02:18:40.41523037Z","created_at":"2026-11-28T02:18:40.41523037Z","updated_at":"2026-11-28T02:18:40.41523037Z","deadlines":{"accept_by":"2026-12-13T02:18:40.41523037Z","resolve_by":null,"review_request_by":null,"review_by":null},"category":{"label":"quality","confidence":0.656,"source":"model"},"risk":{"level":"critical","score":100,"reasons":["threat of self-harm: 同归于尽","threat of violence: 同归于尽","threat of harm with 汽油","imminent collective petition: 集体上访 (a set day and hour)","group of 120","escalation to higher authorities: 国资委","threatens media exposure: 电视台","11th petition on the same matter","distress or urgency: 看病"]},"duplicates":[{"id":"01M8FZ3JFHXAHXD66CTGE2KBKV","similarity":0.5},{"id":"01M8FZ3D1CP31Z2ZVQ8WADV45N","similarity":0.484},{"id":"01M8FZ2WC9DARQZVMXB31MCW85","similarity":0.484},{"id":"01M8FZ0PB52YPR5VP3CM9X1435","similarity":0.484},{"id":"01M8FYX50RHZ6Z4NKE1ARMV02Q","similarity":0.484},{"id":"01M8FZ4KT5MZP7QF4WGYBX73QG","similarity":0.453},{"id":"01M8FZ3VP4FD15ZYCTE6RBRW4C","similarity":0.453},{"id":"01M8FZ38XDYWXPETAACRTXXPA4","similarity":0.453},{"id":"01M8FZ2TW8CN37SHWKD9FT8C32","similarity":0.453},{"id":"01M8FZ420Q7R4WEEG77Z2818SP","similarity":0.438}],"stage":0,"extended":false,"final":false,"events":1,"petitioner_keys":["6576203722cd24e3fe72fdaf8b5970d2","9c1be53af6c5221894164c1cdd49d4cb"]}`
	var m Meta
	if err := json.Unmarshal([]byte(largest), &m); err != nil {
		t.Fatal(err)
	}
	b := mustJSON(&m)
	if string(b) != largest {
		t.Fatalf("Meta no longer encodes the record as stored:\n%s\nwant\n%s", b, largest)
	}
	if len(b) >= store.DefaultValueThreshold {
		t.Errorf("metadata of %d bytes reaches the value threshold %d", len(b), store.DefaultValueThreshold)
	}
}
