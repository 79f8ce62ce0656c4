package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a C2SP tlog-checkpoint: the origin of the log, its size and
// the RFC 6962 root of its first Size entries.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// ErrCheckpoint is wrapped by errors about malformed or unverifiable
// checkpoints.
var ErrCheckpoint = errors.New("audit: bad checkpoint")

// Body returns the checkpoint text: origin, size and base64 root, one per
// line.
func (c Checkpoint) Body() []byte {
	return []byte(c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + EncodeHash(c.Root) + "\n")
}

// ParseCheckpoint parses checkpoint text (the body of the signed note). It
// accepts exactly what Body produces and returns an error wrapping
// ErrCheckpoint for anything else.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.Split(string(text), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return c, fmt.Errorf("%w: want origin, size and root lines", ErrCheckpoint)
	}
	c.Origin = lines[0]
	if c.Origin == "" || strings.ContainsAny(c.Origin, " \t\r+") || len(c.Origin) > 256 {
		return c, fmt.Errorf("%w: malformed origin", ErrCheckpoint)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return c, fmt.Errorf("%w: malformed size", ErrCheckpoint)
	}
	c.Size = n
	if c.Root, err = DecodeHash(lines[2]); err != nil || EncodeHash(c.Root) != lines[2] {
		return c, fmt.Errorf("%w: malformed root", ErrCheckpoint)
	}
	return c, nil
}

// NewSigner returns a signed-note signer for checkpoints of the log called
// name (the key name, which is also the checkpoint origin) and its verifier
// key in note format (name+hash+base64key).
func NewSigner(name string, key ed25519.PrivateKey) (note.Signer, string, error) {
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, "", fmt.Errorf("audit: verifier key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("audit: verifier key: %w", err)
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, v.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("audit: signer: %w", err)
	}
	return s, vkey, nil
}

// SignCheckpoint returns c as a signed note.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(c.Body())}, s)
}

// OpenCheckpoint verifies a signed checkpoint with the verifier key (note
// format) and parses it. The origin must equal the key name. Errors wrap
// ErrCheckpoint.
func OpenCheckpoint(msg []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: verifier key: %w", ErrCheckpoint, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: signature: %w", ErrCheckpoint, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q is not the key's log", ErrCheckpoint, truncateText(c.Origin, 64))
	}
	return c, nil
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SameCheckpoint reports whether two signed checkpoints have the same body.
func SameCheckpoint(a, b []byte) bool {
	ia, ib := bytes.Index(a, []byte("\n\n")), bytes.Index(b, []byte("\n\n"))
	return ia >= 0 && ia == ib && bytes.Equal(a[:ia], b[:ib])
}
