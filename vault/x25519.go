package vault

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// x25519Recipient is age's X25519 recipient written on crypto/ecdh. It
// writes the stanza the age v1 specification defines and filippo.io/age
// writes:
//
//	-> X25519 <base64 ephemeral share>
//	<ChaCha20-Poly1305(HKDF-SHA-256(shared secret, share || recipient,
//	  "age-encryption.org/v1/X25519"), zero nonce, file key)>
//
// age 1.3 computes both the share and the shared secret through
// x/crypto's curve25519.X25519, which makes a new crypto/ecdh private key,
// and so computes its public key with a Montgomery ladder, on each call:
// four scalar multiplications per file where two suffice (one for the
// ephemeral share, one for the shared secret). Sealing to a recovery
// recipient is half as dear here; stock age decrypts the result (tested
// with the library and, in CI, with the age command).
type x25519Recipient struct {
	their *ecdh.PublicKey
	raw   []byte
	text  string // the age1… string
}

const x25519Label = "age-encryption.org/v1/X25519"

// newX25519Recipient parses an age1… recipient: age parses and checks it,
// and its key is read from the checked string.
func newX25519Recipient(s string) (*x25519Recipient, error) {
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, err
	}
	raw, err := bech32Key(r.String(), "age")
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return nil, err
	}
	return &x25519Recipient{their: pub, raw: raw, text: r.String()}, nil
}

// Wrap implements age.Recipient.
func (r *x25519Recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	share := eph.PublicKey().Bytes()
	shared, err := eph.ECDH(r.their) // an error for a low-order point, as age
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 0, len(share)+len(r.raw))
	salt = append(append(salt, share...), r.raw...)
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, salt, []byte(x25519Label)), key); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	// The zero nonce is age's: the key is fresh for every stanza.
	body := aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), fileKey, nil)
	return []*age.Stanza{{Type: "X25519", Args: []string{b64(share)}, Body: body}}, nil
}

// String is the recipient's age1… form.
func (r *x25519Recipient) String() string { return r.text }

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Key returns the data of a bech32 string with the given
// human-readable part whose checksum age has verified: the characters
// between the separator and the six of the checksum, five bits each, to
// 32 bytes. Anything else is an error.
func bech32Key(s, hrp string) ([]byte, error) {
	s = strings.ToLower(s)
	bad := errors.New("vault: malformed age recipient")
	if !strings.HasPrefix(s, hrp+"1") || len(s) < len(hrp)+1+6 {
		return nil, bad
	}
	var acc uint32
	bits := 0
	out := make([]byte, 0, 32)
	for _, c := range []byte(s[len(hrp)+1 : len(s)-6]) {
		v := strings.IndexByte(bech32Charset, c)
		if v < 0 {
			return nil, bad
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if len(out) != 32 || bits >= 5 || acc&(1<<bits-1) != 0 {
		return nil, bad
	}
	return out, nil
}
