package audit

import (
	"errors"
	"strings"
	"testing"

	"pvault/vault/store"
)

var testRIDKey = []byte("0123456789abcdef0123456789abcdef")

// freshEntry is an entry whose request came without an id: the handler
// made one, which the log may replace.
func freshEntry(i int) *Entry {
	e := testEntry(i)
	e.RequestID, e.FreshRequestID = NewRequestID(), true
	return e
}

func ridIndexed(t *testing.T, st store.Store, rid string) bool {
	t.Helper()
	var found bool
	err := st.View(func(r store.Reader) error {
		_, err := r.Get(ridKey(rid))
		found = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func findRID(t *testing.T, l *Log, f Filter) []int64 {
	t.Helper()
	got, _, err := l.Entries(f)
	if err != nil {
		t.Fatalf("Entries(%+v): %v", f, err)
	}
	var seqs []int64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

func TestRequestIDsNamed(t *testing.T) {
	st := store.NewMem()
	// Entries from before the log named ids: random fresh ids, indexed.
	l := openLog(t, st, Options{})
	old, err := l.Append(freshEntry(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ridIndexed(t, st, old.RequestID) {
		t.Fatal("without a key, a fresh request id is not indexed")
	}
	l.Close()

	l = openLog(t, st, Options{RequestIDKey: testRIDKey})
	var named []Entry
	for i := range 5 {
		in := freshEntry(i)
		made := in.RequestID
		e, err := l.Append(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.RequestID == made || !hexID.MatchString(e.RequestID) {
			t.Errorf("entry %d: request id %q, want 32 hex digits other than the handler's %q", e.Seq, e.RequestID, made)
		}
		if seq, ok := l.rids.seq(e.RequestID); !ok || seq != e.Seq {
			t.Errorf("entry %d: its request id names %d, %v", e.Seq, seq, ok)
		}
		if ridIndexed(t, st, e.RequestID) {
			t.Errorf("entry %d: a named request id has an index key", e.Seq)
		}
		named = append(named, e)
	}
	client, err := l.Append(testEntry(7), nil) // req-7, the client's
	if err != nil {
		t.Fatal(err)
	}
	if client.RequestID != "req-7" || !ridIndexed(t, st, "req-7") {
		t.Errorf("a client's request id %q: kept and indexed, want both", client.RequestID)
	}
	// A client sending an id the log made for another entry gets one of
	// its own.
	reuse := testEntry(8)
	reuse.RequestID = named[2].RequestID
	again, err := l.Append(reuse, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.RequestID == named[2].RequestID {
		t.Errorf("a named request id was given to a second entry")
	}

	for _, e := range append([]Entry{old, client, again}, named...) {
		if got := findRID(t, l, Filter{RequestID: e.RequestID}); len(got) != 1 || got[0] != e.Seq {
			t.Errorf("request_id=%s found %v, want [%d]", e.RequestID, got, e.Seq)
		}
		if got := findRID(t, l, Filter{RequestID: e.RequestID, Start: e.Seq + 1}); len(got) != 0 {
			t.Errorf("request_id=%s from %d found %v", e.RequestID, e.Seq+1, got)
		}
	}
	// Ids that decrypt to the seq of an entry holding another find nothing.
	rid := named[1].RequestID
	flip := "0"
	if rid[31] == '0' {
		flip = "1"
	}
	for _, forged := range []string{rid[:31] + flip, strings.ToUpper(rid), rid + "0", rid[:31], strings.Repeat("f", 32)} {
		if got := findRID(t, l, Filter{RequestID: forged}); len(got) != 0 {
			t.Errorf("request_id=%q found %v", forged, got)
		}
	}
	verifyOK(t, st, 8)

	// The same key after a restart finds them; another key does not
	// (Options.RequestIDKey must stay the vault's), while indexed ids
	// are found under any.
	l.Close()
	l = openLog(t, st, Options{RequestIDKey: testRIDKey})
	if got := findRID(t, l, Filter{RequestID: named[4].RequestID}); len(got) != 1 || got[0] != named[4].Seq {
		t.Errorf("after a restart, request_id=%s found %v", named[4].RequestID, got)
	}
	l.Close()
	// Without the key, or under another, the named ids could be neither
	// found nor kept unique: the log refuses to open.
	for _, key := range [][]byte{nil, []byte("another key, another 32 bytes!!!")} {
		if l, err := Open(st, Options{RequestIDKey: key}); !errors.Is(err, ErrRequestIDKey) {
			if err == nil {
				l.Close()
			}
			t.Errorf("Open with key %q: %v, want ErrRequestIDKey", key, err)
		}
	}
}

// TestRequestIDKeyCheckWrittenOnce: the key check is stored with the first
// commit that names an id, and a log that never named one opens without a
// key.
func TestRequestIDKeyCheckWrittenOnce(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{RequestIDKey: testRIDKey})
	l.Close()
	l = openLog(t, st, Options{}) // nothing named yet
	if _, err := l.Append(testEntry(1), nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, st, Options{RequestIDKey: testRIDKey})
	if _, err := l.Append(freshEntry(2), nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err := Open(st, Options{}); !errors.Is(err, ErrRequestIDKey) {
		if err == nil {
			l.Close()
		}
		t.Errorf("Open without the key after a named id: %v", err)
	}
}

// doubtStore writes every commit, then reports a failure for those made
// while fail is set, as a sync failing after the write would.
type doubtStore struct {
	*store.Mem
	fail bool
}

func (d *doubtStore) Update(fn func(store.Tx) error) error {
	if err := d.Mem.Update(fn); err != nil {
		return err
	}
	if d.fail {
		return errors.New("sync failed")
	}
	return nil
}

// TestRequestIDInDoubt: an entry whose commit is in doubt may be stored
// under the id the log named it with; the caller's entry carries that id,
// so that the response and the logs name what the log may hold.
func TestRequestIDInDoubt(t *testing.T) {
	for _, tt := range []struct {
		name  string
		key   []byte
		empty bool // the request came without an id and none was made (the API's way)
	}{
		{"named", testRIDKey, false},
		{"named, empty", testRIDKey, true},
		{"no key, empty", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &doubtStore{Mem: store.NewMem()}
			l := openLog(t, d, Options{RequestIDKey: tt.key})
			d.fail = true
			in := freshEntry(0)
			if tt.empty {
				in.RequestID = ""
			}
			made := in.RequestID
			if _, err := l.Append(in, nil); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Append in doubt: %v", err)
			}
			if in.RequestID == made || !ValidRequestID(in.RequestID) || in.FreshRequestID {
				t.Fatalf("entry in doubt: request id %q (fresh %v), want the one the log stored", in.RequestID, in.FreshRequestID)
			}
			l.Close()
			d.fail = false
			l = openLog(t, d, Options{RequestIDKey: tt.key})
			if got := findRID(t, l, Filter{RequestID: in.RequestID}); len(got) != 1 || got[0] != 0 {
				t.Errorf("the stored entry under %s: %v", in.RequestID, got)
			}
		})
	}
}

func TestRequestIDKeyRejected(t *testing.T) {
	if _, err := Open(store.NewMem(), Options{RequestIDKey: []byte("short")}); err == nil {
		t.Error("Open accepted a 5-byte request id key")
	}
}

func FuzzRequestIDNamer(f *testing.F) {
	n, err := newRIDNamer(testRIDKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("00112233445566778899aabbccddeeff", int64(0))
	f.Add("zz", int64(1<<62))
	f.Fuzz(func(t *testing.T, rid string, seq int64) {
		if s, ok := n.seq(rid); ok && (s < 0 || s > 1<<62) {
			t.Fatalf("seq(%q) = %d", rid, s)
		}
		if seq < 0 || seq > 1<<62 {
			return
		}
		name := n.name(seq)
		if got, ok := n.seq(name); !ok || got != seq || !hexID.MatchString(name) {
			t.Fatalf("name(%d) = %q, which names %d, %v", seq, name, got, ok)
		}
	})
}
