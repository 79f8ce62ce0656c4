package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// Black-box tests of the case workflow (DESIGN.md "Case workflow and legal
// deadlines", issue 5) through the REST API, on the harness's fake clock.
// Helpers are prefixed wf.

const wfDay = 24 * time.Hour

// wfCast are the users of every workflow test.
var wfCast = []struct{ name, display, unit, role string }{
	{"reg", "登记员", "group/east", "registrar"},
	{"sup3", "三号工地主管", "group/east/site-3", "supervisor"},
	{"sup4", "四号工地主管", "group/east/site-4", "supervisor"},
	{"supe", "东区主管", "group/east", "supervisor"},
	{"supg", "集团主管", "group", "supervisor"},
	{"supw", "西区主管", "group/west", "supervisor"},
	{"supli", "李经理", "group/east", "supervisor"}, // named in petitionBody's subjects
	{"off1", "经办人一", "group/east/site-3", "officer"},
	{"off2", "经办人二", "group/east/site-3", "officer"},
	{"offg", "集团经办人", "group", "officer"},
	{"offt", "班组经办人", "group/east/site-3/team-a", "officer"},
	{"offw", "西区经办人", "group/west", "officer"},
	{"offd", "停用经办人", "group/east/site-3", "officer"},
	{"lijl", "李经理", "group/east/site-3", "officer"}, // named in petitionBody's subjects
	{"aud", "审计员", "group", "auditor"},
}

// wfEnv is a harness with the cast, logged in lazily (tokens expire after
// 8 h of fake time, so moving the clock forgets them).
type wfEnv struct {
	h    *harness
	t    testing.TB
	ids  map[string]string
	toks map[string]string
}

func wfSetup(t testing.TB, ho harnessOptions) *wfEnv {
	t.Helper()
	h := newHarnessWith(t, ho)
	e := &wfEnv{h: h, t: t, ids: map[string]string{}, toks: map[string]string{"admin": h.admin}}
	for _, c := range wfCast {
		id, tok := h.userNamed(c.name, c.display, c.unit, c.role)
		e.ids[c.name], e.toks[c.name] = id, tok
	}
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+e.ids["offd"], h.admin, map[string]any{"disabled": true})
	delete(e.toks, "offd")
	return e
}

func (e *wfEnv) tok(name string) string {
	e.t.Helper()
	if tok, ok := e.toks[name]; ok {
		return tok
	}
	password := testPassword
	if name == "admin" {
		password = testAdminPassword
	}
	tok := e.h.login(name, password)
	e.toks[name] = tok
	return tok
}

// in returns e reporting to the subtest t (the harness and the tokens are
// shared).
func (e *wfEnv) in(t testing.TB) *wfEnv {
	h := *e.h
	h.t = t
	return &wfEnv{h: &h, t: t, ids: e.ids, toks: e.toks}
}

func (e *wfEnv) now() time.Time { return e.h.clock.Now() }

// advance moves the clock forward by d and forgets the tokens (they last
// 8 h).
func (e *wfEnv) advance(d time.Duration) {
	e.t.Helper()
	if d < 0 {
		e.t.Fatalf("the clock only moves forward (asked %v)", d)
	}
	if d == 0 {
		return
	}
	e.h.clock.Add(d)
	clear(e.toks)
}

// setClock moves the clock forward to t.
func (e *wfEnv) setClock(t time.Time) { e.t.Helper(); e.advance(t.Sub(e.now())) }

// create registers a petition as reg in unit; mod edits the body.
func (e *wfEnv) create(unit string, mod func(map[string]any)) string {
	e.t.Helper()
	b := petitionBody(unit)
	if mod != nil {
		mod(b)
	}
	return e.h.petition(e.tok("reg"), b)["id"].(string)
}

func (e *wfEnv) act(who, id string, body map[string]any) *resp {
	e.t.Helper()
	return e.h.do("POST", "/api/v1/petitions/"+id+"/actions", e.tok(who), body)
}

func (e *wfEnv) mustAct(who, id string, body map[string]any) map[string]any {
	e.t.Helper()
	r := e.act(who, id, body)
	if r.Code != http.StatusOK {
		e.t.Fatalf("%v by %s on %s: status %d: %s", body, who, id, r.Code, r.Body)
	}
	return r.JSON(e.t)
}

func (e *wfEnv) get(who, id string) *resp {
	e.t.Helper()
	return e.h.do("GET", "/api/v1/petitions/"+id, e.tok(who), nil)
}

func (e *wfEnv) mustGet(who, id string) map[string]any {
	e.t.Helper()
	return e.h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, e.tok(who), nil).JSON(e.t)
}

