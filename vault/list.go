package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"pvault/policy"
	"pvault/vault/store"
)

// Index keys of petitions. Every key ends with the petition id, and ids sort
// in creation order, so a reverse scan of one prefix lists newest first.
//
//	x/all/<id>                      every petition
//	x/u/<unit>\x00<id>              the petition's unit and each unit above it
//	x/us/<unit>\x00<status>\x00<id> the same, by status
//	x/s/<status>\x00<id>            by status
//	x/r/<user id>\x00<id>           by registrar
//	x/a/<user id>\x00<id>           by assignee
func indexKeys(m *Meta) [][]byte {
	keys := [][]byte{[]byte("x/all/" + m.ID)}
	for _, u := range ancestors(m.Unit) {
		keys = append(keys, []byte("x/u/"+u+"\x00"+m.ID), []byte("x/us/"+u+"\x00"+m.Status+"\x00"+m.ID))
	}
	keys = append(keys, []byte("x/s/"+m.Status+"\x00"+m.ID))
	if m.RegisteredBy != "" {
		keys = append(keys, []byte("x/r/"+m.RegisteredBy+"\x00"+m.ID))
	}
	if m.Assignee != "" {
		keys = append(keys, []byte("x/a/"+m.Assignee+"\x00"+m.ID))
	}
	return keys
}

// reindexOps returns the index writes that move a petition from old to new
// metadata.
func reindexOps(old, new *Meta) []store.Op {
	var ops []store.Op
	oldKeys, newKeys := indexKeys(old), indexKeys(new)
	for _, k := range oldKeys {
		if !slices.ContainsFunc(newKeys, func(x []byte) bool { return bytes.Equal(x, k) }) {
			ops = append(ops, store.Del(k))
		}
	}
	for _, k := range newKeys {
		if !slices.ContainsFunc(oldKeys, func(x []byte) bool { return bytes.Equal(x, k) }) {
			ops = append(ops, store.Put(k, nil))
		}
	}
	return ops
}

// Query selects petitions for List. Empty fields match everything.
type Query struct {
	Status   string
	Unit     string
	Category string
	Risk     string
	Assignee string // user id
	Overdue  *bool
	// DueSoon selects open cases whose current deadline falls within the
	// warning window (true) or not (false).
	DueSoon *bool
	// Match, when set, is a further filter on metadata.
	Match func(*Meta) bool
	// Limit is the page size (1–500).
	Limit  int
	window time.Duration
	// Cursor is the opaque cursor of the previous page.
	Cursor string
}

