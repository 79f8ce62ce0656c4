package vault

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"pvault/analysis"
	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// Petition states (DESIGN.md).
const (
	StatusRegistered  = "registered"
	StatusAccepted    = "accepted"
	StatusNotAccepted = "not_accepted"
	StatusTransferred = "transferred"
	StatusInProgress  = "in_progress"
	StatusReplied     = "replied"
	StatusReview      = "review"
	StatusRereview    = "rereview"
	StatusClosed      = "closed"
)

// Statuses lists the petition states.
var Statuses = []string{StatusRegistered, StatusAccepted, StatusNotAccepted, StatusTransferred,
	StatusInProgress, StatusReplied, StatusReview, StatusRereview, StatusClosed}

// Channels lists the intake channels.
var Channels = []string{"letter", "visit", "phone", "online", "email", "hotline"}

// AcceptWindow is the time to register and decide on a petition (Art. 22/23).
const AcceptWindow = 15 * 24 * time.Hour

// Petitioner is the identity of the person who petitions. It exists on disk
// only inside the identity envelope.
type Petitioner struct {
	Name       string `json:"name"`
	IDNumber   string `json:"id_number"`
	Phone      string `json:"phone"`
	Address    string `json:"address"`
	EmployeeNo string `json:"employee_no"`
}

// NewPetition is the input of CreatePetition.
type NewPetition struct {
	Unit       string
	Channel    string
	Title      string
	Content    string
	Requests   string
	Petitioner *Petitioner
	Subjects   []string
	GroupSize  int
	ReceivedAt *time.Time
}

// Deadlines of a petition; nil when not set.
type Deadlines struct {
	AcceptBy        *time.Time `json:"accept_by"`
	ResolveBy       *time.Time `json:"resolve_by"`
	ReviewRequestBy *time.Time `json:"review_request_by"`
	ReviewBy        *time.Time `json:"review_by"`
	// ObjectionBy is the end of the receiving unit's window to object to a
	// misdirected transfer (Art. 23), counted in working days.
	ObjectionBy *time.Time `json:"objection_by,omitempty"`
}

// Category is a petition's category label.
type Category struct {
	Label      string  `json:"label"`
	Confidence float64 `json:"confidence"`
	Source     string  `json:"source"`
	// NeedsReview marks a model label of low confidence for an officer.
	NeedsReview bool `json:"needs_review,omitempty"`
}

// Risk is a petition's risk assessment.
type Risk struct {
	Level   string   `json:"level"`
	Score   int      `json:"score"`
	Reasons []string `json:"reasons"`
}

// Duplicate links a petition to a similar one.
type Duplicate struct {
	ID         string  `json:"id"`
	Similarity float64 `json:"similarity"`
}

// Meta is the plaintext metadata of a petition: no text, no identity.
type Meta struct {
	ID               string      `json:"id"`
	Unit             string      `json:"unit"`
	Channel          string      `json:"channel"`
	Status           string      `json:"status"`
	GroupSize        int         `json:"group_size"`
	Subjects         []string    `json:"subjects"` // keyed hashes
	RegisteredBy     string      `json:"registered_by"`
	RegisteredByName string      `json:"registered_by_name"`
	Assignee         string      `json:"assignee"`
	AssigneeName     string      `json:"assignee_name"`
	HasIdentity      bool        `json:"has_identity"`
	ReceiptHash      string      `json:"receipt_hash"`
	ReceivedAt       time.Time   `json:"received_at"`
	CreatedAt        time.Time   `json:"created_at"`
	UpdatedAt        time.Time   `json:"updated_at"`
	Deadlines        Deadlines   `json:"deadlines"`
	Category         *Category   `json:"category"`
	Risk             *Risk       `json:"risk"`
	Duplicates       []Duplicate `json:"duplicates"`

	// Workflow state.
	Stage        int        `json:"stage"` // 0 handling, 1 review (复查), 2 re-review (复核)
	Extended     bool       `json:"extended"`
	AcceptedAt   *time.Time `json:"accepted_at,omitempty"`
	FirstReplyAt *time.Time `json:"first_reply_at,omitempty"`
	InTime       *bool      `json:"in_time,omitempty"` // first reply within the legal time
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	Final        bool       `json:"final"` // re-reviewed: the outcome is final
	External     string     `json:"external,omitempty"`
	Rating       string     `json:"rating,omitempty"` // petitioner's feedback
	Events       int64      `json:"events"`
	// PetitionerKeys are keyed hashes of the petitioner's ID number and
	// phone, to find repeat petitions by the same person.
	PetitionerKeys []string `json:"petitioner_keys,omitempty"`
	// RepeatOfFinal names an earlier petition by the same petitioner in the
	// same unit whose outcome is final.
	RepeatOfFinal string `json:"repeat_of_final,omitempty"`
}