// list returns the ids listed for who with the query (without limit).
func (e *wfEnv) list(who, query string) []string {
	e.t.Helper()
	r := e.h.must(http.StatusOK, "GET", "/api/v1/petitions?limit=500&"+query, e.tok(who), nil).JSON(e.t)
	var ids []string
	for _, it := range r["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

func (e *wfEnv) listed(who, query, id string) bool {
	e.t.Helper()
	return slices.Contains(e.list(who, query), id)
}

func (e *wfEnv) meta(id string) *vault.Meta {
	e.t.Helper()
	m, err := e.h.v.Meta(id)
	if err != nil {
		e.t.Fatalf("Meta(%s): %v", id, err)
	}
	return m
}

// requestReview is the petitioner asking for 复查/复核 (no staff endpoint).
func (e *wfEnv) requestReview(id, reason string) error {
	_, _, err := e.h.v.RequestReview(id, reason, &audit.Entry{RequestID: audit.NewRequestID(), Action: "public.review",
		Decision: audit.Allow, Status: http.StatusNoContent, Details: map[string]any{}})
	return err
}

func (e *wfEnv) feedback(id, rating, comment string) error {
	_, _, err := e.h.v.Feedback(id, rating, comment, &audit.Entry{RequestID: audit.NewRequestID(), Action: "public.feedback",
		Decision: audit.Allow, Status: http.StatusNoContent, Details: map[string]any{}})
	return err
}

func (e *wfEnv) events(who, id string) []map[string]any {
	e.t.Helper()
	r := e.h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id+"/events", e.tok(who), nil).JSON(e.t)
	var out []map[string]any
	for _, it := range r["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// wfBody is a valid body for action on a petition of group/east/site-3.
func wfBody(action string) map[string]any {
	switch action {
	case vault.ActNotAccept:
		return map[string]any{"action": action, "reason": "不属于信访受理范围，请通过劳动仲裁解决"}
	case vault.ActTransfer:
		return map[string]any{"action": action, "reason": "属于四号工地管辖", "target_unit": "group/east/site-4"}
	case vault.ActAssign:
		return map[string]any{"action": action, "assignee": "off1"}
	case vault.ActExtend:
		return map[string]any{"action": action, "days": 10, "reason": "案情复杂需要调查"}
	case vault.ActReply, vault.ActReviewReply, vault.ActRereviewReply:
		return map[string]any{"action": action, "text": "经核查，工资已发放。"}
	case vault.ActCategorize:
		return map[string]any{"action": action, "label": "wage_arrears"}
	}
	return map[string]any{"action": action}
}

// drive moves a registered petition of group/east/site-3 to state, as supe.
func (e *wfEnv) drive(id, state string) {
	e.t.Helper()
	act := func(a string) { e.t.Helper(); e.mustAct("supe", id, wfBody(a)) }
	review := func() {
		e.t.Helper()
		if err := e.requestReview(id, "对答复不满意，申请复查"); err != nil {
			e.t.Fatalf("RequestReview: %v", err)
		}
	}
	switch state {
	case vault.StatusRegistered:
	case vault.StatusAccepted:
		act(vault.ActAccept)
	case vault.StatusNotAccepted:
		act(vault.ActNotAccept)
	case vault.StatusTransferred:
		e.mustAct("supe", id, map[string]any{"action": "transfer", "reason": "属于地方政府职责", "target_unit": "external:某某市信访局"})
	case vault.StatusInProgress:
		act(vault.ActAccept)
		act(vault.ActAssign)
	case vault.StatusReplied:
		act(vault.ActAccept)
		act(vault.ActReply)
	case vault.StatusReview:
		act(vault.ActAccept)
		act(vault.ActReply)
		review()
	case vault.StatusRereview:
		act(vault.ActAccept)
		act(vault.ActReply)
		review()
		act(vault.ActReviewReply)
		review()
	case vault.StatusClosed:
		act(vault.ActAccept)
		act(vault.ActClose)
	default:
		e.t.Fatalf("no path to %s", state)
	}
	if got := e.meta(id).Status; got != state {
		e.t.Fatalf("drive to %s: status %s", state, got)
	}
}

// wfTime reads a time field of a JSON object; nil when null or absent.
func wfTime(tb testing.TB, obj map[string]any, name string) *time.Time {
	tb.Helper()
	v, ok := obj[name]
	if !ok || v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		tb.Fatalf("%s = %v, not a string", name, v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("%s = %q: %v", name, s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		tb.Errorf("%s = %q is not UTC", name, s)
	}
	return &t
}

func wfDeadline(tb testing.TB, p map[string]any, name string) *time.Time {
	tb.Helper()
	d, ok := p["deadlines"].(map[string]any)
	if !ok {
		tb.Fatalf("no deadlines in %v", p)
	}
	return wfTime(tb, d, name)
}

func wfSameTime(a *time.Time, b time.Time) bool { return a != nil && a.Equal(b) }

// wfDetail is the detail of a problem document.
func wfDetail(tb testing.TB, r *resp) string {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("status %d with content type %q", r.Code, ct)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("problem %q: %v", r.Body, err)
	}
	return p.Detail
}

// wfLegal lists, per DESIGN.md, the states in which each action may be taken.
var wfLegal = map[string][]string{
	vault.ActAccept:        {vault.StatusRegistered},
	vault.ActNotAccept:     {vault.StatusRegistered},
	vault.ActTransfer:      {vault.StatusRegistered, vault.StatusAccepted},
	vault.ActAssign:        {vault.StatusAccepted, vault.StatusInProgress},
	vault.ActExtend:        {vault.StatusAccepted, vault.StatusInProgress},
	vault.ActReply:         {vault.StatusAccepted, vault.StatusInProgress},
	vault.ActReviewReply:   {vault.StatusReview},
	vault.ActRereviewReply: {vault.StatusRereview},
	vault.ActClose:         {vault.StatusAccepted, vault.StatusInProgress, vault.StatusReplied},
	vault.ActCategorize:    vault.Statuses,
}

// wfNext is where each action leads ("" keeps the state).
var wfNext = map[string]string{
	vault.ActAccept: vault.StatusAccepted, vault.ActNotAccept: vault.StatusNotAccepted, vault.ActTransfer: vault.StatusRegistered,
	vault.ActAssign: vault.StatusInProgress, vault.ActReply: vault.StatusReplied, vault.ActReviewReply: vault.StatusReplied,
	vault.ActRereviewReply: vault.StatusClosed, vault.ActClose: vault.StatusClosed,
}

var wfStates = []string{vault.StatusRegistered, vault.StatusAccepted, vault.StatusNotAccepted, vault.StatusTransferred,
	vault.StatusInProgress, vault.StatusReplied, vault.StatusReview, vault.StatusRereview, vault.StatusClosed}

var wfActions = []string{vault.ActAccept, vault.ActNotAccept, vault.ActTransfer, vault.ActAssign, vault.ActExtend,
	vault.ActReply, vault.ActReviewReply, vault.ActRereviewReply, vault.ActClose, vault.ActCategorize}

// TestWorkflowTransitions takes every action in every state, as a group
// supervisor (who may take them all on a site's case, re-review included):
// 200 and the next state where DESIGN.md allows it, 409 and no change
// elsewhere.
func TestWorkflowTransitions(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	for _, state := range wfStates {
		shared := e.create("group/east/site-3", nil)
		e.drive(shared, state)
		for _, action := range wfActions {
			legal := slices.Contains(wfLegal[action], state)
			want := http.StatusConflict
			if legal {
				want = http.StatusOK
			}
			t.Run(fmt.Sprintf("%s/%s/%d", state, action, want), func(t *testing.T) {
				e := e.in(t)
				id := shared
				if legal {
					id = e.create("group/east/site-3", nil)
					e.drive(id, state)
				}
				before := e.meta(id)
				r := e.act("supg", id, wfBody(action))
				if r.Code != want {
					t.Fatalf("status %d, want %d: %s", r.Code, want, r.Body)
				}
				after := e.meta(id)
				if !legal {
					if d := wfDetail(t, r); d == "" {
						t.Errorf("409 without a detail")
					}
					if after.Status != before.Status || after.Events != before.Events || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Errorf("a refused action changed the petition: %+v → %+v", before, after)
					}
					if le := e.h.lastEntry(); le.Action != "petition.action" || le.Status != http.StatusConflict || le.Decision != audit.Allow ||
						le.Details["action"] != action {
						t.Errorf("audit entry of the 409 = %+v", le)
					}
					return
				}
				next := wfNext[action]
				if next == "" {
					next = state
				}
				p := r.JSON(t)
				if p["status"] != next || after.Status != next {
					t.Errorf("status %v (stored %s), want %s", p["status"], after.Status, next)
				}
				if after.Events != before.Events+1 {
					t.Errorf("events %d → %d, want one more", before.Events, after.Events)
				}
				if action == vault.ActTransfer && p["unit"] != "group/east/site-4" {
					t.Errorf("unit after transfer = %v", p["unit"])
				}
			})
		}
	}
}

// TestWorkflowActionInput: missing, foreign and bad fields are 400 naming
// the field, before the state is looked at (400 before 409).
func TestWorkflowActionInput(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	reg := e.create("group/east/site-3", nil)
	acc := e.create("group/east/site-3", nil)
	e.drive(acc, vault.StatusAccepted)
	closed := e.create("group/east/site-3", nil)
	e.drive(closed, vault.StatusClosed)
	long := strings.Repeat("长", 501)
	for _, tt := range []struct {
		name  string
		id    string
		body  any
		field string // the detail must name it
	}{
		{"empty object", reg, map[string]any{}, "action"},
		{"unknown action", reg, map[string]any{"action": "approve"}, "action"},
		{"action not a string", reg, map[string]any{"action": 5}, "action"},
		{"unknown field", reg, map[string]any{"action": "accept", "priority": "high"}, "priority"},
		{"upper-case field", reg, `{"action":"accept","Comment":"x"}`, "Comment"},
		{"duplicate action", reg, `{"action":"accept","action":"close"}`, "action"},
		{"trailing data", reg, `{"action":"accept"} {}`, "trailing"},
		{"accept with text", reg, map[string]any{"action": "accept", "text": "答复"}, "text"},
		{"accept with reason", reg, map[string]any{"action": "accept", "reason": "理由"}, "reason"},
		{"accept with assignee", reg, map[string]any{"action": "accept", "assignee": "off1"}, "assignee"},
		{"not_accept without reason", reg, map[string]any{"action": "not_accept"}, "reason"},
		{"not_accept empty reason", reg, map[string]any{"action": "not_accept", "reason": ""}, "reason"},
		{"not_accept blank reason", reg, map[string]any{"action": "not_accept", "reason": "  \t "}, "reason"},
		{"not_accept reason too long", reg, map[string]any{"action": "not_accept", "reason": long}, "reason"},
		{"not_accept bad target_unit", reg, map[string]any{"action": "not_accept", "reason": "不予受理", "target_unit": "Group East"}, "target_unit"},
		{"not_accept with days", reg, map[string]any{"action": "not_accept", "reason": "不予受理", "days": 3}, "days"},
		{"transfer without reason", reg, map[string]any{"action": "transfer", "target_unit": "group/west"}, "reason"},
		{"transfer without target_unit", reg, map[string]any{"action": "transfer", "reason": "转办"}, "target_unit"},
		{"transfer bad target_unit", reg, map[string]any{"action": "transfer", "reason": "转办", "target_unit": "group//west"}, "target_unit"},
		{"transfer external without a name", reg, map[string]any{"action": "transfer", "reason": "转办", "target_unit": "external:"}, "target_unit"},
		{"transfer to its own unit", reg, map[string]any{"action": "transfer", "reason": "转办", "target_unit": "group/east/site-3"}, "target_unit"},
		{"transfer with text", reg, map[string]any{"action": "transfer", "reason": "转办", "target_unit": "group/west", "text": "x"}, "text"},
		{"assign without assignee", acc, map[string]any{"action": "assign"}, "assignee"},
		{"assign empty assignee", acc, map[string]any{"action": "assign", "assignee": ""}, "assignee"},
		{"assign unknown user", acc, map[string]any{"action": "assign", "assignee": "nobody"}, "assignee"},
		{"assign with reason", acc, map[string]any{"action": "assign", "assignee": "off1", "reason": "x"}, "reason"},
		{"extend without days", acc, map[string]any{"action": "extend", "reason": "需要调查"}, "days"},
		{"extend without reason", acc, map[string]any{"action": "extend", "days": 10}, "reason"},
		{"extend 0 days", acc, map[string]any{"action": "extend", "days": 0, "reason": "需要调查"}, "days"},
		{"extend 31 days", acc, map[string]any{"action": "extend", "days": 31, "reason": "需要调查"}, "days"},
		{"extend -1 days", acc, map[string]any{"action": "extend", "days": -1, "reason": "需要调查"}, "days"},
		{"extend days as a string", acc, map[string]any{"action": "extend", "days": "10", "reason": "需要调查"}, "days"},
		{"extend fractional days", acc, map[string]any{"action": "extend", "days": 10.5, "reason": "需要调查"}, "days"},
		{"extend with text", acc, map[string]any{"action": "extend", "days": 10, "reason": "需要调查", "text": "x"}, "text"},
		{"reply without text", acc, map[string]any{"action": "reply"}, "text"},
		{"reply null text", acc, map[string]any{"action": "reply", "text": nil}, "text"},
		{"reply blank text", acc, map[string]any{"action": "reply", "text": " \n "}, "text"},
		{"reply with a NUL", acc, map[string]any{"action": "reply", "text": "答复\u0000"}, "text"},
		{"reply with reason", acc, map[string]any{"action": "reply", "text": "答复", "reason": "x"}, "reason"},
		{"review_reply without text", acc, map[string]any{"action": "review_reply"}, "text"},
		{"rereview_reply without text", acc, map[string]any{"action": "rereview_reply"}, "text"},
		{"close with reason", acc, map[string]any{"action": "close", "reason": "x"}, "reason"},
		{"close with days", acc, map[string]any{"action": "close", "days": 1}, "days"},
		{"categorize unknown label", acc, map[string]any{"action": "categorize", "label": "gossip"}, "label"},
		{"categorize with comment", acc, map[string]any{"action": "categorize", "label": "other", "comment": "x"}, "comment"},
		// Bad values on a closed case: 400, not 409.
		{"closed: extend 31 days", closed, map[string]any{"action": "extend", "days": 31, "reason": "需要调查"}, "days"},
		{"closed: extend 0 days", closed, map[string]any{"action": "extend", "days": 0, "reason": "需要调查"}, "days"},
		{"closed: reply without text", closed, map[string]any{"action": "reply", "text": ""}, "text"},
		{"closed: not_accept without reason", closed, map[string]any{"action": "not_accept"}, "reason"},
		{"closed: transfer bad target_unit", closed, map[string]any{"action": "transfer", "reason": "转办", "target_unit": "Group/West"}, "target_unit"},
		{"closed: assign unknown user", closed, map[string]any{"action": "assign", "assignee": "nobody"}, "assignee"},
		{"closed: assign another unit's officer", closed, map[string]any{"action": "assign", "assignee": "offw"}, "assignee"},
		{"closed: accept with text", closed, map[string]any{"action": "accept", "text": "x"}, "text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			before := e.meta(tt.id)
			r := e.h.send(req{Method: "POST", Path: "/api/v1/petitions/" + tt.id + "/actions", Token: e.tok("supg"), Body: tt.body})
			if r.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Code, r.Body)
			}
			if d := wfDetail(t, r); !strings.Contains(d, tt.field) {
				t.Errorf("detail %q does not name %q", d, tt.field)
			}
			if after := e.meta(tt.id); after.Status != before.Status || after.Events != before.Events {
				t.Errorf("a 400 changed the petition")
			}
		})
	}
	t.Run("valid fields on a closed case are 409", func(t *testing.T) {
		e := e.in(t)
		for _, a := range []string{"extend", "reply", "assign", "accept"} {
			if r := e.act("supg", closed, wfBody(a)); r.Code != http.StatusConflict {
				t.Errorf("%s: status %d, want 409", a, r.Code)
			}
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		e := e.in(t)
		r := e.h.send(req{Method: "POST", Path: "/api/v1/petitions/" + reg + "/actions", Token: e.tok("supe"), Body: "action=accept",
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if r.Code != http.StatusUnsupportedMediaType {
			t.Errorf("form body: status %d, want 415", r.Code)
		}
	})
	t.Run("missing petition", func(t *testing.T) {
		e := e.in(t)
		for _, id := range []string{"01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"} {
			if r := e.act("supe", id, wfBody("accept")); r.Code != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", id, r.Code)
			}
		}
	})
}

// TestWorkflowActionRoles: who may take which action, through the policy.
func TestWorkflowActionRoles(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	for _, tt := range []struct {
		who    string
		action string
		want   int
	}{
		{"off1", "reply", http.StatusOK}, // assigned
		{"off1", "extend", http.StatusForbidden},
		{"off1", "close", http.StatusForbidden},
		{"off1", "assign", http.StatusForbidden},
		{"off1", "categorize", http.StatusForbidden},
		{"off1", "transfer", http.StatusForbidden},
		{"off2", "reply", http.StatusNotFound}, // not assigned: the case is invisible
		{"off2", "close", http.StatusForbidden},
		{"reg", "reply", http.StatusForbidden},
		{"reg", "close", http.StatusForbidden},
		{"sup3", "extend", http.StatusOK},
		{"sup3", "reply", http.StatusOK},
		{"supg", "close", http.StatusOK},
		{"sup4", "extend", http.StatusNotFound}, // sibling unit
		{"supw", "close", http.StatusNotFound},
		{"supli", "extend", http.StatusNotFound}, // named in the petition
		{"aud", "close", http.StatusForbidden},
		{"admin", "close", http.StatusForbidden},
	} {
		t.Run(tt.who+"/"+tt.action, func(t *testing.T) {
			e := e.in(t)
			id := e.create("group/east/site-3", nil)
			e.drive(id, vault.StatusInProgress)
			before := e.meta(id)
			r := e.act(tt.who, id, wfBody(tt.action))
			if r.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.want, r.Body)
			}
			if tt.want != http.StatusOK {
				if after := e.meta(id); after.Events != before.Events {
					t.Errorf("a refused action changed the petition")
				}
				le := e.h.lastEntry()
				if le.Decision != audit.Deny || le.Status != tt.want {
					t.Errorf("audit entry: decision %s status %d", le.Decision, le.Status)
				}
			}
		})
	}
}

