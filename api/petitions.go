package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// PetitionJSON is the public form of a petition.
type PetitionJSON struct {
	ID             string            `json:"id"`
	Unit           string            `json:"unit"`
	Channel        string            `json:"channel"`
	Title          string            `json:"title"`
	Content        string            `json:"content"`
	Requests       string            `json:"requests"`
	Petitioner     *vault.Petitioner `json:"petitioner"`
	IdentityMasked bool              `json:"identity_masked"`
	Subjects       []string          `json:"subjects"`
	GroupSize      int               `json:"group_size"`
	Status         string            `json:"status"`
	Category       *vault.Category   `json:"category"`
	Risk           *vault.Risk       `json:"risk"`
	Duplicates     []vault.Duplicate `json:"duplicates"`
	Assignee       *string           `json:"assignee"`
	Deadlines      vault.Deadlines   `json:"deadlines"`
	Overdue        bool              `json:"overdue"`
	ReceivedAt     time.Time         `json:"received_at"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	RegisteredBy   *string           `json:"registered_by"`
	// RepeatOfFinal names an earlier petition on which the outcome is final
	// (re-reviewed) by the same petitioner in the same unit.
	RepeatOfFinal *string `json:"repeat_of_final,omitempty"`
	ReceiptCode   string  `json:"receipt_code,omitempty"`
}

// SummaryJSON is a petition in a list.
type SummaryJSON struct {
	ID         string          `json:"id"`
	Unit       string          `json:"unit"`
	Channel    string          `json:"channel"`
	Title      string          `json:"title"`
	Status     string          `json:"status"`
	Category   *vault.Category `json:"category"`
	Risk       *vault.Risk     `json:"risk"`
	Assignee   *string         `json:"assignee"`
	Deadlines  vault.Deadlines `json:"deadlines"`
	Overdue    bool            `json:"overdue"`
	ReceivedAt time.Time       `json:"received_at"`
	// Damaged marks a petition whose sealed content failed to open: it is
	// listed from its metadata with an empty title.
	Damaged bool `json:"damaged,omitempty"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) petitionJSON(m *vault.Meta, c *vault.Content, identity *vault.Petitioner, revealed bool) PetitionJSON {
	p := PetitionJSON{
		ID: m.ID, Unit: m.Unit, Channel: m.Channel, Title: c.Title, Content: c.Content, Requests: c.Requests,
		Petitioner: c.Masked, IdentityMasked: true, Subjects: c.Subjects, GroupSize: m.GroupSize, Status: m.Status,
		Category: m.Category, Risk: m.Risk, Duplicates: m.Duplicates, Assignee: optString(m.AssigneeName),
		Deadlines: m.Deadlines, Overdue: m.Overdue(s.v.Now()), ReceivedAt: m.ReceivedAt, CreatedAt: m.CreatedAt,
		UpdatedAt: m.UpdatedAt, RegisteredBy: optString(m.RegisteredByName), RepeatOfFinal: optString(m.RepeatOfFinal),
	}
	if revealed {
		p.Petitioner, p.IdentityMasked = identity, false
	}
	if p.Subjects == nil {
		p.Subjects = []string{}
	}
	if p.Duplicates == nil {
		p.Duplicates = []vault.Duplicate{}
	}
	return p
}

func (s *Server) summaryJSON(m *vault.Meta, c *vault.Content) SummaryJSON {
	out := SummaryJSON{ID: m.ID, Unit: m.Unit, Channel: m.Channel, Status: m.Status,
		Category: m.Category, Risk: m.Risk, Assignee: optString(m.AssigneeName), Deadlines: m.Deadlines,
		Overdue: m.Overdue(s.v.Now()), ReceivedAt: m.ReceivedAt}
	if c == nil {
		out.Damaged = true
	} else {
		out.Title = c.Title
	}
	return out
}

type petitionerJSON struct {
	Name       string `json:"name"`
	IDNumber   string `json:"id_number"`
	Phone      string `json:"phone"`
	Address    string `json:"address"`
	EmployeeNo string `json:"employee_no"`
}

type createPetitionRequest struct {
	Unit       string          `json:"unit"`
	Channel    string          `json:"channel"`
	Title      string          `json:"title"`
	Content    string          `json:"content"`
	Requests   string          `json:"requests"`
	Petitioner *petitionerJSON `json:"petitioner"`
	Subjects   []string        `json:"subjects"`
	GroupSize  *int            `json:"group_size"`
	ReceivedAt *string         `json:"received_at"`
}