// Content is the sealed text of a petition.
type Content struct {
	Title    string   `json:"title"`
	Content  string   `json:"content"`
	Requests string   `json:"requests"`
	Subjects []string `json:"subjects"`
	// Masked is the masked identity shown on ordinary reads, so that they
	// never open the identity envelope.
	Masked *Petitioner `json:"masked"`
	// Raw, when set by OpenContentRaw, holds the title, content and
	// requests as stored JSON strings; the three fields are then empty.
	// They point into the opened plaintext until Release.
	Raw *RawText `json:"-"`

	plain *[]byte // the pooled plaintext Raw points into
}

// plainPool holds buffers for opened content: a read reuses one instead of
// allocating its plaintext, and Release zeroes it first.
var plainPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledPlain bounds the buffers kept in plainPool.
const maxPooledPlain = 64 << 10

// Release zeroes the plaintext c.Raw points into and lets a later read
// reuse its memory; c.Raw is nil afterwards. It does nothing for content
// opened otherwise, and may be called more than once.
func (c *Content) Release() {
	if c == nil || c.plain == nil {
		return
	}
	p := c.plain
	c.Raw, c.plain = nil, nil
	releasePlain(p)
}

// releasePlain zeroes a plaintext buffer and returns it to plainPool.
func releasePlain(p *[]byte) {
	clear((*p)[:cap(*p)])
	if cap(*p) <= maxPooledPlain {
		*p = (*p)[:0]
		plainPool.Put(p)
	}
}

// Object is the policy object of the petition.
func (m *Meta) Object() *policy.Object {
	return &policy.Object{Type: "petition", ID: m.ID, Unit: m.Unit, RegisteredBy: m.RegisteredBy, Assignee: m.Assignee, Subjects: m.Subjects}
}

// Overdue reports whether a deadline of the current state has passed at now.
func (m *Meta) Overdue(now time.Time) bool {
	past := func(t *time.Time) bool { return t != nil && now.After(*t) }
	switch m.Status {
	case StatusRegistered:
		return past(m.Deadlines.AcceptBy)
	case StatusAccepted, StatusInProgress:
		return past(m.Deadlines.ResolveBy)
	case StatusReview, StatusRereview:
		return past(m.Deadlines.ReviewBy)
	}
	return false
}

func metaKey(id string) []byte     { return []byte("p/" + id + "/m") }
func contentKey(id string) []byte  { return []byte("p/" + id + "/c") }
func identityKey(id string) []byte { return []byte("p/" + id + "/i") }
func receiptKey(h string) []byte   { return []byte("rc/" + h) }

// Limits on petition fields (runes).
const (
	MaxTitle       = 200
	MaxContent     = 20000
	MaxRequests    = 5000
	MaxSubjects    = 20
	MaxSubjectLen  = 100
	MaxGroupSize   = 100000
	maxClockSkew   = 5 * time.Second
	maxPetitionAge = 5 * 365 * 24 * time.Hour
)

