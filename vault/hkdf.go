package vault

import "crypto/sha256"

// Opening an envelope takes five HMAC-SHA-256 computations with five keys:
// HKDF's extract and expand for the header MAC key and for the payload
// key, and the header MAC. crypto/hmac allocates two digests and two pads
// for every key, which was 45 of the 56 allocations of an open. hmacSum
// and hkdfKey compute the same values (RFC 2104, RFC 5869) on the stack;
// TestHMACMatchesStdlib and FuzzHMACMatchesStdlib compare them with
// crypto/hmac and crypto/hkdf.

const sha256Block = 64

// hmacSum returns HMAC-SHA-256 of the concatenated parts under key (a key
// longer than a block is hashed first, as RFC 2104 says).
func hmacSum(key []byte, parts ...[]byte) [sha256.Size]byte {
	if len(key) > sha256Block {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var buf [sha256Block + 512]byte
	in := buf[:sha256Block]
	copy(in, key)
	for i := range in {
		in[i] ^= 0x36
	}
	for _, p := range parts {
		in = append(in, p...)
	}
	inner := sha256.Sum256(in)
	var out [sha256Block + sha256.Size]byte
	copy(out[:], key)
	for i := range sha256Block {
		out[i] ^= 0x5c
	}
	copy(out[sha256Block:], inner[:])
	return sha256.Sum256(out[:])
}

// hkdfKey is HKDF-SHA-256 (RFC 5869) of secret with salt and info, 32
// bytes long: one expand block. A nil salt is a block of zeros, as the RFC
// says.
func hkdfKey(secret, salt []byte, info string) [sha256.Size]byte {
	prk := hmacSum(salt, secret) // a nil salt and 32 zero bytes give the same pads
	var one = [1]byte{1}
	var infob [64]byte
	return hmacSum(prk[:], append(infob[:0], info...), one[:])
}
