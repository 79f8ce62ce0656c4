package vault

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idGen makes ULID-style identifiers: 48 bits of milliseconds then 80 random
// bits, in Crockford base32, strictly increasing within a process so that
// lexical order is creation order.
type idGen struct {
	mu   sync.Mutex
	last [16]byte
}

func (g *idGen) next(now time.Time) string { return g.nextPID(now).String() }

// nextPID is next as its 128 bits.
func (g *idGen) nextPID(now time.Time) pid {
	g.mu.Lock()
	defer g.mu.Unlock()
	var id [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(id[:8], ms<<16)
	if _, err := rand.Read(id[6:]); err != nil {
		panic(err)
	}
	if string(id[:]) <= string(g.last[:]) {
		// Same or earlier millisecond: increment the last id.
		id = g.last
		for i := 15; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	g.last = id
	return id
}

func encodeULID(id [16]byte) string {
	// 128 bits as 26 base32 digits, most significant first (2 leading pad bits).
	hi := binary.BigEndian.Uint64(id[:8])
	lo := binary.BigEndian.Uint64(id[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// pid is a petition id as its 128 bits: what the duplicate lookup counts
// and the bucket cache holds, sixteen bytes in place of a pointer to a
// string elsewhere in the heap. Its byte order is the ids' lexical order.
type pid [16]byte

// String is the id as idGen writes it.
func (p pid) String() string { return encodeULID(p) }

// crockfordValue maps a byte of crockford to its value, others to 0xFF.
var crockfordValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := range len(crockford) {
		t[crockford[i]] = byte(i)
	}
	return t
}()

// decodeULID is the inverse of encodeULID on the ids ValidID accepts
// (every other string reports false), so that encodeULID(id) == s.
func decodeULID[T string | []byte](s T) (pid, bool) {
	var id pid
	if len(s) != idLen || s[0] > '7' {
		return id, false
	}
	var hi, lo uint64
	for i := range idLen {
		d := crockfordValue[s[i]]
		if d == 0xFF {
			return id, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(d)
	}
	binary.BigEndian.PutUint64(id[:8], hi)
	binary.BigEndian.PutUint64(id[8:], lo)
	return id, true
}

// ValidID reports whether s looks like an id made by idGen.
func ValidID(s string) bool {
	if len(s) != 26 || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}

// randomToken returns n random bytes as unpadded base32 (lower case).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
