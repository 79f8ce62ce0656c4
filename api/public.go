package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/vault"
)

// The petitioner portal's API: no account, a receipt code in the body.
// Codes are never put in URLs, logs or audit entries.

type publicUnit struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

func (s *Server) publicUnits() ([]publicUnit, error) {
	units, err := s.v.Units()
	if err != nil {
		return nil, err
	}
	items := []publicUnit{}
	for _, u := range units {
		if u.Public {
			name := u.Name
			if name == "" {
				name = u.Path
			}
			items = append(items, publicUnit{Path: u.Path, Name: name})
		}
	}
	return items, nil
}

func (s *Server) listPublicUnits(c *gin.Context, k *call) error {
	items, err := s.publicUnits()
	if err != nil {
		return err
	}
	return k.reply(http.StatusOK, gin.H{"items": items})
}

// clientKey is the keyed hash of the caller's address, the key of rate limits.
func (s *Server) clientKey(c *gin.Context) string {
	return s.v.Hasher().Sum(vault.HashPseudonym, clientAddr(c.Request))
}

func tooMany(wait int) error {
	return &httpError{status: http.StatusTooManyRequests, detail: "too many requests; please try again later", retryAfter: max(wait, 1), decision: audit.Deny}
}

type publicPetitionRequest struct {
	Unit       string          `json:"unit"`
	Channel    string          `json:"channel"`
	Title      string          `json:"title"`
	Content    string          `json:"content"`
	Requests   string          `json:"requests"`
	Petitioner *petitionerJSON `json:"petitioner"`
	Subjects   []string        `json:"subjects"`
	GroupSize  *int            `json:"group_size"`
}

// submitPublic registers a petition from the portal.
func (s *Server) submitPublic(in vault.NewPetition, c *gin.Context, k *call) (*vault.Created, error) {
	if wait := s.submitLimit.wait(s.clientKey(c)); wait > 0 {
		return nil, tooMany(wait)
	}
	if in.Channel == "" {
		in.Channel = "online"
	}
	if !vault.ValidUnit(in.Unit) {
		return nil, badRequest("unit: not a unit path")
	}
	u, err := s.v.UnitByPath(in.Unit)
	if err != nil || !u.Public {
		return nil, badRequest("unit: not open to the public")
	}
	k.detail("unit", in.Unit)
	in.ReceivedAt = nil
	created, err := s.v.CreatePetition(in, nil, k.prepare(http.StatusCreated))
	if err != nil {
		return nil, err
	}
	s.submitLimit.add(s.clientKey(c))
	k.done(created.Entry)
	return created, nil
}

func (s *Server) createPublicPetition(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var req publicPetitionRequest
	if err := decodeStrict(b, &req); err != nil {
		return err
	}
	full := createPetitionRequest{Unit: req.Unit, Channel: req.Channel, Title: req.Title, Content: req.Content, Requests: req.Requests,
		Petitioner: req.Petitioner, Subjects: req.Subjects, GroupSize: req.GroupSize}
	in, err := full.toVault()
	if err != nil {
		return err
	}
	created, err := s.submitPublic(in, c, k)
	if err != nil {
		return err
	}
	return k.reply(http.StatusCreated, gin.H{"receipt_code": created.ReceiptCode, "status": created.Meta.Status, "accept_by": created.Meta.Deadlines.AcceptBy})
}

// byReceipt finds the petition of a receipt code, with the tracking limits:
// a malformed code and an unknown one look the same, and repeated failures
// from one client are refused for a while.
func (s *Server) byReceipt(c *gin.Context, k *call, code string) (*vault.Meta, error) {
	key := s.clientKey(c)
	if wait := s.trackFailures.wait(key); wait > 0 {
		return nil, tooMany(wait)
	}
	if wait := s.trackLimit.take(key); wait > 0 {
		return nil, tooMany(wait)
	}
	m, err := s.v.PetitionByReceipt(code)
	if errors.Is(err, vault.ErrNotFound) {
		s.trackFailures.add(key)
		return nil, &httpError{status: http.StatusNotFound, detail: "no case has this receipt code", decision: audit.Deny}
	}
	if err != nil {
		return nil, err
	}
	k.entry.Object = &audit.Object{Type: "petition", ID: m.ID}
	return m, nil
}

