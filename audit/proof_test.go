package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// tlOpen opens a Log over st signing with the fixed test key and closes it
// at the end of the test. CheckpointInterval defaults to an hour so that
// only explicit Sign calls make checkpoints.
func tlOpen(tb testing.TB, st store.Store, opts Options) *Log {
	tb.Helper()
	if opts.Signer == nil {
		opts.Signer, opts.VerifierKey = tlSigner(tb)
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = time.Hour
	}
	l, err := Open(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// tlAppend appends n entries with request ids prefix-0, prefix-1, …
func tlAppend(tb testing.TB, l *Log, prefix string, n int) {
	tb.Helper()
	for range n {
		i := l.Head().Size
		if _, err := l.Append(&Entry{RequestID: fmt.Sprintf("%s-%d", prefix, i), Action: "petition.read", Decision: Allow, Status: 200,
			Object: &Object{Type: "petition", ID: fmt.Sprintf("p%d", i)}}, nil); err != nil {
			tb.Fatalf("Append: %v", err)
		}
	}
}

// tlExport returns the whole export of l.
func tlExport(tb testing.TB, l *Log) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := l.Export(&buf, 0, 0); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tlMerkleRoots returns the transparency-dev roots of the first n lines for
// every n from 0 to len(lines), and the leaf hashes.
func tlMerkleRoots(tb testing.TB, lines [][]byte) (roots, leaves [][]byte) {
	tb.Helper()
	for i := 0; i <= len(lines); i++ {
		roots = append(roots, tlMerkleRoot(tb, lines[:i]))
	}
	for _, line := range lines {
		leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(line))
	}
	return roots, leaves
}

func tlBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}

func tlHash(tb testing.TB, b []byte) tlog.Hash {
	tb.Helper()
	if len(b) != tlog.HashSize {
		tb.Fatalf("hash of %d bytes", len(b))
	}
	return tlog.Hash(b)
}

const tlProofLogSize = 40

func TestRootsMatchMerkle(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	tlAppend(t, l, "r", tlProofLogSize)
	lines := tlLines(t, tlExport(t, l))
	roots, leaves := tlMerkleRoots(t, lines)
	for n := int64(0); n <= tlProofLogSize; n++ {
		got, err := l.RootAt(n)
		if err != nil {
			t.Fatalf("RootAt(%d): %v", n, err)
		}
		if !bytes.Equal(got[:], roots[n]) {
			t.Errorf("RootAt(%d) = %x, merkle root %x", n, got, roots[n])
		}
	}
	for _, n := range []int64{-1, tlProofLogSize + 1} {
		if _, err := l.RootAt(n); !errors.Is(err, ErrRange) {
			t.Errorf("RootAt(%d) error = %v, want ErrRange", n, err)
		}
	}
	// Leaf hashes are RFC 6962 leaf hashes of the exported lines, and each
	// entry's prev is the leaf hash of the one before.
	for i, line := range lines {
		if h := LeafHash(line); !bytes.Equal(h[:], leaves[i]) {
			t.Errorf("LeafHash(line %d) = %x, merkle %x", i, h, leaves[i])
		}
		e, err := ParseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		want := ZeroPrev
		if i > 0 {
			want = EncodeHash(tlHash(t, leaves[i-1]))
		}
		if e.Prev != want {
			t.Errorf("entry %d prev = %s, want %s", i, e.Prev, want)
		}
	}
	// The recorded head and VerifyStore agree.
	res, err := l.Verify()
	if err != nil || !res.OK || res.Size != tlProofLogSize || res.Root != EncodeHash(tlHash(t, roots[tlProofLogSize])) {
		t.Errorf("Verify = %+v, %v", res, err)
	}
}

