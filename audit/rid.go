package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"pvault/vault/store"
)

// A ridNamer makes the request ids of entries whose request came without
// one (Entry.FreshRequestID) from the entry's own seq, so that the log
// needs no index key to find them: the id is one AES block, the seq (8
// bytes, big-endian) and 8 random bytes encrypted under a key of the
// vault's, in hex. It looks like any other fresh id (32 hex digits), says
// nothing of the log's size to whoever holds it, and names its entry to
// the log alone: a lookup decrypts it, reads the entry at that seq and
// keeps it only if the entry holds exactly this id. Ids a client chose
// keep their index key (a/rid/), as do ids made before the namer.
//
// One key fewer for each entry is most of what a read costs badger's
// writer: with the load tool's 32 readers, 6.5 % more reads.
type ridNamer struct {
	b cipher.Block
}

func newRIDNamer(key []byte) (*ridNamer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("audit: request id key: %w", err)
	}
	return &ridNamer{b: b}, nil
}

// name returns a fresh request id naming entry seq.
func (n *ridNamer) name(seq int64) string {
	var blk [aes.BlockSize]byte
	binary.BigEndian.PutUint64(blk[:8], uint64(seq))
	if _, err := rand.Read(blk[8:]); err != nil {
		panic(err)
	}
	n.b.Encrypt(blk[:], blk[:])
	return hex.EncodeToString(blk[:])
}

// seq returns the seq a request id made by name names, or false when rid
// cannot be one. Any 32 hex digits decrypt to some seq: the caller must
// check that the entry there holds rid.
func (n *ridNamer) seq(rid string) (int64, bool) {
	if n == nil || len(rid) != 2*aes.BlockSize {
		return 0, false
	}
	var blk [aes.BlockSize]byte
	if _, err := hex.Decode(blk[:], []byte(rid)); err != nil {
		return 0, false
	}
	if hex.EncodeToString(blk[:]) != rid {
		return 0, false // upper case: name never makes it
	}
	n.b.Decrypt(blk[:], blk[:])
	s := binary.BigEndian.Uint64(blk[:8])
	if s > 1<<62 {
		return 0, false
	}
	return int64(s), true
}

// keyRIDCheck holds, once the log has named a request id, a check value of
// the key that named it (check): the store's named ids are found, and kept
// unique, only with that key, so Open refuses the store without it.
var keyRIDCheck = []byte("a/ridkey")

// check is the namer's key check value: the encryption of the all-ones
// block, which no seq of name's encodes (seq stays below 2^62).
func (n *ridNamer) check() []byte {
	blk := make([]byte, aes.BlockSize)
	for i := range blk {
		blk[i] = 0xff
	}
	n.b.Encrypt(blk, blk)
	return blk
}

// ErrRequestIDKey is returned by Open when the store's log named request
// ids with a key other than Options.RequestIDKey, or without it given.
var ErrRequestIDKey = errors.New("audit: the log's request ids were named under another key")

// checkRIDKey compares the stored key check value, if any, with the
// namer's, and notes whether it is stored.
func (l *Log) checkRIDKey() error {
	var stored []byte
	err := l.st.View(func(r store.Reader) error {
		v, err := r.Get(keyRIDCheck)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		stored = v
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("audit: read the request id key check: %w", err)
	case stored == nil:
		return nil
	case l.rids == nil || subtle.ConstantTimeCompare(stored, l.rids.check()) != 1:
		return ErrRequestIDKey
	}
	l.ridsMarked.Store(true)
	return nil
}