func (v *Vault) checkNewPetition(in *NewPetition, now time.Time) error {
	if !ValidUnit(in.Unit) {
		return invalid("unit", "not a unit path (segments of a-z, 0-9 and '-', joined by '/')")
	}
	if !slices.Contains(Channels, in.Channel) {
		return invalid("channel", "one of %s", strings.Join(Channels, ", "))
	}
	if err := checkText("title", in.Title, 1, MaxTitle, false); err != nil {
		return err
	}
	if err := checkText("content", in.Content, 1, MaxContent, true); err != nil {
		return err
	}
	if err := checkText("requests", in.Requests, 0, MaxRequests, true); err != nil {
		return err
	}
	if p := in.Petitioner; p != nil {
		for _, f := range []struct {
			name string
			val  string
			max  int
		}{{"petitioner.name", p.Name, 100}, {"petitioner.id_number", p.IDNumber, 32}, {"petitioner.phone", p.Phone, 32},
			{"petitioner.address", p.Address, 500}, {"petitioner.employee_no", p.EmployeeNo, 64}} {
			if err := checkText(f.name, f.val, 0, f.max, false); err != nil {
				return err
			}
		}
		if *p == (Petitioner{}) {
			in.Petitioner = nil
		}
	}
	if len(in.Subjects) > MaxSubjects {
		return invalid("subjects", "at most %d", MaxSubjects)
	}
	for _, s := range in.Subjects {
		if err := checkText("subjects", s, 1, MaxSubjectLen, false); err != nil {
			return err
		}
	}
	if in.GroupSize == 0 {
		in.GroupSize = 1
	}
	if in.GroupSize < 1 || in.GroupSize > MaxGroupSize {
		return invalid("group_size", "between 1 and %d", MaxGroupSize)
	}
	if in.ReceivedAt != nil {
		if in.ReceivedAt.After(now.Add(maxClockSkew)) {
			return invalid("received_at", "in the future")
		}
		if in.ReceivedAt.Before(now.Add(-maxPetitionAge)) {
			return invalid("received_at", "more than five years ago")
		}
	}
	return nil
}

// Created is the result of CreatePetition.
type Created struct {
	Meta        *Meta
	Content     *Content
	ReceiptCode string
	Entry       audit.Entry
}

// CreatePetition seals and stores a new petition registered by u (nil for the
// public portal) and records e with it. It returns an error wrapping
// ErrInvalid for bad input.
func (v *Vault) CreatePetition(in NewPetition, u *User, e *audit.Entry) (*Created, error) {
	now := v.Now()
	if err := v.checkNewPetition(&in, now); err != nil {
		return nil, err
	}
	received := now
	if in.ReceivedAt != nil {
		received = in.ReceivedAt.UTC()
	}
	code := NewReceiptCode()
	norm, _ := NormalizeReceiptCode(code)
	id := v.ids.nextPID(now)
	m := &Meta{
		ID: id.String(), Unit: in.Unit, Channel: in.Channel, Status: StatusRegistered,
		GroupSize: in.GroupSize, ReceivedAt: received, CreatedAt: now, UpdatedAt: now,
		HasIdentity: in.Petitioner != nil, ReceiptHash: v.hasher.Sum(HashReceipt, norm),
		Duplicates: []Duplicate{},
	}
	if u != nil {
		m.RegisteredBy, m.RegisteredByName = u.ID, u.Username
	}
	for _, s := range in.Subjects {
		h := v.hasher.Sum(HashSubject, normalizeName(s))
		if !slices.Contains(m.Subjects, h) {
			m.Subjects = append(m.Subjects, h)
		}
	}
	acceptBy := v.cal.Add(received, v.rules.Accept.Days, v.rules.Accept.Working)
	m.Deadlines.AcceptBy = &acceptBy
	if p := in.Petitioner; p != nil {
		for _, x := range []string{normalizeIDNumber(p.IDNumber), normalizePhone(p.Phone)} {
			if x != "" {
				m.PetitionerKeys = append(m.PetitionerKeys, v.hasher.Sum(HashPetitioner, x))
			}
		}
	}
	final, err := v.finalMatter(m)
	if err != nil {
		return nil, err
	}
	m.RepeatOfFinal = final
	c := &Content{Title: in.Title, Content: in.Content, Requests: in.Requests, Subjects: in.Subjects}
	if c.Subjects == nil {
		c.Subjects = []string{}
	}
	if in.Petitioner != nil {
		c.Masked = MaskPetitioner(in.Petitioner)
	}
	aops, bands, sig, err := v.analyze(m, analysis.JoinText(in.Title, in.Content, in.Requests))
	if err != nil {
		return nil, err
	}
	var pre []store.Op
	if m.Risk != nil && m.Risk.Level == "critical" {
		// A critical petition raises an alert for the unit's supervisors at once.
		a := Alert{PetitionID: m.ID, Unit: m.Unit, Kind: AlertCritical, Status: m.Status, Deadline: m.Deadlines.AcceptBy, Since: now}
		_, evOp, err := v.newEvent(m, Event{Type: "alert", Action: AlertCritical, ActorKind: "system", Time: now}, EventText{})
		if err != nil {
			return nil, err
		}
		pre = append(pre, store.Put(alertKey(m.ID, AlertCritical), mustJSON(a)), evOp)
	}
	ops, err := v.sealPetition(m, c, in.Petitioner)
	if err != nil {
		return nil, err
	}
	ops = append(ops, aops...)
	ops = append(ops, pre...)
	ops = append(ops, store.Put(receiptKey(m.ReceiptHash), []byte(m.ID)))
	ops = append(ops, v.unitOpsIfNew(m.Unit)...)
	e.Object = &audit.Object{Type: "petition", ID: m.ID}
	rec, err := v.log.Append(e, ops)
	// Even after an error: the commit may have landed, and an id that did
	// not is harmless in the cache (bucketCache).
	v.buckets.add(bands, id)
	if err != nil {
		return nil, err
	}
	v.sigs.put(m.ID, sig) // committed: the next creates on its matter compare with it
	return &Created{Meta: m, Content: c, ReceiptCode: code, Entry: rec}, nil
}

