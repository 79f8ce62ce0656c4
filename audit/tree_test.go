package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// leafData is the i-th test leaf.
func leafData(i int) []byte { return []byte(fmt.Sprintf("leaf %d", i)) }

// compactRoot is the root of a transparency-dev compact range from 0, with
// the RFC 6962 empty root for the empty tree.
func compactRoot(tb testing.TB, r *compact.Range) []byte {
	tb.Helper()
	root, err := r.GetRootHash(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if root == nil {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	return root
}

func TestTreeMatchesCompactRange(t *testing.T) {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	large := map[int64]bool{127: true, 128: true, 129: true, 1000: true, 1023: true, 1024: true, 1025: true,
		4095: true, 4096: true, 4097: true, 12345: true, 65535: true, 65536: true, 65537: true, 100003: true}
	maxSize := int64(100003)
	if testing.Short() {
		maxSize = 4097
	}
	var tree Tree
	cr := rf.NewEmptyRange(0)
	for n := int64(0); ; n++ {
		if n <= 70 || large[n] {
			got := tree.Root()
			want := compactRoot(t, cr)
			if !bytes.Equal(got[:], want) {
				t.Fatalf("size %d: Tree.Root = %x, compact range root = %x", n, got, want)
			}
			if tree.Size() != n {
				t.Fatalf("Size = %d, want %d", tree.Size(), n)
			}
		}
		if n == maxSize {
			break
		}
		d := leafData(int(n))
		leaf := LeafHash(d)
		if want := rfc6962.DefaultHasher.HashLeaf(d); !bytes.Equal(leaf[:], want) {
			t.Fatalf("LeafHash(%q) = %x, rfc6962 HashLeaf = %x", d, leaf, want)
		}
		tree.Add(leaf)
		if err := cr.Append(leaf[:], nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTreeEmptyRoot(t *testing.T) {
	var tree Tree
	want := sha256.Sum256(nil)
	if got := tree.Root(); got != tlog.Hash(want) {
		t.Errorf("empty root = %x, want SHA-256(\"\") = %x", got, want)
	}
	if tree.Size() != 0 {
		t.Errorf("empty Size = %d", tree.Size())
	}
	emptyTlog, err := tlog.TreeHash(0, nil)
	if err != nil || emptyTlog != tree.Root() {
		t.Errorf("tlog.TreeHash(0) = %x, %v; want %x", emptyTlog, err, tree.Root())
	}
}

// TestTreeKnownRoots pins a few roots, computed by hand from RFC 6962's
// definition, so that both implementations cannot drift together.
func TestTreeKnownRoots(t *testing.T) {
	leaf := func(i int) tlog.Hash { return LeafHash(leafData(i)) }
	node := func(a, b tlog.Hash) tlog.Hash {
		return tlog.Hash(sha256.Sum256(append(append([]byte{1}, a[:]...), b[:]...)))
	}
	l0, l1, l2, l3, l4 := leaf(0), leaf(1), leaf(2), leaf(3), leaf(4)
	for _, tt := range []struct {
		n    int
		want tlog.Hash
	}{
		{1, l0},
		{2, node(l0, l1)},
		{3, node(node(l0, l1), l2)},
		{4, node(node(l0, l1), node(l2, l3))},
		{5, node(node(node(l0, l1), node(l2, l3)), l4)},
	} {
		var tree Tree
		for i := 0; i < tt.n; i++ {
			tree.Add(leaf(i))
		}
		if got := tree.Root(); got != tt.want {
			t.Errorf("size %d: root %x, want %x", tt.n, got, tt.want)
		}
	}
}

// TestTreeMatchesStoredHashes appends entries to a Log and checks that the
// tlog tree hash over the hashes the log stored, the Tree over the leaf
// hashes of the exported lines, a transparency-dev compact range and
// VerifyStore all agree at every size.
func TestTreeMatchesStoredHashes(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	const n = 133
	appendN(t, l, n)
	lines := exportLines(t, l, 0, 0)
	if len(lines) != n {
		t.Fatalf("export has %d lines, want %d", len(lines), n)
	}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	var tree Tree
	err := st.View(func(r store.Reader) error {
		hr := storedHashReader(r)
		for i := 0; i <= n; i++ {
			stored, err := tlog.TreeHash(int64(i), hr)
			if err != nil {
				return fmt.Errorf("TreeHash(%d): %w", i, err)
			}
			if stored != tree.Root() {
				t.Errorf("size %d: tlog.TreeHash of stored hashes %x, Tree %x", i, stored, tree.Root())
			}
			if want := compactRoot(t, cr); !bytes.Equal(stored[:], want) {
				t.Errorf("size %d: stored root %x, compact range %x", i, stored, want)
			}
			if i == n {
				break
			}
			leaf := LeafHash(lines[i])
			got, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(i))})
			if err != nil {
				return err
			}
			if got[0] != leaf {
				t.Errorf("stored leaf hash %d = %x, want %x", i, got[0], leaf)
			}
			tree.Add(leaf)
			if err := cr.Append(leaf[:], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyStore(st)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Size != n || res.Root != EncodeHash(tree.Root()) || res.FirstBadSeq != nil {
		t.Errorf("VerifyStore = %+v, want ok with size %d root %s", res, n, EncodeHash(tree.Root()))
	}
}

func BenchmarkTreeAdd(b *testing.B) {
	var tree Tree
	leaf := LeafHash([]byte("x"))
	for b.Loop() {
		tree.Add(leaf)
	}
}

func BenchmarkTreeRoot(b *testing.B) {
	var tree Tree
	for i := 0; i < 1<<16-1; i++ {
		tree.Add(LeafHash(leafData(i)))
	}
	for b.Loop() {
		_ = tree.Root()
	}
}