func TestInclusionProofs(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	tlAppend(t, l, "i", tlProofLogSize)
	lines := tlLines(t, tlExport(t, l))
	roots, leaves := tlMerkleRoots(t, lines)
	for size := int64(1); size <= tlProofLogSize; size++ {
		for index := int64(0); index < size; index++ {
			p, err := l.ProveInclusion(index, size)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", index, size, err)
			}
			if p.Index != index || p.Size != size || p.LeafHash != EncodeHash(tlHash(t, leaves[index])) {
				t.Fatalf("ProveInclusion(%d, %d) = %+v", index, size, p)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(size), leaves[index], tlBytes(p.Hashes), roots[size]); err != nil {
				t.Errorf("merkle VerifyInclusion(%d, %d): %v", index, size, err)
			}
			if err := tlog.CheckRecord(p.Hashes, size, tlHash(t, roots[size]), index, tlHash(t, leaves[index])); err != nil {
				t.Errorf("tlog.CheckRecord(%d, %d): %v", index, size, err)
			}
		}
	}
}

func TestConsistencyProofs(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	tlAppend(t, l, "c", tlProofLogSize)
	roots, _ := tlMerkleRoots(t, tlLines(t, tlExport(t, l)))
	for old := int64(1); old <= tlProofLogSize; old++ {
		for nw := old; nw <= tlProofLogSize; nw++ {
			p, err := l.ProveConsistency(old, nw)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", old, nw, err)
			}
			if p.Old != old || p.New != nw {
				t.Fatalf("ProveConsistency(%d, %d) = %+v", old, nw, p)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(nw), tlBytes(p.Hashes), roots[old], roots[nw]); err != nil {
				t.Errorf("merkle VerifyConsistency(%d, %d): %v", old, nw, err)
			}
			if err := tlog.CheckTree(p.Hashes, nw, tlHash(t, roots[nw]), old, tlHash(t, roots[old])); err != nil {
				t.Errorf("tlog.CheckTree(%d, %d): %v", old, nw, err)
			}
		}
	}
}