// TestWorkflowDeadlineBoundaries checks each deadline's value, and
// overdue and due_soon (3 days) around it: 3 days and a second before, 3
// days before, the day before, a second before, at the deadline, a second
// after, the day after.
func TestWorkflowDeadlineBoundaries(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	for _, tt := range []struct {
		name     string
		deadline string
		setup    func(e *wfEnv) (id string, want time.Time)
	}{
		{"accept_by = received_at + 15 days", "accept_by", func(e *wfEnv) (string, time.Time) {
			received := e.now().Add(-2*wfDay - 5*time.Hour)
			id := e.create("group/east/site-3", func(b map[string]any) { b["received_at"] = received.Format(time.RFC3339) })
			return id, received.Add(15 * wfDay)
		}},
		{"accept_by without received_at = now + 15 days", "accept_by", func(e *wfEnv) (string, time.Time) {
			return e.create("group/east/site-3", nil), e.now().Add(15 * wfDay)
		}},
		{"resolve_by = accepted + 60 days", "resolve_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.advance(4 * wfDay)
			e.mustAct("sup3", id, wfBody("accept"))
			return id, e.now().Add(60 * wfDay)
		}},
		{"resolve_by kept by assign", "resolve_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.mustAct("sup3", id, wfBody("accept"))
			accepted := e.now()
			e.advance(3 * wfDay)
			e.mustAct("sup3", id, wfBody("assign"))
			return id, accepted.Add(60 * wfDay)
		}},
		{"resolve_by + 30 days by extend", "resolve_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.mustAct("sup3", id, wfBody("accept"))
			accepted := e.now()
			e.advance(50 * wfDay)
			e.mustAct("sup3", id, map[string]any{"action": "extend", "days": 30, "reason": "需要调查"})
			return id, accepted.Add(90 * wfDay)
		}},
		{"review_by = review request + 30 days", "review_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.drive(id, vault.StatusReplied)
			e.advance(20 * wfDay)
			if err := e.requestReview(id, "申请复查"); err != nil {
				e.t.Fatal(err)
			}
			return id, e.now().Add(30 * wfDay)
		}},
		{"review_by = re-review request + 30 days", "review_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.drive(id, vault.StatusReview)
			e.mustAct("supe", id, wfBody("review_reply"))
			e.advance(30 * wfDay)
			if err := e.requestReview(id, "申请复核"); err != nil {
				e.t.Fatal(err)
			}
			return id, e.now().Add(30 * wfDay)
		}},
		{"accept_by = transfer + 15 days", "accept_by", func(e *wfEnv) (string, time.Time) {
			id := e.create("group/east/site-3", nil)
			e.advance(9 * wfDay)
			e.mustAct("sup3", id, wfBody("transfer"))
			return id, e.now().Add(15 * wfDay)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			id, want := tt.setup(e)
			p := e.mustGet("supe", id)
			if d := wfDeadline(t, p, tt.deadline); !wfSameTime(d, want) {
				t.Fatalf("%s = %v, want %v", tt.deadline, d, want)
			}
			unit := "unit=" + url.QueryEscape(p["unit"].(string))
			ran := 0
			for _, step := range []struct {
				name          string
				off           time.Duration
				overdue, soon bool
			}{
				{"3 days and a second before", -3*wfDay - time.Second, false, false},
				{"3 days before", -3 * wfDay, false, true},
				{"the day before", -wfDay, false, true},
				{"a second before", -time.Second, false, true},
				{"at the deadline", 0, false, true},
				{"a second after", time.Second, true, false},
				{"the day after", wfDay, true, false},
			} {
				at := want.Add(step.off)
				if e.now().After(at) {
					continue // the setup already passed it
				}
				ran++
				e.setClock(at)
				p := e.mustGet("supe", id)
				if p["overdue"] != step.overdue {
					t.Errorf("%s: overdue = %v, want %v", step.name, p["overdue"], step.overdue)
				}
				for _, f := range []struct {
					query string
					want  bool
				}{
					{"overdue=true", step.overdue},
					{"overdue=false", !step.overdue},
					{"due_soon=true", step.soon},
					{"due_soon=false", !step.soon},
				} {
					if got := e.listed("supe", unit+"&"+f.query, id); got != f.want {
						t.Errorf("%s: listed with %s = %v, want %v", step.name, f.query, got, f.want)
					}
				}
			}
			if ran < 5 {
				t.Errorf("only %d instants checked", ran)
			}
			// The summary in a list carries the deadline and the flag too.
			r := e.h.must(http.StatusOK, "GET", "/api/v1/petitions?limit=500&"+unit, e.tok("supe"), nil).JSON(t)
			for _, it := range r["items"].([]any) {
				s := it.(map[string]any)
				if s["id"] == id && (!wfSameTime(wfDeadline(t, s, tt.deadline), want) || s["overdue"] != true) {
					t.Errorf("list summary: %v", s)
				}
			}
		})
	}
	t.Run("bad filter values", func(t *testing.T) {
		e := e.in(t)
		for _, q := range []string{"overdue=yes", "overdue=1", "due_soon=", "due_soon=TRUE"} {
			if r := e.h.do("GET", "/api/v1/petitions?"+q, e.tok("supe"), nil); r.Code != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", q, r.Code)
			}
		}
	})
}

// TestWorkflowExtendLimits: 1–30 days, once, with the reason shown to the
// petitioner and recorded in the audit entry (API.md).
func TestWorkflowExtendLimits(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	id := e.create("group/east/site-3", nil)
	p := e.mustAct("sup3", id, wfBody("accept"))
	resolve := *wfDeadline(t, p, "resolve_by")
	for _, tt := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"action": "extend", "days": 31, "reason": "需要调查"}, http.StatusBadRequest},
		{map[string]any{"action": "extend", "days": 0, "reason": "需要调查"}, http.StatusBadRequest},
		{map[string]any{"action": "extend", "days": 1000000, "reason": "需要调查"}, http.StatusBadRequest},
		{map[string]any{"action": "extend", "days": 30, "reason": "需要进一步调查核实"}, http.StatusOK},
		{map[string]any{"action": "extend", "days": 1, "reason": "再次延期"}, http.StatusConflict},
		{map[string]any{"action": "extend", "days": 30, "reason": "再次延期"}, http.StatusConflict},
		{map[string]any{"action": "extend", "days": 31, "reason": "再次延期"}, http.StatusBadRequest},
	} {
		r := e.act("sup3", id, tt.body)
		if r.Code != tt.want {
			t.Fatalf("%v: status %d, want %d: %s", tt.body, r.Code, tt.want, r.Body)
		}
		if r.Code == http.StatusOK {
			if d := wfDeadline(t, r.JSON(t), "resolve_by"); !wfSameTime(d, resolve.Add(30*wfDay)) {
				t.Errorf("resolve_by after extend = %v, want %v", d, resolve.Add(30*wfDay))
			}
			le := e.h.lastEntry()
			if le.Reason != "需要进一步调查核实" || fmt.Sprint(le.Details["days"]) != "30" {
				t.Errorf("audit entry of the extension: reason %q, details %v", le.Reason, le.Details)
			}
		}
	}
	evs := e.events("sup3", id)
	last := evs[len(evs)-1]
	if last["action"] != "extend" || last["days"] != float64(30) || last["reason"] != "需要进一步调查核实" || last["public"] != true {
		t.Errorf("extend event = %v", last)
	}
	if d := wfTime(t, last["deadlines"].(map[string]any), "resolve_by"); !wfSameTime(d, resolve.Add(30*wfDay)) {
		t.Errorf("extend event resolve_by = %v", d)
	}
	// Once also holds after the case moves to in_progress.
	e.mustAct("sup3", id, wfBody("assign"))
	if r := e.act("sup3", id, map[string]any{"action": "extend", "days": 5, "reason": "再次延期"}); r.Code != http.StatusConflict {
		t.Errorf("second extension in progress: %d", r.Code)
	}
	// One day, in progress.
	id2 := e.create("group/east/site-3", nil)
	e.drive(id2, vault.StatusInProgress)
	before := *wfDeadline(t, e.mustGet("sup3", id2), "resolve_by")
	p = e.mustAct("sup3", id2, map[string]any{"action": "extend", "days": 1, "reason": "补充材料"})
	if d := wfDeadline(t, p, "resolve_by"); !wfSameTime(d, before.Add(wfDay)) || p["status"] != "in_progress" {
		t.Errorf("extend by 1 day: resolve_by %v (want %v), status %v", d, before.Add(wfDay), p["status"])
	}
}

