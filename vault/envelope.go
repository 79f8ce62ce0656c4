package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// The online vault key as an age stanza.
//
// Every envelope is a standard age file. Its file key is wrapped once for
// the vault with a symmetric key derived from the vault identity, in a
// stanza of type "pvault-key1":
//
//	-> pvault-key1 <key id> <nonce>
//	<ChaCha20-Poly1305(key, nonce, file key, additional data "pvault-key1")>
//
// where key = HKDF-SHA-256(vault identity string, info "pvault envelope key
// v1"), key id = the first 4 bytes of SHA-256(key), nonce = 12 random bytes,
// all base64 without padding as age writes its arguments. Next to it is one
// standard X25519 stanza per recovery recipient, so the stock age command
// decrypts every envelope with any recovery identity (age skips stanzas of a
// type it does not know). Wrapping and unwrapping for the vault cost an AEAD
// call instead of two X25519 scalar multiplications.

const symStanza = "pvault-key1"

type symKey struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	id string // base64 key id
}

// newSymKey derives the vault's symmetric envelope key from its identity.
func newSymKey(id *age.X25519Identity) *symKey {
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, []byte(id.String()), nil, []byte("pvault envelope key v1")), key); err != nil {
		panic(err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(key)
	return &symKey{aead: aead, id: b64(sum[:4])}
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// symRecipient wraps file keys for the vault.
type symRecipient struct{ k *symKey }

// Wrap implements age.Recipient.
func (r symRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	nonce := make([]byte, chacha20poly1305.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	body := r.k.aead.Seal(nil, nonce, fileKey, []byte(symStanza))
	return []*age.Stanza{{Type: symStanza, Args: []string{r.k.id, b64(nonce)}, Body: body}}, nil
}

// symIdentity unwraps file keys wrapped for the vault.
type symIdentity struct{ k *symKey }

// Unwrap implements age.Identity.
func (i symIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != symStanza || len(s.Args) != 2 || s.Args[0] != i.k.id {
			continue
		}
		nonce, err := base64.RawStdEncoding.DecodeString(s.Args[1])
		if err != nil || len(nonce) != chacha20poly1305.NonceSize {
			return nil, errors.New("pvault-key1: malformed stanza")
		}
		fileKey, err := i.k.aead.Open(nil, nonce, s.Body, []byte(symStanza))
		if err != nil {
			return nil, fmt.Errorf("pvault-key1: %w", err)
		}
		return fileKey, nil
	}
	return nil, age.ErrIncorrectIdentity
}

// fallbackIdentity is an X25519 identity tried only after the symmetric
// key. age sorts its own identity types before others, so an
// *age.X25519Identity passed as it is would be tried first, costing a
// scalar multiplication per recovery stanza on every open; wrapped, it
// keeps its place in the list.
type fallbackIdentity struct{ id *age.X25519Identity }

// Unwrap implements age.Identity.
func (f fallbackIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) { return f.id.Unwrap(stanzas) }

// keysetFor builds the keyset of a vault identity (and a previous one):
// envelopes are sealed with the symmetric vault stanza and to every recovery
// recipient; they open with the symmetric key or the X25519 identity (for
// envelopes written before, or by another version).
func keysetFor(current *age.X25519Identity, previous *age.X25519Identity, recovery []string) (*keyset, error) {
	recips, err := ParseRecipients(recovery)
	if err != nil {
		return nil, err
	}
	sk := newSymKey(current)
	ks := &keyset{current: current, recovery: recovery, previous: previous,
		recipients: append([]age.Recipient{symRecipient{sk}}, recips...),
		identities: []age.Identity{symIdentity{sk}, fallbackIdentity{current}}}
	if previous != nil {
		ks.identities = append(ks.identities, symIdentity{newSymKey(previous)}, fallbackIdentity{previous})
	}
	return ks, nil
}