func TestProofJSON(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	tlAppend(t, l, "j", 5)
	ip, err := l.ProveInclusion(2, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ip)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	hashes, _ := m["hashes"].([]any)
	if m["index"] != 2.0 || m["size"] != 5.0 || m["leaf_hash"] != ip.LeafHash || len(hashes) != len(ip.Hashes) {
		t.Fatalf("inclusion proof JSON = %s", b)
	}
	for i, h := range hashes {
		if h != EncodeHash(ip.Hashes[i]) {
			t.Errorf("hashes[%d] = %v, want base64 %s", i, h, EncodeHash(ip.Hashes[i]))
		}
	}
	// A one-leaf tree and equal sizes give empty proofs that encode as [].
	one, err := l.ProveInclusion(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	same, err := l.ProveConsistency(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{one, same} {
		b, _ := json.Marshal(v)
		if !strings.Contains(string(b), `"hashes":[]`) {
			t.Errorf("empty proof JSON = %s, want \"hashes\":[]", b)
		}
	}
}

// tlFlip returns a copy of hs with one bit of hash i flipped.
func tlFlip(hs [][]byte, i, bit int) [][]byte {
	out := make([][]byte, len(hs))
	for j := range hs {
		out[j] = append([]byte(nil), hs[j]...)
	}
	out[i][bit/8] ^= 1 << (bit % 8)
	return out
}

func TestCorruptedProofsFail(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	tlAppend(t, l, "x", 21)
	roots, leaves := tlMerkleRoots(t, tlLines(t, tlExport(t, l)))

	const index, size = 5, 13
	ip, err := l.ProveInclusion(index, size)
	if err != nil {
		t.Fatal(err)
	}
	good := tlBytes(ip.Hashes)
	if len(good) < 3 {
		t.Fatalf("proof too short for the test: %d hashes", len(good))
	}
	type incl struct {
		name        string
		index, size uint64
		leaf        []byte
		hashes      [][]byte
		root        []byte
	}
	cases := []incl{
		{"wrong index", index + 1, size, leaves[index], good, roots[size]},
		{"index-1", index - 1, size, leaves[index], good, roots[size]},
		{"wrong size and its root", index, size + 1, leaves[index], good, roots[size+1]},
		{"smaller size", index, size - 1, leaves[index], good, roots[size-1]},
		{"size 0", index, 0, leaves[index], good, roots[size]},
		{"index = size", size, size, leaves[index], good, roots[size]},
		{"index > size", size + 3, size, leaves[index], good, roots[size]},
		{"wrong leaf", index, size, leaves[index+1], good, roots[size]},
		{"wrong root", index, size, leaves[index], good, roots[size-1]},
		{"truncated", index, size, leaves[index], good[:len(good)-1], roots[size]},
		{"first hash dropped", index, size, leaves[index], good[1:], roots[size]},
		{"empty proof", index, size, leaves[index], nil, roots[size]},
		{"extra hash", index, size, leaves[index], append(append([][]byte(nil), good...), leaves[0]), roots[size]},
		{"extra copy of the last hash", index, size, leaves[index], append(append([][]byte(nil), good...), good[len(good)-1]), roots[size]},
		{"two hashes swapped", index, size, leaves[index], append([][]byte{good[1], good[0]}, good[2:]...), roots[size]},
		{"short hash", index, size, leaves[index], append([][]byte{good[0][:31]}, good[1:]...), roots[size]},
	}
	for i := range good {
		for _, bit := range []int{0, 7, 128, 255} {
			cases = append(cases, incl{fmt.Sprintf("bit %d of hash %d flipped", bit, i), index, size, leaves[index], tlFlip(good, i, bit), roots[size]})
		}
	}
	for _, tt := range cases {
		t.Run("inclusion/"+tt.name, func(t *testing.T) {
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, tt.index, tt.size, tt.leaf, tt.hashes, tt.root); err == nil {
				t.Error("merkle VerifyInclusion accepted a corrupted proof")
			}
			if !tlAllHashes(tt.hashes) || len(tt.root) != tlog.HashSize || len(tt.leaf) != tlog.HashSize {
				return
			}
			if err := tlog.CheckRecord(tlHashes(tt.hashes), int64(tt.size), tlog.Hash(tt.root), int64(tt.index), tlog.Hash(tt.leaf)); err == nil {
				t.Error("tlog.CheckRecord accepted a corrupted proof")
			}
		})
	}

	const old, nw = 6, 19
	cp, err := l.ProveConsistency(old, nw)
	if err != nil {
		t.Fatal(err)
	}
	goodC := tlBytes(cp.Hashes)
	if len(goodC) < 3 {
		t.Fatalf("consistency proof too short for the test: %d hashes", len(goodC))
	}
	type cons struct {
		name      string
		old, new  uint64
		hashes    [][]byte
		r1, r2    []byte
		skipMerke bool
	}
	ccases := []cons{
		{name: "wrong old size", old: old + 1, new: nw, hashes: goodC, r1: roots[old+1], r2: roots[nw]},
		{name: "wrong new size", old: old, new: nw + 1, hashes: goodC, r1: roots[old], r2: roots[nw+1]},
		{name: "wrong old root", old: old, new: nw, hashes: goodC, r1: roots[old-1], r2: roots[nw]},
		{name: "wrong new root", old: old, new: nw, hashes: goodC, r1: roots[old], r2: roots[nw-1]},
		{name: "roots swapped", old: old, new: nw, hashes: goodC, r1: roots[nw], r2: roots[old]},
		{name: "old size 0", old: 0, new: nw, hashes: goodC, r1: roots[0], r2: roots[nw]},
		{name: "old > new", old: nw, new: old, hashes: goodC, r1: roots[nw], r2: roots[old]},
		{name: "truncated", old: old, new: nw, hashes: goodC[:len(goodC)-1], r1: roots[old], r2: roots[nw]},
		{name: "first hash dropped", old: old, new: nw, hashes: goodC[1:], r1: roots[old], r2: roots[nw]},
		{name: "empty proof", old: old, new: nw, hashes: nil, r1: roots[old], r2: roots[nw]},
		{name: "extra hash", old: old, new: nw, hashes: append(append([][]byte(nil), goodC...), leaves[0]), r1: roots[old], r2: roots[nw]},
		{name: "two hashes swapped", old: old, new: nw, hashes: append([][]byte{goodC[1], goodC[0]}, goodC[2:]...), r1: roots[old], r2: roots[nw]},
		{name: "same size, different roots", old: nw, new: nw, hashes: nil, r1: roots[nw-1], r2: roots[nw]},
		{name: "same size, non-empty proof", old: nw, new: nw, hashes: goodC[:1], r1: roots[nw], r2: roots[nw]},
	}
	for i := range goodC {
		for _, bit := range []int{0, 100, 255} {
			ccases = append(ccases, cons{name: fmt.Sprintf("bit %d of hash %d flipped", bit, i), old: old, new: nw, hashes: tlFlip(goodC, i, bit), r1: roots[old], r2: roots[nw]})
		}
	}
	for _, tt := range ccases {
		t.Run("consistency/"+tt.name, func(t *testing.T) {
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, tt.old, tt.new, tt.hashes, tt.r1, tt.r2); err == nil {
				t.Error("merkle VerifyConsistency accepted a corrupted proof")
			}
			if err := tlog.CheckTree(tlHashes(tt.hashes), int64(tt.new), tlog.Hash(tt.r2), int64(tt.old), tlog.Hash(tt.r1)); err == nil {
				t.Error("tlog.CheckTree accepted a corrupted proof")
			}
		})
	}

	// The log refuses to prove anything outside 0 ≤ index < size ≤ head.
	for _, tt := range []struct {
		name        string
		index, size int64
	}{
		{"size 0", 0, 0},
		{"index = size", 13, 13},
		{"index > size", 14, 13},
		{"negative index", -1, 13},
		{"negative size", 0, -1},
		{"size beyond the log", 0, 22},
		{"index beyond the log", 21, 21 + 1},
	} {
		t.Run("ProveInclusion/"+tt.name, func(t *testing.T) {
			p, err := l.ProveInclusion(tt.index, tt.size)
			if !errors.Is(err, ErrRange) || p != nil {
				t.Errorf("ProveInclusion(%d, %d) = %+v, %v; want ErrRange", tt.index, tt.size, p, err)
			}
		})
	}
	for _, tt := range []struct {
		name     string
		old, new int64
	}{
		{"old 0", 0, 5},
		{"both 0", 0, 0},
		{"old > new", 6, 5},
		{"negative", -1, 5},
		{"new beyond the log", 5, 22},
	} {
		t.Run("ProveConsistency/"+tt.name, func(t *testing.T) {
			p, err := l.ProveConsistency(tt.old, tt.new)
			if !errors.Is(err, ErrRange) || p != nil {
				t.Errorf("ProveConsistency(%d, %d) = %+v, %v; want ErrRange", tt.old, tt.new, p, err)
			}
		})
	}
	// An empty log proves nothing.
	empty := tlOpen(t, store.NewMem(), Options{})
	if _, err := empty.ProveInclusion(0, 1); !errors.Is(err, ErrRange) {
		t.Errorf("empty log ProveInclusion(0, 1): %v", err)
	}
	if _, err := empty.ProveConsistency(1, 1); !errors.Is(err, ErrRange) {
		t.Errorf("empty log ProveConsistency(1, 1): %v", err)
	}
}

