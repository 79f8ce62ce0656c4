package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// tGet reads key k or fails the test.
func tGet(tb testing.TB, tx getter, k []byte) []byte {
	tb.Helper()
	b, err := tx.Get(k)
	if err != nil {
		tb.Fatalf("get %q: %v", k, err)
	}
	return b
}

// tLine is the canonical line of entry seq, in either format.
func tLine(tb testing.TB, tx getter, seq int64) []byte {
	tb.Helper()
	line, err := entryLine(tGet(tb, tx, entryKey(seq)))
	if err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), line...)
}

// tSetLine replaces the line of entry seq, keeping the hashes stored with it.
func tSetLine(tb testing.TB, tx store.Tx, seq int64, line []byte) error {
	tb.Helper()
	v := tGet(tb, tx, entryKey(seq))
	_, interior, embedded, err := decodeEntryValue(v)
	if err != nil {
		tb.Fatal(err)
	}
	if !embedded {
		return tx.Set(entryKey(seq), line)
	}
	return tx.Set(entryKey(seq), append(append([]byte{embeddedHashes, byte(len(interior) / tlog.HashSize)}, interior...), line...))
}

// tFlipHash changes stored tree hash x where it is kept: in the entry that
// completed it, or under its hash key (the first format).
func tFlipHash(tb testing.TB, tx store.Tx, x int64) error {
	tb.Helper()
	level, n := tlog.SplitStoredHashIndex(x)
	seq := (n+1)<<level - 1
	v := append([]byte(nil), tGet(tb, tx, entryKey(seq))...)
	_, _, embedded, err := decodeEntryValue(v)
	if err != nil {
		tb.Fatal(err)
	}
	if !embedded {
		h := append([]byte(nil), tGet(tb, tx, hashKey(x))...)
		h[0] ^= 1
		return tx.Set(hashKey(x), h)
	}
	if level == 0 {
		tb.Fatalf("hash %d is a leaf hash, which the second format does not store", x)
	}
	v[2+(level-1)*tlog.HashSize] ^= 1
	return tx.Set(entryKey(seq), v)
}

