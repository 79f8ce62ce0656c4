package api

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"pvault/vault"
)

// pjFields is every field appendPetitionJSON writes, by type: a field added
// to one of these types fails TestPetitionJSONFields until the encoder and
// pjFull write it too.
var pjFields = map[reflect.Type]int{
	reflect.TypeFor[PetitionJSON]():     23,
	reflect.TypeFor[vault.Petitioner](): 5,
	reflect.TypeFor[vault.Category]():   4,
	reflect.TypeFor[vault.Risk]():       3,
	reflect.TypeFor[vault.Duplicate]():  2,
	reflect.TypeFor[vault.Deadlines]():  5,
}

func TestPetitionJSONFields(t *testing.T) {
	for typ, n := range pjFields {
		if typ.NumField() != n {
			t.Errorf("%v has %d fields, appendPetitionJSON writes %d: update it, pjFull and pjFields", typ, typ.NumField(), n)
		}
	}
	// pjFull sets every field (the three text fields come from the record),
	// nested ones too.
	full := pjFull()
	for _, v := range []reflect.Value{reflect.ValueOf(full), reflect.ValueOf(*full.Petitioner), reflect.ValueOf(*full.Category),
		reflect.ValueOf(*full.Risk), reflect.ValueOf(full.Duplicates[0]), reflect.ValueOf(full.Deadlines)} {
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if v.Field(i).IsZero() && name != "Title" && name != "Content" && name != "Requests" && name != "Overdue" {
				t.Errorf("pjFull leaves %s.%s unset", v.Type().Name(), name)
			}
		}
	}
	// The encoder writes these as integers.
	for _, f := range []reflect.StructField{pjField[PetitionJSON]("GroupSize"), pjField[vault.Risk]("Score")} {
		if f.Type.Kind() != reflect.Int {
			t.Errorf("%s is %v, appendPetitionJSON writes an int", f.Name, f.Type)
		}
	}
}

func pjField[T any](name string) reflect.StructField {
	f, _ := reflect.TypeFor[T]().FieldByName(name)
	return f
}

// pjFull is a petition with every field set.
func pjFull() PetitionJSON {
	zone := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 11, 28, 9, 30, 0, 123456789, zone)
	// Every value distinct, so that two fields swapped show.
	d := func(days int) *time.Time { t := at.Add(time.Duration(days) * 24 * time.Hour); return &t }
	s := func(v string) *string { return &v }
	return PetitionJSON{
		ID: "01ABC", Unit: "group/east", Channel: "letter",
		Petitioner:     &vault.Petitioner{Name: "张*", IDNumber: "5101**********1234", Phone: "138****5678", Address: "四川省***", EmployeeNo: "***"},
		IdentityMasked: true, Subjects: []string{"李四", "<王五>"}, GroupSize: 3, Status: "accepted",
		Category:   &vault.Category{Label: "wage_arrears", Confidence: 0.9134, Source: "model", NeedsReview: true},
		Risk:       &vault.Risk{Level: "high", Score: 72, Reasons: []string{"扬言\u2028跳楼", "a & b"}},
		Duplicates: []vault.Duplicate{{ID: "01XYZ", Similarity: 0.87}, {ID: "01XZZ", Similarity: 1e-7}},
		Assignee:   s("officer1"),
		Deadlines:  vault.Deadlines{AcceptBy: d(15), ResolveBy: d(60), ReviewRequestBy: d(75), ReviewBy: d(90), ObjectionBy: d(5)},
		Overdue:    false, ReceivedAt: at, CreatedAt: at.UTC().Add(time.Minute), UpdatedAt: at.Add(time.Hour),
		RegisteredBy: s("reg1"), RepeatOfFinal: s("01OLD"), ReceiptCode: "ABCD-EFGH",
	}
}

