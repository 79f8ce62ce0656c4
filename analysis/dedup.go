package analysis

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/rand/v2"
)

// Near-duplicate detection by MinHash over keyed character shingles.
//
// Each shingle (a character bigram of the normalised text) is hashed with
// AES-128 under a key of the vault, so that a stored signature says nothing
// about the text to anyone without the key; 64 MinHash values are taken
// from fixed random permutations of those hashes. Locality-sensitive
// hashing over 32 bands of 2 values finds the candidates whose estimated
// Jaccard similarity is likely above ~0.2 with an index lookup per band.

// DupThreshold is the least estimated Jaccard similarity of character
// bigrams for two petitions to be linked as near duplicates, chosen on the
// train split of testdata/dups.jsonl (pairwise F1 0.986 there).
const DupThreshold = 0.4

// SigLen is the number of MinHash values in a Signature.
const SigLen = 64

// Bands and Rows split a signature for locality-sensitive hashing.
const (
	Bands = 32
	Rows  = SigLen / Bands
)

// Signature is a MinHash signature.
type Signature [SigLen]uint32

// Shingler makes signatures under a key.
type Shingler struct {
	block cipher.Block
}

var permA, permB = func() ([SigLen]uint64, [SigLen]uint64) {
	var a, b [SigLen]uint64
	rng := rand.New(rand.NewPCG(0x5eed5eed, 0xd1b54a32d192ed03))
	for i := range a {
		a[i] = rng.Uint64() | 1
		b[i] = rng.Uint64()
	}
	return a, b
}()

// NewShingler returns a Shingler keyed with a 16-byte key.
func NewShingler(key []byte) *Shingler {
	b, err := aes.NewCipher(key[:16])
	if err != nil {
		panic(err)
	}
	return &Shingler{block: b}
}

// Sign computes the signature of text. Texts with no content characters
// get a signature of all ones (similar to nothing).
func (s *Shingler) Sign(text string) Signature {
	var sig Signature
	for i := range sig {
		sig[i] = ^uint32(0)
	}
	var in, out [16]byte
	xs := make([]uint64, 0, 1024)
	runes := Normalize(text)
	prev := rune(-1)
	for _, r := range runes {
		if !isContent(r) {
			prev = -1
			continue
		}
		if prev < 0 {
			prev = r
			continue
		}
		binary.LittleEndian.PutUint32(in[0:], uint32(prev))
		binary.LittleEndian.PutUint32(in[4:], uint32(r))
		prev = r
		s.block.Encrypt(out[:], in[:])
		// Repeats stay: a minimum does not change, and looking each
		// shingle up in a set cost more than the repeats do.
		xs = append(xs, binary.LittleEndian.Uint64(out[:8]))
	}
	// Four permutations at a time over the shingles: their constants and
	// running minimums stay in registers, and the four independent chains
	// of multiplications keep the core busy (about 1.4 times as fast as one
	// at a time: BenchmarkSignLetter).
	var _ = [1]struct{}{}[SigLen%4] // SigLen is a multiple of four
	for i := 0; i < SigLen; i += 4 {
		a0, a1, a2, a3 := permA[i], permA[i+1], permA[i+2], permA[i+3]
		b0, b1, b2, b3 := permB[i], permB[i+1], permB[i+2], permB[i+3]
		m0, m1, m2, m3 := sig[i], sig[i+1], sig[i+2], sig[i+3]
		for _, x := range xs {
			m0 = min(m0, uint32((a0*x+b0)>>32))
			m1 = min(m1, uint32((a1*x+b1)>>32))
			m2 = min(m2, uint32((a2*x+b2)>>32))
			m3 = min(m3, uint32((a3*x+b3)>>32))
		}
		sig[i], sig[i+1], sig[i+2], sig[i+3] = m0, m1, m2, m3
	}
	return sig
}

// Similarity estimates the Jaccard similarity of the shingle sets behind two
// signatures.
func Similarity(a, b *Signature) float64 {
	n := 0
	for i := range a {
		if a[i] == b[i] && a[i] != ^uint32(0) {
			n++
		}
	}
	return float64(n) / SigLen
}

// BandKeys returns the LSH bucket of each band: 8 bytes per band, the band
// number mixed in.
func (sig *Signature) BandKeys() [Bands]uint64 {
	var out [Bands]uint64
	for b := range Bands {
		h := uint64(b+1) * 0x9e3779b97f4a7c15
		for r := range Rows {
			h ^= uint64(sig[b*Rows+r])
			h *= 0xbf58476d1ce4e5b9
			h ^= h >> 31
		}
		out[b] = h
	}
	return out
}

// Bytes encodes a signature (4·SigLen bytes).
func (sig *Signature) Bytes() []byte {
	out := make([]byte, 4*SigLen)
	for i, v := range sig {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// ParseSignature decodes Bytes.
func ParseSignature(b []byte) (Signature, bool) {
	var sig Signature
	if len(b) != 4*SigLen {
		return sig, false
	}
	for i := range sig {
		sig[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return sig, true
}