// TestWorkflowTransferScope: a transfer re-registers the case in the
// receiving unit with a new accept_by and an objection window of 5 working
// days (by the holiday calendar), and moves it out of the old unit's reach
// at once.
func TestWorkflowTransferScope(t *testing.T) {
	cal, err := vault.ParseCalendar(strings.NewReader("# test calendar\n2026-03-04  # 假日 (Wednesday)\n+2026-03-14 # 调休上班 (Saturday)\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := wfSetup(t, harnessOptions{vaultOpts: func(o *vault.Options) { o.Calendar = cal }})
	for _, tt := range []struct {
		name      string
		at        time.Time
		objection time.Time
	}{
		{"holiday: Sunday, Wednesday off", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		{"weekend: from Thursday", time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)},
		{"make-up Saturday", time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		{"Friday night UTC is Saturday in China", time.Date(2026, 3, 20, 20, 0, 0, 0, time.UTC), time.Date(2026, 3, 26, 20, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			e.setClock(tt.at)
			id := e.create("group/east/site-3", nil)
			if !e.listed("sup3", "", id) || e.listed("sup4", "", id) {
				t.Fatalf("before the transfer: sup3 lists %v, sup4 lists %v", e.listed("sup3", "", id), e.listed("sup4", "", id))
			}
			p := e.mustAct("sup3", id, map[string]any{"action": "transfer", "reason": "属于四号工地管辖", "target_unit": "group/east/site-4"})
			if p["status"] != "registered" || p["unit"] != "group/east/site-4" || p["assignee"] != nil || p["overdue"] != false {
				t.Errorf("after the transfer: status %v unit %v assignee %v overdue %v", p["status"], p["unit"], p["assignee"], p["overdue"])
			}
			if d := wfDeadline(t, p, "accept_by"); !wfSameTime(d, tt.at.Add(15*wfDay)) {
				t.Errorf("accept_by = %v, want %v", d, tt.at.Add(15*wfDay))
			}
			if d := wfDeadline(t, p, "objection_by"); !wfSameTime(d, tt.objection) {
				t.Errorf("objection_by = %v, want %v", d, tt.objection)
			}
			// Scope changes at once.
			if r := e.get("sup3", id); r.Code != http.StatusNotFound {
				t.Errorf("old unit's supervisor reads it: %d", r.Code)
			}
			if e.listed("sup3", "", id) {
				t.Errorf("old unit's supervisor lists it")
			}
			if r := e.act("sup3", id, wfBody("accept")); r.Code != http.StatusNotFound {
				t.Errorf("old unit's supervisor acts on it: %d", r.Code)
			}
			if !e.listed("sup4", "", id) || !e.listed("sup4", "status=registered", id) || !e.listed("supe", "unit=group/east/site-4", id) {
				t.Errorf("the receiving unit does not list it")
			}
			if e.listed("supe", "unit=group/east/site-3", id) {
				t.Errorf("still listed under the old unit")
			}
			got := e.mustGet("sup4", id)
			if got["status"] != "registered" || !wfSameTime(wfDeadline(t, got, "objection_by"), tt.objection) {
				t.Errorf("receiving unit reads %v", got)
			}
			evs := e.events("sup4", id)
			last := evs[len(evs)-1]
			dl, _ := last["deadlines"].(map[string]any)
			if last["action"] != "transfer" || last["target_unit"] != "group/east/site-4" || last["reason"] != "属于四号工地管辖" ||
				dl == nil || !wfSameTime(wfTime(t, dl, "accept_by"), tt.at.Add(15*wfDay)) || !wfSameTime(wfTime(t, dl, "objection_by"), tt.objection) {
				t.Errorf("transfer event = %v", last)
			}
			// The receiving unit handles it.
			p = e.mustAct("sup4", id, wfBody("accept"))
			if d := wfDeadline(t, p, "resolve_by"); !wfSameTime(d, e.now().Add(60*wfDay)) {
				t.Errorf("resolve_by in the receiving unit = %v", d)
			}
		})
	}
	t.Run("from accepted to another branch", func(t *testing.T) {
		e := e.in(t)
		id := e.create("group/east/site-3", nil)
		e.mustAct("supe", id, wfBody("accept"))
		p := e.mustAct("supe", id, map[string]any{"action": "transfer", "reason": "属于西区管辖", "target_unit": "group/west"})
		if p["status"] != "registered" || wfDeadline(t, p, "resolve_by") != nil {
			t.Errorf("after the transfer: status %v, resolve_by %v", p["status"], wfDeadline(t, p, "resolve_by"))
		}
		for who, want := range map[string]int{"supe": 404, "sup3": 404, "supw": 200, "supg": 200, "offw": 404} {
			if r := e.get(who, id); r.Code != want {
				t.Errorf("%s reads it: %d, want %d", who, r.Code, want)
			}
		}
		if e.listed("supe", "", id) || !e.listed("supw", "", id) {
			t.Errorf("lists: supe %v, supw %v", e.listed("supe", "", id), e.listed("supw", "", id))
		}
		// The west assigns its own officer, not one of the east.
		e.mustAct("supw", id, wfBody("accept"))
		if r := e.act("supw", id, map[string]any{"action": "assign", "assignee": "off1"}); r.Code != http.StatusBadRequest {
			t.Errorf("assigning an officer of the old unit: %d", r.Code)
		}
		e.mustAct("supw", id, map[string]any{"action": "assign", "assignee": "offw"})
		if r := e.get("offw", id); r.Code != http.StatusOK {
			t.Errorf("west officer reads it: %d", r.Code)
		}
	})
}

// TestWorkflowExternalTransfer: a transfer to an outside body ends the case
// here.
func TestWorkflowExternalTransfer(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	id := e.create("group/east/site-3", nil)
	p := e.mustAct("sup3", id, map[string]any{"action": "transfer", "reason": "属于地方政府职责", "target_unit": "external:某某市信访局"})
	if p["status"] != "transferred" || p["unit"] != "group/east/site-3" {
		t.Fatalf("external transfer: status %v unit %v", p["status"], p["unit"])
	}
	if d := wfDeadline(t, p, "objection_by"); d != nil {
		t.Errorf("objection_by = %v for an outside body", d)
	}
	for _, a := range wfActions {
		want := http.StatusConflict
		if a == vault.ActCategorize {
			want = http.StatusOK
		}
		if r := e.act("supg", id, wfBody(a)); r.Code != want {
			t.Errorf("%s after an external transfer: %d, want %d", a, r.Code, want)
		}
	}
	e.advance(16 * wfDay)
	if p := e.mustGet("sup3", id); p["overdue"] != false || p["status"] != "transferred" {
		t.Errorf("16 days later: overdue %v status %v", p["overdue"], p["status"])
	}
	if e.listed("sup3", "overdue=true", id) || !e.listed("sup3", "status=transferred", id) {
		t.Errorf("list filters on a transferred case")
	}
	evs := e.events("sup3", id)
	if len(evs) < 1 || evs[0]["target_unit"] != "external:某某市信访局" || evs[0]["to_status"] != "transferred" || evs[0]["reason"] != "属于地方政府职责" {
		t.Errorf("events = %v", evs)
	}
}

// TestWorkflowAssignment: assignment makes the case visible to its officer,
// and to no other; bad assignees are 400.
func TestWorkflowAssignment(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	id := e.create("group/east/site-3", nil)
	e.mustAct("sup3", id, wfBody("accept"))
	notes := "/api/v1/petitions/" + id + "/notes"
	for _, who := range []string{"off1", "off2"} {
		if r := e.get(who, id); r.Code != http.StatusNotFound {
			t.Errorf("%s reads an unassigned case: %d", who, r.Code)
		}
		if e.listed(who, "", id) {
			t.Errorf("%s lists an unassigned case", who)
		}
	}
	p := e.mustAct("sup3", id, map[string]any{"action": "assign", "assignee": "off1"})
	if p["assignee"] != "off1" || p["status"] != "in_progress" {
		t.Errorf("after assign: assignee %v status %v", p["assignee"], p["status"])
	}
	if r := e.get("off1", id); r.Code != http.StatusOK {
		t.Errorf("assigned officer reads: %d", r.Code)
	}
	if !e.listed("off1", "", id) || !e.listed("off1", "status=in_progress", id) || !e.listed("sup3", "assignee=off1", id) {
		t.Errorf("assigned officer's list or the assignee filter misses the case")
	}
	if r := e.h.do("GET", "/api/v1/petitions/"+id+"/events", e.tok("off1"), nil); r.Code != http.StatusOK {
		t.Errorf("assigned officer reads events: %d", r.Code)
	}
	e.h.must(http.StatusCreated, "POST", notes, e.tok("off1"), map[string]any{"text": "已电话联系信访人"})
	// Another officer sees nothing.
	if r := e.get("off2", id); r.Code != http.StatusNotFound {
		t.Errorf("second officer reads: %d", r.Code)
	}
	if e.listed("off2", "", id) {
		t.Errorf("second officer lists it")
	}
	if r := e.act("off2", id, wfBody("reply")); r.Code != http.StatusNotFound {
		t.Errorf("second officer replies: %d", r.Code)
	}
	if r := e.h.do("POST", notes, e.tok("off2"), map[string]any{"text": "x"}); r.Code != http.StatusNotFound {
		t.Errorf("second officer notes: %d", r.Code)
	}
	if r := e.h.do("GET", "/api/v1/petitions/"+id+"/events", e.tok("off2"), nil); r.Code != http.StatusNotFound {
		t.Errorf("second officer reads events: %d", r.Code)
	}
	// The assigned officer replies.
	p = e.mustAct("off1", id, map[string]any{"action": "reply", "text": "工资已发放"})
	if p["status"] != "replied" {
		t.Errorf("officer's reply: %v", p["status"])
	}

	t.Run("reassignment moves visibility", func(t *testing.T) {
		e := e.in(t)
		id := e.create("group/east/site-3", nil)
		e.drive(id, vault.StatusInProgress) // off1
		e.mustAct("sup3", id, map[string]any{"action": "assign", "assignee": "off2"})
		if r := e.get("off1", id); r.Code != http.StatusNotFound {
			t.Errorf("former assignee reads: %d", r.Code)
		}
		if e.listed("off1", "", id) || !e.listed("off2", "", id) {
			t.Errorf("lists after reassignment: off1 %v, off2 %v", e.listed("off1", "", id), e.listed("off2", "", id))
		}
		if r := e.act("off1", id, wfBody("reply")); r.Code != http.StatusNotFound {
			t.Errorf("former assignee replies: %d", r.Code)
		}
	})

	acc := e.create("group/east/site-3", nil)
	e.mustAct("sup3", acc, wfBody("accept"))
	for _, tt := range []struct {
		name     string
		assignee string
		want     int
	}{
		{"officer of another unit", "offw", http.StatusBadRequest},
		{"officer of a unit below the petition's", "offt", http.StatusBadRequest},
		{"disabled officer", "offd", http.StatusBadRequest},
		{"officer named in subjects", "lijl", http.StatusBadRequest},
		{"supervisor named in subjects", "supli", http.StatusBadRequest},
		{"auditor", "aud", http.StatusBadRequest},
		{"admin", "admin", http.StatusBadRequest},
		{"registrar", "reg", http.StatusBadRequest},
		{"unknown user", "ghost", http.StatusBadRequest},
		{"supervisor of another site", "sup4", http.StatusBadRequest},
		{"officer of a unit above the petition's", "offg", http.StatusOK},
		{"supervisor in scope", "sup3", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			before := e.meta(acc)
			r := e.act("supe", acc, map[string]any{"action": "assign", "assignee": tt.assignee})
			if r.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.want, r.Body)
			}
			if tt.want == http.StatusBadRequest {
				if d := wfDetail(t, r); !strings.Contains(d, "assignee") {
					t.Errorf("detail %q does not name assignee", d)
				}
				if after := e.meta(acc); after.Assignee != before.Assignee || after.Events != before.Events {
					t.Errorf("a refused assignment changed the petition")
				}
			}
		})
	}
	if r := e.get("offg", acc); r.Code != http.StatusNotFound {
		t.Errorf("the officer assigned before the supervisor still reads it: %d", r.Code)
	}
}

