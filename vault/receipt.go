package vault

import (
	"crypto/rand"
	"strings"
)

// ReceiptCodeLen is the number of base32 digits in a receipt code: 20 digits
// of 5 bits, 100 bits of randomness.
const ReceiptCodeLen = 20

// NewReceiptCode returns a random receipt code in groups of four, as
// XXXX-XXXX-XXXX-XXXX-XXXX, in Crockford base32 (no I, L, O or U).
func NewReceiptCode() string {
	var raw [ReceiptCodeLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(err)
	}
	var b strings.Builder
	for i, x := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[x&31])
	}
	return b.String()
}

// NormalizeReceiptCode returns the canonical form of a receipt code as a
// person might type or read it: case-insensitive, dashes and spaces ignored,
// I and L read as 1 and O as 0. It returns false for anything that is not a
// receipt code.
func NormalizeReceiptCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'I', 'L':
			c = '1'
		case 'O':
			c = '0'
		}
		if strings.IndexByte(crockford, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != ReceiptCodeLen {
		return "", false
	}
	return b.String(), true
}
