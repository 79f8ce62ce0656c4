package vault

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"pvault/internal/atomicfile"
)

// Files in a vault's data directory.
const (
	IdentityFile          = "vault.key"         // plain age identity, mode 0600
	SealedIdentityFile    = "vault.key.age"     // the identity encrypted with a passphrase (age scrypt)
	OldIdentityFile       = "vault.key.old"     // the previous identity while a rotation re-encrypts
	OldSealedIdentityFile = "vault.key.old.age" // the same, passphrase-protected
	KeyringFile           = "keyring.age"       // the keyring, sealed to the vault and recovery recipients
	StoreDir              = "store"
	CheckpointFile        = "audit.checkpoint" // copy of the latest audit checkpoint, outside the store
)

// Keyring holds the vault's online secrets. It is stored sealed to the vault
// identity and the recovery recipients.
type Keyring struct {
	Version    int       `json:"version"`
	Name       string    `json:"name"`        // vault name: the checkpoint origin is Name + "/audit"
	StorageKey []byte    `json:"storage_key"` // badger encryption at rest, 32 bytes
	HMACKey    []byte    `json:"hmac_key"`    // root of the keyed hashes, 32 bytes
	SigningKey []byte    `json:"signing_key"` // Ed25519 seed for checkpoints, 32 bytes
	Recovery   []string  `json:"recovery"`    // age recipients of every envelope besides the vault
	CreatedAt  time.Time `json:"created_at"`
}

// Purposes of keyed hashes; each gets its own key derived from HMACKey.
const (
	HashSubject    = "subject"    // names of the people a petition complains about
	HashReceipt    = "receipt"    // receipt codes
	HashPseudonym  = "pseudonym"  // sensitive strings in audit entries
	HashPetitioner = "petitioner" // petitioner identity for repeat detection
	HashShingle    = "shingle"    // the key of MinHash shingle hashes
)

// Hasher computes keyed hashes (HMAC-SHA-256 under a key derived with HKDF
// for each purpose). Hashes are hex, truncated to 128 bits.
type Hasher struct {
	keys map[string][]byte
}

func newHasher(root []byte) *Hasher {
	h := &Hasher{keys: map[string][]byte{}}
	for _, p := range []string{HashSubject, HashReceipt, HashPseudonym, HashPetitioner, HashShingle} {
		k := make([]byte, 32)
		if _, err := io.ReadFull(hkdf.New(sha256.New, root, nil, []byte("pvault keyed hash "+p)), k); err != nil {
			panic(err)
		}
		h.keys[p] = k
	}
	return h
}

// Key returns the key derived for purpose.
func (h *Hasher) Key(purpose string) []byte { return h.keys[purpose] }

// Sum returns the keyed hash of value for purpose.
func (h *Hasher) Sum(purpose, value string) string {
	k, ok := h.keys[purpose]
	if !ok {
		panic("vault: unknown hash purpose " + purpose)
	}
	sum := hmacSum(k, []byte(value))
	return hex.EncodeToString(sum[:16])
}

// SigningKey returns the checkpoint signing key.
func (k *Keyring) signingKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.SigningKey) }

func newKeyring(name string, recovery []string, now time.Time) (*Keyring, error) {
	k := &Keyring{Version: 1, Name: name, Recovery: recovery, CreatedAt: now.UTC()}
	for _, p := range []*[]byte{&k.StorageKey, &k.HMACKey, &k.SigningKey} {
		*p = make([]byte, 32)
		if _, err := rand.Read(*p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *Keyring) validate() error {
	if k.Version != 1 || len(k.StorageKey) != 32 || len(k.HMACKey) != 32 || len(k.SigningKey) != 32 || !validName(k.Name) {
		return errors.New("vault: keyring malformed")
	}
	return nil
}

// validName reports whether s can be a vault name (and checkpoint key name).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseRecipients parses age X25519 recipients (age1…).
func ParseRecipients(list []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for i, s := range list {
		r, err := newX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			// Never echo the value: a secret key pasted by mistake must not
			// end up in a log or on a screen.
			hint := ""
			if strings.HasPrefix(strings.TrimSpace(s), "AGE-SECRET-KEY-") {
				hint = " (that is a SECRET key: use its public age1… recipient, and treat the secret as exposed)"
			}
			return nil, fmt.Errorf("recipient #%d is not an age X25519 recipient (age1…)%s", i+1, hint)
		}
		out = append(out, r)
	}
	return out, nil
}

// Errors of opening a vault.
var (
	// ErrNoVault is returned when the data directory holds no vault.
	ErrNoVault = errors.New("vault: no vault in the data directory")
	// ErrWrongKey is returned when the identity does not open the keyring or
	// the keyring does not open the store.
	ErrWrongKey = errors.New("vault: the vault identity does not match this vault")
	// ErrPassphrase is returned when the passphrase is missing or wrong.
	ErrPassphrase = errors.New("vault: passphrase missing or wrong")
	// ErrExists is returned by Init when the directory already holds data.
	ErrExists = errors.New("vault: data directory is not empty")
)

// loadIdentity reads the vault identity from dir, using passphrase when it is
// stored sealed.
func loadIdentity(dir, passphrase string) (*age.X25519Identity, error) {
	return loadIdentityFiles(filepath.Join(dir, IdentityFile), filepath.Join(dir, SealedIdentityFile), dir, passphrase)
}

func loadIdentityFiles(plain, sealed, dir, passphrase string) (*age.X25519Identity, error) {
	var text []byte
	if b, err := os.ReadFile(sealed); err == nil {
		if passphrase == "" {
			return nil, fmt.Errorf("%w: the vault identity is passphrase-protected (set PVAULT_PASSPHRASE or --passphrase-file)", ErrPassphrase)
		}
		id, err := age.NewScryptIdentity(passphrase)
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(bytes.NewReader(b), id)
		if err != nil {
			return nil, ErrPassphrase
		}
		if text, err = io.ReadAll(r); err != nil {
			return nil, ErrPassphrase
		}
	} else if b, err := os.ReadFile(plain); err == nil {
		text = b
	} else if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has neither %s nor %s", ErrNoVault, dir, IdentityFile, SealedIdentityFile)
	} else {
		return nil, fmt.Errorf("read vault identity: %w", err)
	}
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			id, err := age.ParseX25519Identity(line)
			if err != nil {
				return nil, fmt.Errorf("vault identity: %w", err)
			}
			return id, nil
		}
	}
	return nil, fmt.Errorf("vault identity: no AGE-SECRET-KEY line in the identity file")
}

