package vault

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// checkHMAC compares hmacSum and hkdfKey with the standard library.
func checkHMAC(t *testing.T, key, msg []byte, info string) {
	t.Helper()
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	if got := hmacSum(key, msg[:len(msg)/2], msg[len(msg)/2:]); string(got[:]) != string(h.Sum(nil)) {
		t.Fatalf("hmacSum(%x, %x) differs from crypto/hmac", key, msg)
	}
	want, err := hkdf.Key(sha256.New, msg, key, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := hkdfKey(msg, key, info); string(got[:]) != string(want) {
		t.Fatalf("hkdfKey(%x, %x, %q) differs from crypto/hkdf", msg, key, info)
	}
}

// TestHMACMatchesStdlib: on keys of every length around a block (and nil),
// messages across the stack buffer's size and both infos the vault uses.
func TestHMACMatchesStdlib(t *testing.T) {
	for _, klen := range []int{0, 1, 16, 32, 63, 64, 65, 200} {
		for _, mlen := range []int{0, 1, 16, 55, 56, 64, 447, 448, 511, 512, 513, 3000} {
			key, msg := make([]byte, klen), make([]byte, mlen)
			rand.Read(key)
			rand.Read(msg)
			if klen == 0 {
				key = nil
			}
			for _, info := range []string{"header", "payload", ""} {
				checkHMAC(t, key, msg, info)
			}
		}
	}
}

func FuzzHMACMatchesStdlib(f *testing.F) {
	f.Add([]byte("file key 16 byte"), []byte("age-encryption.org/v1\n-> X25519 abc\n"), "header")
	f.Fuzz(func(t *testing.T, key, msg []byte, info string) {
		if len(info) > 1000 {
			return
		}
		checkHMAC(t, key, msg, info)
	})
}

func BenchmarkHMAC(b *testing.B) {
	key, msg := make([]byte, 32), make([]byte, 200)
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			h.Sum(nil)
		}
	})
	b.Run("hmacSum", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hmacSum(key, msg)
		}
	})
}

// TestHasherSumMatchesStdlib pins Hasher.Sum, whose hashes are stored
// (subjects, receipts, pseudonyms), to HMAC-SHA256 of crypto/hmac under
// each purpose's derived key, truncated to 16 bytes, in hex.
func TestHasherSumMatchesStdlib(t *testing.T) {
	h := newHasher(bytes.Repeat([]byte{7}, 32))
	for _, purpose := range []string{HashSubject, HashReceipt, HashPseudonym, HashPetitioner, HashShingle} {
		for _, value := range []string{"", "127.0.0.1", "张三", strings.Repeat("x", 200)} {
			m := hmac.New(sha256.New, h.keys[purpose])
			m.Write([]byte(value))
			if got, want := h.Sum(purpose, value), hex.EncodeToString(m.Sum(nil)[:16]); got != want {
				t.Errorf("Sum(%s, %q) = %s, want %s", purpose, value, got, want)
			}
		}
	}
	if a, b := h.Sum(HashSubject, "x"), h.Sum(HashReceipt, "x"); a == b {
		t.Error("two purposes hash alike")
	}
	// The derivation of the purposes' keys is pinned too: stored hashes
	// must come out the same from one version to the next.
	if got := h.Sum(HashSubject, "张三"); got != "3638d265e13104607c41216fa736d763" {
		t.Errorf("Sum(subject, 张三) under a fixed root = %s: the stored hashes would change", got)
	}
}
