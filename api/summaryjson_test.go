package api

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/vault"
)

// checkListReply compares listReply's bytes with encoding/json's.
func checkListReply(t *testing.T, items []SummaryJSON, next string) {
	t.Helper()
	want, wantErr := json.Marshal(gin.H{"items": items, "next_cursor": next})
	got, err := listReply{items: items, next: next}.marshalResponse()
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, encoding/json's %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("list reply\n got %s\nwant %s", got, want)
	}
}

func TestListReplyMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	utc := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	name := "李四"
	full := SummaryJSON{
		ID: "01JWNBG8M0TYP3S01YJY0M683C", Unit: "group/branch-a", Channel: "letter",
		Title:    "关于<项目>拖欠\"工资\"&安全\\问题\n\t\u2028\u2029\x00\x1f\x7f é \xff",
		Status:   "registered",
		Category: &vault.Category{Label: "wage_arrears", Confidence: 0.913, Source: "model", NeedsReview: true},
		Risk:     &vault.Risk{Level: "high", Score: 77, Reasons: []string{"threat of self-harm", "群体 <50>"}},
		Assignee: &name,
		Deadlines: vault.Deadlines{AcceptBy: &at, ResolveBy: &utc, ReviewRequestBy: &at, ReviewBy: &utc,
			ObjectionBy: &at},
		Overdue: true, ReceivedAt: at, Damaged: true,
	}
	checkListReply(t, nil, "")
	checkListReply(t, []SummaryJSON{}, "")
	checkListReply(t, []SummaryJSON{{}}, "")
	checkListReply(t, []SummaryJSON{full, {ID: "x", ReceivedAt: utc, Risk: &vault.Risk{Level: "low"}},
		{Category: &vault.Category{}, Risk: &vault.Risk{Reasons: []string{}}}}, "cursor<&>")
	for _, f := range []float64{0, 1, 0.5, 1e-7, -1e-7, 1e21, 123456789e15, 1e-6, 5e-324, math.MaxFloat64, -0.001} {
		checkListReply(t, []SummaryJSON{{Category: &vault.Category{Confidence: f}}}, "")
	}
	// Values encoding/json refuses are refused too.
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		checkListReply(t, []SummaryJSON{{Category: &vault.Category{Confidence: f}}}, "")
	}
	for _, off := range []int{24 * 3600, -24 * 3600, 24*3600 - 60, -(24*3600 - 60), 30 * 3600} {
		z := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", off))
		checkListReply(t, []SummaryJSON{{ReceivedAt: z}}, "")
	}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	checkListReply(t, []SummaryJSON{{ReceivedAt: far}}, "")
	checkListReply(t, []SummaryJSON{{Deadlines: vault.Deadlines{ResolveBy: &far}}}, "")
}

func FuzzListReply(f *testing.F) {
	f.Add("01JWNBG8M0TYP3S01YJY0M683C", "关于<项目>拖欠工资", "wage_arrears", "high", "threat", 0.913, 77, int64(1764200000123456789), true, "next")
	f.Add("\xff\u2028", "\x00\\\"", "", "", "", 1e-9, -1, int64(0), false, "")
	f.Fuzz(func(t *testing.T, id, title, label, level, reason string, conf float64, score int, nanos int64, flag bool, next string) {
		at := time.Unix(0, nanos).In(time.FixedZone("", int(nanos%(30*3600))))
		s := SummaryJSON{ID: id, Unit: reason, Channel: level, Title: title, Status: label,
			Category: &vault.Category{Label: label, Confidence: conf, Source: title, NeedsReview: flag},
			Risk:     &vault.Risk{Level: level, Score: score, Reasons: []string{reason, title}},
			Assignee: &title, Deadlines: vault.Deadlines{AcceptBy: &at}, Overdue: flag, ReceivedAt: at, Damaged: !flag}
		if flag {
			s.Category, s.Risk, s.Assignee = nil, &vault.Risk{}, nil
			s.Deadlines.ObjectionBy = &at
		}
		checkListReply(t, []SummaryJSON{s, {ID: next}}, next)
	})
}

// TestListReplyFields: appendSummary writes every field of these types; a
// field added to one of them must be added there too (this test then
// needs its count updated).
func TestListReplyFields(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want int
	}{{SummaryJSON{}, 12}, {vault.Category{}, 4}, {vault.Risk{}, 3}, {vault.Deadlines{}, 5}} {
		if n := reflect.TypeOf(tt.v).NumField(); n != tt.want {
			t.Errorf("%T has %d fields, appendSummary writes %d: encode the new ones", tt.v, n, tt.want)
		}
	}
}

func BenchmarkListReply(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	name := "李四"
	items := make([]SummaryJSON, 50)
	for i := range items {
		items[i] = SummaryJSON{ID: "01JWNBG8M0TYP3S01YJY0M683C", Unit: "group/branch-a", Channel: "letter",
			Title: "关于某项目拖欠农民工工资的信访", Status: "registered",
			Category: &vault.Category{Label: "wage_arrears", Confidence: 0.913, Source: "model"},
			Risk:     &vault.Risk{Level: "medium", Score: 41, Reasons: []string{"2nd petition on the same matter"}},
			Assignee: &name, Deadlines: vault.Deadlines{AcceptBy: &at}, ReceivedAt: at}
	}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			if _, err := (listReply{items: items, next: "x"}).marshalResponse(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(gin.H{"items": items, "next_cursor": "x"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