// TestWorkflowReviewByParentUnit: 复查 is handled by the parent unit's
// supervisors, 复核 above it; the re-review is final, and a new petition on
// the matter is flagged.
func TestWorkflowReviewByParentUnit(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	person := func(b map[string]any) {
		b["petitioner"] = map[string]any{"name": "赵六", "id_number": "440301198802021111", "phone": "13600001111"}
	}
	id := e.create("group/east/site-3", person)
	if err := e.requestReview(id, "申请复查"); !errors.Is(err, vault.ErrConflict) {
		t.Errorf("review before acceptance: %v, want ErrConflict", err)
	}
	e.mustAct("sup3", id, wfBody("accept"))
	if err := e.requestReview(id, "申请复查"); !errors.Is(err, vault.ErrConflict) {
		t.Errorf("review before a reply: %v, want ErrConflict", err)
	}
	e.mustAct("sup3", id, map[string]any{"action": "reply", "text": "经核查，工资已发放。"})
	e.advance(10 * wfDay)

	if err := e.requestReview(id, "对答复不满意，申请复查"); err != nil {
		t.Fatalf("RequestReview: %v", err)
	}
	p := e.mustGet("sup3", id)
	if p["status"] != "review" || !wfSameTime(wfDeadline(t, p, "review_by"), e.now().Add(30*wfDay)) {
		t.Errorf("in review: status %v review_by %v", p["status"], wfDeadline(t, p, "review_by"))
	}
	if err := e.requestReview(id, "重复申请"); !errors.Is(err, vault.ErrConflict) {
		t.Errorf("second request while in review: %v", err)
	}
	if r := e.act("sup3", id, wfBody("review_reply")); r.Code != http.StatusForbidden {
		t.Errorf("site-3 supervisor review_reply: %d, want 403", r.Code)
	}
	if r := e.act("sup3", id, wfBody("close")); r.Code != http.StatusConflict {
		t.Errorf("site-3 supervisor closes a case in review: %d, want 409", r.Code)
	}
	if r := e.act("sup4", id, wfBody("review_reply")); r.Code != http.StatusNotFound {
		t.Errorf("sibling supervisor review_reply: %d, want 404", r.Code)
	}
	e.advance(5 * wfDay)
	p = e.mustAct("supe", id, map[string]any{"action": "review_reply", "text": "复查意见：维持原答复。"})
	if p["status"] != "replied" || !wfSameTime(wfDeadline(t, p, "review_request_by"), e.now().Add(30*wfDay)) {
		t.Errorf("after review reply: status %v review_request_by %v", p["status"], wfDeadline(t, p, "review_request_by"))
	}

	e.advance(29 * wfDay)
	if err := e.requestReview(id, "对复查意见不服，申请复核"); err != nil {
		t.Fatalf("re-review request: %v", err)
	}
	p = e.mustGet("supe", id)
	if p["status"] != "rereview" || !wfSameTime(wfDeadline(t, p, "review_by"), e.now().Add(30*wfDay)) {
		t.Errorf("in re-review: status %v review_by %v", p["status"], wfDeadline(t, p, "review_by"))
	}
	if r := e.act("sup3", id, wfBody("rereview_reply")); r.Code != http.StatusForbidden {
		t.Errorf("site-3 supervisor rereview_reply: %d, want 403", r.Code)
	}
	if r := e.act("supe", id, wfBody("review_reply")); r.Code != http.StatusConflict {
		t.Errorf("review_reply in re-review: %d, want 409", r.Code)
	}
	p = e.mustAct("supg", id, map[string]any{"action": "rereview_reply", "text": "复核意见：维持复查意见，此为最终结论。"})
	if p["status"] != "closed" {
		t.Errorf("after re-review: %v", p["status"])
	}
	if m := e.meta(id); !m.Final {
		t.Errorf("the re-reviewed case is not final")
	}
	if err := e.requestReview(id, "第三次申请"); !errors.Is(err, vault.ErrConflict) {
		t.Errorf("third request: %v, want ErrConflict", err)
	}
	for _, a := range wfActions {
		if a == vault.ActCategorize {
			continue
		}
		if r := e.act("supg", id, wfBody(a)); r.Code != http.StatusConflict {
			t.Errorf("%s on a final case: %d, want 409", a, r.Code)
		}
	}
	evs := e.events("supg", id)
	var requests []string
	for _, ev := range evs {
		if ev["type"] == "review_request" {
			if ev["actor"] != nil || ev["actor_kind"] != "petitioner" || ev["reason"] == nil {
				t.Errorf("review request event = %v", ev)
			}
			requests = append(requests, ev["to_status"].(string))
		}
	}
	if !slices.Equal(requests, []string{"review", "rereview"}) {
		t.Errorf("review requests: %v", requests)
	}

	// A new petition on the matter by the same person.
	for _, tt := range []struct {
		name string
		unit string
		mod  func(map[string]any)
		want any
	}{
		{"same id_number, same unit", "group/east/site-3", person, id},
		{"same id_number, other phone", "group/east/site-3", func(b map[string]any) {
			b["petitioner"] = map[string]any{"name": "赵六", "id_number": "440301198802021111", "phone": "13900000000"}
		}, id},
		{"same person, other unit", "group/east/site-4", person, nil},
		{"other person", "group/east/site-3", nil, nil},
		{"anonymous", "group/east/site-3", func(b map[string]any) { b["petitioner"] = nil }, nil},
	} {
		t.Run("repeat/"+tt.name, func(t *testing.T) {
			e := e.in(t)
			p := e.h.petition(e.tok("reg"), func() map[string]any {
				b := petitionBody(tt.unit)
				if tt.mod != nil {
					tt.mod(b)
				}
				return b
			}())
			if p["repeat_of_final"] != tt.want {
				t.Errorf("repeat_of_final in the create response = %v, want %v", p["repeat_of_final"], tt.want)
			}
			if got := e.mustGet("supe", p["id"].(string))["repeat_of_final"]; got != tt.want {
				t.Errorf("repeat_of_final on read = %v, want %v", got, tt.want)
			}
		})
	}

	// The windows: a request at the last instant is taken, one a second
	// later is 409.
	t.Run("window", func(t *testing.T) {
		e := e.in(t)
		var ids []string
		for range 3 {
			x := e.create("group/east/site-3", nil)
			e.drive(x, vault.StatusReplied)
			ids = append(ids, x)
		}
		by := *wfDeadline(t, e.mustGet("supe", ids[0]), "review_request_by")
		if !by.Equal(e.now().Add(30 * wfDay)) {
			t.Fatalf("review_request_by = %v, want replied + 30 days", by)
		}
		for i, off := range []time.Duration{-time.Second, 0, time.Second} {
			e.setClock(by.Add(off))
			err := e.requestReview(ids[i], "申请复查")
			if off <= 0 && err != nil {
				t.Errorf("request %v from the deadline: %v", off, err)
			}
			if off > 0 && !errors.Is(err, vault.ErrConflict) {
				t.Errorf("request a second late: %v, want ErrConflict", err)
			}
		}
	})
}

// TestWorkflowFeedback: the petitioner's rating closes a replied case, or
// leaves it open when dissatisfied; before a reply it is refused.
func TestWorkflowFeedback(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	for _, tt := range []struct {
		name   string
		state  string
		rating string
		err    error
		want   string
	}{
		{"satisfied", vault.StatusReplied, "satisfied", nil, "closed"},
		{"basically satisfied", vault.StatusReplied, "basically_satisfied", nil, "closed"},
		{"dissatisfied", vault.StatusReplied, "dissatisfied", nil, "replied"},
		{"before acceptance", vault.StatusRegistered, "satisfied", vault.ErrConflict, "registered"},
		{"before the reply", vault.StatusInProgress, "satisfied", vault.ErrConflict, "in_progress"},
		{"unknown rating", vault.StatusReplied, "great", vault.ErrInvalid, "replied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			id := e.create("group/east/site-3", nil)
			e.drive(id, tt.state)
			err := e.feedback(id, tt.rating, "答复及时")
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Feedback: %v, want %v", err, tt.err)
			}
			p := e.mustGet("supe", id)
			if p["status"] != tt.want {
				t.Errorf("status %v, want %s", p["status"], tt.want)
			}
			if tt.err != nil {
				return
			}
			evs := e.events("supe", id)
			last := evs[len(evs)-1]
			if last["type"] != "feedback" || last["rating"] != tt.rating || last["actor"] != nil || last["actor_kind"] != "petitioner" || last["comment"] != "答复及时" {
				t.Errorf("feedback event = %v", last)
			}
			if tt.rating == "dissatisfied" {
				if err := e.requestReview(id, "不满意，申请复查"); err != nil {
					t.Errorf("review after dissatisfaction: %v", err)
				}
			} else if err := e.requestReview(id, "申请复查"); !errors.Is(err, vault.ErrConflict) {
				t.Errorf("review after a satisfied close: %v, want ErrConflict", err)
			}
		})
	}
}

// wfMarkers are texts that may exist on disk only sealed (and never in the
// audit log).
var wfMarkers = map[string]string{
	"note_off1":       "WFNOTE-4b1d-经办人内部备注",
	"note_sup3":       "WFNOTE-9c9c-主管内部备注",
	"reply":           "WFREPLY-9e2a-答复正文",
	"review_reply":    "WFREVIEWREPLY-77c0-复查意见",
	"rereview_reply":  "WFREREVIEW-1f3b-复核意见",
	"not_accept":      "WFNOTACCEPT-5d5d-不予受理理由",
	"transfer":        "WFTRANSFER-a0a0-转办理由",
	"accept_comment":  "WFACCEPTCOMMENT-3c3c-受理意见",
	"close_comment":   "WFCLOSECOMMENT-8d8d-办结意见",
	"review_request":  "WFREQUEST-6e6e-复查申请理由",
	"rereview_reques": "WFREQUEST-7f7f-复核申请理由",
	"feedback":        "WFFEEDBACK-2a2a-评价意见",
}

// wfExtendReason is recorded verbatim as the audit entry's reason (API.md:
// "reason holds the caller's stated reason verbatim (reveal, extend)").
const wfExtendReason = "WFEXTEND-0b0b-延期理由"

