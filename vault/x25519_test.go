package vault

import (
	"bytes"
	"crypto/ecdh"
	"io"
	"strings"
	"testing"
	"testing/cryptotest"

	"filippo.io/age"
)

// TestX25519RecipientMatchesAge: with the same randomness, the recipient
// writes byte for byte the stanza age's own X25519 recipient writes, and
// age decrypts what it seals with the matching identity.
func TestX25519RecipientMatchesAge(t *testing.T) {
	for i := range 20 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := newX25519Recipient(id.Recipient().String())
		if err != nil {
			t.Fatal(err)
		}
		if ours.String() != id.Recipient().String() {
			t.Errorf("String() = %q, want %q", ours.String(), id.Recipient().String())
		}
		fileKey := bytes.Repeat([]byte{byte(i)}, 16)
		var got, want []*age.Stanza
		t.Run("same randomness", func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, uint64(i))
			if got, err = ours.Wrap(fileKey); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("same randomness, age", func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, uint64(i))
			if want, err = id.Recipient().Wrap(fileKey); err != nil {
				t.Fatal(err)
			}
		})
		if len(got) != 1 || len(want) != 1 || got[0].Type != want[0].Type ||
			strings.Join(got[0].Args, " ") != strings.Join(want[0].Args, " ") || !bytes.Equal(got[0].Body, want[0].Body) {
			t.Fatalf("stanza %+v, age writes %+v", got, want)
		}
		// And a whole file, opened by age with the identity.
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, ours)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(strings.Repeat("恢复密钥", i*100))
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(&buf, id)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := io.ReadAll(r); err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("age opened %d bytes, %v", len(pt), err)
		}
	}
}

// TestX25519RecipientRefuses: what age refuses, and low-order keys, which
// age refuses when wrapping.
func TestX25519RecipientRefuses(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	good := id.Recipient().String()
	for _, s := range []string{
		"", "age1", good[:len(good)-1], good + "q", strings.Replace(good, "age1", "agf1", 1),
		good[:10] + "b" + good[11:], "AGE-SECRET-KEY-1" + good[4:], strings.ToUpper(good),
	} {
		if _, err := newX25519Recipient(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := bech32Key("age1qqqq", "age"); err == nil {
		t.Error("a short key accepted")
	}
	// The all-zero point: age and this recipient both refuse to wrap.
	zero := &x25519Recipient{raw: make([]byte, 32)}
	var err error
	if zero.their, err = ecdhX25519PublicKey(zero.raw); err != nil {
		t.Fatal(err)
	}
	if _, err := zero.Wrap(make([]byte, 16)); err == nil {
		t.Error("wrapped to a low-order point")
	}
}

func BenchmarkX25519Wrap(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	ours, err := newX25519Recipient(id.Recipient().String())
	if err != nil {
		b.Fatal(err)
	}
	fileKey := make([]byte, 16)
	b.Run("pvault", func(b *testing.B) {
		for b.Loop() {
			if _, err := ours.Wrap(fileKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("age", func(b *testing.B) {
		r := id.Recipient()
		for b.Loop() {
			if _, err := r.Wrap(fileKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ecdhX25519PublicKey(raw []byte) (*ecdh.PublicKey, error) { return ecdh.X25519().NewPublicKey(raw) }
