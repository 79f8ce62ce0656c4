package vault

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// Workflow actions (DESIGN.md).
const (
	ActAccept        = "accept"
	ActNotAccept     = "not_accept"
	ActTransfer      = "transfer"
	ActAssign        = "assign"
	ActExtend        = "extend"
	ActReply         = "reply"
	ActReviewReply   = "review_reply"
	ActRereviewReply = "rereview_reply"
	ActClose         = "close"
	ActCategorize    = "categorize"
)

// from lists the states each action may be taken in.
var from = map[string][]string{
	ActAccept:        {StatusRegistered},
	ActNotAccept:     {StatusRegistered},
	ActTransfer:      {StatusRegistered, StatusAccepted},
	ActAssign:        {StatusAccepted, StatusInProgress},
	ActExtend:        {StatusAccepted, StatusInProgress},
	ActReply:         {StatusAccepted, StatusInProgress},
	ActReviewReply:   {StatusReview},
	ActRereviewReply: {StatusRereview},
	ActClose:         {StatusAccepted, StatusInProgress, StatusReplied},
	ActCategorize:    Statuses,
}

// Actions lists the workflow actions.
var Actions = []string{ActAccept, ActNotAccept, ActTransfer, ActAssign, ActExtend, ActReply, ActReviewReply, ActRereviewReply, ActClose, ActCategorize}

// Terminal reports whether a state ends the case.
func Terminal(status string) bool {
	return status == StatusNotAccepted || status == StatusTransferred || status == StatusClosed
}

// ExternalPrefix marks a transfer target outside the enterprise:
// "external:<name of the body>".
const ExternalPrefix = "external:"

// ActionInput is a workflow action and its fields.
type ActionInput struct {
	Action     string
	Assignee   *User // assign: the user, already checked by the caller
	Days       int
	Reason     string
	Text       string
	TargetUnit string
	Label      string
	Comment    string
}

// Event is one step of a case's history. Its text (reply, note, reason,
// comment) exists on disk only sealed.
type Event struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"` // action, note, review_request, feedback, alert
	Action     string            `json:"action,omitempty"`
	Actor      string            `json:"actor,omitempty"` // username of staff
	ActorKind  string            `json:"actor_kind"`      // staff, petitioner, system
	FromStatus string            `json:"from_status,omitempty"`
	ToStatus   string            `json:"to_status,omitempty"`
	Assignee   string            `json:"assignee,omitempty"`
	TargetUnit string            `json:"target_unit,omitempty"`
	Rating     string            `json:"rating,omitempty"`
	Label      string            `json:"label,omitempty"`
	Days       int               `json:"days,omitempty"`
	Deadlines  map[string]string `json:"deadlines,omitempty"` // the deadlines set: name → RFC 3339
	Public     bool              `json:"public"`              // shown to the petitioner
	Sealed     []byte            `json:"sealed,omitempty"`    // age file of EventText
}

