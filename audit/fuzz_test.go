package audit

import (
	"testing"
	"time"

	"pvault/vault/store"
)

// FuzzAppendVerifies appends one entry whose free-text fields (an object id
// taken from a URL path, a stated reason, a detail taken from a form, an
// actor's name) hold arbitrary bytes. Either Append refuses it, or the log
// still verifies and the entry reads back: no request can leave an entry
// that makes the whole log fail verification. Helpers are prefixed hx.
func FuzzAppendVerifies(f *testing.F) {
	for _, s := range []string{"group/east", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "需要核实情况", "a\u2028b<script>&", "\x00", "\u202e",
		"\xff", "\xc0\xae\xc0\xae\xc0\xaf", "ab\xed\xa0\x80cd", "\ufffd", "\\u0000", `"}`} {
		f.Add(s)
	}
	clock := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		st := store.NewMem()
		l, err := Open(st, Options{Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		e := &Entry{RequestID: NewRequestID(), Action: "unit.update", Decision: Deny, Status: 403, Reason: s,
			Actor:   &Actor{UserID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Username: s, Roles: []string{"registrar"}, Unit: "group/east"},
			Object:  &Object{Type: "unit", ID: s},
			Details: map[string]any{"rating": s, "via": "web"}}
		rec, err := l.Append(e, nil)
		if err != nil {
			return // refusing the entry is fine
		}
		res, err := VerifyStore(st)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			t.Fatalf("after appending an entry holding %q the log fails verification: %s", s, res.Problem)
		}
		if es, _, err := l.Entries(Filter{RequestID: rec.RequestID, Limit: 1}); err != nil || len(es) != 1 {
			t.Fatalf("the entry holding %q does not read back: %v", s, err)
		}
	})
}