func (r *createPetitionRequest) toVault() (vault.NewPetition, error) {
	in := vault.NewPetition{Unit: r.Unit, Channel: r.Channel, Title: r.Title, Content: r.Content, Requests: r.Requests, Subjects: r.Subjects}
	if r.Petitioner != nil {
		p := vault.Petitioner(*r.Petitioner)
		in.Petitioner = &p
	}
	if r.GroupSize != nil {
		if *r.GroupSize < 1 {
			return in, badRequest("group_size: between 1 and %d", vault.MaxGroupSize)
		}
		in.GroupSize = *r.GroupSize
	}
	if r.ReceivedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *r.ReceivedAt)
		if err != nil {
			return in, badRequest("received_at: not an RFC 3339 time")
		}
		in.ReceivedAt = &t
	}
	return in, nil
}

func (s *Server) createPetition(c *gin.Context, k *call) error {
	if err := s.may(k, policy.PetitionCreate); err != nil {
		return err
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var req createPetitionRequest
	if err := decodeStrict(b, &req); err != nil {
		return err
	}
	in, err := req.toVault()
	if err != nil {
		return err
	}
	if !vault.ValidUnit(in.Unit) {
		return badRequest("unit: not a unit path (segments of a-z, 0-9 and '-', joined by '/')")
	}
	k.detail("unit", in.Unit)
	if !s.decide(k.sub, policy.PetitionCreate, &policy.Object{Type: "petition", Unit: in.Unit}) {
		return &httpError{status: http.StatusForbidden, detail: "you may not register petitions in this unit", decision: audit.Deny}
	}
	created, err := s.v.CreatePetition(in, k.user, k.prepare(http.StatusCreated))
	if err != nil {
		return err
	}
	k.done(created.Entry)
	p := s.petitionJSON(created.Meta, created.Content, nil, false)
	p.ReceiptCode = created.ReceiptCode
	return k.reply(http.StatusCreated, p)
}

// lookupPetition loads the petition in the path and checks that the caller
// may read it: 403 when their role never may, 404 when it does not exist or
// is out of their reach. The metadata is shared (vault.SharedMeta): never
// modify it.
func (s *Server) lookupPetition(c *gin.Context, k *call) (*vault.Meta, error) {
	if err := s.may(k, policy.PetitionRead); err != nil {
		return nil, err
	}
	id := c.Param("id")
	k.entry.Object = &audit.Object{Type: "petition", ID: truncate(id, 64)}
	m, err := s.v.SharedMeta(id)
	if err != nil {
		return nil, err
	}
	if !s.decide(k.sub, policy.PetitionRead, m.Object()) {
		return nil, errHidden
	}
	return m, nil
}

func (s *Server) getPetition(c *gin.Context, k *call) error {
	reveal, revealAsked := c.GetQuery("reveal")
	m, err := s.lookupPetition(c, k)
	if err != nil {
		return err
	}
	if revealAsked {
		if reveal != "identity" {
			return badRequest("reveal: the only value is identity")
		}
		reason := c.GetHeader("X-Access-Reason")
		if err := checkReason(reason); err != nil {
			return err
		}
		k.entry.Reason = reason
		if !s.decide(k.sub, policy.PetitionReveal, m.Object()) {
			return &httpError{status: http.StatusForbidden, detail: "you may read this petition but not reveal its petitioner", decision: audit.Deny}
		}
	}
	content, err := s.v.OpenContentRaw(m.ID)
	if err != nil {
		return err
	}
	var identity *vault.Petitioner
	if revealAsked {
		if identity, err = s.v.OpenIdentity(m); err != nil {
			content.Release()
			return err
		}
		k.detail("anonymous", identity == nil)
	}
	p := s.petitionJSON(m, content, identity, revealAsked)
	if content.Raw != nil {
		return k.reply(http.StatusOK, &rawPetition{p: p, content: content})
	}
	return k.reply(http.StatusOK, p)
}

// rawPetition is a petition whose title, content and requests are copied
// into the response as the JSON strings of its record: a read of a letter
// of a few KiB neither decodes nor encodes its text.
type rawPetition struct {
	p       PetitionJSON   // with the three text fields empty
	content *vault.Content // its Raw holds the text
	out     *[]byte        // the response, from respPool
}

// respPool holds response buffers of petitions read: release zeroes them
// (they hold the text) and returns them.
var respPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// textFields are the three text fields of a PetitionJSON with empty text,
// as encoding/json writes them. No string value can hold these bytes (a
// quote inside a JSON string is escaped), so the first match is theirs.
const textFields = `"title":"","content":"","requests":""`

func (r *rawPetition) marshalResponse() ([]byte, error) {
	raw := r.content.Raw
	if r.p.Title != "" || r.p.Content != "" || r.p.Requests != "" || raw == nil {
		return nil, errors.New("api: raw petition with decoded text")
	}
	if r.out == nil {
		r.out = respPool.Get().(*[]byte)
	}
	out, ok := appendPetitionJSON((*r.out)[:0], &r.p, raw)
	*r.out = out // a larger buffer it grew to is kept, so that release zeroes it
	if ok {
		return out, nil
	}
	b, err := json.Marshal(r.p)
	if err != nil {
		return nil, err
	}
	at := bytes.Index(b, []byte(textFields))
	if at < 0 {
		return nil, errors.New("api: petition JSON without its text fields")
	}
	out = (*r.out)[:0]
	out = append(out, b[:at]...)
	out = append(append(out, `"title":`...), raw.Title...)
	out = append(append(out, `,"content":`...), raw.Content...)
	out = append(append(out, `,"requests":`...), raw.Requests...)
	out = append(out, b[at+len(textFields):]...)
	*r.out = out
	return out, nil
}

// release zeroes the plaintext the response was copied from and returns
// its buffer; with reuse, the response's buffer too.
func (r *rawPetition) release(reuse bool) {
	r.content.Release()
	if !reuse {
		r.out = nil
	}
	if r.out != nil {
		b := *r.out
		clear(b[:cap(b)])
		if cap(b) <= 256<<10 {
			*r.out = b[:0]
			respPool.Put(r.out)
		}
		r.out = nil
	}
}

// checkReason validates X-Access-Reason: 10–500 characters of text.
func checkReason(r string) error {
	if r == "" {
		return badRequest("X-Access-Reason: a reason (10–500 characters) is required to reveal identity")
	}
	n := utf8.RuneCountInString(r)
	if !utf8.ValidString(r) || n < 10 || n > 500 {
		return badRequest("X-Access-Reason: 10–500 characters")
	}
	for _, c := range r {
		if unicode.IsControl(c) || (unicode.Is(unicode.Cf, c) && c != '\u200d') || c == '\u2028' || c == '\u2029' {
			return badRequest("X-Access-Reason: contains a control, invisible or text-direction character")
		}
	}
	if strings.TrimSpace(r) == "" {
		return badRequest("X-Access-Reason: must not be blank")
	}
	return nil
}

func (s *Server) listPetitions(c *gin.Context, k *call) error {
	if err := s.may(k, policy.PetitionList); err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	q := vault.Query{Limit: limit, Cursor: cursor, Status: c.Query("status"), Unit: c.Query("unit"),
		Category: c.Query("category"), Risk: c.Query("risk")}
	if q.Status != "" && !slices.Contains(vault.Statuses, q.Status) {
		return badRequest("status: one of %s", strings.Join(vault.Statuses, ", "))
	}
	if q.Unit != "" && !vault.ValidUnit(q.Unit) {
		return badRequest("unit: not a unit path")
	}
	if q.Risk != "" && !slices.Contains([]string{"low", "medium", "high", "critical"}, q.Risk) {
		return badRequest("risk: one of low, medium, high, critical")
	}
	if len(q.Category) > 64 {
		return badRequest("category: unknown category")
	}
	for name, dst := range map[string]**bool{"overdue": &q.Overdue, "due_soon": &q.DueSoon} {
		if v, ok := c.GetQuery(name); ok {
			switch v {
			case "true":
				t := true
				*dst = &t
			case "false":
				f := false
				*dst = &f
			default:
				return badRequest("%s: true or false", name)
			}
		}
	}
	empty := false
	if name := c.Query("assignee"); name != "" {
		u, err := s.v.UserByName(name)
		if err != nil {
			empty = true
		} else {
			q.Assignee = u.ID
		}
	}
	items := []SummaryJSON{}
	ids := []any{}
	next := ""
	if !empty {
		scopes := s.pol.Scopes(k.sub, policy.PetitionList)
		page, nxt, err := s.v.List(k.sub, scopes, q, func(m *vault.Meta) bool {
			return s.decide(k.sub, policy.PetitionList, m.Object())
		})
		if err != nil {
			return err
		}
		for _, it := range page {
			items = append(items, s.summaryJSON(it.Meta, it.Content))
			ids = append(ids, it.Meta.ID)
		}
		next = nxt
	}
	k.detail("ids", ids)
	return k.reply(http.StatusOK, listReply{items: items, next: next})
}
