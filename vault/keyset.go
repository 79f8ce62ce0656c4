package vault

import (
	"filippo.io/age"
)

// keyset is the vault's age keys in use: the current identity, every
// identity that may still be needed to open a record (during a rotation,
// the previous one), and the recipients new records are sealed to.
type keyset struct {
	current    *age.X25519Identity
	previous   *age.X25519Identity // during a rotation
	identities []age.Identity
	recipients []age.Recipient
	recovery   []string
}

// seal encrypts pt as a standard age file to the vault recipient and every
// recovery recipient.
func (v *Vault) seal(pt []byte) ([]byte, error) {
	return sealBytes(pt, v.keyset.Load().recipients)
}

// open decrypts a record sealed by this vault (with any identity it holds).
// It returns an error wrapping ErrCorrupt when the record fails to open.
func (v *Vault) open(ct []byte) ([]byte, error) {
	return openBytes(ct, v.keyset.Load().identities...)
}
