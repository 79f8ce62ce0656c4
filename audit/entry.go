// Package audit is pvault's tamper-evident access log.
//
// Every API request becomes one Entry. Entries are encoded canonically (see
// Entry.Marshal) and appended to a log that is both a hash chain (each entry
// names the RFC 6962 leaf hash of the one before) and an RFC 6962 Merkle tree
// whose stored hashes are written in the same transaction as the entry and the
// data writes the request made. A signed checkpoint commits to the tree, so an
// auditor who holds one can prove that any later log extends it unchanged.
//
// Threat model: whoever controls the server or its storage can stop the log or
// destroy it, but cannot edit, insert, delete, reorder or truncate entries
// covered by a checkpoint an auditor holds without that being detected by
// Verify, VerifyExport or a consistency proof. Entries never hold petition text
// or identity fields: only ids, action names, statuses and keyed hashes.
package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Decisions recorded in entries.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Entry is one audited request.
type Entry struct {
	Seq       int64          `json:"seq"`
	Time      time.Time      `json:"time"`
	RequestID string         `json:"request_id"`
	Actor     *Actor         `json:"actor"`
	Action    string         `json:"action"`
	Object    *Object        `json:"object"`
	Decision  string         `json:"decision"`
	Status    int            `json:"status"`
	Reason    string         `json:"reason"`
	Details   map[string]any `json:"details"`
	Prev      string         `json:"prev"`
	// FreshRequestID says that the request came without an id: RequestID is
	// empty or was just made by NewRequestID (128 random bits), so the log
	// need not look it up to keep request ids unique; a log with a
	// RequestIDKey replaces it with an id naming the entry, one without
	// makes one when it is empty. It is never stored or returned set.
	FreshRequestID bool `json:"-"`
}

// Actor is the authenticated caller of a request.
type Actor struct {
	UserID   string   `json:"user_id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
	Unit     string   `json:"unit"`
}

// Object is what a request acted on.
type Object struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Errors of entry encoding.
var (
	// ErrMalformed is returned by ParseEntry for bytes that are not a canonical entry.
	ErrMalformed = errors.New("audit: malformed entry")
)

// Marshal returns the canonical bytes of e: compact JSON with fields in the
// order of the Entry type, details keys sorted, times in UTC RFC 3339 with
// nanoseconds, and a non-nil details object. These are the bytes hashed into
// the log and the lines of an export.
func (e *Entry) Marshal() ([]byte, error) {
	if b, ok := appendCanonical(make([]byte, 0, 512), e); ok {
		return b, nil
	}
	return e.marshalReflect()
}

// marshalReflect is Marshal with encoding/json, for any entry.
func (e *Entry) marshalReflect() ([]byte, error) {
	c := *e
	c.Time = c.Time.UTC()
	// Invalid UTF-8 (from a hostile path or form field) becomes U+FFFD
	// here, so that the canonical bytes parse back to themselves.
	c.RequestID, c.Action, c.Decision, c.Reason = validUTF8(c.RequestID), validUTF8(c.Action), validUTF8(c.Decision), validUTF8(c.Reason)
	if c.Object != nil {
		o := Object{Type: validUTF8(c.Object.Type), ID: validUTF8(c.Object.ID)}
		c.Object = &o
	}
	if c.Actor != nil {
		a := *c.Actor
		a.UserID, a.Username, a.Unit = validUTF8(a.UserID), validUTF8(a.Username), validUTF8(a.Unit)
		a.Roles = append([]string(nil), a.Roles...)
		for i := range a.Roles {
			a.Roles[i] = validUTF8(a.Roles[i])
		}
		c.Actor = &a
	}
	if c.Details != nil {
		c.Details = sanitizeMap(c.Details)
	}
	if c.Details == nil {
		c.Details = map[string]any{}
	}
	if c.Actor != nil && c.Actor.Roles == nil {
		a := *c.Actor
		a.Roles = []string{}
		c.Actor = &a
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("audit: encode entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ParseEntry decodes canonical entry bytes. It returns an error wrapping
// ErrMalformed unless Marshal of the result gives back exactly b.
func ParseEntry(b []byte) (*Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return nil, ErrMalformed
	}
	if dec.More() {
		return nil, ErrMalformed
	}
	again, err := e.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		return nil, ErrMalformed
	}
	return &e, nil
}

// LeafHash is the RFC 6962 leaf hash of canonical entry bytes.
func LeafHash(b []byte) tlog.Hash { return tlog.RecordHash(b) }

// ZeroPrev is the prev field of the first entry.
var ZeroPrev = base64.StdEncoding.EncodeToString(make([]byte, tlog.HashSize))

// EncodeHash is the base64 text of h used in entries, proofs and checkpoints.
func EncodeHash(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// DecodeHash parses base64 hash text.
func DecodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return h, fmt.Errorf("audit: malformed hash")
	}
	copy(h[:], b)
	return h, nil
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// sanitizeMap replaces invalid UTF-8 in m's keys and values. Keys that
// become equal keep the value of the one that sorts first, so that the
// result does not depend on the map's order.
func sanitizeMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, dup := out[validUTF8(k)]; !dup {
			out[validUTF8(k)] = sanitizeValue(m[k])
		}
	}
	return out
}

func sanitizeValue(v any) any {
	switch x := v.(type) {
	case string:
		return validUTF8(x)
	case map[string]any:
		return sanitizeMap(x)
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = sanitizeValue(y)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, y := range x {
			out[i] = validUTF8(y)
		}
		return out
	}
	return v
}