// TestWorkflowNotesAndEvents: notes, replies and reasons are sealed; the
// history comes back decrypted, oldest first, with who, what, when and the
// deadlines each step set.
func TestWorkflowNotesAndEvents(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	mk := wfMarkers
	id := e.create("group/east/site-3", nil)
	notes := "/api/v1/petitions/" + id + "/notes"
	t0 := e.now()
	step := func() time.Time { e.advance(time.Hour); return e.now() }

	e.mustAct("sup3", id, map[string]any{"action": "accept", "comment": mk["accept_comment"]}) // t0
	t1 := step()
	e.mustAct("sup3", id, map[string]any{"action": "extend", "days": 7, "reason": wfExtendReason})
	t2 := step()
	e.mustAct("sup3", id, map[string]any{"action": "assign", "assignee": "off1"})
	t3 := step()
	r := e.h.must(http.StatusCreated, "POST", notes, e.tok("off1"), map[string]any{"text": mk["note_off1"]}).JSON(t)
	if r["type"] != "note" || r["actor"] != "off1" || r["text"] != mk["note_off1"] || r["public"] != false {
		t.Errorf("note response = %v", r)
	}
	t4 := step()
	e.h.must(http.StatusCreated, "POST", notes, e.tok("sup3"), map[string]any{"text": mk["note_sup3"]})
	// Who may not add notes, and bad notes.
	for _, tt := range []struct {
		who  string
		body any
		want int
	}{
		{"reg", map[string]any{"text": "登记员备注"}, http.StatusForbidden},
		{"aud", map[string]any{"text": "审计备注"}, http.StatusForbidden},
		{"admin", map[string]any{"text": "管理员备注"}, http.StatusForbidden},
		{"off2", map[string]any{"text": "未分派备注"}, http.StatusNotFound},
		{"supw", map[string]any{"text": "外单位备注"}, http.StatusNotFound},
		{"supli", map[string]any{"text": "被反映人备注"}, http.StatusNotFound},
		{"sup3", map[string]any{"text": ""}, http.StatusBadRequest},
		{"sup3", map[string]any{"text": "   "}, http.StatusBadRequest},
		{"sup3", map[string]any{}, http.StatusBadRequest},
		{"sup3", map[string]any{"text": "备注", "public": true}, http.StatusBadRequest},
		{"sup3", map[string]any{"text": strings.Repeat("长", vault.MaxContent+1)}, http.StatusBadRequest},
	} {
		if r := e.h.send(req{Method: "POST", Path: notes, Token: e.tok(tt.who), Body: tt.body}); r.Code != tt.want {
			t.Errorf("note by %s (%.40v): %d, want %d", tt.who, tt.body, r.Code, tt.want)
		}
	}
	t5 := step()
	e.mustAct("off1", id, map[string]any{"action": "reply", "text": mk["reply"]})
	t6 := step()
	if err := e.feedback(id, "dissatisfied", mk["feedback"]); err != nil {
		t.Fatal(err)
	}
	t7 := step()
	if err := e.requestReview(id, mk["review_request"]); err != nil {
		t.Fatal(err)
	}
	t8 := step()
	e.mustAct("supe", id, map[string]any{"action": "review_reply", "text": mk["review_reply"]})
	t9 := step()
	if err := e.requestReview(id, mk["rereview_reques"]); err != nil {
		t.Fatal(err)
	}
	t10 := step()
	e.mustAct("supg", id, map[string]any{"action": "rereview_reply", "text": mk["rereview_reply"]})

	na := e.create("group/east/site-3", nil)
	e.mustAct("sup3", na, map[string]any{"action": "not_accept", "reason": mk["not_accept"], "target_unit": "external:劳动人事争议仲裁委员会"})
	tr := e.create("group/east/site-3", nil)
	e.mustAct("sup3", tr, map[string]any{"action": "transfer", "reason": mk["transfer"], "target_unit": "group/east/site-4"})
	cl := e.create("group/east/site-3", nil)
	e.mustAct("sup3", cl, wfBody("accept"))
	e.mustAct("sup3", cl, map[string]any{"action": "close", "comment": mk["close_comment"]})

	type ev struct {
		typ, action, actor, kind, from, to string
		at                                 time.Time
		field, value                       string            // the decrypted text field
		deadlines                          map[string]string // name → RFC 3339
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	want := []ev{
		{"action", "accept", "sup3", "staff", "registered", "accepted", t0, "comment", mk["accept_comment"], map[string]string{"resolve_by": rfc(t0.Add(60 * wfDay))}},
		{"action", "extend", "sup3", "staff", "", "", t1, "reason", wfExtendReason, map[string]string{"resolve_by": rfc(t0.Add(67 * wfDay))}},
		{"action", "assign", "sup3", "staff", "accepted", "in_progress", t2, "", "", nil},
		{"note", "", "off1", "staff", "", "", t3, "text", mk["note_off1"], nil},
		{"note", "", "sup3", "staff", "", "", t4, "text", mk["note_sup3"], nil},
		{"action", "reply", "off1", "staff", "in_progress", "replied", t5, "text", mk["reply"], map[string]string{"review_request_by": rfc(t5.Add(30 * wfDay))}},
		{"feedback", "", "", "petitioner", "", "", t6, "comment", mk["feedback"], nil},
		{"review_request", "", "", "petitioner", "replied", "review", t7, "reason", mk["review_request"], map[string]string{"review_by": rfc(t7.Add(30 * wfDay))}},
		{"action", "review_reply", "supe", "staff", "review", "replied", t8, "text", mk["review_reply"], map[string]string{"review_request_by": rfc(t8.Add(30 * wfDay))}},
		{"review_request", "", "", "petitioner", "replied", "rereview", t9, "reason", mk["rereview_reques"], map[string]string{"review_by": rfc(t9.Add(30 * wfDay))}},
		{"action", "rereview_reply", "supg", "staff", "rereview", "closed", t10, "text", mk["rereview_reply"], nil},
	}
	got := e.events("supg", id)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(got), len(want), got)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	for i, g := range got {
		w := want[i]
		if str(g["type"]) != w.typ || str(g["action"]) != w.action || str(g["actor"]) != w.actor || str(g["actor_kind"]) != w.kind ||
			str(g["from_status"]) != w.from || str(g["to_status"]) != w.to {
			t.Errorf("event %d = %v, want %+v", i, g, w)
		}
		if w.actor == "" && g["actor"] != nil {
			t.Errorf("event %d: actor %v, want null", i, g["actor"])
		}
		if g["seq"] != float64(i) {
			t.Errorf("event %d: seq %v", i, g["seq"])
		}
		if at := wfTime(t, g, "time"); !wfSameTime(at, w.at) {
			t.Errorf("event %d (%s %s): time %v, want %v", i, w.typ, w.action, at, w.at)
		}
		for _, f := range []string{"text", "reason", "comment"} {
			wantV := ""
			if f == w.field {
				wantV = w.value
			}
			if str(g[f]) != wantV {
				t.Errorf("event %d: %s = %q, want %q", i, f, str(g[f]), wantV)
			}
		}
		dl, _ := g["deadlines"].(map[string]any)
		if len(dl) != len(w.deadlines) {
			t.Errorf("event %d: deadlines %v, want %v", i, dl, w.deadlines)
		}
		for name, at := range w.deadlines {
			wt, _ := time.Parse(time.RFC3339, at)
			if d := wfTime(t, dl, name); !wfSameTime(d, wt) {
				t.Errorf("event %d: %s = %v, want %s", i, name, d, at)
			}
		}
	}
	if evs := e.events("sup3", na); len(evs) != 1 || evs[0]["reason"] != mk["not_accept"] || evs[0]["target_unit"] != "external:劳动人事争议仲裁委员会" {
		t.Errorf("not_accept events = %v", evs)
	}
	if evs := e.events("supe", tr); len(evs) != 1 || evs[0]["reason"] != mk["transfer"] {
		t.Errorf("transfer events = %v", evs)
	}
	if evs := e.events("sup3", cl); len(evs) != 2 || evs[1]["comment"] != mk["close_comment"] {
		t.Errorf("close events = %v", evs)
	}

	// Who reads the history: the read rules of the petition.
	for who, want := range map[string]int{"sup3": 200, "supe": 200, "off1": 200, "off2": 404, "supw": 404, "supli": 404, "aud": 403, "admin": 403} {
		if r := e.h.do("GET", "/api/v1/petitions/"+id+"/events", e.tok(who), nil); r.Code != want {
			t.Errorf("events read by %s: %d, want %d", who, r.Code, want)
		}
	}

	// Nothing of it in clear in the store (metadata, indexes, alerts, audit
	// entries), nor in the audit log's export.
	leaks := wfScanStore(t, e.h.v.Store())
	var export bytes.Buffer
	if err := e.h.v.Log().Export(&export, 0, 0); err != nil {
		t.Fatal(err)
	}
	for name, m := range mk {
		if keys := leaks[m]; len(keys) > 0 {
			t.Errorf("%s text in clear in the store under %q", name, keys)
		}
		if bytes.Contains(export.Bytes(), []byte(wfNeedle(m))) {
			t.Errorf("%s text in the audit log: %s", name, wfEntriesWith(t, e.h.v, wfNeedle(m)))
		}
	}
	// The extension's reason is the documented exception: it is the audit
	// entry's reason, and only there.
	if es := wfEntriesWith(t, e.h.v, wfNeedle(wfExtendReason)); len(es) != 1 || !strings.Contains(es[0], "petition.action reason="+strconv.Quote(wfExtendReason)) {
		t.Errorf("extend reason in audit entries: %v", es)
	}
}

// wfNeedle is the ASCII head of a marker ("WFNOTE-4b1d"), found whatever
// the encoding of the rest.
func wfNeedle(m string) string {
	i := strings.IndexFunc(m, func(r rune) bool { return r >= 0x80 })
	if i < 0 {
		i = len(m)
	}
	return strings.TrimRight(m[:i], "-")
}

// wfScanStore maps each marker found in a key or value of st to the keys.
func wfScanStore(tb testing.TB, st store.Store) map[string][]string {
	tb.Helper()
	found := map[string][]string{}
	err := st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			for _, m := range wfMarkers {
				if n := []byte(wfNeedle(m)); bytes.Contains(k, n) || bytes.Contains(v, n) {
					found[m] = append(found[m], fmt.Sprintf("%.24q", k))
				}
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}

// wfEntriesWith returns "seq action reason" of the audit entries holding s.
func wfEntriesWith(tb testing.TB, v *vault.Vault, s string) []string {
	tb.Helper()
	var out []string
	var buf bytes.Buffer
	if err := v.Log().Export(&buf, 0, 0); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, s) {
			continue
		}
		var en audit.Entry
		if err := json.Unmarshal([]byte(line), &en); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s reason=%q", en.Seq, en.Action, en.Reason))
	}
	return out
}