type receiptRequest struct {
	ReceiptCode string `json:"receipt_code"`
}

// TrackJSON is what a petitioner sees of their case.
type TrackJSON struct {
	Status      string          `json:"status"`
	ReceivedAt  time.Time       `json:"received_at"`
	Deadlines   vault.Deadlines `json:"deadlines"`
	Replies     []replyJSON     `json:"replies"`
	Events      []publicEvent   `json:"events"`
	CanFeedback bool            `json:"can_feedback"`
	CanReview   bool            `json:"can_review"`
	Rating      string          `json:"rating,omitempty"`
	Final       bool            `json:"final"`
}

type replyJSON struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
	Kind string    `json:"kind"` // reply, review_reply, rereview_reply
}

type publicEvent struct {
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	Action    string            `json:"action,omitempty"`
	ToStatus  string            `json:"to_status,omitempty"`
	Deadlines map[string]string `json:"deadlines,omitempty"`
	Reason    string            `json:"reason,omitempty"` // extension, non-acceptance and transfer reasons
	Days      int               `json:"days,omitempty"`
	Rating    string            `json:"rating,omitempty"`
}

func (s *Server) track(m *vault.Meta) (*TrackJSON, error) {
	evs, err := s.v.Events(m.ID)
	if err != nil {
		return nil, err
	}
	now := s.v.Now()
	t := &TrackJSON{Status: m.Status, ReceivedAt: m.ReceivedAt, Deadlines: m.Deadlines, Replies: []replyJSON{}, Events: []publicEvent{},
		Rating: m.Rating, Final: m.Final}
	for _, e := range evs {
		if !e.Public {
			continue
		}
		pe := publicEvent{Time: e.Time, Type: e.Type, Action: e.Action, ToStatus: e.ToStatus, Deadlines: e.Deadlines, Days: e.Days, Rating: e.Rating}
		switch e.Action {
		case vault.ActExtend, vault.ActNotAccept, vault.ActTransfer:
			pe.Reason = e.Reason
		}
		t.Events = append(t.Events, pe)
		if e.Text != "" && (e.Action == vault.ActReply || e.Action == vault.ActReviewReply || e.Action == vault.ActRereviewReply) {
			t.Replies = append(t.Replies, replyJSON{Time: e.Time, Text: e.Text, Kind: e.Action})
		}
	}
	if m.Status == vault.StatusReplied {
		t.CanFeedback = m.Rating == ""
		t.CanReview = m.Stage < 2 && !m.Final && m.Deadlines.ReviewRequestBy != nil && !now.After(*m.Deadlines.ReviewRequestBy)
	}
	return t, nil
}

func (s *Server) trackPublic(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in receiptRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	m, err := s.byReceipt(c, k, in.ReceiptCode)
	if err != nil {
		return err
	}
	t, err := s.track(m)
	if err != nil {
		return err
	}
	return k.reply(http.StatusOK, t)
}

type feedbackRequest struct {
	ReceiptCode string `json:"receipt_code"`
	Rating      string `json:"rating"`
	Comment     string `json:"comment"`
}

func (s *Server) feedbackPublic(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in feedbackRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	m, err := s.byReceipt(c, k, in.ReceiptCode)
	if err != nil {
		return err
	}
	k.detail("rating", in.Rating)
	_, rec, err := s.v.Feedback(m.ID, in.Rating, in.Comment, k.prepare(http.StatusNoContent))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusNoContent, nil)
}

type reviewRequest struct {
	ReceiptCode string `json:"receipt_code"`
	Reason      string `json:"reason"`
}

func (s *Server) reviewPublic(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in reviewRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	m, err := s.byReceipt(c, k, in.ReceiptCode)
	if err != nil {
		return err
	}
	_, rec, err := s.v.RequestReview(m.ID, in.Reason, k.prepare(http.StatusNoContent))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusNoContent, nil)
}
