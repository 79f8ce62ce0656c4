package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