func tlAllHashes(hs [][]byte) bool {
	for _, h := range hs {
		if len(h) != tlog.HashSize {
			return false
		}
	}
	return true
}

func tlHashes(hs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i := range hs {
		copy(out[i][:], hs[i])
	}
	return out
}

// tlOpenCP opens a signed checkpoint with the fixed test key.
func tlOpenCP(tb testing.TB, b []byte) Checkpoint {
	tb.Helper()
	_, vkey := tlSigner(tb)
	c, err := OpenCheckpoint(b, vkey)
	if err != nil {
		tb.Fatalf("OpenCheckpoint(%q): %v", b, err)
	}
	return c
}

func TestSignCheckpoints(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	if _, err := l.Sign(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sign on an empty log: %v, want ErrNotFound", err)
	}
	if _, _, err := l.LatestCheckpoint(); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestCheckpoint on an empty log: %v, want ErrNotFound", err)
	}
	if l.Origin() != tlOrigin {
		t.Errorf("Origin() = %q", l.Origin())
	}
	if _, vkey := tlSigner(t); l.VerifierKey() != vkey {
		t.Errorf("VerifierKey() = %q, want %q", l.VerifierKey(), vkey)
	}

	signed := map[int64][]byte{}
	for _, n := range []int{1, 2, 5, 8, 13} {
		tlAppend(t, l, "s", n)
		b, err := l.Sign()
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		c := tlOpenCP(t, b)
		size := l.Head().Size
		root, err := l.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		if c.Origin != tlOrigin || c.Size != size || c.Root != root {
			t.Errorf("checkpoint = %+v, want size %d root %s", c, size, EncodeHash(root))
		}
		if latest, _, err := l.LatestCheckpoint(); err != nil || !bytes.Equal(latest, b) {
			t.Errorf("LatestCheckpoint = %q, %v; want the one just signed", latest, err)
		}
		// Signing again without new entries returns the same checkpoint.
		again, err := l.Sign()
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("second Sign = %q, %v; want the same checkpoint", again, err)
		}
		signed[size] = b
	}
	// Every checkpoint is kept, per size; size 0 means the latest.
	roots, _ := tlMerkleRoots(t, tlLines(t, tlExport(t, l)))
	for size, b := range signed {
		got, err := l.CheckpointAt(size)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("CheckpointAt(%d) = %q, %v; want %q", size, got, err, b)
			continue
		}
		if c := tlOpenCP(t, got); !bytes.Equal(c.Root[:], roots[size]) {
			t.Errorf("checkpoint %d root %s, merkle root %x", size, EncodeHash(c.Root), roots[size])
		}
	}
	latest, err := l.CheckpointAt(0)
	if err != nil || !bytes.Equal(latest, signed[29]) {
		t.Errorf("CheckpointAt(0) = %q, %v; want the size-29 checkpoint", latest, err)
	}
	for _, size := range []int64{2, 4, 28, 30, 1000} {
		if b, err := l.CheckpointAt(size); !errors.Is(err, ErrNotFound) {
			t.Errorf("CheckpointAt(%d) = %q, %v; want ErrNotFound", size, b, err)
		}
	}
	// Consecutive checkpoints are consistent by the log's own proofs.
	for _, pair := range [][2]int64{{1, 3}, {3, 8}, {8, 16}, {16, 29}, {1, 29}} {
		a, b := tlOpenCP(t, signed[pair[0]]), tlOpenCP(t, signed[pair[1]])
		p, err := l.ProveConsistency(a.Size, b.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(a.Size), uint64(b.Size), tlBytes(p.Hashes), a.Root[:], b.Root[:]); err != nil {
			t.Errorf("checkpoints %d and %d: %v", a.Size, b.Size, err)
		}
	}
}

