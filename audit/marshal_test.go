package audit

import (
	"bytes"
	"testing"
	"time"
)

// marshalCases are entries with every kind of field the fast encoder writes,
// and some it leaves to encoding/json.
func marshalCases() []*Entry {
	at := time.Date(2026, 11, 27, 8, 9, 10, 120000000, time.FixedZone("CST", 8*3600))
	return []*Entry{
		{},
		{Seq: 7, Time: at, RequestID: "r-1", Action: "petition.read", Decision: Allow, Status: 200, Prev: ZeroPrev,
			Actor:   &Actor{UserID: "u1", Username: "张三", Roles: []string{"officer", "supervisor"}, Unit: "group/east"},
			Object:  &Object{Type: "petition", ID: "01ABC"},
			Details: map[string]any{"client": "x<y>&z", "anonymous": true, "count": 3, "size": int64(-9), "ids": []string{"a", "b"}, "none": []string(nil)}},
		{Reason: "line\nbreak \"quoted\" \\ tab\t \b\f \x01\x1f \u2028\u2029 \x7f 日本", Actor: &Actor{}},
		// encoding/json's path: a float, a nested map, invalid UTF-8, a
		// year out of range.
		{Details: map[string]any{"f": 1.5}},
		{Details: map[string]any{"m": map[string]any{"k": "v"}}},
		{Reason: "bad \xff\xfe utf-8"},
		{Details: map[string]any{"k\xff": "v", "k\xfe": "w"}},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func TestMarshalFastMatchesReflect(t *testing.T) {
	fast := 0
	for i, e := range marshalCases() {
		want, werr := e.marshalReflect()
		got, gerr := e.Marshal()
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d: Marshal = %s, %v; encoding/json = %s, %v", i, got, gerr, want, werr)
		}
		if _, ok := appendCanonical(nil, e); ok {
			fast++
		}
	}
	if fast != 3 {
		t.Errorf("%d cases took the fast path, want 3", fast)
	}
}

func FuzzMarshalFast(f *testing.F) {
	f.Add(int64(1), int64(1764230400), "r-1", "alice", "officer", "group/east", "petition.read", "01ABC", "allow", 200, "", "client", "x<y>", true, 5)
	f.Add(int64(0), int64(-62135596800), "\u2028", "张三\x00", "", "", "", "", "", -1, "\xff", "", "\"\\", false, -7)
	f.Fuzz(func(t *testing.T, seq, unix int64, rid, user, role, unit, action, obj, decision string, status int, reason, dkey, dval string, flag bool, n int) {
		e := &Entry{Seq: seq, Time: time.Unix(unix, int64(n)&0x3fffffff), RequestID: rid, Action: action, Decision: decision, Status: status, Reason: reason, Prev: ZeroPrev,
			Details: map[string]any{dkey: dval, dkey + "b": flag, dkey + "n": n, dkey + "s": []string{dval, rid}}}
		if user != "" || role != "" {
			e.Actor = &Actor{UserID: rid, Username: user, Roles: []string{role}, Unit: unit}
		}
		if obj != "" {
			e.Object = &Object{Type: "petition", ID: obj}
		}
		want, werr := e.marshalReflect()
		got, gerr := e.Marshal()
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("Marshal = %s, %v; encoding/json = %s, %v", got, gerr, want, werr)
		}
		if werr == nil {
			if _, err := ParseEntry(got); err != nil {
				t.Fatalf("ParseEntry(Marshal) = %v for %s", err, got)
			}
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	e := marshalCases()[1]
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.marshalReflect(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
