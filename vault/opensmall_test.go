package vault

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// ageOpen is the reference: the age library's own decryption.
func ageOpen(ct []byte, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// sameAsAge checks that openBytes and age.Decrypt agree on ct: the same
// plaintext, or both fail (openBytes with ErrCorrupt).
func sameAsAge(t *testing.T, ct []byte, ids ...age.Identity) {
	t.Helper()
	want, werr := ageOpen(ct, ids...)
	got, gerr := openBytes(ct, ids...)
	switch {
	case werr != nil && gerr == nil:
		t.Fatalf("openBytes opened what age refuses (%v): %d bytes", werr, len(got))
	case werr == nil && gerr != nil:
		t.Fatalf("openBytes refused what age opens: %v", gerr)
	case gerr != nil && !errors.Is(gerr, ErrCorrupt):
		t.Fatalf("openBytes error %v does not wrap ErrCorrupt", gerr)
	case werr == nil && !bytes.Equal(got, want):
		t.Fatalf("openBytes and age differ: %d and %d bytes", len(got), len(want))
	}
}

// TestOpenSmallMatchesAge: the single-chunk path opens exactly what age
// opens, at every size around the chunk boundary, with the vault's
// symmetric stanza and with stock X25519 recipients, and refuses the same
// damaged and foreign files.
func TestOpenSmallMatchesAge(t *testing.T) {
	v := newTestVault(t, nil)
	ks := v.keyset.Load()
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	for _, size := range []int{0, 1, 100, 4096, payloadChunkSize - 1, payloadChunkSize, payloadChunkSize + 1, 3 * payloadChunkSize} {
		pt := make([]byte, size)
		rand.Read(pt)
		for name, seal := range map[string]func([]byte) ([]byte, error){
			"vault":  v.seal,
			"x25519": func(p []byte) ([]byte, error) { return sealBytes(p, []age.Recipient{x.Recipient()}) },
		} {
			ct, err := seal(pt)
			if err != nil {
				t.Fatal(err)
			}
			ids := append(append([]age.Identity(nil), ks.identities...), x)
			got, err := openBytes(ct, ids...)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%s, %d bytes: %v", name, size, err)
			}
			_, small, _ := openSmall(nil, ct, ids)
			if small != (size <= payloadChunkSize) {
				t.Errorf("%s, %d bytes: single-chunk path taken = %v", name, size, small)
			}
			sameAsAge(t, ct, ids...)
			sameAsAge(t, ct, other) // not for this identity
			for _, cut := range []int{1, 16, 17, len(ct) / 2} {
				if cut < len(ct) {
					sameAsAge(t, ct[:len(ct)-cut], ids...)
				}
			}
			sameAsAge(t, append(bytes.Clone(ct), 0), ids...) // trailing byte
			for _, at := range []int{len(ct) - 1, len(ct) - 17, len(ct) - size - 20, 30} {
				if at > 0 && at < len(ct) {
					bad := bytes.Clone(ct)
					bad[at] ^= 1
					sameAsAge(t, bad, ids...)
				}
			}
		}
	}
	// A one-chunk payload whose chunk is not flagged last: age refuses it
	// (the stream never ends), and so does openBytes.
	ct, err := sealBytes([]byte("not the last chunk"), []age.Recipient{x.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := age.ExtractHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	fileKey, err := age.DecryptHeader(hdr, x)
	if err != nil {
		t.Fatal(err)
	}
	nonce := ct[len(hdr) : len(hdr)+payloadNonceSize]
	key := make([]byte, chacha20poly1305.KeySize)
	io.ReadFull(hkdf.New(sha256.New, fileKey, nonce, []byte("payload")), key)
	aead, _ := chacha20poly1305.New(key)
	notLast := aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), []byte("not the last chunk"), nil)
	forged := append(bytes.Clone(ct[:len(hdr)+payloadNonceSize]), notLast...)
	if _, err := ageOpen(forged, x); err == nil {
		t.Fatal("age opened a stream without a last chunk")
	}
	sameAsAge(t, forged, x)
}

// FuzzOpenBytesMatchesAge: on any input, openBytes and age.Decrypt agree.
func FuzzOpenBytesMatchesAge(f *testing.F) {
	v := newTestVault(f, nil)
	addEnvelopeSeeds(f, v)
	ids := v.keyset.Load().identities
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsAge(t, b, ids...)
	})
}
