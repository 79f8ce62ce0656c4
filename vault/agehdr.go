package vault

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"slices"

	"filippo.io/age"
)

// Opening an envelope starts with its age header: find the stanza an
// identity unwraps, then check the header's MAC under the file key. age's
// DecryptHeader parses through a 4 KiB bufio.Reader, decodes every line
// into new buffers and serialises the header again to MAC it; for the
// small envelopes of a list page that was a quarter of the CPU. decryptHeader
// does the same work on the header bytes in place, for headers in the form
// age writes them, and hands any other header to age.DecryptHeader, so
// that it accepts exactly what age accepts (FuzzDecryptHeader compares
// them). Unwrapping stays with the identities (age's and the vault's own).

const (
	ageIntro       = "age-encryption.org/v1\n"
	ageColumns     = 64 // base64 columns of a full body line
	ageLineBytes   = 48 // the bytes they hold
	maxFastHeader  = 64 << 10
	maxFastStanzas = 32 // more are left to age
	maxFastArgs    = 16
)

var ageB64 = base64.RawStdEncoding.Strict()

// decryptHeader returns the file key of an age header (through its MAC
// line), as age.DecryptHeader does.
func decryptHeader(hdr []byte, ids []age.Identity) ([]byte, error) {
	stanzas, macInput, mac, ok := parseHeader(hdr)
	if !ok {
		return age.DecryptHeader(hdr, ids...)
	}
	if len(ids) == 0 {
		return nil, errors.New("no identities specified")
	}
	// age tries its own identity types first; the order decides which
	// error a header that none of them opens reports.
	ids = slices.Clone(ids)
	slices.SortStableFunc(ids, func(a, b age.Identity) int { return nativeRank(a) - nativeRank(b) })
	var fileKey []byte
	var tried []error
	for _, id := range ids {
		k, err := id.Unwrap(stanzas)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			tried = append(tried, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		fileKey = k
		break
	}
	if fileKey == nil {
		e := &age.NoIdentityMatchError{Errors: tried}
		for _, s := range stanzas {
			e.StanzaTypes = append(e.StanzaTypes, s.Type)
		}
		return nil, e
	}
	key := hkdfKey(fileKey, nil, "header")
	if sum := hmacSum(key[:], macInput); !hmac.Equal(sum[:], mac) {
		return nil, errors.New("bad header MAC")
	}
	return fileKey, nil
}

// nativeRank sorts age's own identity types before others, as age does.
func nativeRank(id age.Identity) int {
	switch id.(type) {
	case *age.X25519Identity, *age.HybridIdentity, *age.ScryptIdentity:
		return 0
	}
	return 1
}

// parseHeader reads a header of at most maxFastHeader bytes that is exactly
// what age writes: the intro line, stanzas of "-> type args…" (single
// spaces, printable arguments) with bodies in canonical unpadded base64 of
// full 64-column lines and a shorter last one, and "--- mac" ending hdr.
// macInput is the header through "---", what the MAC covers. ok is false
// for anything else.
func parseHeader(hdr []byte) (stanzas []*age.Stanza, macInput, mac []byte, ok bool) {
	// Go's base64 decoder skips '\r' where age refuses it, and age refuses
	// headers over 2 MiB: such headers, and large ones, are age's to judge.
	if len(hdr) > maxFastHeader || bytes.IndexByte(hdr, '\r') >= 0 {
		return nil, nil, nil, false
	}
	rest, found := bytes.CutPrefix(hdr, []byte(ageIntro))
	if !found {
		return nil, nil, nil, false
	}
	for !bytes.HasPrefix(rest, []byte("---")) {
		if len(stanzas) == maxFastStanzas {
			return nil, nil, nil, false
		}
		line, next, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			return nil, nil, nil, false
		}
		words, found := bytes.CutPrefix(line, []byte("-> "))
		if !found {
			return nil, nil, nil, false
		}
		s := &age.Stanza{}
		for w := range bytes.SplitSeq(words, []byte(" ")) {
			if !validArg(w) || len(s.Args) == maxFastArgs {
				return nil, nil, nil, false
			}
			if s.Type == "" {
				s.Type = string(w)
			} else {
				s.Args = append(s.Args, string(w))
			}
		}
		rest = next
		for {
			line, next, found := bytes.Cut(rest, []byte("\n"))
			if !found || len(line) > ageColumns {
				return nil, nil, nil, false
			}
			n := len(s.Body)
			s.Body = slices.Grow(s.Body, ageB64.DecodedLen(len(line)))
			k, err := ageB64.Decode(s.Body[n:n+ageB64.DecodedLen(len(line))], line)
			if err != nil {
				return nil, nil, nil, false
			}
			s.Body = s.Body[:n+k]
			rest = next
			if k < ageLineBytes { // age: a line of fewer bytes ends the body
				break
			}
		}
		stanzas = append(stanzas, s)
	}
	if len(stanzas) == 0 {
		return nil, nil, nil, false
	}
	macEnd := len(hdr) - len(rest) + len("---")
	// "--- " and 43 columns of base64 for 32 bytes, ending the header.
	tail := rest[len("---"):]
	if len(tail) != 1+43+1 || tail[0] != ' ' || tail[len(tail)-1] != '\n' {
		return nil, nil, nil, false
	}
	mac = make([]byte, 32)
	if n, err := ageB64.Decode(mac, tail[1:len(tail)-1]); err != nil || n != 32 {
		return nil, nil, nil, false
	}
	return stanzas, hdr[:macEnd], mac, true
}

// validArg reports whether w can be a stanza's type or argument: one or
// more printable ASCII characters, no space.
func validArg(w []byte) bool {
	if len(w) == 0 {
		return false
	}
	for _, c := range w {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}