func TestSignWithoutSigner(t *testing.T) {
	l, err := Open(store.NewMem(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tlAppend(t, l, "n", 2)
	if b, err := l.Sign(); err == nil {
		t.Errorf("Sign without a signer = %q, want an error", b)
	}
	if l.Origin() != "" || l.VerifierKey() != "" {
		t.Errorf("Origin, VerifierKey = %q, %q; want empty", l.Origin(), l.VerifierKey())
	}
	if _, err := l.CheckpointAt(0); !errors.Is(err, ErrNotFound) {
		t.Errorf("CheckpointAt(0): %v, want ErrNotFound", err)
	}
}

// tlWaitCheckpoint polls until the log holds a checkpoint of size, failing
// after a generous deadline (it asserts presence, not speed).
func tlWaitCheckpoint(tb testing.TB, l *Log, size int64) []byte {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := l.CheckpointAt(size)
		if err == nil {
			return b
		}
		if !errors.Is(err, ErrNotFound) {
			tb.Fatalf("CheckpointAt(%d): %v", size, err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no checkpoint of size %d was signed", size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCheckpointsWhileEntriesArrive(t *testing.T) {
	st := store.NewMem()
	l := tlOpen(t, st, Options{CheckpointInterval: 10 * time.Millisecond})
	for round := range 3 {
		tlAppend(t, l, fmt.Sprintf("w%d", round), 4)
		size := l.Head().Size
		c := tlOpenCP(t, tlWaitCheckpoint(t, l, size))
		if root, _ := l.RootAt(size); c.Root != root {
			t.Errorf("background checkpoint of size %d has root %s, want %s", size, EncodeHash(c.Root), EncodeHash(root))
		}
	}
	// Without new entries no new checkpoint appears: the latest stays put.
	latest, _, err := l.LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if again, _, _ := l.LatestCheckpoint(); !bytes.Equal(again, latest) {
		t.Errorf("a checkpoint was signed without new entries")
	}
}

func TestCheckpointAtClose(t *testing.T) {
	st := store.NewMem()
	s, vkey := tlSigner(t)
	l, err := Open(st, Options{Signer: s, VerifierKey: vkey, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tlAppend(t, l, "z", 6)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b, err := l.CheckpointAt(6)
	if err != nil {
		t.Fatalf("no checkpoint at close: %v", err)
	}
	if c := tlOpenCP(t, b); c.Size != 6 {
		t.Errorf("checkpoint at close = %+v", c)
	}
	if _, err := l.Append(&Entry{Action: "x"}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	// Reopened, the log knows its checkpoint.
	l2 := tlOpen(t, st, Options{})
	if got, _, err := l2.LatestCheckpoint(); err != nil || !bytes.Equal(got, b) {
		t.Errorf("LatestCheckpoint after reopen = %q, %v", got, err)
	}
	if !l2.Healthy() {
		t.Errorf("reopened log unhealthy: %s", l2.Broken())
	}
}

// tlHashKey is the store key of stored hash i ("a/h/" + 8-byte index).
func tlHashKey(i int64) []byte { return binary.BigEndian.AppendUint64([]byte("a/h/"), uint64(i)) }

func TestSignRefusesInconsistentTree(t *testing.T) {
	for _, tt := range []struct {
		name  string
		index int64 // stored hash to tamper with
	}{
		// The tree of size 10 is read from the level-3 node over
		// entries 0–7 and the level-1 node over entries 8–9.
		{"level 3 node", tlog.StoredHashIndex(3, 0)},
		{"level 1 node", tlog.StoredHashIndex(1, 4)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMem()
			l := tlOpen(t, st, Options{})
			tlAppend(t, l, "t", 10)
			first, err := l.Sign()
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Update(func(tx store.Tx) error { return tFlipHash(t, tx, tt.index) }); err != nil {
				t.Fatal(err)
			}
			tlAppend(t, l, "u", 3)
			if b, err := l.Sign(); err == nil {
				t.Fatalf("Sign over a tampered tree = %q, want an error", b)
			}
			if l.Healthy() {
				t.Error("Healthy() = true after a refused checkpoint")
			}
			if l.Broken() == "" {
				t.Error("Broken() is empty after a refused checkpoint")
			}
			if _, err := l.CheckpointAt(13); !errors.Is(err, ErrNotFound) {
				t.Errorf("CheckpointAt(13): %v, want ErrNotFound", err)
			}
			if latest, _, _ := l.LatestCheckpoint(); !bytes.Equal(latest, first) {
				t.Errorf("latest checkpoint changed")
			}
			if _, err := l.Append(&Entry{Action: "x", Decision: Allow}, nil); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Append on a broken log: %v, want ErrUnavailable", err)
			}
			if _, err := l.Sign(); !errors.Is(err, ErrUnavailable) {
				t.Errorf("second Sign: %v, want ErrUnavailable", err)
			}
		})
	}
}

func BenchmarkProveInclusion(b *testing.B) {
	l := tlOpen(b, store.NewMem(), Options{})
	tlAppend(b, l, "b", 1000)
	for b.Loop() {
		if _, err := l.ProveInclusion(377, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProveConsistency(b *testing.B) {
	l := tlOpen(b, store.NewMem(), Options{})
	tlAppend(b, l, "b", 1000)
	for b.Loop() {
		if _, err := l.ProveConsistency(377, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
