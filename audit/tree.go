package audit

import (
	"crypto/sha256"

	"golang.org/x/mod/sumdb/tlog"
)

// Tree computes the RFC 6962 root of a sequence of leaf hashes as they are
// added, in O(log n) memory. Its zero value is an empty tree.
type Tree struct {
	// stack holds the roots of the perfect subtrees the leaves so far form,
	// largest first; sizes are the matching leaf counts.
	stack []tlog.Hash
	sizes []int64
	n     int64
}

// Add appends a leaf hash.
func (t *Tree) Add(leaf tlog.Hash) {
	h, size := leaf, int64(1)
	for len(t.sizes) > 0 && t.sizes[len(t.sizes)-1] == size {
		last := len(t.stack) - 1
		h = tlog.NodeHash(t.stack[last], h)
		size *= 2
		t.stack, t.sizes = t.stack[:last], t.sizes[:last]
	}
	t.stack = append(t.stack, h)
	t.sizes = append(t.sizes, size)
	t.n++
}

// Size is the number of leaves added.
func (t *Tree) Size() int64 { return t.n }

// Root is the RFC 6962 tree hash of the leaves added so far. The root of the
// empty tree is SHA-256 of the empty string, as in tlog and RFC 6962.
func (t *Tree) Root() tlog.Hash {
	if len(t.stack) == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := t.stack[len(t.stack)-1]
	for i := len(t.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.stack[i], h)
	}
	return h
}