func writeIdentity(dir string, id *age.X25519Identity, passphrase string, now time.Time) error {
	return writeIdentityFiles(filepath.Join(dir, IdentityFile), filepath.Join(dir, SealedIdentityFile), id, passphrase, now)
}

func writeIdentityFiles(plain, sealedPath string, id *age.X25519Identity, passphrase string, now time.Time) error {
	text := fmt.Sprintf("# pvault vault identity, created %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), id.Recipient(), id)
	if passphrase == "" {
		return writeFileSync(plain, []byte(text), 0o600)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, text); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return writeFileSync(sealedPath, buf.Bytes(), 0o600)
}

func sealKeyring(k *Keyring, recipients []age.Recipient) ([]byte, error) {
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return sealBytes(b, recipients)
}

func openKeyring(b []byte, ids ...age.Identity) (*Keyring, error) {
	pt, err := openBytes(b, ids...)
	if err != nil {
		return nil, ErrWrongKey
	}
	var k Keyring
	if err := json.Unmarshal(pt, &k); err != nil {
		return nil, fmt.Errorf("vault: keyring malformed")
	}
	if err := k.validate(); err != nil {
		return nil, err
	}
	return &k, nil
}

func sealBytes(pt []byte, recipients []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(pt) + 512)
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := w.Write(pt); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrCorrupt is returned when a sealed record fails to open (it was altered,
// or is not a record of this vault).
var ErrCorrupt = errors.New("vault: sealed record is damaged")

// openBytes decrypts an age file with one of ids. Records are small: their
// payload is a single STREAM chunk, which openSmall decrypts directly (age's
// reader allocates and clears two 64 KiB buffers per file, most of the cost
// of opening a record); larger files go through age.Decrypt.
func openBytes(ct []byte, ids ...age.Identity) ([]byte, error) {
	return openBytesInto(nil, ct, ids...)
}

// openBytesInto is openBytes writing a one-chunk plaintext into dst[:0]
// when it fits (a longer one, or a file of several chunks, goes to new
// memory).
func openBytesInto(dst, ct []byte, ids ...age.Identity) ([]byte, error) {
	if pt, ok, err := openSmall(dst, ct, ids); ok {
		return pt, err
	}
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return pt, nil
}

// The age payload (age-encryption.org/v1): a 16-byte nonce, then the
// plaintext in chunks of 64 KiB, each sealed with ChaCha20-Poly1305 under
// HKDF-SHA-256(file key, nonce, "payload") with an 11-byte big-endian chunk
// counter and a last-chunk flag byte as its nonce.
const (
	payloadNonceSize = 16
	payloadChunkSize = 64 << 10
)

// openSmall decrypts ct when its payload is one chunk (at most 64 KiB of
// plaintext), with age parsing and authenticating the header and unwrapping
// the file key. ok is false when ct is not such a file; openBytes then hands
// it to age.Decrypt, which also reports malformed files.
func openSmall(dst, ct []byte, ids []age.Identity) (pt []byte, ok bool, err error) {
	n := headerLen(ct)
	if n < 0 {
		return nil, false, nil
	}
	hdr, payload := ct[:n], ct[n:]
	if len(payload) < payloadNonceSize+chacha20poly1305.Overhead || len(payload) > payloadNonceSize+payloadChunkSize+chacha20poly1305.Overhead {
		return nil, false, nil
	}
	fileKey, err := decryptHeader(hdr, ids)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	key := hkdfKey(fileKey, payload[:payloadNonceSize], "payload")
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	nonce[len(nonce)-1] = 1 // chunk 0, the last one
	pt, err = aead.Open(dst[:0], nonce[:], payload[payloadNonceSize:], nil)
	if err != nil {
		return nil, true, fmt.Errorf("%w: payload: %w", ErrCorrupt, err)
	}
	return pt, true, nil
}

// headerLen returns the length of the age header that starts ct: through
// the end of its first line that begins with "---", the MAC line (stanza
// lines begin with "->" and bodies are base64, which has no '-'), or -1.
// age.DecryptHeader then parses and authenticates exactly those bytes;
// finding the end here spares a second parse with its buffers, which was a
// tenth of a list page's CPU.
func headerLen(ct []byte) int {
	i := bytes.Index(ct, []byte("\n---"))
	if i < 0 {
		return -1
	}
	j := bytes.IndexByte(ct[i+1:], '\n')
	if j < 0 {
		return -1
	}
	return i + 1 + j + 1
}

// writeFileSync writes a file atomically and durably.
func writeFileSync(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

func bytesReader(s string) io.Reader { return strings.NewReader(s) }