// EventText is the sealed part of an event.
type EventText struct {
	Text    string `json:"text,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func eventKey(id string, seq int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("p/"+id+"/e/"), uint64(seq))
}

// newEvent seals text and returns the event and its write, numbering it
// after m's last event (and counting it in m).
func (v *Vault) newEvent(m *Meta, ev Event, text EventText) (Event, store.Op, error) {
	ev.Seq = m.Events
	m.Events++
	if ev.Time.IsZero() {
		ev.Time = v.Now()
	}
	if text != (EventText{}) {
		sealed, err := v.sealJSON(mustJSON(text))
		if err != nil {
			return ev, store.Op{}, err
		}
		ev.Sealed = sealed
	}
	return ev, store.Put(eventKey(m.ID, ev.Seq), mustJSON(ev)), nil
}

// OpenedEvent is an event with its text decrypted.
type OpenedEvent struct {
	Event
	EventText
}

// Events returns a petition's history, oldest first, with texts decrypted.
func (v *Vault) Events(id string) ([]OpenedEvent, error) {
	var evs []Event
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("p/" + id + "/e/")}, func(_, val []byte) error {
			var e Event
			if err := jsonUnmarshal(val, &e); err != nil {
				return err
			}
			evs = append(evs, e)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]OpenedEvent, 0, len(evs))
	for _, e := range evs {
		oe := OpenedEvent{Event: e}
		if len(e.Sealed) > 0 {
			pt, err := v.open(e.Sealed)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(pt, &oe.EventText); err != nil {
				return nil, ErrCorrupt
			}
		}
		oe.Sealed = nil
		out = append(out, oe)
	}
	return out, nil
}

func ts(t time.Time) *time.Time { return &t }

func fmtTime(t *time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// checkAction validates an action's fields, before the state is looked at.
func (v *Vault) checkAction(in *ActionInput) error {
	if _, ok := from[in.Action]; !ok {
		return invalid("action", "one of %s", strings.Join(Actions, ", "))
	}
	reason := func(min int) error {
		return checkText("reason", in.Reason, min, 500, true)
	}
	switch in.Action {
	case ActNotAccept:
		if in.TargetUnit != "" {
			name, ext := strings.CutPrefix(in.TargetUnit, ExternalPrefix)
			if (ext && checkText("target_unit", name, 1, 200, false) != nil) || (!ext && !ValidUnit(in.TargetUnit)) {
				return invalid("target_unit", "a unit path, or external:<name of an outside body>")
			}
		}
		return reason(1)
	case ActTransfer:
		if err := reason(1); err != nil {
			return err
		}
		if name, ok := strings.CutPrefix(in.TargetUnit, ExternalPrefix); ok {
			return checkText("target_unit", name, 1, 200, false)
		}
		if !ValidUnit(in.TargetUnit) {
			return invalid("target_unit", "a unit path, or external:<name of an outside body>")
		}
	case ActAssign:
		if in.Assignee == nil {
			return invalid("assignee", "required")
		}
	case ActExtend:
		if in.Days < 1 || in.Days > v.rules.MaxExtension {
			return invalid("days", "from 1 to %d", v.rules.MaxExtension)
		}
		return reason(1)
	case ActReply, ActReviewReply, ActRereviewReply:
		return checkText("text", in.Text, 1, MaxContent, true)
	case ActClose, ActAccept:
		return checkText("comment", in.Comment, 0, 2000, true)
	case ActCategorize:
		if in.Label == "" || len(in.Label) > 64 {
			return invalid("label", "required")
		}
	}
	return nil
}

// Act takes a workflow action on a petition for u and records e with it. It
// returns an error wrapping ErrInvalid for bad fields, ErrConflict for an
// action the current state does not allow (or a second extension), and
// ErrNotFound for a missing petition. The caller has checked the policy.
func (v *Vault) Act(id string, in ActionInput, u *User, e *audit.Entry) (*Meta, audit.Entry, error) {
	if err := v.checkAction(&in); err != nil {
		return nil, audit.Entry{}, err
	}
	unlock := v.lock(id)
	defer unlock()
	old, err := v.Meta(id)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	if !slices.Contains(from[in.Action], old.Status) {
		return nil, audit.Entry{}, conflict("%s is not allowed while the petition is %s", in.Action, old.Status)
	}
	now := v.Now()
	m := *old
	m.UpdatedAt = now
	ev := Event{Type: "action", Action: in.Action, ActorKind: "staff", FromStatus: old.Status, Time: now, Deadlines: map[string]string{}}
	if u != nil {
		ev.Actor = u.Username
	}
	text := EventText{Comment: in.Comment}
	var ops []store.Op
	switch in.Action {
	case ActAccept:
		m.Status = StatusAccepted
		m.AcceptedAt = ts(now)
		m.Deadlines.ResolveBy = ts(v.cal.Add(now, v.rules.Resolve.Days, v.rules.Resolve.Working))
		ev.Deadlines["resolve_by"] = fmtTime(m.Deadlines.ResolveBy)
		ev.Public = true
	case ActNotAccept:
		m.Status = StatusNotAccepted
		m.ClosedAt = ts(now)
		text.Reason = in.Reason
		ev.TargetUnit = in.TargetUnit // where the petitioner may turn instead
		ev.Public = true
	case ActTransfer:
		text.Reason = in.Reason
		ev.Public = true
		if name, ok := strings.CutPrefix(in.TargetUnit, ExternalPrefix); ok {
			m.Status = StatusTransferred
			m.External = name
			m.ClosedAt = ts(now)
			ev.TargetUnit = in.TargetUnit
			break
		}
		if in.TargetUnit == old.Unit {
			return nil, audit.Entry{}, invalid("target_unit", "the petition is already in this unit")
		}
		// Re-registered in the receiving unit, with a new time to decide.
		m.Unit = in.TargetUnit
		m.Status = StatusRegistered
		m.Assignee, m.AssigneeName = "", ""
		m.AcceptedAt = nil
		m.Extended = false
		m.Deadlines = Deadlines{
			AcceptBy:    ts(v.cal.Add(now, v.rules.Accept.Days, v.rules.Accept.Working)),
			ObjectionBy: ts(v.cal.Add(now, v.rules.Objection.Days, v.rules.Objection.Working)),
		}
		ev.TargetUnit = in.TargetUnit
		ev.Deadlines["accept_by"] = fmtTime(m.Deadlines.AcceptBy)
		ev.Deadlines["objection_by"] = fmtTime(m.Deadlines.ObjectionBy)
		ops = append(ops, v.unitOpsIfNew(m.Unit)...)
	case ActAssign:
		m.Status = StatusInProgress
		m.Assignee, m.AssigneeName = in.Assignee.ID, in.Assignee.Username
		ev.Assignee = in.Assignee.Username
	case ActExtend:
		if old.Extended {
			return nil, audit.Entry{}, conflict("the handling time was already extended once")
		}
		if old.Deadlines.ResolveBy == nil {
			return nil, audit.Entry{}, conflict("no handling deadline to extend")
		}
		m.Extended = true
		m.Deadlines.ResolveBy = ts(v.cal.Add(*old.Deadlines.ResolveBy, in.Days, v.rules.Resolve.Working))
		ev.Days = in.Days
		ev.Deadlines["resolve_by"] = fmtTime(m.Deadlines.ResolveBy)
		text.Reason = in.Reason
		ev.Public = true
	case ActReply, ActReviewReply:
		m.Status = StatusReplied
		m.Rating = "" // a new reply is rated afresh
		if m.FirstReplyAt == nil {
			m.FirstReplyAt = ts(now)
			in := m.Deadlines.ResolveBy == nil || !now.After(*m.Deadlines.ResolveBy)
			m.InTime = &in
		}
		m.Deadlines.ReviewRequestBy = ts(v.cal.Add(now, v.rules.ReviewRequest.Days, v.rules.ReviewRequest.Working))
		ev.Deadlines["review_request_by"] = fmtTime(m.Deadlines.ReviewRequestBy)
		text.Text = in.Text
		ev.Public = true
	case ActRereviewReply:
		m.Status = StatusClosed
		m.Final = true
		m.ClosedAt = ts(now)
		for _, pk := range m.PetitionerKeys {
			ops = append(ops, store.Put(finalKey(pk, m.Unit), []byte(m.ID)))
		}
		text.Text = in.Text
		ev.Public = true
	case ActClose:
		m.Status = StatusClosed
		m.ClosedAt = ts(now)
		ev.Public = true
	case ActCategorize:
		m.Category = &Category{Label: in.Label, Confidence: 1, Source: "officer"}
		ev.Label = in.Label
		op, err := v.correctionOp(m.ID, in.Label)
		if err != nil {
			return nil, audit.Entry{}, err
		}
		ops = append(ops, op)
	}
	ev.ToStatus = m.Status
	if ev.ToStatus == ev.FromStatus {
		ev.ToStatus, ev.FromStatus = "", ""
	}
	if len(ev.Deadlines) == 0 {
		ev.Deadlines = nil
	}
	ev, evOp, err := v.newEvent(&m, ev, text)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	ops = append(ops, store.Put(metaKey(m.ID), mustJSON(&m)), evOp)
	ops = append(ops, reindexOps(old, &m)...)
	ops = append(ops, v.alertOps(&m, now)...)
	e.Object = &audit.Object{Type: "petition", ID: m.ID}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["action"] = in.Action
	e.Details["from_status"] = old.Status
	e.Details["to_status"] = m.Status
	if in.Action == ActTransfer {
		e.Details["target_unit"] = in.TargetUnit
	}
	if in.Action == ActExtend {
		e.Details["days"] = in.Days
	}
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return &m, rec, nil
}

// AddNote adds an internal note (sealed) to a petition and records e.
func (v *Vault) AddNote(id, text string, u *User, e *audit.Entry) (*OpenedEvent, audit.Entry, error) {
	if err := checkText("text", text, 1, MaxContent, true); err != nil {
		return nil, audit.Entry{}, err
	}
	unlock := v.lock(id)
	defer unlock()
	old, err := v.Meta(id)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	m := *old
	m.UpdatedAt = v.Now()
	ev, op, err := v.newEvent(&m, Event{Type: "note", Actor: u.Username, ActorKind: "staff"}, EventText{Text: text})
	if err != nil {
		return nil, audit.Entry{}, err
	}
	e.Object = &audit.Object{Type: "petition", ID: id}
	rec, err := v.log.Append(e, []store.Op{store.Put(metaKey(id), mustJSON(&m)), op})
	if err != nil {
		return nil, rec, err
	}
	ev.Sealed = nil
	return &OpenedEvent{Event: ev, EventText: EventText{Text: text}}, rec, nil
}

// Ratings of petitioner feedback.
var Ratings = []string{"satisfied", "basically_satisfied", "dissatisfied"}

// Feedback records the petitioner's rating of a reply. A satisfied or
// basically satisfied rating closes the case; a dissatisfied one leaves the
// review window open. It returns ErrConflict unless the case is replied.
func (v *Vault) Feedback(id, rating, comment string, e *audit.Entry) (*Meta, audit.Entry, error) {
	if !slices.Contains(Ratings, rating) {
		return nil, audit.Entry{}, invalid("rating", "one of %s", strings.Join(Ratings, ", "))
	}
	if err := checkText("comment", comment, 0, 2000, true); err != nil {
		return nil, audit.Entry{}, err
	}
	unlock := v.lock(id)
	defer unlock()
	old, err := v.Meta(id)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	if old.Status != StatusReplied {
		return nil, audit.Entry{}, conflict("feedback is taken once the case has a reply")
	}
	if old.Rating != "" {
		return nil, audit.Entry{}, conflict("this reply was already rated")
	}
	now := v.Now()
	m := *old
	m.UpdatedAt = now
	m.Rating = rating
	ev := Event{Type: "feedback", ActorKind: "petitioner", Rating: rating, Time: now, Public: true}
	if rating != "dissatisfied" {
		m.Status = StatusClosed
		m.ClosedAt = ts(now)
		ev.FromStatus, ev.ToStatus = old.Status, m.Status
	}
	ev, op, err := v.newEvent(&m, ev, EventText{Comment: comment})
	if err != nil {
		return nil, audit.Entry{}, err
	}
	ops := append([]store.Op{store.Put(metaKey(id), mustJSON(&m)), op}, reindexOps(old, &m)...)
	ops = append(ops, v.alertOps(&m, now)...)
	e.Object = &audit.Object{Type: "petition", ID: id}
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return &m, rec, nil
}

// RequestReview records the petitioner's request for a review (复查) of a
// reply, or after a review reply a re-review (复核), within the legal
// window. It returns ErrConflict outside the window, after a re-review, or
// when the case has no reply to review.
func (v *Vault) RequestReview(id, reason string, e *audit.Entry) (*Meta, audit.Entry, error) {
	if err := checkText("reason", reason, 1, 2000, true); err != nil {
		return nil, audit.Entry{}, err
	}
	unlock := v.lock(id)
	defer unlock()
	old, err := v.Meta(id)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	now := v.Now()
	if old.Status != StatusReplied || old.Stage >= 2 || old.Final {
		return nil, audit.Entry{}, conflict("a review can be requested only after a reply, and not after a re-review")
	}
	if old.Deadlines.ReviewRequestBy == nil || now.After(*old.Deadlines.ReviewRequestBy) {
		return nil, audit.Entry{}, conflict("the time to request a review has passed")
	}
	m := *old
	m.UpdatedAt = now
	m.Stage++
	m.Status = StatusReview
	if m.Stage == 2 {
		m.Status = StatusRereview
	}
	m.Deadlines.ReviewBy = ts(v.cal.Add(now, v.rules.Review.Days, v.rules.Review.Working))
	ev := Event{Type: "review_request", ActorKind: "petitioner", FromStatus: old.Status, ToStatus: m.Status, Time: now, Public: true,
		Deadlines: map[string]string{"review_by": fmtTime(m.Deadlines.ReviewBy)}}
	ev, op, err := v.newEvent(&m, ev, EventText{Reason: reason})
	if err != nil {
		return nil, audit.Entry{}, err
	}
	ops := append([]store.Op{store.Put(metaKey(id), mustJSON(&m)), op}, reindexOps(old, &m)...)
	ops = append(ops, v.alertOps(&m, now)...)
	e.Object = &audit.Object{Type: "petition", ID: id}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["to_status"] = m.Status
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return &m, rec, nil
}

// CurrentDeadline returns the deadline of the petition's current state, or
// nil when the state has none.
func (m *Meta) CurrentDeadline() *time.Time {
	switch m.Status {
	case StatusRegistered:
		return m.Deadlines.AcceptBy
	case StatusAccepted, StatusInProgress:
		return m.Deadlines.ResolveBy
	case StatusReview, StatusRereview:
		return m.Deadlines.ReviewBy
	}
	return nil
}

// DueSoon reports whether the current deadline falls within window of now
// and has not passed.
func (m *Meta) DueSoon(now time.Time, window time.Duration) bool {
	d := m.CurrentDeadline()
	return d != nil && !now.After(*d) && d.Sub(now) <= window
}

// Assignable reports whether u may be assigned m: enabled, in a unit whose
// scope holds the petition, and not named by it.
func (v *Vault) Assignable(m *Meta, u *User) error {
	if u.Disabled {
		return invalid("assignee", "the user is disabled")
	}
	if !policy.Within(m.Unit, u.Unit) {
		return invalid("assignee", "the user's unit does not cover the petition's unit")
	}
	sub := v.Subject(u)
	if policy.InScope(policy.ScopeNamed, sub, m.Object()) {
		return invalid("assignee", "the petition names this user")
	}
	return nil
}