// downgradeLog rewrites every entry of the log in st in the first format:
// its line alone, with each of its stored hashes under a hash key.
func downgradeLog(tb testing.TB, st store.Store) {
	tb.Helper()
	size := tHead(tb, st).Size
	if err := st.Update(func(tx store.Tx) error {
		hr := storedHashReader(tx)
		for seq := range size {
			line := tLine(tb, tx, seq)
			hashes, err := tlog.StoredHashes(seq, line, hr)
			if err != nil {
				return err
			}
			for j, h := range hashes {
				if err := tx.Set(hashKey(tlog.StoredHashIndex(0, seq)+int64(j)), h[:]); err != nil {
					return err
				}
			}
			if err := tx.Set(entryKey(seq), line); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// verifyBadAt fails the test unless VerifyStore finds st's log bad at seq.
func verifyBadAt(tb testing.TB, st store.Store, seq int64) {
	tb.Helper()
	res, err := VerifyStore(st)
	if err != nil {
		tb.Fatal(err)
	}
	if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != seq {
		tb.Errorf("VerifyStore = %+v, want a failure at %d", res, seq)
	}
}

func tHead(tb testing.TB, st store.Store) Head {
	tb.Helper()
	h, err := ReadHead(st)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// countPrefix counts the keys under prefix.
func countPrefix(tb testing.TB, st store.Store, prefix []byte) int {
	tb.Helper()
	n := 0
	if err := st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: prefix, KeysOnly: true}, func(_, _ []byte) error {
			n++
			return nil
		})
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestEntryValueRoundTrip(t *testing.T) {
	line := []byte(`{"seq":3}`)
	for k := range 4 {
		var interior []tlog.Hash
		for i := range k {
			interior = append(interior, tlog.RecordHash([]byte{byte(i)}))
		}
		v := encodeEntryValue(line, interior)
		got, raw, embedded, err := decodeEntryValue(v)
		if err != nil || !embedded || !bytes.Equal(got, line) || len(raw) != k*tlog.HashSize {
			t.Fatalf("k=%d: decode = %q, %d bytes, %v, %v", k, got, len(raw), embedded, err)
		}
		for i, h := range interior {
			if !bytes.Equal(raw[i*tlog.HashSize:(i+1)*tlog.HashSize], h[:]) {
				t.Errorf("k=%d: hash %d differs", k, i)
			}
		}
	}
	// A value of the first format is its line.
	got, raw, embedded, err := decodeEntryValue(line)
	if err != nil || embedded || raw != nil || !bytes.Equal(got, line) {
		t.Errorf("first format: %q, %v, %v, %v", got, raw, embedded, err)
	}
}

func TestEntryValueMalformed(t *testing.T) {
	for _, v := range [][]byte{
		nil,
		{},
		{embeddedHashes},
		{embeddedHashes, 1},
		append([]byte{embeddedHashes, 2}, make([]byte, tlog.HashSize+1)...),
	} {
		if _, _, _, err := decodeEntryValue(v); !errors.Is(err, errEntryValue) {
			t.Errorf("decodeEntryValue(%x) = %v, want errEntryValue", v, err)
		}
	}
}

func FuzzDecodeEntryValue(f *testing.F) {
	f.Add([]byte(`{"seq":0}`))
	f.Add(encodeEntryValue([]byte(`{"seq":1}`), []tlog.Hash{{1}}))
	f.Add([]byte{embeddedHashes, 3, 1, 2})
	f.Fuzz(func(t *testing.T, v []byte) {
		line, interior, embedded, err := decodeEntryValue(v)
		if err != nil {
			return
		}
		if !embedded {
			if !bytes.Equal(line, v) {
				t.Fatalf("first format: line %q of %q", line, v)
			}
			return
		}
		if len(interior)%tlog.HashSize != 0 {
			t.Fatalf("interior of %d bytes", len(interior))
		}
		hashes := make([]tlog.Hash, len(interior)/tlog.HashSize)
		for i := range hashes {
			copy(hashes[i][:], interior[i*tlog.HashSize:])
		}
		if again := encodeEntryValue(line, hashes); !bytes.Equal(again, v) {
			t.Fatalf("re-encoded %x, want %x", again, v)
		}
	})
}

// TestNoHashKeys: a new log stores its tree hashes with its entries, each
// entry with the interior hashes it completes.
func TestNoHashKeys(t *testing.T) {
	st := tamperLog(t, 37)
	if n := countPrefix(t, st, prefixHash); n != 0 {
		t.Errorf("%d hash keys, want none", n)
	}
	if err := st.View(func(r store.Reader) error {
		for seq := range int64(37) {
			_, interior, embedded, err := decodeEntryValue(tGet(t, r, entryKey(seq)))
			if err != nil || !embedded || len(interior) != interiorCount(seq)*tlog.HashSize {
				t.Errorf("entry %d: %d interior bytes, embedded %v, %v; want %d hashes", seq, len(interior), embedded, err, interiorCount(seq))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestMixedFormats: a log written in the first format is read, proved and
// verified as before, and entries appended to it use the second format;
// roots and proofs match an independent RFC 6962 implementation.
func TestMixedFormats(t *testing.T) {
	st := store.NewMem()
	l := tlOpen(t, st, Options{})
	tlAppend(t, l, "old", 21)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	downgradeLog(t, st)
	if n := countPrefix(t, st, prefixHash); n != int(tlog.StoredHashCount(21)) {
		t.Fatalf("%d hash keys after the downgrade, want %d", n, tlog.StoredHashCount(21))
	}
	verifyOK(t, st, 21)

	l = tlOpen(t, st, Options{})
	if !l.Healthy() {
		t.Fatalf("reopened log unhealthy: %s", l.Broken())
	}
	tlAppend(t, l, "new", 30)
	const size = 51
	verifyOK(t, st, size)
	if n := countPrefix(t, st, prefixHash); n != int(tlog.StoredHashCount(21)) {
		t.Errorf("%d hash keys after appending, want the first format's %d", n, tlog.StoredHashCount(21))
	}
	var leaves [][]byte
	if err := st.View(func(r store.Reader) error {
		for seq := range int64(size) {
			leaves = append(leaves, tLine(t, r, seq))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hasher := rfc6962.DefaultHasher
	for _, sz := range []int64{1, 20, 21, 22, 32, 51} {
		root, err := l.RootAt(sz)
		if err != nil {
			t.Fatal(err)
		}
		var tr Tree
		for _, b := range leaves[:sz] {
			tr.Add(LeafHash(b))
		}
		if root != tr.Root() {
			t.Errorf("RootAt(%d) differs from the tree of the lines", sz)
		}
		for _, idx := range []int64{0, sz / 2, sz - 1} {
			p, err := l.ProveInclusion(idx, sz)
			if err != nil {
				t.Fatal(err)
			}
			var hs [][]byte
			for _, h := range p.Hashes {
				hs = append(hs, h[:])
			}
			if err := proof.VerifyInclusion(hasher, uint64(idx), uint64(sz), hasher.HashLeaf(leaves[idx]), hs, root[:]); err != nil {
				t.Errorf("inclusion of %d in %d: %v", idx, sz, err)
			}
		}
	}
	for _, pair := range [][2]int64{{5, 21}, {21, 22}, {20, 51}, {21, 51}} {
		p, err := l.ProveConsistency(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		r1, _ := l.RootAt(pair[0])
		r2, _ := l.RootAt(pair[1])
		var hs [][]byte
		for _, h := range p.Hashes {
			hs = append(hs, h[:])
		}
		if err := proof.VerifyConsistency(hasher, uint64(pair[0]), uint64(pair[1]), hs, r1[:], r2[:]); err != nil {
			t.Errorf("consistency %v: %v", pair, err)
		}
	}
	// Reopening checks the tail after the latest checkpoint across the
	// formats.
	if _, err := l.Sign(); err != nil {
		t.Fatal(err)
	}
	tlAppend(t, l, "tail", 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = tlOpen(t, st, Options{})
	if !l.Healthy() {
		t.Fatalf("reopened log unhealthy: %s", l.Broken())
	}
}

// TestReadStoredHashErrors: a hash whose entry is gone, or whose entry
// holds too few hashes, is an error, not a zero hash.
func TestReadStoredHashErrors(t *testing.T) {
	st := tamperLog(t, 8)
	if err := st.Update(func(tx store.Tx) error {
		// Entry 7 completes levels 1–3; keep only one of them.
		v := tGet(t, tx, entryKey(7))
		line, _, _, _ := decodeEntryValue(v)
		return tx.Set(entryKey(7), encodeEntryValue(line, []tlog.Hash{{}}))
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.View(func(r store.Reader) error {
		if _, err := readStoredHash(r, tlog.StoredHashIndex(1, 3)); err != nil {
			t.Errorf("level 1 of entry 7: %v", err)
		}
		for _, x := range []int64{tlog.StoredHashIndex(2, 1), tlog.StoredHashIndex(3, 0), tlog.StoredHashIndex(0, 9)} {
			if _, err := readStoredHash(r, x); err == nil {
				t.Errorf("readStoredHash(%d) succeeded", x)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	verifyBadAt(t, st, 7)
}

// BenchmarkVerifyStore10k verifies a log of 10,000 entries kept in memory,
// in each format.
func BenchmarkVerifyStore10k(b *testing.B) {
	for _, first := range []bool{false, true} {
		name := "second-format"
		if first {
			name = "first-format"
		}
		b.Run(name, func(b *testing.B) {
			st := tamperLog(b, 10000)
			if first {
				downgradeLog(b, st)
			}
			for b.Loop() {
				if res, err := VerifyStore(st); err != nil || !res.OK {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// TestFormatNeverGoesBack: an entry rewritten in the first format after
// entries of the second, its hash keys forged, is refused by the startup
// check of the tail and by VerifyStore.
func TestFormatNeverGoesBack(t *testing.T) {
	st := store.NewMem()
	opts := Options{}
	opts.Signer, opts.VerifierKey = tlSigner(t)
	l := tlOpen(t, st, opts)
	tlAppend(t, l, "a", 4)
	if _, err := l.Sign(); err != nil {
		t.Fatal(err)
	}
	tlAppend(t, l, "b", 4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error {
		line := tLine(t, tx, 7)
		leaf := LeafHash(line)
		if err := tx.Set(hashKey(tlog.StoredHashIndex(0, 7)), leaf[:]); err != nil {
			return err
		}
		for level := 1; level <= 3; level++ {
			forged := tlog.Hash{byte(level)}
			if err := tx.Set(hashKey(tlog.StoredHashIndex(level, 7>>level)), forged[:]); err != nil {
				return err
			}
		}
		return tx.Set(entryKey(7), line)
	}); err != nil {
		t.Fatal(err)
	}
	verifyBadAt(t, st, 7)
	l = tlOpen(t, st, opts)
	if l.Healthy() || !strings.Contains(l.Broken(), "entry 7") {
		t.Errorf("reopened log healthy %v, broken %q; want entry 7 refused", l.Healthy(), l.Broken())
	}
	if _, err := l.Sign(); err == nil {
		t.Error("signed a checkpoint over a forged tree")
	}
}

// TestListPageEntryGoesToValueLog: the entry of a list page of 50 (the
// API's default limit), with the shortest fields a real one has, is at
// least store.DefaultValueThreshold long, so badger keeps it in the value
// log rather than copying it through every level of the tree; the entry of
// a read stays in the tree.
func TestListPageEntryGoesToValueLog(t *testing.T) {
	ids := make([]any, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("01M8FZEVC15REHQ7FXE67D%04d", i) // 26 characters, as petition ids
	}
	actor := &Actor{UserID: "01M8FZH3D451ARDHRBABG520XJ", Username: "abc", Roles: []string{"officer"}, Unit: "g"}
	list := Entry{Seq: 2, Time: time.Date(2026, 11, 28, 2, 25, 12, 0, time.UTC), RequestID: "r", Actor: actor,
		Action: "petition.list", Decision: "allow", Status: 200,
		Details: map[string]any{"client": strings.Repeat("f", 32), "ids": ids}, Prev: EncodeHash(tlog.Hash{})}
	line, err := list.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(encodeEntryValue(line, nil)); n < store.DefaultValueThreshold {
		t.Errorf("a list page's entry is %d bytes, under the value threshold %d: it would stay in the tree", n, store.DefaultValueThreshold)
	}
	read := list
	read.Action, read.Object = "petition.read", &Object{Type: "petition", ID: "01M8FZEVC15REHQ7FXE67D0000"}
	read.Details = map[string]any{"client": strings.Repeat("f", 32)}
	line, err = read.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(encodeEntryValue(line, make([]tlog.Hash, 20))); n >= store.DefaultValueThreshold {
		t.Errorf("a read's entry is %d bytes, over the value threshold %d", n, store.DefaultValueThreshold)
	}
}
