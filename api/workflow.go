package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

type actionRequest struct {
	Action     string  `json:"action"`
	Assignee   *string `json:"assignee"`
	Days       *int    `json:"days"`
	Reason     *string `json:"reason"`
	Text       *string `json:"text"`
	TargetUnit *string `json:"target_unit"`
	Label      *string `json:"label"`
	Comment    *string `json:"comment"`
}

// actionFields lists the fields each action takes (besides "action").
var actionFields = map[string][]string{
	vault.ActAccept:        {"comment"},
	vault.ActNotAccept:     {"reason", "target_unit"},
	vault.ActTransfer:      {"reason", "target_unit"},
	vault.ActAssign:        {"assignee"},
	vault.ActExtend:        {"days", "reason"},
	vault.ActReply:         {"text"},
	vault.ActReviewReply:   {"text"},
	vault.ActRereviewReply: {"text"},
	vault.ActClose:         {"comment"},
	vault.ActCategorize:    {"label"},
}

func (r *actionRequest) present() []string {
	var f []string
	for name, set := range map[string]bool{"assignee": r.Assignee != nil, "days": r.Days != nil, "reason": r.Reason != nil,
		"text": r.Text != nil, "target_unit": r.TargetUnit != nil, "label": r.Label != nil, "comment": r.Comment != nil} {
		if set {
			f = append(f, name)
		}
	}
	slices.Sort(f)
	return f
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Categories lists the category labels a petition may carry.
var Categories = []string{"wage_arrears", "contract_payment", "labor_relations", "social_insurance", "work_safety",
	"construction_nuisance", "quality", "discipline", "restructuring", "housing_welfare", "other"}

func (s *Server) petitionAction(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in actionRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	fields, ok := actionFields[in.Action]
	if !ok {
		return badRequest("action: one of %s", strings.Join(vault.Actions, ", "))
	}
	k.detail("action", in.Action)
	for _, f := range in.present() {
		if !slices.Contains(fields, f) {
			return badRequest("%s: not a field of %s", f, in.Action)
		}
	}
	act := "petition." + in.Action
	if err := s.may(k, act); err != nil {
		return err
	}
	m, err := s.lookupPetition(c, k)
	if err != nil {
		return err
	}
	if !s.decide(k.sub, act, m.Object()) {
		return &httpError{status: http.StatusForbidden, detail: "you may not take " + in.Action + " on this petition", decision: audit.Deny}
	}
	ai := vault.ActionInput{Action: in.Action, Days: deref(in.Days), Reason: deref(in.Reason), Text: deref(in.Text),
		TargetUnit: deref(in.TargetUnit), Label: deref(in.Label), Comment: deref(in.Comment)}
	switch in.Action {
	case vault.ActAssign:
		name := deref(in.Assignee)
		if name == "" {
			return badRequest("assignee: required")
		}
		u, err := s.v.UserByName(name)
		if err != nil {
			return badRequest("assignee: no such user")
		}
		if err := s.v.Assignable(m, u); err != nil {
			return err
		}
		// The assignee must be able to read and reply once assigned.
		after := m.Object()
		after.Assignee = u.ID
		if !s.decide(s.v.Subject(u), policy.PetitionRead, after) || !s.decide(s.v.Subject(u), "petition.reply", after) {
			return badRequest("assignee: this user could not handle the petition")
		}
		ai.Assignee = u
		k.detail("assignee", u.ID)
	case vault.ActTransfer:
		if in.TargetUnit == nil {
			return badRequest("target_unit: required")
		}
	case vault.ActCategorize:
		if !slices.Contains(Categories, deref(in.Label)) {
			return badRequest("label: one of %s", strings.Join(Categories, ", "))
		}
	case vault.ActExtend:
		if in.Days == nil {
			return badRequest("days: required (1–%d)", s.v.Rules().MaxExtension)
		}
	}
	if in.Action == vault.ActExtend {
		// The extension reason is the caller's stated reason (API.md);
		// other reasons are case text and stay sealed.
		k.entry.Reason = deref(in.Reason)
	}
	nm, rec, err := s.v.Act(m.ID, ai, k.user, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	content, err := s.v.OpenContent(nm.ID)
	if err != nil {
		return err
	}
	return k.reply(http.StatusOK, s.petitionJSON(nm, content, nil, false))
}

type noteRequest struct {
	Text string `json:"text"`
}

func (s *Server) addNote(c *gin.Context, k *call) error {
	if err := s.may(k, "petition.note"); err != nil {
		return err
	}
	m, err := s.lookupPetition(c, k)
	if err != nil {
		return err
	}
	if !s.decide(k.sub, "petition.note", m.Object()) {
		return &httpError{status: http.StatusForbidden, detail: "you may not add notes to this petition", decision: audit.Deny}
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in noteRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	ev, rec, err := s.v.AddNote(m.ID, in.Text, k.user, k.prepare(http.StatusCreated))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusCreated, eventJSON(ev))
}

// EventJSON is one step of a case's history.
type EventJSON struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Action     string            `json:"action,omitempty"`
	Actor      *string           `json:"actor"`
	ActorKind  string            `json:"actor_kind"`
	FromStatus string            `json:"from_status,omitempty"`
	ToStatus   string            `json:"to_status,omitempty"`
	Assignee   string            `json:"assignee,omitempty"`
	TargetUnit string            `json:"target_unit,omitempty"`
	Days       int               `json:"days,omitempty"`
	Label      string            `json:"label,omitempty"`
	Rating     string            `json:"rating,omitempty"`
	Deadlines  map[string]string `json:"deadlines,omitempty"`
	Text       string            `json:"text,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Comment    string            `json:"comment,omitempty"`
	Public     bool              `json:"public"`
}

func eventJSON(e *vault.OpenedEvent) EventJSON {
	return EventJSON{Seq: e.Seq, Time: e.Time, Type: e.Type, Action: e.Action, Actor: optString(e.Actor), ActorKind: e.ActorKind,
		FromStatus: e.FromStatus, ToStatus: e.ToStatus, Assignee: e.Assignee, TargetUnit: e.TargetUnit, Days: e.Days,
		Label: e.Label, Rating: e.Rating, Deadlines: e.Deadlines, Text: e.Text, Reason: e.Reason, Comment: e.Comment, Public: e.Public}
}

func (s *Server) petitionEvents(c *gin.Context, k *call) error {
	m, err := s.lookupPetition(c, k)
	if err != nil {
		return err
	}
	evs, err := s.v.Events(m.ID)
	if err != nil {
		return err
	}
	items := make([]EventJSON, 0, len(evs))
	for i := range evs {
		items = append(items, eventJSON(&evs[i]))
	}
	k.detail("count", len(items))
	return k.reply(http.StatusOK, gin.H{"items": items})
}

type alertJSON struct {
	PetitionID string     `json:"petition_id"`
	Unit       string     `json:"unit"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	Deadline   *time.Time `json:"deadline"`
	Since      time.Time  `json:"since"`
}

func (s *Server) listAlerts(c *gin.Context, k *call) error {
	if err := s.may(k, policy.AlertList); err != nil {
		return err
	}
	kind, unit := c.Query("kind"), c.Query("unit")
	if kind != "" && !slices.Contains(vault.AlertKinds, kind) {
		return badRequest("kind: one of %s", strings.Join(vault.AlertKinds, ", "))
	}
	if unit != "" && !vault.ValidUnit(unit) {
		return badRequest("unit: not a unit path")
	}
	alerts, err := s.v.Alerts(kind, func(a *vault.Alert) bool {
		if unit != "" && !policy.Within(a.Unit, unit) {
			return false
		}
		m, err := s.v.Meta(a.PetitionID)
		return err == nil && s.decide(k.sub, policy.AlertList, m.Object()) && s.decide(k.sub, policy.PetitionRead, m.Object())
	})
	if err != nil {
		return err
	}
	items := make([]alertJSON, 0, len(alerts))
	ids := make([]any, 0, len(alerts))
	for _, a := range alerts {
		items = append(items, alertJSON(a))
		ids = append(ids, a.PetitionID)
	}
	k.detail("ids", ids)
	return k.reply(http.StatusOK, gin.H{"items": items})
}

// sweep runs the deadline sweeper now (it also runs in the background).
func (s *Server) sweep(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.SystemSweep, &policy.Object{Type: "system"}); err != nil {
		return err
	}
	rep, err := s.v.Sweep()
	if err != nil {
		return err
	}
	k.detail("closed", rep.Closed)
	k.detail("alerts", rep.Alerts)
	return k.reply(http.StatusOK, rep)
}

// retrain rebuilds the classifier from the shipped corpus and the officers'
// corrections (admin).
func (s *Server) retrain(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AnalysisManage, &policy.Object{Type: "system"}); err != nil {
		return err
	}
	n, err := s.v.Retrain()
	if err != nil {
		return err
	}
	k.detail("corrections", n)
	m := s.v.Model()
	return k.reply(http.StatusOK, gin.H{"corrections": n, "labels": m.Labels, "kind": m.Kind})
}