// pjCompare encodes p with text from the record of title, content and
// requests both ways, and reports whether the fast path took it.
func pjCompare(t *testing.T, p PetitionJSON, title, content, requests string) bool {
	t.Helper()
	rec, err := json.Marshal(&vault.Content{Title: title, Content: content, Requests: requests, Subjects: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := vault.DecodeContentRaw(rec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Raw == nil {
		return false
	}
	got, ok := appendPetitionJSON(nil, &p, c.Raw)
	full := p
	full.Title, full.Content, full.Requests = title, content, requests
	want, werr := json.Marshal(full)
	if ok && (werr != nil || !bytes.Equal(got, want)) {
		t.Fatalf("appendPetitionJSON:\n%s\nencoding/json (%v):\n%s", got, werr, want)
	}
	return ok
}

func TestPetitionJSONMatches(t *testing.T) {
	full := pjFull()
	if !pjCompare(t, full, "标题 <b>", "内容\n\"引号\"", "") {
		t.Fatal("the full petition took encoding/json's path")
	}
	bare := PetitionJSON{ID: "x"} // nil pointers and slices, zero times
	if !pjCompare(t, bare, "", "", "") {
		t.Fatal("the bare petition took encoding/json's path")
	}
	invalid := full
	invalid.Status, invalid.Subjects = "bad \xff", []string{"\xfe\xff"}
	if !pjCompare(t, invalid, "", "", "") {
		t.Fatal("the petition with invalid UTF-8 took encoding/json's path")
	}
	flipped := full
	flipped.IdentityMasked, flipped.Overdue = false, true
	flipped.Category = &vault.Category{Label: "x", Confidence: 1, Source: "officer"}
	if !pjCompare(t, flipped, "", "", "") {
		t.Fatal("the flipped petition took encoding/json's path")
	}
	empty := full
	empty.Subjects, empty.Duplicates, empty.Risk = []string{}, []vault.Duplicate{}, &vault.Risk{Reasons: []string{}}
	empty.Category = &vault.Category{Confidence: 0}
	empty.Deadlines.ObjectionBy, empty.RepeatOfFinal, empty.ReceiptCode = nil, nil, ""
	if !pjCompare(t, empty, "t", "c", "r") {
		t.Fatal("the petition of empty lists took encoding/json's path")
	}
	// encoding/json's path: what the fast one does not write.
	for name, p := range map[string]PetitionJSON{
		"NaN":        func() PetitionJSON { p := full; p.Category = &vault.Category{Confidence: math.NaN()}; return p }(),
		"year 10000": func() PetitionJSON { p := full; p.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return p }(),
	} {
		if _, ok := appendPetitionJSON(nil, &p, &vault.RawText{Title: []byte(`""`), Content: []byte(`""`), Requests: []byte(`""`)}); ok {
			t.Errorf("%s: the fast path took it", name)
		}
	}
}

func FuzzPetitionJSON(f *testing.F) {
	f.Add("01ABC", "group/east", "张三<&>", 0.91, 1e-7, int64(1764300000), int64(3600), 3, "标题", "内容\u2028")
	f.Add("", "", "\x00\x1f\"\\", -0.0, 1e21, int64(-62135596800), int64(-5*3600-30), -1, "", "\xff")
	f.Fuzz(func(t *testing.T, id, unit, name string, conf, sim float64, unix, off int64, n int, title, content string) {
		p := pjFull()
		p.ID, p.Unit, p.Petitioner.Name, p.GroupSize = id, unit, name, n
		p.Category.Confidence, p.Duplicates[1].Similarity = conf, sim
		at := time.Unix(unix, int64(n)&0x3fffffff).In(time.FixedZone("z", int(off%(30*3600))))
		p.ReceivedAt, p.Deadlines.ReviewBy = at, &at
		p.Subjects = append(p.Subjects, name)
		pjCompare(t, p, title, content, name)
	})
}

func BenchmarkPetitionJSON(b *testing.B) {
	p := pjFull()
	raw := &vault.RawText{Title: []byte(`"标题"`), Content: []byte(`"` + string(bytes.Repeat([]byte("工资被拖欠。"), 200)) + `"`), Requests: []byte(`""`)}
	r := &rawPetition{p: p}
	r.p.Title, r.p.Content, r.p.Requests = "", "", ""
	b.Run("fast", func(b *testing.B) {
		buf := make([]byte, 0, 16<<10)
		for b.Loop() {
			if _, ok := appendPetitionJSON(buf[:0], &r.p, raw); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(r.p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
