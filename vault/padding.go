package vault

import "math/bits"

// Records are padded before they are sealed, so that the length of an
// envelope tells little of the length of the letter inside. Badger encrypts
// its tables and its value log, but not the lengths in a value-log entry's
// header: since letters went to the value log (store.DefaultValueThreshold),
// their lengths were on disk for anyone who can read it.
//
// The padding is Padmé (Nikitin et al., "Reducing Metadata Leakage from
// Encrypted Files and Communication with PURBs", PETS 2019): a length L is
// rounded up so that only its top ⌊log₂ log₂ L⌋+1 bits may be set. That
// leaves O(log log L) bits of the length to an observer, and few classes:
// 3,000 and 3,050 bytes both become 3,072. From 512 bytes to 64 KiB a
// record grows by at most 6.25 % (about 3 % on average), above that by at
// most 3.2 %. Below minPadded every record is padded to minPadded, so
// short records (identities, short replies) look alike.
//
// The padding is ASCII spaces after the JSON value, which JSON allows: the
// vault's decoders and any JSON reader of a record opened with stock age
// and a recovery identity read the same value.

// minPadded is the smallest padded record: an identity (name, ID number,
// phone, address, employee number) is shorter.
const minPadded = 512

// paddedLen is the length a record of n bytes is padded to.
func paddedLen(n int) int {
	if n <= minPadded {
		return minPadded
	}
	e := bits.Len(uint(n)) - 1 // ⌊log₂ n⌋
	s := bits.Len(uint(e))     // ⌊log₂ e⌋ + 1
	mask := 1<<(e-s) - 1       // the low bits that must be zero
	return (n + mask) &^ mask
}

// padJSON returns the JSON text b padded with spaces to paddedLen. It may
// use b's spare capacity.
func padJSON(b []byte) []byte {
	n := paddedLen(len(b))
	for len(b) < n {
		b = append(b, "                                                                "[:min(64, n-len(b))]...)
	}
	return b
}

// sealJSON seals a JSON record padded to its size class.
func (v *Vault) sealJSON(b []byte) ([]byte, error) { return v.seal(padJSON(b)) }