func (v *Vault) sealPetition(m *Meta, c *Content, id *Petitioner) ([]store.Op, error) {
	cb, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sealedContent, err := v.sealJSON(cb)
	if err != nil {
		return nil, err
	}
	ops := []store.Op{
		store.Put(metaKey(m.ID), mustJSON(m)),
		store.Put(contentKey(m.ID), sealedContent),
	}
	if id != nil {
		sealedID, err := v.sealJSON(mustJSON(id))
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Put(identityKey(m.ID), sealedID))
	}
	for _, k := range indexKeys(m) {
		ops = append(ops, store.Put(k, nil))
	}
	for _, pk := range m.PetitionerKeys {
		ops = append(ops, store.Put([]byte("x/pk/"+pk+"\x00"+m.ID), nil))
	}
	return ops, nil
}

// normalizeIDNumber folds an ID number for keyed hashing.
func normalizeIDNumber(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s))
}

// normalizePhone keeps the digits of a phone number, without a +86 prefix.
func normalizePhone(s string) string {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(d) == 13 && strings.HasPrefix(d, "86") {
		d = d[2:]
	}
	return d
}

// SamePetitioner returns the ids of earlier petitions whose petitioner
// shares an ID number or phone with m, newest first (at most limit).
func (v *Vault) SamePetitioner(m *Meta, limit int) ([]string, error) {
	var ids []string
	err := v.st.View(func(r store.Reader) error {
		for _, pk := range m.PetitionerKeys {
			err := r.Scan(store.ScanOptions{Prefix: []byte("x/pk/" + pk + "\x00"), Reverse: true, KeysOnly: true}, func(k, _ []byte) error {
				id := string(k[len(k)-26:])
				if id != m.ID && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
				if len(ids) >= limit {
					return store.ErrStop
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// finalKey indexes petitions whose outcome is final by petitioner key and
// unit: x/fin/<petitioner key>\x00<unit> → id.
func finalKey(pk, unit string) []byte { return []byte("x/fin/" + pk + "\x00" + unit) }

// finalMatter returns an earlier petition by the same petitioner in the same
// unit whose outcome is final (re-reviewed), or "".
func (v *Vault) finalMatter(m *Meta) (string, error) {
	id := ""
	err := v.st.View(func(r store.Reader) error {
		for _, pk := range m.PetitionerKeys {
			b, err := r.Get(finalKey(pk, m.Unit))
			if err == nil {
				id = string(b)
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return id, err
}

// Meta returns a petition's metadata, or an error wrapping ErrNotFound.
func (v *Vault) Meta(id string) (*Meta, error) {
	m, err := v.SharedMeta(id)
	if err != nil {
		return nil, err
	}
	return m.clone(), nil
}

// SharedMeta is Meta for a caller that only reads the metadata, as the
// Meta of a ListItem: it may be shared with other callers (the metadata
// cache) and must never be modified. It saves the deep copy that Meta
// makes: 2.8 % of the server's CPU in a profile of reads, too little for
// the load runs to show.
func (v *Vault) SharedMeta(id string) (*Meta, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	if m := v.recent.get(id); m != nil {
		return m, nil
	}
	var m *Meta
	g := v.recent.begin()
	err := v.st.View(func(r store.Reader) error {
		var err error
		m, err = v.sharedMeta(r, id) // the cache was just asked
		return err
	})
	if err != nil {
		return nil, err
	}
	v.recent.put(id, m, g)
	return m, nil
}

// OpenContent decrypts a petition's content. It returns an error wrapping
// ErrCorrupt when the envelope fails to open.
func (v *Vault) OpenContent(id string) (*Content, error) {
	return v.openContentWith(id, unmarshalContent)
}

// OpenContentRaw is OpenContent with the title, content and requests kept
// in c.Raw as the JSON strings the record holds, for a response that copies
// them; a record it cannot read so is decoded as by OpenContent (Raw nil).
//
// The text in c.Raw is read from a pooled buffer: call c.Release once the
// response holding it is written, which zeroes the buffer for reuse.
func (v *Vault) OpenContentRaw(id string) (*Content, error) {
	buf := plainPool.Get().(*[]byte)
	pt, e, err := v.openContentBytesInto(id, *buf)
	if err != nil {
		releasePlain(buf)
		return nil, err
	}
	*buf = pt
	utf8OK := e != nil && e.utf8OK.Load()
	c, err := decodeContentRaw(pt, utf8OK)
	if err == nil && c.Raw != nil && e != nil && !utf8OK {
		e.utf8OK.Store(true) // the raw parse checked it (a decode by encoding/json would not have)
	}
	if err != nil {
		releasePlain(buf)
		return nil, fmt.Errorf("%w: content of %s malformed", ErrCorrupt, id)
	}
	if c.Raw == nil {
		releasePlain(buf) // decoded: the strings are copies
		return c, nil
	}
	c.plain = buf
	return c, nil
}

// openContentWith opens a petition's content and decodes it with decode.
func (v *Vault) openContentWith(id string, decode func([]byte) (*Content, error)) (*Content, error) {
	pt, err := v.openContentBytes(id)
	if err != nil {
		return nil, err
	}
	c, err := decode(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: content of %s malformed", ErrCorrupt, id)
	}
	return c, nil
}

// openTitle opens a petition's content for its title alone. Content is
// written with its title first, so the title is read as the first member
// without scanning the text after it (the envelope authenticates what the
// vault wrote); anything else is decoded in full.
//
// Titles are kept sealed in v.titles, so a petition listed again is not
// opened again.
func (v *Vault) openTitle(id string) (*Content, error) {
	if title, ok := v.titles.get(id); ok {
		return &Content{Title: title}, nil
	}
	pt, err := v.openContentBytes(id)
	if err != nil {
		return nil, err
	}
	title, ok := leadingTitle(pt)
	if !ok {
		var t struct {
			Title string `json:"title"`
		}
		if err := json.Unmarshal(pt, &t); err != nil {
			return nil, fmt.Errorf("%w: content of %s malformed", ErrCorrupt, id)
		}
		title = t.Title
	}
	v.titles.put(id, title)
	return &Content{Title: title}, nil
}

// leadingTitle returns the value of a JSON object's first member when that
// member is "title" and a string; ok is false otherwise. It reads no further
// than that value.
func leadingTitle(pt []byte) (title string, ok bool) {
	i := skipSpace(pt, 0)
	if i >= len(pt) || pt[i] != '{' {
		return "", false
	}
	i = skipSpace(pt, i+1)
	const key = `"title"`
	if !bytes.HasPrefix(pt[i:], []byte(key)) {
		return "", false
	}
	i = skipSpace(pt, i+len(key))
	if i >= len(pt) || pt[i] != ':' {
		return "", false
	}
	i = skipSpace(pt, i+1)
	if i >= len(pt) || pt[i] != '"' {
		return "", false
	}
	if end, _ := stringEnd(pt, i); end < 0 || !utf8.Valid(pt[i:end]) {
		return "", false
	}
	title, _, ok = jsonString(pt, i)
	return title, ok
}

// openContentBytes decrypts a petition's content envelope.
// The envelope is opened in the store's own buffer: v.open keeps nothing
// of it.
func (v *Vault) openContentBytes(id string) ([]byte, error) {
	pt, _, err := v.openContentBytesInto(id, nil)
	return pt, err
}

// openContentBytesInto is openContentBytes opening into dst[:0] when the
// plaintext fits. It also returns the envelope's entry in v.sealed (nil
// when it is not cached).
func (v *Vault) openContentBytesInto(id string, dst []byte) ([]byte, *sealedEntry, error) {
	if e, ok := v.sealed.get(id); ok {
		if pt, err := openBytesInto(dst, e.ct, v.keyset.Load().identities...); err == nil {
			return pt, e, nil
		}
		v.sealed.drop(id) // sealed to a key rotated out since: read the store
	}
	var pt []byte
	var e *sealedEntry
	var openErr error
	err := v.st.View(func(r store.Reader) error {
		return store.GetView(r, contentKey(id), func(ct []byte) error {
			// The keys are loaded after the snapshot: a record a rotation
			// re-sealed before it opens with the keyset that rotation set.
			pt, openErr = openBytesInto(dst, ct, v.keyset.Load().identities...)
			if openErr == nil {
				e = v.sealed.put(id, ct)
			}
			return nil
		})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: content of %s missing", ErrCorrupt, id)
	}
	if err != nil {
		return nil, nil, err
	}
	return pt, e, openErr
}

// OpenIdentity decrypts a petition's petitioner identity; it returns nil for
// an anonymous petition, and an error wrapping ErrCorrupt when the envelope
// fails to open.
func (v *Vault) OpenIdentity(m *Meta) (*Petitioner, error) {
	if !m.HasIdentity {
		return nil, nil
	}
	var ct []byte
	err := v.st.View(func(r store.Reader) error {
		var err error
		ct, err = r.Get(identityKey(m.ID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: identity of %s missing", ErrCorrupt, m.ID)
	}
	pt, err := v.open(ct)
	if err != nil {
		return nil, err
	}
	var p Petitioner
	if err := json.Unmarshal(pt, &p); err != nil {
		return nil, fmt.Errorf("%w: identity of %s malformed", ErrCorrupt, m.ID)
	}
	return &p, nil
}

// MaskPetitioner returns p with every field masked: the family name kept,
// the first four and last four digits of an ID number, the first three and
// last four of a phone number, the first three characters of an address.
func MaskPetitioner(p *Petitioner) *Petitioner {
	return &Petitioner{
		Name:       maskKeep(p.Name, 1, 0),
		IDNumber:   maskKeep(p.IDNumber, 4, 4),
		Phone:      maskPhone(p.Phone),
		Address:    maskAddress(p.Address),
		EmployeeNo: maskAll(p.EmployeeNo),
	}
}

// maskKeep keeps head and tail runes and stars the rest; short values are
// starred whole but for the first rune.
func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) == 0 {
		return ""
	}
	if len(r) <= head+tail {
		if len(r) == 1 {
			return "*"
		}
		return string(r[0]) + strings.Repeat("*", len(r)-1)
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}

func maskPhone(s string) string {
	if utf8.RuneCountInString(s) < 8 {
		return maskAll(s)
	}
	return maskKeep(s, 3, 4)
}

func maskAddress(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return ""
	}
	if len(r) <= 3 {
		return "***"
	}
	return string(r[:3]) + "***"
}

func maskAll(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// Lookup of a petition by receipt code; an error wrapping ErrNotFound when no
// petition has the code (or it is malformed).
func (v *Vault) PetitionByReceipt(code string) (*Meta, error) {
	norm, ok := NormalizeReceiptCode(code)
	if !ok {
		// Hash a fixed string so that malformed codes cost what others do.
		norm = strings.Repeat("0", ReceiptCodeLen)
	}
	h := v.hasher.Sum(HashReceipt, norm)
	var id []byte
	err := v.st.View(func(r store.Reader) error {
		var err error
		id, err = r.Get(receiptKey(h))
		return err
	})
	if !ok || errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m, err := v.Meta(string(id))
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(m.ReceiptHash), []byte(h)) != 1 {
		return nil, ErrNotFound
	}
	return m, nil
}