// wfGauge returns the value of pvault_alerts{unit,kind} in a /metrics body.
func wfGauge(body []byte, unit, kind string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "pvault_alerts{") || !strings.Contains(line, `unit="`+unit+`"`) || !strings.Contains(line, `kind="`+kind+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// TestWorkflowSweeper: POST /admin/sweep closes replied cases whose review
// window passed, raises each due_soon/overdue alert once with an event, and
// alerts clear when the case moves on; GET /alerts shows them to
// supervisors in scope and /metrics counts them.
func TestWorkflowSweeper(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	t0 := e.now()
	replied := e.create("group/east/site-3", nil)
	e.mustAct("sup3", replied, wfBody("accept"))
	e.mustAct("sup3", replied, wfBody("reply"))
	accepted := e.create("group/east/site-3", nil)
	e.mustAct("sup3", accepted, wfBody("accept"))
	e.mustAct("sup3", accepted, map[string]any{"action": "assign", "assignee": "off2"})
	registered := e.create("group/east/site-3", nil)
	west := e.h.petition(e.tok("supw"), petitionBody("group/west"))["id"].(string)

	type report struct{ Closed, Alerts, Cleared int }
	sweep := func(want report) {
		t.Helper()
		r := e.h.must(http.StatusOK, "POST", "/api/v1/admin/sweep", e.tok("admin"), nil).JSON(t)
		got := report{int(r["closed"].(float64)), int(r["alerts"].(float64)), int(r["cleared"].(float64))}
		if got != want {
			t.Errorf("day %.4g: sweep = %+v, want %+v", e.now().Sub(t0).Hours()/24, got, want)
		}
	}
	alerts := func(who, query string) []string {
		t.Helper()
		r := e.h.must(http.StatusOK, "GET", "/api/v1/alerts?"+query, e.tok(who), nil).JSON(t)
		var out []string
		for _, it := range r["items"].([]any) {
			a := it.(map[string]any)
			out = append(out, a["petition_id"].(string)+":"+a["kind"].(string))
		}
		slices.Sort(out)
		return out
	}
	expect := func(who, query string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := alerts(who, query); !slices.Equal(got, want) {
			t.Errorf("day %.4g: alerts for %s ?%s = %v, want %v", e.now().Sub(t0).Hours()/24, who, query, got, want)
		}
	}
	alertEvents := func(id string) []string {
		t.Helper()
		var out []string
		for _, ev := range e.events("supg", id) {
			if ev["type"] == "alert" {
				if ev["actor"] != nil || ev["actor_kind"] != "system" {
					t.Errorf("alert event = %v", ev)
				}
				out = append(out, ev["action"].(string))
			}
		}
		return out
	}
	metrics := func() []byte {
		t.Helper()
		return e.h.must(http.StatusOK, "GET", "/metrics", "", nil).Body
	}

	for _, who := range []string{"sup3", "supe", "aud", "off1", "reg"} {
		if r := e.h.do("POST", "/api/v1/admin/sweep", e.tok(who), nil); r.Code != http.StatusForbidden {
			t.Errorf("sweep by %s: %d, want 403", who, r.Code)
		}
	}
	sweep(report{})

	// Day 12 − 1 s: nothing is due within 3 days yet.
	e.setClock(t0.Add(12*wfDay - time.Second))
	sweep(report{})
	expect("supg", "")

	// Day 12: accept_by (day 15) is 3 days away.
	e.setClock(t0.Add(12 * wfDay))
	sweep(report{Alerts: 2})
	dueC, dueW := registered+":due_soon", west+":due_soon"
	expect("sup3", "", dueC)
	expect("supe", "", dueC)
	expect("supg", "", dueC, dueW)
	expect("supw", "", dueW)
	expect("sup4", "")
	expect("supg", "kind=due_soon", dueC, dueW)
	expect("supg", "kind=overdue")
	expect("supg", "unit=group/west", dueW)
	expect("supg", "unit=group/east", dueC)
	expect("supe", "unit=group/west")
	expect("supli", "") // named in the petition
	r := e.h.must(http.StatusOK, "GET", "/api/v1/alerts?unit=group/east/site-3", e.tok("sup3"), nil).JSON(t)
	if items := r["items"].([]any); len(items) == 1 {
		a := items[0].(map[string]any)
		if a["unit"] != "group/east/site-3" || a["status"] != "registered" || !wfSameTime(wfTime(t, a, "deadline"), t0.Add(15*wfDay)) || !wfSameTime(wfTime(t, a, "since"), e.now()) {
			t.Errorf("alert = %v", a)
		}
	}
	for _, tt := range []struct {
		who, query string
		want       int
	}{
		{"sup3", "kind=late", http.StatusBadRequest},
		{"sup3", "unit=Group", http.StatusBadRequest},
		{"admin", "", http.StatusForbidden},
		{"aud", "", http.StatusForbidden},
	} {
		if r := e.h.do("GET", "/api/v1/alerts?"+tt.query, e.tok(tt.who), nil); r.Code != tt.want {
			t.Errorf("alerts for %s ?%s: %d, want %d", tt.who, tt.query, r.Code, tt.want)
		}
	}
	// API.md: "GET /alerts?unit=&kind= (supervisor, own scope)". Other
	// roles that may read petitions get 403, or at least no alert: an
	// officer with no case, the officer assigned to the alerted case, the
	// registrar who registered it.
	notSupervisors := func(who ...string) {
		t.Helper()
		for _, w := range who {
			r := e.h.do("GET", "/api/v1/alerts", e.tok(w), nil)
			if r.Code == http.StatusForbidden {
				continue
			}
			if got := alerts(w, ""); r.Code != http.StatusOK || len(got) != 0 {
				t.Errorf("alerts for %s (not a supervisor): %d %v, want 403 or none", w, r.Code, got)
			}
		}
	}
	notSupervisors("off1", "reg")
	if evs := alertEvents(registered); !slices.Equal(evs, []string{"due_soon"}) {
		t.Errorf("alert events: %v", evs)
	}
	if v, ok := wfGauge(metrics(), "group/east/site-3", "due_soon"); !ok || v != 1 {
		t.Errorf("pvault_alerts{site-3,due_soon} = %v, %v", v, ok)
	}
	if v, ok := wfGauge(metrics(), "group/west", "due_soon"); !ok || v != 1 {
		t.Errorf("pvault_alerts{west,due_soon} = %v, %v", v, ok)
	}
	// Once only.
	sweep(report{})
	if evs := alertEvents(registered); !slices.Equal(evs, []string{"due_soon"}) {
		t.Errorf("alert events after a second sweep: %v", evs)
	}

	// At accept_by the case is still due soon; a second later overdue.
	e.setClock(t0.Add(15 * wfDay))
	sweep(report{})
	e.setClock(t0.Add(15*wfDay + time.Second))
	sweep(report{Alerts: 2, Cleared: 2})
	expect("sup3", "", registered+":overdue")
	expect("sup3", "kind=due_soon")
	expect("supg", "kind=overdue", registered+":overdue", west+":overdue")
	if evs := alertEvents(registered); !slices.Equal(evs, []string{"due_soon", "overdue"}) {
		t.Errorf("alert events: %v", evs)
	}
	m := metrics()
	if v, ok := wfGauge(m, "group/east/site-3", "overdue"); !ok || v != 1 {
		t.Errorf("pvault_alerts{site-3,overdue} = %v, %v", v, ok)
	}
	if _, ok := wfGauge(m, "group/east/site-3", "due_soon"); ok {
		t.Errorf("pvault_alerts{site-3,due_soon} still exported")
	}
	sweep(report{})

	// Accepting the case clears its alert at once.
	e.mustAct("sup3", registered, wfBody("accept"))
	expect("sup3", "")
	if _, ok := wfGauge(metrics(), "group/east/site-3", "overdue"); ok {
		t.Errorf("pvault_alerts{site-3,overdue} still exported after acceptance")
	}
	expect("supw", "", west+":overdue")

	// Day 30: the review window of the replied case closes at the instant,
	// and the case is closed a second later.
	e.setClock(t0.Add(30 * wfDay))
	sweep(report{})
	if s := e.meta(replied).Status; s != "replied" {
		t.Fatalf("closed at the last instant of the window: %s", s)
	}
	e.setClock(t0.Add(30*wfDay + time.Second))
	sweep(report{Closed: 1})
	p := e.mustGet("sup3", replied)
	if p["status"] != "closed" {
		t.Errorf("after the window: %v", p["status"])
	}
	evs := e.events("sup3", replied)
	last := evs[len(evs)-1]
	if last["type"] != "action" || last["action"] != "auto_close" || last["actor"] != nil || last["actor_kind"] != "system" ||
		last["from_status"] != "replied" || last["to_status"] != "closed" || !wfSameTime(wfTime(t, last, "time"), e.now()) {
		t.Errorf("auto_close event = %v", last)
	}
	es, _, err := e.h.v.Log().Entries(audit.Filter{Action: "sweep.close", Limit: 10})
	if err != nil || len(es) != 1 || es[0].Object == nil || es[0].Object.ID != replied || es[0].Actor != nil {
		t.Errorf("sweep.close entries = %v, %v", es, err)
	}
	if e.listed("sup3", "status=replied", replied) || !e.listed("sup3", "status=closed", replied) {
		t.Errorf("the status index did not follow the auto close")
	}
	sweep(report{})

	// Day 57: resolve_by (day 60) of the accepted case is 3 days away; the
	// reply clears the alert.
	e.setClock(t0.Add(57 * wfDay))
	sweep(report{Alerts: 1})
	expect("sup3", "", accepted+":due_soon")
	notSupervisors("off2") // assigned to the alerted case
	e.mustAct("sup3", accepted, wfBody("reply"))
	expect("sup3", "")
	sweep(report{})
}

// TestWorkflowStatsSummary checks GET /stats/summary against a known set of
// cases: counts, overdue, time to accept and to resolve, share in time,
// satisfaction, the window and the unit, and who may ask.
func TestWorkflowStatsSummary(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	t0 := e.now()
	received := func(d time.Duration, channel string) func(map[string]any) {
		return func(b map[string]any) {
			b["received_at"] = t0.Add(-d).Format(time.RFC3339)
			b["channel"] = channel
		}
	}
	// P1–P5 in site-3, received 1, 2, 3, 4 and 10 days ago, accepted now.
	var p [9]string
	for i, c := range []struct {
		days    int
		channel string
	}{{1, "letter"}, {2, "letter"}, {3, "visit"}, {4, "phone"}, {10, "online"}} {
		p[i+1] = e.create("group/east/site-3", received(time.Duration(c.days)*wfDay, c.channel))
		e.mustAct("sup3", p[i+1], wfBody("accept"))
	}
	p[6] = e.create("group/east", received(0, "hotline"))
	p[7] = e.h.petition(e.tok("supw"), func() map[string]any {
		b := petitionBody("group/west")
		received(wfDay, "email")(b)
		return b
	}())["id"].(string)
	e.mustAct("supw", p[7], wfBody("accept"))
	p[8] = e.create("group/east/site-3", received(100*wfDay, "letter"))
	// Replies now to P1 and P2 (in time, 1 and 2 days after receipt).
	e.mustAct("sup3", p[1], wfBody("reply"))
	e.mustAct("sup3", p[2], wfBody("reply"))
	if err := e.feedback(p[1], "satisfied", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.feedback(p[2], "dissatisfied", ""); err != nil {
		t.Fatal(err)
	}
	// 61 days later P3 gets a late reply (64 days after receipt).
	e.advance(61 * wfDay)
	e.mustAct("sup3", p[3], wfBody("reply"))
	if err := e.feedback(p[3], "basically_satisfied", ""); err != nil {
		t.Fatal(err)
	}

	get := func(e *wfEnv, who, query string) map[string]any {
		e.t.Helper()
		return e.h.must(http.StatusOK, "GET", "/api/v1/stats/summary?"+query, e.tok(who), nil).JSON(e.t)
	}
	num := func(t testing.TB, m map[string]any, path ...string) float64 {
		t.Helper()
		var v any = m
		for _, k := range path {
			mm, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: no %s", path, k)
			}
			v = mm[k]
		}
		if v == nil {
			return -1
		}
		f, ok := v.(float64)
		if !ok {
			t.Fatalf("%v = %v", path, v)
		}
		return f
	}
	counts := func(m map[string]any, key string) map[string]float64 {
		out := map[string]float64{}
		for k, v := range m[key].(map[string]any) {
			out[k] = v.(float64)
		}
		return out
	}
	sum := func(c map[string]float64) float64 {
		s := 0.0
		for _, v := range c {
			s += v
		}
		return s
	}

	t.Run("supervisor of group/east, default window", func(t *testing.T) {
		e := e.in(t)
		s := get(e, "supe", "")
		if num(t, s, "total") != 6 {
			t.Fatalf("total = %v, want 6 (P1–P6): %v", s["total"], s)
		}
		wantStatus := map[string]float64{"closed": 2, "replied": 1, "accepted": 2, "registered": 1}
		if got := counts(s, "by_status"); fmt.Sprint(got) != fmt.Sprint(wantStatus) {
			t.Errorf("by_status = %v, want %v", got, wantStatus)
		}
		wantChannel := map[string]float64{"letter": 2, "visit": 1, "phone": 1, "online": 1, "hotline": 1}
		if got := counts(s, "by_channel"); fmt.Sprint(got) != fmt.Sprint(wantChannel) {
			t.Errorf("by_channel = %v, want %v", got, wantChannel)
		}
		if sum(counts(s, "by_category")) != 6 || sum(counts(s, "by_risk")) != 6 {
			t.Errorf("by_category %v, by_risk %v do not add up to 6", s["by_category"], s["by_risk"])
		}
		if num(t, s, "overdue", "total") != 3 || num(t, s, "overdue", "by_status", "accepted") != 2 || num(t, s, "overdue", "by_status", "registered") != 1 {
			t.Errorf("overdue = %v, want 3 (2 accepted, 1 registered)", s["overdue"])
		}
		for _, c := range []struct {
			path []string
			want float64
		}{
			{[]string{"days_to_accept", "count"}, 5},
			{[]string{"days_to_accept", "median"}, 3},
			{[]string{"days_to_accept", "p90"}, 10}, // nearest rank
			{[]string{"days_to_resolve", "count"}, 3},
			{[]string{"days_to_resolve", "median"}, 2},
			{[]string{"days_to_resolve", "p90"}, 64},
			{[]string{"resolved_in_time", "resolved"}, 3},
			{[]string{"resolved_in_time", "in_time"}, 2},
			{[]string{"resolved_in_time", "share"}, 0.667},
			{[]string{"satisfaction", "rated"}, 3},
			{[]string{"satisfaction", "satisfied"}, 1},
			{[]string{"satisfaction", "basically_satisfied"}, 1},
			{[]string{"satisfaction", "dissatisfied"}, 1},
			{[]string{"satisfaction", "rate"}, 0.667},
		} {
			if got := num(t, s, c.path...); got != c.want {
				t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
			}
		}
		if from, to := wfTime(t, s, "from"), wfTime(t, s, "to"); !wfSameTime(to, e.now()) || !wfSameTime(from, e.now().Add(-90*wfDay)) {
			t.Errorf("window = %v – %v, want the last 90 days", from, to)
		}
	})

	for _, tt := range []struct {
		name, who, query string
		total            float64
	}{
		{"wide window takes in P8", "supe", "from=2025-01-01", 7},
		{"from is inclusive", "supe", "from=" + url.QueryEscape(t0.Add(-10*wfDay).Format(time.RFC3339)), 6},
		{"to is exclusive", "supe", "from=2025-01-01&to=" + url.QueryEscape(t0.Add(-10*wfDay).Format(time.RFC3339)), 1},
		{"to as a date includes that day", "supe", "from=2025-01-01&to=" + t0.Add(-10*wfDay).Format(time.DateOnly), 2},
		{"narrowed to site-3", "supe", "unit=group/east/site-3", 5},
		{"a unit above the scope is narrowed to it", "supe", "unit=group", 6},
		{"site-3 supervisor, own scope", "sup3", "", 5},
		{"site-3 supervisor asking for group/east", "sup3", "unit=group/east", 5},
		{"west supervisor", "supw", "", 1},
		{"auditor, all", "aud", "", 7},
		{"auditor, all time", "aud", "from=2025-01-01", 8},
		{"auditor, one unit", "aud", "unit=group/west", 1},
		{"auditor, a unit and below", "aud", "unit=group/east", 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			s := get(e, tt.who, tt.query)
			if num(t, s, "total") != tt.total {
				t.Errorf("total = %v, want %v", s["total"], tt.total)
			}
			if sum(counts(s, "by_status")) != tt.total || sum(counts(s, "by_channel")) != tt.total {
				t.Errorf("counts do not add up: %v %v", s["by_status"], s["by_channel"])
			}
		})
	}
	for _, tt := range []struct {
		who, query string
		want       int
	}{
		{"supe", "unit=group/west", http.StatusNotFound},
		{"sup3", "unit=group/east/site-4", http.StatusNotFound},
		{"off1", "", http.StatusForbidden},
		{"reg", "", http.StatusForbidden},
		{"admin", "", http.StatusForbidden},
		{"supe", "unit=Group", http.StatusBadRequest},
		{"supe", "from=yesterday", http.StatusBadRequest},
		{"supe", "from=2026-03-10&to=2026-03-01", http.StatusBadRequest},
		{"supe", "from=2026-03-01&to=2026-03-01T00:00:00Z", http.StatusBadRequest},
	} {
		if r := e.h.do("GET", "/api/v1/stats/summary?"+tt.query, e.tok(tt.who), nil); r.Code != tt.want {
			t.Errorf("summary for %s ?%s: %d, want %d: %s", tt.who, tt.query, r.Code, tt.want, r.Body)
		}
	}
}