// EncodeCursor and DecodeCursor make list cursors opaque.
func EncodeCursor(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeCursor returns the id in a cursor, or false if it is not one.
func DecodeCursor(c string) (string, bool) {
	if c == "" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !ValidID(string(b)) {
		return "", false
	}
	return string(b), true
}

// ListItem is one petition of a list page.
type ListItem struct {
	// Meta may be shared with other callers (the metadata cache): read it,
	// never modify it.
	Meta *Meta
	// Content holds only the title (a list shows no more); nil when the
	// envelope is damaged.
	Content *Content
}

// stream is one index prefix scanned newest first.
type stream struct {
	prefix []byte
	pos    []byte // next key to visit (inclusive); nil means from the end
	buf    []string
	done   bool
	chunk  int // ids the next fill reads
}

// maxChunk is the most ids a fill reads. The first fill of a page reads
// what the page needs when no row is filtered out (its length and one more,
// to know whether there is a next page), each later one twice as many: a
// page of 50 read 128 index keys per stream when every row passed.
const maxChunk = 128

func (s *stream) fill(r store.Reader, after string) error {
	if s.done || len(s.buf) > 0 {
		return nil
	}
	chunk := min(max(s.chunk, 1), maxChunk)
	s.chunk = 2 * chunk
	opts := store.ScanOptions{Prefix: s.prefix, Reverse: true, KeysOnly: true, Start: s.pos}
	if s.pos == nil && after != "" {
		opts.Start = append(slices.Clone(s.prefix), after...)
	}
	n := 0
	var last []byte
	err := r.Scan(opts, func(k, _ []byte) error {
		id := string(k[len(s.prefix):])
		if id == after {
			return nil
		}
		if n == chunk {
			return store.ErrStop
		}
		s.buf = append(s.buf, id)
		last = append(last[:0], k...) // k is only valid during the callback
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n < chunk {
		s.done = true
	} else {
		// Continue just below the last key seen.
		s.pos = append(slices.Clone(last[:len(last)-1]), last[len(last)-1]-1, 0xff)
	}
	return nil
}

// List returns a page of petitions newest first, drawn from the indexes of
// the caller's scopes (policy.Scope… names) and filtered by q and by allow,
// which is asked once per candidate that passes the filters. Only the
// petitions on the page are decrypted. It returns the page and the cursor of
// the next one ("" on the last page).
func (v *Vault) List(sub *policy.Subject, scopes []string, q Query, allow func(*Meta) bool) ([]ListItem, string, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	after, ok := DecodeCursor(q.Cursor)
	if !ok {
		return nil, "", invalid("cursor", "not a cursor of this list")
	}
	if q.Unit != "" && !ValidUnit(q.Unit) {
		return nil, "", invalid("unit", "not a unit path")
	}
	q.window = v.rules.DueSoon
	streams := planStreams(sub, scopes, q)
	for _, s := range streams {
		s.chunk = q.Limit + 1
	}
	now := v.Now()
	var page []*Meta
	next := ""
	g := v.recent.begin()
	err := v.st.View(func(r store.Reader) error {
		for {
			for _, s := range streams {
				if err := s.fill(r, after); err != nil {
					return err
				}
			}
			// The newest id at the head of any stream.
			best := ""
			for _, s := range streams {
				if len(s.buf) > 0 && s.buf[0] > best {
					best = s.buf[0]
				}
			}
			if best == "" {
				return nil
			}
			for _, s := range streams {
				if len(s.buf) > 0 && s.buf[0] == best {
					s.buf = s.buf[1:]
				}
			}
			m, err := v.recentMeta(r, best, g)
			if err != nil {
				if err == ErrNotFound {
					continue // index ahead of a deleted record
				}
				if errors.Is(err, ErrCorrupt) {
					// Unreadable metadata cannot be matched or
					// authorised: the row is left out, the rest listed.
					v.logger.Error("list: petition metadata damaged", "petition", best)
					continue
				}
				return err
			}
			if !q.matches(m, now) || !allow(m) {
				continue
			}
			if len(page) == q.Limit {
				next = EncodeCursor(page[len(page)-1].ID)
				return nil
			}
			page = append(page, m)
		}
	})
	if err != nil {
		return nil, "", err
	}
	items := make([]ListItem, 0, len(page))
	for _, m := range page {
		c, err := v.openTitle(m.ID)
		if errors.Is(err, ErrCorrupt) {
			// One damaged envelope must not take the page down: the row
			// is listed from its metadata, marked damaged, and reads of
			// that petition keep failing cleanly until it is restored.
			v.logger.Error("list: sealed content damaged", "petition", m.ID)
			c = nil
		} else if err != nil {
			return nil, "", err
		}
		items = append(items, ListItem{Meta: m, Content: c})
	}
	return items, next, nil
}

func (q *Query) matches(m *Meta, now time.Time) bool {
	if q.Status != "" && m.Status != q.Status {
		return false
	}
	if q.Unit != "" && !policy.Within(m.Unit, q.Unit) {
		return false
	}
	if q.Assignee != "" && m.Assignee != q.Assignee {
		return false
	}
	if q.Category != "" && (m.Category == nil || m.Category.Label != q.Category) {
		return false
	}
	if q.Risk != "" && (m.Risk == nil || m.Risk.Level != q.Risk) {
		return false
	}
	if q.Overdue != nil && m.Overdue(now) != *q.Overdue {
		return false
	}
	if q.DueSoon != nil && m.DueSoon(now, q.window) != *q.DueSoon {
		return false
	}
	if q.Match != nil && !q.Match(m) {
		return false
	}
	return true
}

// planStreams picks, for each scope, the narrowest index that covers it.
func planStreams(sub *policy.Subject, scopes []string, q Query) []*stream {
	var out []*stream
	add := func(p string) {
		for _, s := range out {
			if string(s.prefix) == p {
				return
			}
		}
		out = append(out, &stream{prefix: []byte(p)})
	}
	byUnit := func(unit string) {
		if q.Status != "" {
			add("x/us/" + unit + "\x00" + q.Status + "\x00")
		} else {
			add("x/u/" + unit + "\x00")
		}
	}
	for _, sc := range scopes {
		switch sc {
		case policy.ScopeAll:
			switch {
			case q.Unit != "":
				byUnit(q.Unit)
			case q.Assignee != "":
				add("x/a/" + q.Assignee + "\x00")
			case q.Status != "":
				add("x/s/" + q.Status + "\x00")
			default:
				add("x/all/")
			}
		case policy.ScopeUnit, policy.ScopeParent:
			switch {
			case q.Unit == "" || policy.Within(sub.Unit, q.Unit):
				byUnit(sub.Unit)
			case policy.Within(q.Unit, sub.Unit):
				byUnit(q.Unit)
			}
		case policy.ScopeRegistered:
			add("x/r/" + sub.UserID + "\x00")
		case policy.ScopeAssigned:
			add("x/a/" + sub.UserID + "\x00")
		}
	}
	return out
}
