package vault

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// Corruption (issue 10, item 4): bytes flipped in stored envelopes, events,
// metadata and index entries. Reads of the damaged petition fail cleanly,
// the other petitions still read, and Check reports exactly the damaged
// records. Helpers are prefixed hx.

// hxCorruptFixture is a vault with four petitions: 0 with identity, a note
// and a reply; 1 with identity; 2 anonymous; 3 with identity and a note.
type hxCorruptFixture struct {
	v     *Vault
	ids   []string
	codes []string // receipt codes
	admin *User
}

func hxCorruptSetup(tb testing.TB) *hxCorruptFixture {
	tb.Helper()
	f := &hxCorruptFixture{v: newTestVault(tb, newFakeClock())}
	admin, err := f.v.UserByName("admin")
	if err != nil {
		tb.Fatal(err)
	}
	f.admin = admin
	for i := range 4 {
		in := samplePetition()
		in.Title = fmt.Sprintf("关于拖欠工资的信访 %d", i)
		if i == 2 {
			in.Petitioner = nil
		}
		c, err := f.v.CreatePetition(in, admin, entry("petition.create"))
		if err != nil {
			tb.Fatal(err)
		}
		f.ids = append(f.ids, c.Meta.ID)
		f.codes = append(f.codes, c.ReceiptCode)
	}
	for _, id := range []string{f.ids[0], f.ids[3]} {
		if _, _, err := f.v.AddNote(id, "已电话联系项目部。", admin, entry("petition.note")); err != nil {
			tb.Fatal(err)
		}
	}
	for _, in := range []ActionInput{{Action: ActAccept}, {Action: ActReply, Text: "经核实，工资已于本月补发。"}} {
		if _, _, err := f.v.Act(f.ids[0], in, admin, entry("petition.action")); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// hxMutate replaces the value of key with fn(value) (deleting it when fn
// returns nil) and returns a function that puts the old value back.
func hxMutate(tb testing.TB, st store.Store, key []byte, fn func([]byte) []byte) func() {
	tb.Helper()
	var old []byte
	err := st.Update(func(tx store.Tx) error {
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		old = bytes.Clone(b)
		if nb := fn(bytes.Clone(b)); nb != nil {
			return tx.Set(key, nb)
		}
		return tx.Delete(key)
	})
	if err != nil {
		tb.Fatalf("mutate %q: %v", key, err)
	}
	return func() {
		tb.Helper()
		if err := st.Update(func(tx store.Tx) error { return tx.Set(key, old) }); err != nil {
			tb.Fatalf("restore %q: %v", key, err)
		}
	}
}

// hxRename moves the record at from to to (an index entry whose key is
// damaged) and returns the undo.
func hxRename(tb testing.TB, st store.Store, from, to []byte) func() {
	tb.Helper()
	move := func(a, b []byte) error {
		return st.Update(func(tx store.Tx) error {
			v, err := tx.Get(a)
			if err != nil {
				return err
			}
			if err := tx.Delete(a); err != nil {
				return err
			}
			return tx.Set(b, v)
		})
	}
	if err := move(from, to); err != nil {
		tb.Fatalf("rename %q: %v", from, err)
	}
	return func() {
		tb.Helper()
		if err := move(to, from); err != nil {
			tb.Fatalf("undo rename %q: %v", to, err)
		}
	}
}

// hxFlip flips the low bit of the byte at i (negative: from the end).
func hxFlip(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x01
		return b
	}
}

// hxDamage renders a damage for comparison.
func hxDamage(kind, id, part string) string { return kind + "/" + id + "/" + part }

func hxDamages(rep *CheckReport) []string {
	var out []string
	for _, d := range rep.Damaged {
		out = append(out, hxDamage(d.Kind, d.ID, d.Part))
	}
	slices.Sort(out)
	return out
}

// hxReadAll reads everything of a petition: its metadata, content,
// identity and events.
func hxReadAll(v *Vault, id string) error {
	m, err := v.Meta(id)
	if err != nil {
		return fmt.Errorf("meta: %w", err)
	}
	if _, err := v.OpenContent(id); err != nil {
		return fmt.Errorf("content: %w", err)
	}
	if _, err := v.OpenIdentity(m); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := v.Events(id); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

func hxAuditKey(seq int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("a/e/"), uint64(seq))
}

func TestCorruptionCheck(t *testing.T) {
	f := hxCorruptSetup(t)
	v, st := f.v, f.v.Store()
	rep, err := v.Check()
	if err != nil {
		t.Fatal(err)
	}
	if rep.DamageCount != 0 || rep.Petitions != 4 || !rep.Audit.OK {
		t.Fatalf("a fresh vault: %+v", rep)
	}
	p0, p1, p2, p3 := f.ids[0], f.ids[1], f.ids[2], f.ids[3]
	m1, err := v.Meta(p1)
	if err != nil {
		t.Fatal(err)
	}
	const fakeID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

	for _, tt := range []struct {
		name    string
		id      string // the damaged petition ("" when none)
		damage  func(t *testing.T) func()
		want    []string     // Check's damages
		read    func() error // a read of the damaged record, which must fail
		wantErr error        // what read's error wraps
	}{
		{
			name: "content envelope, payload byte", id: p1,
			damage: func(t *testing.T) func() { return hxMutate(t, st, contentKey(p1), hxFlip(-3)) },
			want:   []string{hxDamage("petition", p1, "content")},
			read:   func() error { _, err := v.OpenContent(p1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "content envelope, header byte", id: p1,
			damage: func(t *testing.T) func() { return hxMutate(t, st, contentKey(p1), hxFlip(40)) },
			want:   []string{hxDamage("petition", p1, "content")},
			read:   func() error { _, err := v.OpenContent(p1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "content envelope, truncated", id: p1,
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, contentKey(p1), func(b []byte) []byte { return b[:len(b)-17] })
			},
			want: []string{hxDamage("petition", p1, "content")},
			read: func() error { _, err := v.OpenContent(p1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "content envelope, missing", id: p1,
			damage: func(t *testing.T) func() { return hxMutate(t, st, contentKey(p1), func([]byte) []byte { return nil }) },
			want:   []string{hxDamage("petition", p1, "content")},
			read:   func() error { _, err := v.OpenContent(p1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "identity envelope, payload byte", id: p1,
			damage: func(t *testing.T) func() { return hxMutate(t, st, identityKey(p1), hxFlip(-1)) },
			want:   []string{hxDamage("petition", p1, "identity")},
			read:   func() error { _, err := v.OpenIdentity(m1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "identity envelope, stanza byte", id: p1,
			damage: func(t *testing.T) func() { return hxMutate(t, st, identityKey(p1), hxFlip(60)) },
			want:   []string{hxDamage("petition", p1, "identity")},
			read:   func() error { _, err := v.OpenIdentity(m1); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "event text sealed in an event", id: p0,
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, eventKey(p0, 0), func(b []byte) []byte {
					var ev Event
					if err := json.Unmarshal(b, &ev); err != nil || len(ev.Sealed) == 0 {
						t.Fatalf("event 0 of %s: %v, %d sealed bytes", p0, err, len(ev.Sealed))
					}
					ev.Sealed[len(ev.Sealed)-2] ^= 0x01
					return mustJSON(ev)
				})
			},
			want: []string{hxDamage("petition", p0, "event")},
			read: func() error { _, err := v.Events(p0); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "event record that does not parse", id: p3,
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, eventKey(p3, 0), func(b []byte) []byte { return b[:len(b)/2] })
			},
			want: []string{hxDamage("petition", p3, "event")},
			read: func() error { _, err := v.Events(p3); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "metadata that does not parse", id: p2,
			damage: func(t *testing.T) func() { return hxMutate(t, st, metaKey(p2), hxFlip(0)) },
			want:   []string{hxDamage("petition", p2, "meta")},
			read:   func() error { _, err := v.Meta(p2); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "metadata naming another id", id: p2,
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, metaKey(p2), func(b []byte) []byte { return bytes.Replace(b, []byte(p2), []byte(fakeID), 1) })
			},
			want: []string{hxDamage("petition", p2, "meta")},
		},
		{
			name: "index entry moved to another status", id: p1,
			damage: func(t *testing.T) func() {
				return hxRename(t, st, []byte("x/s/registered\x00"+p1), []byte("x/s/closed\x00"+p1))
			},
			want: []string{hxDamage("index", p1, "x/s"), hxDamage("index", p1, "x/s")},
		},
		{
			name: "index entry naming no petition", id: "",
			damage: func(t *testing.T) func() { return hxRename(t, st, []byte("x/all/"+p1), []byte("x/all/"+fakeID)) },
			want:   []string{hxDamage("index", fakeID, "x/all"), hxDamage("index", p1, "x/all")},
		},
		{
			name: "index entry missing", id: p3,
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, []byte("x/u/group/east\x00"+p3), func([]byte) []byte { return nil })
			},
			want: []string{hxDamage("index", p3, "x/u")},
		},
		{
			name: "unit index key with a flipped byte", id: p3,
			damage: func(t *testing.T) func() {
				return hxRename(t, st, []byte("x/u/group/east\x00"+p3), []byte("x/u/group/eavt\x00"+p3))
			},
			want: []string{hxDamage("index", p3, "x/u"), hxDamage("index", p3, "x/u")},
		},
		{
			name: "receipt-code index pointing elsewhere", id: p1,
			damage: func(t *testing.T) func() {
				h := v.hasher.Sum(HashReceipt, hxNormalized(t, f.codes[1]))
				return hxMutate(t, st, receiptKey(h), func([]byte) []byte { return []byte(fakeID) })
			},
			want: []string{hxDamage("index", fakeID, "rc")},
			read: func() error { _, err := v.PetitionByReceipt(f.codes[1]); return err }, wantErr: ErrNotFound,
		},
		{
			name: "user record", id: "",
			damage: func(t *testing.T) func() { return hxMutate(t, st, []byte("u/"+f.admin.ID), hxFlip(0)) },
			want:   []string{hxDamage("user", f.admin.ID, "")},
			read:   func() error { _, err := v.User(f.admin.ID); return err }, wantErr: ErrCorrupt,
		},
		{
			name: "audit entry edited", id: "",
			damage: func(t *testing.T) func() {
				return hxMutate(t, st, hxAuditKey(3), func(b []byte) []byte {
					return bytes.Replace(b, []byte(`"status":200`), []byte(`"status":201`), 1)
				})
			},
			want: []string{hxDamage("audit", "3", "")},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Titles are cached by the list before the damage.
			if _, _, err := v.List(v.Subject(f.admin), []string{policy.ScopeAll}, Query{Limit: 50}, func(*Meta) bool { return true }); err != nil {
				t.Fatal(err)
			}
			undo := tt.damage(t)
			defer func() {
				undo()
				if rep, err := v.Check(); err != nil || rep.DamageCount != 0 {
					t.Fatalf("after the undo: %v %+v", err, rep)
				}
			}()
			if tt.read != nil {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("reading the damaged record panicked: %v", p)
						}
					}()
					if err := tt.read(); !errors.Is(err, tt.wantErr) {
						t.Errorf("reading the damaged record: %v, want an error wrapping %v", err, tt.wantErr)
					}
				}()
			}
			for _, id := range f.ids {
				if id == tt.id {
					continue
				}
				if err := hxReadAll(v, id); err != nil {
					t.Errorf("petition %s beside the damage: %v", id, err)
				}
			}
			// Lists keep working and still hold every intact petition. A
			// title cached before the damage (by the list above) is still listed;
			// once the cache is gone, the damaged row is marked.
			contentDamage := strings.HasPrefix(tt.name, "content envelope")
			var items []ListItem
			for _, cached := range []bool{true, false} {
				if !cached {
					v.titles.reset()
				}
				var err error
				items, _, err = v.List(v.Subject(f.admin), []string{policy.ScopeAll}, Query{Limit: 50}, func(*Meta) bool { return true })
				if err != nil {
					t.Errorf("list beside the damage: %v", err)
				}
				for _, it := range items {
					intact := slices.Contains(f.ids, it.Meta.ID) && it.Meta.ID != tt.id
					if intact && it.Content == nil {
						t.Errorf("intact list row %s without content", it.Meta.ID)
					}
					if it.Meta.ID == tt.id && contentDamage {
						if cached && (it.Content == nil || it.Content.Title != fmt.Sprintf("关于拖欠工资的信访 %d", slices.Index(f.ids, tt.id))) {
							t.Errorf("damaged list row %s lost its cached title: %+v", it.Meta.ID, it.Content)
						}
						if !cached && it.Content != nil {
							t.Errorf("damaged list row %s with content", it.Meta.ID)
						}
					}
				}
			}
			listed := map[string]bool{}
			for _, it := range items {
				listed[it.Meta.ID] = true
			}
			for _, id := range f.ids {
				if id != tt.id && !listed[id] && !strings.HasPrefix(tt.name, "index") && !strings.HasPrefix(tt.name, "unit index") {
					t.Errorf("intact petition %s missing from the list", id)
				}
			}
			rep, err := v.Check()
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			want := slices.Sorted(slices.Values(tt.want))
			if got := hxDamages(rep); !slices.Equal(got, want) {
				t.Errorf("Check reports %q, want exactly %q (%+v)", got, want, rep.Damaged)
			}
			if rep.DamageCount != len(rep.Damaged) {
				t.Errorf("damage_count %d, %d listed", rep.DamageCount, len(rep.Damaged))
			}
			for _, d := range rep.Damaged {
				if d.Problem == "" || strings.ContainsAny(d.Problem, "\x00\ufffd") {
					t.Errorf("damage %+v: no clean problem text", d)
				}
			}
		})
	}

	t.Run("audit entry edited: VerifyStore names it", func(t *testing.T) {
		undo := hxMutate(t, st, hxAuditKey(5), func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"decision":"allow"`), []byte(`"decision":"deny"`), 1)
		})
		defer undo()
		res, err := audit.VerifyStore(st)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != 5 {
			t.Errorf("VerifyStore = %+v, want entry 5 reported", res)
		}
		rep, err := v.Check()
		if err != nil {
			t.Fatal(err)
		}
		if got := hxDamages(rep); !slices.Equal(got, []string{hxDamage("audit", "5", "")}) {
			t.Errorf("Check reports %q, want the audit entry 5", got)
		}
	})
}

func hxNormalized(tb testing.TB, code string) string {
	tb.Helper()
	n, ok := NormalizeReceiptCode(code)
	if !ok {
		tb.Fatalf("receipt code %q", code)
	}
	return n
}

// TestCorruptionEveryBit flips, one at a time, every bit of a sealed
// content envelope: each flip fails to open with ErrCorrupt (age
// authenticates the whole file), and none panics.
func TestCorruptionEveryBit(t *testing.T) {
	f := hxCorruptSetup(t)
	var ct []byte
	if err := f.v.Store().View(func(r store.Reader) error {
		var err error
		ct, err = r.Get(contentKey(f.ids[1]))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.open(ct); err != nil {
		t.Fatalf("the envelope does not open: %v", err)
	}
	opened := 0
	for i := range ct {
		for bit := range 8 {
			b := bytes.Clone(ct)
			b[i] ^= 1 << bit
			if _, err := f.v.open(b); err == nil {
				opened++
				if opened <= 5 {
					t.Errorf("byte %d bit %d flipped (%q → %q): the envelope still opens", i, bit, ct[i], b[i])
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("byte %d bit %d: %v does not wrap ErrCorrupt", i, bit, err)
			}
		}
	}
	if opened > 0 {
		t.Errorf("%d of %d single-bit flips of a %d-byte envelope went unnoticed", opened, 8*len(ct), len(ct))
	}
}