// TestWorkflowRereviewAboveTheReviewer: 复核 goes to the body above the one
// that reviewed (信访工作条例 Art. 36, cited by DESIGN.md for rereview): the
// group/east supervisor who gave the review reply of a site-3 case may not
// also give its re-review reply; the group supervisor may.
func TestWorkflowRereviewAboveTheReviewer(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	id := e.create("group/east/site-3", nil)
	e.mustAct("sup3", id, wfBody("accept"))
	e.mustAct("sup3", id, wfBody("reply"))
	if err := e.requestReview(id, "申请复查"); err != nil {
		t.Fatal(err)
	}
	e.mustAct("supe", id, wfBody("review_reply"))
	if err := e.requestReview(id, "申请复核"); err != nil {
		t.Fatal(err)
	}
	if r := e.act("supe", id, wfBody("rereview_reply")); r.Code != http.StatusForbidden {
		t.Errorf("the reviewing unit's supervisor re-reviews its own review: %d, want 403", r.Code)
	}
	if e.meta(id).Status == "rereview" {
		e.mustAct("supg", id, wfBody("rereview_reply"))
	}
}

// TestWorkflowStatsInTime: "resolved within the legal time" counts the
// reply at the deadline's instant and honours an extension.
func TestWorkflowStatsInTime(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	e.h.user("supn", "group/north", "supervisor")
	create := func() string {
		return e.h.petition(e.tok("supn"), petitionBody("group/north"))["id"].(string)
	}
	extended, atDeadline, late := create(), create(), create()
	for _, id := range []string{extended, atDeadline, late} {
		e.mustAct("supn", id, wfBody("accept"))
	}
	e.mustAct("supn", extended, map[string]any{"action": "extend", "days": 30, "reason": "需要调查"})
	e.advance(60 * wfDay)
	e.mustAct("supn", atDeadline, wfBody("reply"))
	e.advance(time.Second)
	e.mustAct("supn", late, wfBody("reply"))
	e.mustAct("supn", extended, wfBody("reply"))
	s := e.h.must(http.StatusOK, "GET", "/api/v1/stats/summary", e.tok("supn"), nil).JSON(t)
	rit := s["resolved_in_time"].(map[string]any)
	if rit["resolved"] != float64(3) || rit["in_time"] != float64(2) || rit["share"] != 0.667 {
		t.Errorf("resolved_in_time = %v, want 3 resolved, 2 in time (at the deadline, extended), share 0.667", rit)
	}
	if s["overdue"].(map[string]any)["total"] != float64(0) {
		t.Errorf("overdue = %v after every case was replied", s["overdue"])
	}
}

// TestWorkflowCriticalAlert: a petition assessed critical at intake raises a
// critical_risk alert at once, with an event, listed for the supervisors in
// scope; it clears when the case is accepted.
func TestWorkflowCriticalAlert(t *testing.T) {
	e := wfSetup(t, harnessOptions{})
	id := e.create("group/east/site-3", func(b map[string]any) {
		b["content"] = "项目部拖欠我们三个月工资，再不发工资我就从楼顶跳下去。"
	})
	if risk := e.mustGet("sup3", id)["risk"].(map[string]any); risk["level"] != "critical" {
		t.Fatalf("risk = %v, want critical", risk)
	}
	items := func(who, query string) []any {
		t.Helper()
		return e.h.must(http.StatusOK, "GET", "/api/v1/alerts?"+query, e.tok(who), nil).JSON(t)["items"].([]any)
	}
	if a := items("sup3", "kind=critical_risk"); len(a) != 1 || a[0].(map[string]any)["petition_id"] != id {
		t.Errorf("critical alerts for sup3 = %v", a)
	}
	if a := items("supw", ""); len(a) != 0 {
		t.Errorf("critical alerts out of scope = %v", a)
	}
	var kinds []string
	for _, ev := range e.events("sup3", id) {
		if ev["type"] == "alert" {
			kinds = append(kinds, ev["action"].(string))
		}
	}
	if !slices.Equal(kinds, []string{"critical_risk"}) {
		t.Errorf("alert events = %v", kinds)
	}
	if v, ok := wfGauge(e.h.must(http.StatusOK, "GET", "/metrics", "", nil).Body, "group/east/site-3", "critical_risk"); !ok || v != 1 {
		t.Errorf("pvault_alerts{site-3,critical_risk} = %v, %v", v, ok)
	}
	// The sweeper does not raise it again.
	r := e.h.must(http.StatusOK, "POST", "/api/v1/admin/sweep", e.tok("admin"), nil).JSON(t)
	if r["alerts"] != float64(0) {
		t.Errorf("sweep raised %v alerts", r["alerts"])
	}
	e.mustAct("sup3", id, wfBody("accept"))
	if a := items("sup3", "kind=critical_risk"); len(a) != 0 {
		t.Errorf("critical alert after acceptance = %v", a)
	}
}
