package vault

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// The workflow tests drive cases through the state machine of DESIGN.md
// ("Case workflow and legal deadlines") on a fake clock. Helpers are
// prefixed wf so that they never collide with other test files.

const wfDay = 24 * time.Hour

// wfClock is a settable clock that only moves forward.
type wfClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wfClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *wfClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		panic("wfClock: moving backwards")
	}
	c.t = c.t.Add(d)
}

// Set moves the clock forward to t.
func (c *wfClock) Set(t time.Time) { c.Add(t.Sub(c.Now())) }

// wfStart is a Sunday, 17:00 in China Standard Time.
var wfStart = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// wfVault is a vault on a fake clock with a cast of users.
type wfVault struct {
	*Vault
	clock *wfClock
	users map[string]*User
}

// wfCast are the users every wfVault has: name → unit, roles.
var wfCast = []struct {
	name, display, unit string
	roles               []string
}{
	{"reg", "登记员", "group/east", []string{"registrar"}},
	{"sup3", "三号工地主管", "group/east/site-3", []string{"supervisor"}},
	{"sup4", "四号工地主管", "group/east/site-4", []string{"supervisor"}},
	{"supe", "东区主管", "group/east", []string{"supervisor"}},
	{"supg", "集团主管", "group", []string{"supervisor"}},
	{"off1", "经办人一", "group/east/site-3", []string{"officer"}},
	{"off2", "经办人二", "group/east/site-3", []string{"officer"}},
	{"offw", "西区经办人", "group/west", []string{"officer"}},
	{"offd", "停用经办人", "group/east/site-3", []string{"officer"}},
	{"lijl", "李经理", "group/east/site-3", []string{"officer"}},
}

func wfOpen(tb testing.TB, mod func(*Options)) *wfVault {
	tb.Helper()
	clk := &wfClock{t: wfStart}
	opts := Options{Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}, Now: clk.Now}
	if mod != nil {
		mod(&opts)
	}
	dir := tb.TempDir()
	if _, err := Init(dir, InitOptions{AdminPassword: "wf-admin-password-0", Options: opts}); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	v, err := Open(dir, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	w := &wfVault{Vault: v, clock: clk, users: map[string]*User{}}
	for _, c := range wfCast {
		u, _, err := v.CreateUser(NewUser{Username: c.name, Password: "wf-password-long-enough", DisplayName: c.display,
			Unit: c.unit, Roles: c.roles}, wfEntry("user.create"))
		if err != nil {
			tb.Fatalf("create user %s: %v", c.name, err)
		}
		w.users[c.name] = u
	}
	disabled := true
	u, _, err := v.UpdateUser(w.users["offd"].ID, UserPatch{Disabled: &disabled}, func(*User) bool { return true }, wfEntry("user.update"))
	if err != nil {
		tb.Fatalf("disable offd: %v", err)
	}
	w.users["offd"] = u
	return w
}

func wfEntry(action string) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Decision: audit.Allow, Status: 200, Details: map[string]any{}}
}

// wfNew is a valid petition in unit by the petitioner with idNumber.
func wfNew(unit, idNumber string) NewPetition {
	return NewPetition{
		Unit: unit, Channel: "letter", Title: "拖欠工资三个月",
		Content:    "我们在三号工地干活，项目部已经拖欠我们三个月工资。",
		Petitioner: &Petitioner{Name: "王五", IDNumber: idNumber, Phone: "13700001111"},
		Subjects:   []string{"李经理"},
		GroupSize:  1,
	}
}

// wfCreate registers a petition in unit as reg and returns its metadata.
func (w *wfVault) wfCreate(tb testing.TB, in NewPetition) *Meta {
	tb.Helper()
	c, err := w.CreatePetition(in, w.users["reg"], wfEntry("petition.create"))
	if err != nil {
		tb.Fatalf("CreatePetition: %v", err)
	}
	return c.Meta
}

func (w *wfVault) wfAct(id, who string, in ActionInput) (*Meta, error) {
	m, _, err := w.Act(id, in, w.users[who], wfEntry("petition.action"))
	return m, err
}

func (w *wfVault) wfMustAct(tb testing.TB, id, who string, in ActionInput) *Meta {
	tb.Helper()
	m, err := w.wfAct(id, who, in)
	if err != nil {
		tb.Fatalf("%s by %s: %v", in.Action, who, err)
	}
	return m
}

func (w *wfVault) wfReview(id, reason string) (*Meta, error) {
	m, _, err := w.RequestReview(id, reason, wfEntry("public.review"))
	return m, err
}

func (w *wfVault) wfMeta(tb testing.TB, id string) *Meta {
	tb.Helper()
	m, err := w.Meta(id)
	if err != nil {
		tb.Fatalf("Meta(%s): %v", id, err)
	}
	return m
}

// wfValid is a valid input for action, taken by supe on a petition of
// group/east/site-3.
func (w *wfVault) wfValid(action string) ActionInput {
	switch action {
	case ActNotAccept:
		return ActionInput{Action: action, Reason: "不属于信访受理范围，请通过劳动仲裁解决"}
	case ActTransfer:
		return ActionInput{Action: action, Reason: "属于四号工地管辖", TargetUnit: "group/east/site-4"}
	case ActAssign:
		return ActionInput{Action: action, Assignee: w.users["off1"]}
	case ActExtend:
		return ActionInput{Action: action, Days: 10, Reason: "案情复杂需要调查"}
	case ActReply, ActReviewReply, ActRereviewReply:
		return ActionInput{Action: action, Text: "经核查，工资已发放。"}
	case ActCategorize:
		return ActionInput{Action: action, Label: "wage_arrears"}
	}
	return ActionInput{Action: action}
}

// wfDrive moves a registered petition of group/east/site-3 to state by the
// shortest legal path.
func (w *wfVault) wfDrive(tb testing.TB, id, state string) {
	tb.Helper()
	act := func(a string) { tb.Helper(); w.wfMustAct(tb, id, "supe", w.wfValid(a)) }
	review := func() {
		tb.Helper()
		if _, err := w.wfReview(id, "对答复不满意，申请复查"); err != nil {
			tb.Fatalf("RequestReview: %v", err)
		}
	}
	switch state {
	case StatusRegistered:
	case StatusAccepted:
		act(ActAccept)
	case StatusNotAccepted:
		act(ActNotAccept)
	case StatusTransferred:
		w.wfMustAct(tb, id, "supe", ActionInput{Action: ActTransfer, Reason: "属于地方政府职责", TargetUnit: "external:某某市信访局"})
	case StatusInProgress:
		act(ActAccept)
		act(ActAssign)
	case StatusReplied:
		act(ActAccept)
		act(ActReply)
	case StatusReview:
		act(ActAccept)
		act(ActReply)
		review()
	case StatusRereview:
		act(ActAccept)
		act(ActReply)
		review()
		act(ActReviewReply)
		review()
	case StatusClosed:
		act(ActAccept)
		act(ActClose)
	default:
		tb.Fatalf("no path to %s", state)
	}
	if got := w.wfMeta(tb, id).Status; got != state {
		tb.Fatalf("drive to %s: status %s", state, got)
	}
}

// wfLegal lists, per DESIGN.md, the states in which each action may be taken.
var wfLegal = map[string][]string{
	ActAccept:        {StatusRegistered},
	ActNotAccept:     {StatusRegistered},
	ActTransfer:      {StatusRegistered, StatusAccepted},
	ActAssign:        {StatusAccepted, StatusInProgress},
	ActExtend:        {StatusAccepted, StatusInProgress},
	ActReply:         {StatusAccepted, StatusInProgress},
	ActReviewReply:   {StatusReview},
	ActRereviewReply: {StatusRereview},
	ActClose:         {StatusAccepted, StatusInProgress, StatusReplied},
	ActCategorize:    {StatusRegistered, StatusAccepted, StatusNotAccepted, StatusTransferred, StatusInProgress, StatusReplied, StatusReview, StatusRereview, StatusClosed},
}

// wfNext is the state an action leads to ("" keeps the state).
var wfNext = map[string]string{
	ActAccept: StatusAccepted, ActNotAccept: StatusNotAccepted, ActTransfer: StatusRegistered, ActAssign: StatusInProgress,
	ActReply: StatusReplied, ActReviewReply: StatusReplied, ActRereviewReply: StatusClosed, ActClose: StatusClosed,
}

var wfStates = []string{StatusRegistered, StatusAccepted, StatusNotAccepted, StatusTransferred, StatusInProgress,
	StatusReplied, StatusReview, StatusRereview, StatusClosed}

func TestWorkflowTransitionTable(t *testing.T) {
	w := wfOpen(t, nil)
	if !slices.Equal(slices.Sorted(slices.Values(wfStates)), slices.Sorted(slices.Values(Statuses))) {
		t.Fatalf("the test covers %v, the vault has %v", wfStates, Statuses)
	}
	for _, state := range wfStates {
		// One petition per state serves every illegal action: a refused
		// action changes nothing.
		shared := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
		w.wfDrive(t, shared, state)
		for _, action := range Actions {
			legal := slices.Contains(wfLegal[action], state)
			t.Run(state+"/"+action, func(t *testing.T) {
				if !legal {
					before := w.wfMeta(t, shared)
					size := w.Log().Head().Size
					_, err := w.wfAct(shared, "supe", w.wfValid(action))
					if !errors.Is(err, ErrConflict) {
						t.Fatalf("%s in %s: err = %v, want ErrConflict", action, state, err)
					}
					after := w.wfMeta(t, shared)
					if after.Status != before.Status || after.Events != before.Events || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Errorf("a refused action changed the petition: %+v → %+v", before, after)
					}
					if w.Log().Head().Size != size {
						t.Errorf("a refused action was recorded in the log (the api records it, not the vault)")
					}
					return
				}
				id := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
				w.wfDrive(t, id, state)
				before := w.wfMeta(t, id)
				m, err := w.wfAct(id, "supe", w.wfValid(action))
				if err != nil {
					t.Fatalf("%s in %s: %v", action, state, err)
				}
				want := wfNext[action]
				if want == "" {
					want = state
				}
				if m.Status != want {
					t.Errorf("%s in %s: status %s, want %s", action, state, m.Status, want)
				}
				stored := w.wfMeta(t, id)
				if stored.Status != want || stored.Events != before.Events+1 {
					t.Errorf("stored status %s (want %s), events %d (want %d)", stored.Status, want, stored.Events, before.Events+1)
				}
				if action == ActTransfer && stored.Unit != "group/east/site-4" {
					t.Errorf("transfer: unit %s, want group/east/site-4", stored.Unit)
				}
				// The entry carries the step, without text.
				e := wfLastEntry(t, w.Vault)
				if e.Object == nil || e.Object.ID != id || e.Details["action"] != action ||
					e.Details["from_status"] != state || e.Details["to_status"] != want {
					t.Errorf("audit entry = %+v", e)
				}
			})
		}
	}
}

func wfLastEntry(tb testing.TB, v *Vault) *audit.Entry {
	tb.Helper()
	es, _, err := v.Log().Entries(audit.Filter{Start: v.Log().Head().Size - 1, Limit: 1})
	if err != nil || len(es) != 1 {
		tb.Fatalf("last entry: %v", err)
	}
	return es[0]
}

func TestWorkflowTerminalStates(t *testing.T) {
	for _, s := range wfStates {
		want := s == StatusNotAccepted || s == StatusTransferred || s == StatusClosed
		if Terminal(s) != want {
			t.Errorf("Terminal(%s) = %v, want %v", s, !want, want)
		}
	}
}

// TestWorkflowActionFields checks the fields each action requires; bad
// fields are ErrInvalid naming the field, before the state is looked at.
func TestWorkflowActionFields(t *testing.T) {
	w := wfOpen(t, nil)
	reg := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	acc := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, acc, StatusAccepted)
	closed := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, closed, StatusClosed)
	inReview := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, inReview, StatusReview) // review_by: day 30
	long := strings.Repeat("长", 501)
	for _, tt := range []struct {
		name  string
		id    string
		in    ActionInput
		field string
	}{
		{"unknown action", reg, ActionInput{Action: "approve"}, "action"},
		{"empty action", reg, ActionInput{}, "action"},
		{"not_accept without reason", reg, ActionInput{Action: ActNotAccept}, "reason"},
		{"not_accept blank reason", reg, ActionInput{Action: ActNotAccept, Reason: "   "}, "reason"},
		{"not_accept reason too long", reg, ActionInput{Action: ActNotAccept, Reason: long}, "reason"},
		{"not_accept bad target", reg, ActionInput{Action: ActNotAccept, Reason: "不予受理", TargetUnit: "Group/East"}, "target_unit"},
		{"transfer without reason", reg, ActionInput{Action: ActTransfer, TargetUnit: "group/west"}, "reason"},
		{"transfer without target", reg, ActionInput{Action: ActTransfer, Reason: "转办"}, "target_unit"},
		{"transfer bad target", reg, ActionInput{Action: ActTransfer, Reason: "转办", TargetUnit: "group//west"}, "target_unit"},
		{"transfer external without name", reg, ActionInput{Action: ActTransfer, Reason: "转办", TargetUnit: "external:"}, "target_unit"},
		{"transfer to its own unit", reg, ActionInput{Action: ActTransfer, Reason: "转办", TargetUnit: "group/east/site-3"}, "target_unit"},
		{"assign without assignee", acc, ActionInput{Action: ActAssign}, "assignee"},
		{"extend 0 days", acc, ActionInput{Action: ActExtend, Days: 0, Reason: "需要调查"}, "days"},
		{"extend 31 days", acc, ActionInput{Action: ActExtend, Days: 31, Reason: "需要调查"}, "days"},
		{"extend -1 days", acc, ActionInput{Action: ActExtend, Days: -1, Reason: "需要调查"}, "days"},
		{"extend without reason", acc, ActionInput{Action: ActExtend, Days: 10}, "reason"},
		{"reply without text", acc, ActionInput{Action: ActReply}, "text"},
		{"reply blank text", acc, ActionInput{Action: ActReply, Text: " \n\t"}, "text"},
		{"reply with a control character", acc, ActionInput{Action: ActReply, Text: "答复\x00"}, "text"},
		{"review_reply without text", acc, ActionInput{Action: ActReviewReply}, "text"},
		{"rereview_reply without text", acc, ActionInput{Action: ActRereviewReply}, "text"},
		{"categorize without label", acc, ActionInput{Action: ActCategorize}, "label"},
		{"close comment too long", acc, ActionInput{Action: ActClose, Comment: strings.Repeat("长", 2001)}, "comment"},
		// Bad fields are reported before the state is: 400 before 409.
		{"closed: extend 31 days", closed, ActionInput{Action: ActExtend, Days: 31, Reason: "需要调查"}, "days"},
		{"closed: reply without text", closed, ActionInput{Action: ActReply}, "text"},
		{"closed: not_accept without reason", closed, ActionInput{Action: ActNotAccept}, "reason"},
		{"closed: transfer bad target", closed, ActionInput{Action: ActTransfer, Reason: "转办", TargetUnit: "Group/West"}, "target_unit"},
		{"closed: assign without assignee", closed, ActionInput{Action: ActAssign}, "assignee"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := w.wfMeta(t, tt.id)
			_, err := w.wfAct(tt.id, "supe", tt.in)
			var ie *InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want an *InvalidError", err)
			}
			if ie.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", ie.Field, tt.field, err)
			}
			if after := w.wfMeta(t, tt.id); after.Events != before.Events || after.Status != before.Status {
				t.Errorf("invalid input changed the petition")
			}
		})
	}
}

func TestWorkflowAssignable(t *testing.T) {
	w := wfOpen(t, nil)
	m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	for _, tt := range []struct {
		user string
		ok   bool
	}{
		{"off1", true},
		{"sup3", true},
		{"supg", true},  // group covers group/east/site-3
		{"offw", false}, // another unit
		{"sup4", false}, // a sibling unit
		{"offd", false}, // disabled
		{"lijl", false}, // display name 李经理 is named in subjects
	} {
		t.Run(tt.user, func(t *testing.T) {
			err := w.Assignable(m, w.users[tt.user])
			if tt.ok && err != nil {
				t.Fatalf("Assignable: %v", err)
			}
			if !tt.ok {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Field != "assignee" {
					t.Fatalf("Assignable = %v, want an invalid assignee", err)
				}
			}
		})
	}
}

// TestWorkflowDeadlines checks each deadline's value and the instants
// before, at and after it: overdue only once it has passed, and the list
// filters agree.
func TestWorkflowDeadlines(t *testing.T) {
	w := wfOpen(t, nil)
	sub := w.Subject(w.users["supg"])
	scopes := []string{policy.ScopeUnit}
	list := func(t *testing.T, q Query) []string {
		t.Helper()
		q.Limit = 500
		items, _, err := w.List(sub, scopes, q, func(*Meta) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range items {
			ids = append(ids, it.Meta.ID)
		}
		return ids
	}
	yes, no := true, false
	for _, tt := range []struct {
		name string
		// setup makes a petition at the current time and returns it, its
		// deadline, and the time the deadline counts from.
		setup func(t *testing.T) (id string, deadline func(*Meta) *time.Time, want time.Time)
	}{
		{"accept_by = received + 15 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			received := w.clock.Now().Add(-2*wfDay - 3*time.Hour)
			in := wfNew("group/east/site-3", "510104199001011234")
			in.ReceivedAt = &received
			m := w.wfCreate(t, in)
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.AcceptBy }, received.Add(15 * wfDay)
		}},
		{"resolve_by = accepted + 60 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.clock.Add(5 * wfDay)
			w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept})
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.ResolveBy }, w.clock.Now().Add(60 * wfDay)
		}},
		{"in_progress keeps resolve_by", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept})
			accepted := w.clock.Now()
			w.clock.Add(wfDay)
			w.wfMustAct(t, m.ID, "supe", w.wfValid(ActAssign))
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.ResolveBy }, accepted.Add(60 * wfDay)
		}},
		{"extend 30 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept})
			accepted := w.clock.Now()
			w.clock.Add(10 * wfDay)
			w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActExtend, Days: 30, Reason: "需要调查"})
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.ResolveBy }, accepted.Add(90 * wfDay)
		}},
		{"review_by = review request + 30 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfDrive(t, m.ID, StatusReplied)
			w.clock.Add(7 * wfDay)
			if _, err := w.wfReview(m.ID, "申请复查"); err != nil {
				t.Fatal(err)
			}
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.ReviewBy }, w.clock.Now().Add(30 * wfDay)
		}},
		{"rereview review_by = request + 30 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfDrive(t, m.ID, StatusReview)
			w.wfMustAct(t, m.ID, "supe", w.wfValid(ActReviewReply))
			w.clock.Add(29 * wfDay)
			if _, err := w.wfReview(m.ID, "申请复核"); err != nil {
				t.Fatal(err)
			}
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.ReviewBy }, w.clock.Now().Add(30 * wfDay)
		}},
		{"transfer: accept_by = transfer + 15 days", func(t *testing.T) (string, func(*Meta) *time.Time, time.Time) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.clock.Add(10 * wfDay)
			w.wfMustAct(t, m.ID, "supe", w.wfValid(ActTransfer))
			return m.ID, func(m *Meta) *time.Time { return m.Deadlines.AcceptBy }, w.clock.Now().Add(15 * wfDay)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, deadline, want := tt.setup(t)
			d := deadline(w.wfMeta(t, id))
			if d == nil || !d.Equal(want) {
				t.Fatalf("deadline = %v, want %v", d, want)
			}
			ran := 0
			defer func() {
				if ran < 5 {
					t.Errorf("only %d instants checked", ran)
				}
			}()
			for _, step := range []struct {
				at            time.Time
				overdue, soon bool
				name          string
			}{
				{at: want.Add(-3*wfDay - time.Second), name: "3 days and a second before"},
				{at: want.Add(-3 * wfDay), soon: true, name: "3 days before"},
				{at: want.Add(-wfDay), soon: true, name: "the day before"},
				{at: want.Add(-time.Second), soon: true, name: "a second before"},
				{at: want, soon: true, name: "at the deadline"},
				{at: want.Add(time.Second), overdue: true, name: "a second after"},
				{at: want.Add(wfDay), overdue: true, name: "the day after"},
			} {
				if w.clock.Now().After(step.at) {
					continue // the setup already moved past this instant
				}
				ran++
				w.clock.Set(step.at)
				now := w.Now()
				m := w.wfMeta(t, id)
				if got := m.Overdue(now); got != step.overdue {
					t.Errorf("%s: Overdue = %v, want %v", step.name, got, step.overdue)
				}
				if got := m.DueSoon(now, w.Rules().DueSoon); got != step.soon {
					t.Errorf("%s: DueSoon = %v, want %v", step.name, got, step.soon)
				}
				for _, f := range []struct {
					name string
					q    Query
					want bool
				}{
					{"overdue=true", Query{Overdue: &yes}, step.overdue},
					{"overdue=false", Query{Overdue: &no}, !step.overdue},
					{"due_soon=true", Query{DueSoon: &yes}, step.soon},
					{"due_soon=false", Query{DueSoon: &no}, !step.soon},
				} {
					if got := slices.Contains(list(t, f.q), id); got != f.want {
						t.Errorf("%s: listed with %s = %v, want %v", step.name, f.name, got, f.want)
					}
				}
			}
		})
	}
}

// TestWorkflowNoDeadlineNoOverdue: states without a deadline of their own
// are never overdue or due soon, however late it is.
func TestWorkflowNoDeadlineNoOverdue(t *testing.T) {
	w := wfOpen(t, nil)
	ids := map[string]string{}
	for _, s := range []string{StatusReplied, StatusNotAccepted, StatusTransferred, StatusClosed} {
		m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
		w.wfDrive(t, m.ID, s)
		ids[s] = m.ID
	}
	w.clock.Add(400 * wfDay)
	for s, id := range ids {
		m := w.wfMeta(t, id)
		if m.Overdue(w.Now()) || m.DueSoon(w.Now(), w.Rules().DueSoon) || m.CurrentDeadline() != nil {
			t.Errorf("%s: overdue %v, due soon %v, current deadline %v", s, m.Overdue(w.Now()), m.DueSoon(w.Now(), w.Rules().DueSoon), m.CurrentDeadline())
		}
	}
}

func TestWorkflowExtend(t *testing.T) {
	w := wfOpen(t, nil)
	for _, tt := range []struct {
		name  string
		state string
		days  int
		err   error
	}{
		{"1 day", StatusAccepted, 1, nil},
		{"30 days", StatusInProgress, 30, nil},
		{"0 days", StatusAccepted, 0, ErrInvalid},
		{"31 days", StatusAccepted, 31, ErrInvalid},
		{"registered", StatusRegistered, 10, ErrConflict},
		{"replied", StatusReplied, 10, ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfDrive(t, m.ID, tt.state)
			before := w.wfMeta(t, m.ID)
			got, err := w.wfAct(m.ID, "supe", ActionInput{Action: ActExtend, Days: tt.days, Reason: "需要调查"})
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("extend %d in %s: err = %v, want %v", tt.days, tt.state, err, tt.err)
			}
			if err != nil {
				return
			}
			if want := before.Deadlines.ResolveBy.Add(time.Duration(tt.days) * wfDay); !got.Deadlines.ResolveBy.Equal(want) {
				t.Errorf("resolve_by = %v, want %v", got.Deadlines.ResolveBy, want)
			}
			if !got.Extended || got.Status != tt.state {
				t.Errorf("extended %v, status %s", got.Extended, got.Status)
			}
			// Once only, whatever the days.
			for _, d := range []int{1, tt.days} {
				if _, err := w.wfAct(m.ID, "supe", ActionInput{Action: ActExtend, Days: d, Reason: "再次延期"}); !errors.Is(err, ErrConflict) {
					t.Errorf("second extension by %d days: err = %v, want ErrConflict", d, err)
				}
			}
			// Still once after an assignment moves the case on.
			if tt.state == StatusAccepted {
				w.wfMustAct(t, m.ID, "supe", w.wfValid(ActAssign))
				if _, err := w.wfAct(m.ID, "supe", ActionInput{Action: ActExtend, Days: 5, Reason: "再次延期"}); !errors.Is(err, ErrConflict) {
					t.Errorf("extension after assign: err = %v, want ErrConflict", err)
				}
			}
		})
	}
}

// TestWorkflowTransfer: an internal transfer re-registers the case in the
// receiving unit with new deadlines, and the indexes move at once.
func TestWorkflowTransfer(t *testing.T) {
	cal, err := ParseCalendar(strings.NewReader("2026-03-04 # 假日\n+2026-03-14 # 调休上班\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := wfOpen(t, func(o *Options) { o.Calendar = cal })
	inScope := func(t testing.TB, user, id string) bool {
		t.Helper()
		u := w.users[user]
		items, _, err := w.List(w.Subject(u), []string{policy.ScopeUnit}, Query{Limit: 500}, func(*Meta) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(items, func(it ListItem) bool { return it.Meta.ID == id })
	}
	for _, tt := range []struct {
		name      string
		at        time.Time
		objection time.Time
	}{
		// Sunday → Mon..Fri, but Wednesday 4 March is a holiday.
		{"holiday", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		// Thursday → Fri, Mon, Tue, Wed, Thu over a weekend.
		{"weekend", time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)},
		// Tuesday → Wed, Thu, Fri, Sat 14 March (a make-up working day), Mon.
		{"make-up day", time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		// Friday 20:00 UTC is Saturday 04:00 in China: the count starts
		// from Saturday's date, not Friday's.
		{"UTC+8", time.Date(2026, 3, 20, 20, 0, 0, 0, time.UTC), time.Date(2026, 3, 26, 20, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w.clock.Set(tt.at)
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			if !inScope(t, "sup3", m.ID) || inScope(t, "sup4", m.ID) {
				t.Fatalf("before transfer: sup3 %v, sup4 %v", inScope(t, "sup3", m.ID), inScope(t, "sup4", m.ID))
			}
			got := w.wfMustAct(t, m.ID, "sup3", ActionInput{Action: ActTransfer, Reason: "属于四号工地管辖", TargetUnit: "group/east/site-4"})
			if got.Status != StatusRegistered || got.Unit != "group/east/site-4" {
				t.Fatalf("after transfer: status %s unit %s", got.Status, got.Unit)
			}
			if d := got.Deadlines.AcceptBy; d == nil || !d.Equal(tt.at.Add(15*wfDay)) {
				t.Errorf("accept_by = %v, want %v", d, tt.at.Add(15*wfDay))
			}
			if d := got.Deadlines.ObjectionBy; d == nil || !d.Equal(tt.objection) {
				t.Errorf("objection_by = %v, want %v", d, tt.objection)
			}
			if inScope(t, "sup3", m.ID) || !inScope(t, "sup4", m.ID) || !inScope(t, "supe", m.ID) {
				t.Errorf("after transfer: sup3 %v (want false), sup4 %v, supe %v (want true)", inScope(t, "sup3", m.ID), inScope(t, "sup4", m.ID), inScope(t, "supe", m.ID))
			}
			// Policy objects follow the unit.
			obj := w.wfMeta(t, m.ID).Object()
			if obj.Unit != "group/east/site-4" {
				t.Errorf("policy object unit = %s", obj.Unit)
			}
		})
	}

	t.Run("from accepted resets handling", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
		w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept})
		w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActExtend, Days: 5, Reason: "需要调查"})
		got := w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActTransfer, Reason: "转西区", TargetUnit: "group/west"})
		if got.Status != StatusRegistered || got.Deadlines.ResolveBy != nil || got.AcceptedAt != nil || got.Extended || got.Assignee != "" {
			t.Errorf("after transfer from accepted: %+v", got)
		}
		// The receiving unit handles it from the start, extension included.
		w.wfMustAct(t, m.ID, "supg", ActionInput{Action: ActAccept})
		w.wfMustAct(t, m.ID, "supg", ActionInput{Action: ActExtend, Days: 30, Reason: "需要调查"})
		if inScope(t, "supe", m.ID) {
			t.Errorf("group/east still lists a petition of group/west")
		}
	})

	t.Run("external is terminal", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
		got := w.wfMustAct(t, m.ID, "sup3", ActionInput{Action: ActTransfer, Reason: "属于地方政府职责", TargetUnit: "external:某某市信访局"})
		if got.Status != StatusTransferred || got.Unit != "group/east/site-3" || got.External != "某某市信访局" || got.ClosedAt == nil {
			t.Errorf("external transfer: %+v", got)
		}
		if got.Deadlines.ObjectionBy != nil {
			t.Errorf("external transfer set objection_by")
		}
		for _, a := range []string{ActAccept, ActTransfer, ActReply, ActClose} {
			if _, err := w.wfAct(m.ID, "sup3", w.wfValid(a)); !errors.Is(err, ErrConflict) {
				t.Errorf("%s after an external transfer: %v, want ErrConflict", a, err)
			}
		}
		evs, err := w.Events(m.ID)
		if err != nil || len(evs) != 1 || evs[0].TargetUnit != "external:某某市信访局" || evs[0].Reason != "属于地方政府职责" {
			t.Errorf("events = %+v, %v", evs, err)
		}
	})
}

// TestWorkflowReview: review (复查) and re-review (复核), their windows, and
// the finality of a re-review.
func TestWorkflowReview(t *testing.T) {
	w := wfOpen(t, nil)

	t.Run("stages", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "440301198802021111"))
		if _, err := w.wfReview(m.ID, "申请复查"); !errors.Is(err, ErrConflict) {
			t.Fatalf("review before a reply: %v", err)
		}
		w.wfDrive(t, m.ID, StatusReplied)
		if _, err := w.wfReview(m.ID, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("review without a reason: %v", err)
		}
		got, err := w.wfReview(m.ID, "申请复查")
		if err != nil || got.Status != StatusReview || got.Stage != 1 {
			t.Fatalf("first request: %+v, %v", got, err)
		}
		if _, err := w.wfReview(m.ID, "重复申请"); !errors.Is(err, ErrConflict) {
			t.Errorf("request while in review: %v", err)
		}
		w.wfMustAct(t, m.ID, "supe", w.wfValid(ActReviewReply))
		got, err = w.wfReview(m.ID, "申请复核")
		if err != nil || got.Status != StatusRereview || got.Stage != 2 {
			t.Fatalf("second request: %+v, %v", got, err)
		}
		got = w.wfMustAct(t, m.ID, "supg", w.wfValid(ActRereviewReply))
		if got.Status != StatusClosed || !got.Final || got.ClosedAt == nil {
			t.Fatalf("after re-review: %+v", got)
		}
		if _, err := w.wfReview(m.ID, "第三次申请"); !errors.Is(err, ErrConflict) {
			t.Errorf("third request: %v", err)
		}
		// A new petition on the matter by the same person in the same unit
		// is flagged; elsewhere or by someone else it is not.
		for _, tt := range []struct {
			name string
			in   NewPetition
			want string
		}{
			{"same id number", wfNew("group/east/site-3", "440301198802021111"), m.ID},
			{"same id number written with spaces, no phone", func() NewPetition {
				in := wfNew("group/east/site-3", "4403 0119 8802 0211 11")
				in.Petitioner.Phone = ""
				return in
			}(), m.ID},
			{"same phone with +86, other id number", func() NewPetition {
				in := wfNew("group/east/site-3", "110101199003079999")
				in.Petitioner.Phone = "+86 137-0000-1111"
				return in
			}(), m.ID},
			{"other unit", wfNew("group/east/site-4", "440301198802021111"), ""},
			{"other petitioner", func() NewPetition {
				in := wfNew("group/east/site-3", "110101199003070000")
				in.Petitioner.Phone = "13900000000"
				return in
			}(), ""},
			{"anonymous", func() NewPetition { in := wfNew("group/east/site-3", ""); in.Petitioner = nil; return in }(), ""},
		} {
			if got := w.wfCreate(t, tt.in).RepeatOfFinal; got != tt.want {
				t.Errorf("%s: repeat_of_final = %q, want %q", tt.name, got, tt.want)
			}
		}
	})

	t.Run("a closed but not final case is no final matter", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "330102197001015555"))
		w.wfDrive(t, m.ID, StatusClosed)
		in := wfNew("group/east/site-3", "330102197001015555")
		in.Petitioner.Phone = "13600000000"
		if got := w.wfCreate(t, in).RepeatOfFinal; got != "" {
			t.Errorf("repeat_of_final = %q after an ordinary close", got)
		}
	})

	for _, tt := range []struct {
		name  string
		after time.Duration // after the reply
		err   error
	}{
		{"a second before the window closes", 30*wfDay - time.Second, nil},
		{"as the window closes", 30 * wfDay, nil},
		{"a second after", 30*wfDay + time.Second, ErrConflict},
		{"the day after", 31 * wfDay, ErrConflict},
	} {
		t.Run("review window/"+tt.name, func(t *testing.T) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfDrive(t, m.ID, StatusReplied)
			replied := w.clock.Now()
			if d := w.wfMeta(t, m.ID).Deadlines.ReviewRequestBy; d == nil || !d.Equal(replied.Add(30*wfDay)) {
				t.Fatalf("review_request_by = %v, want %v", d, replied.Add(30*wfDay))
			}
			w.clock.Add(tt.after)
			got, err := w.wfReview(m.ID, "申请复查")
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && !got.Deadlines.ReviewBy.Equal(w.clock.Now().Add(30*wfDay)) {
				t.Errorf("review_by = %v", got.Deadlines.ReviewBy)
			}
		})
	}

	t.Run("re-review window", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
		w.wfDrive(t, m.ID, StatusReview)
		w.wfMustAct(t, m.ID, "supe", w.wfValid(ActReviewReply))
		if d := w.wfMeta(t, m.ID).Deadlines.ReviewRequestBy; !d.Equal(w.clock.Now().Add(30 * wfDay)) {
			t.Errorf("review_request_by after the review reply = %v", d)
		}
		w.clock.Add(30*wfDay + time.Second)
		if _, err := w.wfReview(m.ID, "申请复核"); !errors.Is(err, ErrConflict) {
			t.Errorf("late re-review request: %v", err)
		}
	})
}

func TestWorkflowFeedback(t *testing.T) {
	w := wfOpen(t, nil)
	for _, tt := range []struct {
		name   string
		state  string
		rating string
		err    error
		want   string
	}{
		{"satisfied closes", StatusReplied, "satisfied", nil, StatusClosed},
		{"basically satisfied closes", StatusReplied, "basically_satisfied", nil, StatusClosed},
		{"dissatisfied keeps the review window", StatusReplied, "dissatisfied", nil, StatusReplied},
		{"before a reply", StatusAccepted, "satisfied", ErrConflict, StatusAccepted},
		{"in review", StatusReview, "satisfied", ErrConflict, StatusReview},
		{"closed", StatusClosed, "satisfied", ErrConflict, StatusClosed},
		{"unknown rating", StatusReplied, "happy", ErrInvalid, StatusReplied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
			w.wfDrive(t, m.ID, tt.state)
			_, _, err := w.Feedback(m.ID, tt.rating, "答复很及时", wfEntry("public.feedback"))
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			got := w.wfMeta(t, m.ID)
			if got.Status != tt.want {
				t.Errorf("status = %s, want %s", got.Status, tt.want)
			}
			if err == nil && got.Rating != tt.rating {
				t.Errorf("rating = %q", got.Rating)
			}
			if tt.rating == "dissatisfied" {
				if _, err := w.wfReview(m.ID, "不满意，申请复查"); err != nil {
					t.Errorf("review after dissatisfied feedback: %v", err)
				}
			}
		})
	}
	t.Run("once per reply", func(t *testing.T) {
		m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
		w.wfDrive(t, m.ID, StatusReplied)
		if _, _, err := w.Feedback(m.ID, "dissatisfied", "", wfEntry("public.feedback")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Feedback(m.ID, "satisfied", "", wfEntry("public.feedback")); !errors.Is(err, ErrConflict) {
			t.Errorf("second rating of the same reply: %v, want ErrConflict", err)
		}
		if got := w.wfMeta(t, m.ID); got.Status != StatusReplied || got.Rating != "dissatisfied" {
			t.Errorf("after a refused second rating: %s %s", got.Status, got.Rating)
		}
		// The review reply is a new reply, rated afresh.
		if _, err := w.wfReview(m.ID, "申请复查"); err != nil {
			t.Fatal(err)
		}
		w.wfMustAct(t, m.ID, "supe", w.wfValid(ActReviewReply))
		if _, _, err := w.Feedback(m.ID, "satisfied", "", wfEntry("public.feedback")); err != nil {
			t.Errorf("rating the review reply: %v", err)
		}
		if got := w.wfMeta(t, m.ID); got.Status != StatusClosed || got.Rating != "satisfied" {
			t.Errorf("after rating the review reply: %s %s", got.Status, got.Rating)
		}
	})
}

// wfMarkers are texts that must exist on disk only sealed.
var wfMarkers = []string{
	"WFNOTE-4b1d-内部备注", "WFREPLY-9e2a-答复正文", "WFREVIEWREPLY-77c0-复查意见", "WFREREVIEW-1f3b-复核意见",
	"WFNOTACCEPT-5d5d-不予受理理由", "WFTRANSFER-a0a0-转办理由", "WFACCEPTCOMMENT-3c3c", "WFCLOSECOMMENT-8d8d",
	"WFREQUEST-6e6e-复查申请理由", "WFFEEDBACK-2a2a-评价意见", "WFEXTEND-0b0b-延期理由",
}

// wfScanStore returns the markers found in any key or value of st.
func wfScanStore(tb testing.TB, st store.Store, markers []string) map[string][]string {
	tb.Helper()
	found := map[string][]string{}
	err := st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			for _, m := range markers {
				if bytes.Contains(k, []byte(m)) || bytes.Contains(v, []byte(m)) {
					found[m] = append(found[m], string(k[:min(len(k), 40)]))
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

// TestWorkflowEventsSealed: the history comes back decrypted, oldest first,
// and its texts are nowhere in the store in clear.
func TestWorkflowEventsSealed(t *testing.T) {
	w := wfOpen(t, nil)
	mk := func(i int) string { return wfMarkers[i] }
	m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept, Comment: mk(6)})
	w.clock.Add(time.Hour)
	w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActExtend, Days: 7, Reason: mk(10)})
	w.wfMustAct(t, m.ID, "supe", w.wfValid(ActAssign))
	if _, _, err := w.AddNote(m.ID, mk(0), w.users["off1"], wfEntry("petition.note")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.AddNote(m.ID, "", w.users["off1"], wfEntry("petition.note")); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty note: %v", err)
	}
	w.clock.Add(time.Hour)
	w.wfMustAct(t, m.ID, "off1", ActionInput{Action: ActReply, Text: mk(1)})
	if _, _, err := w.Feedback(m.ID, "dissatisfied", mk(9), wfEntry("public.feedback")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.wfReview(m.ID, mk(8)); err != nil {
		t.Fatal(err)
	}
	w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActReviewReply, Text: mk(2)})
	if _, err := w.wfReview(m.ID, mk(8)); err != nil {
		t.Fatal(err)
	}
	w.wfMustAct(t, m.ID, "supg", ActionInput{Action: ActRereviewReply, Text: mk(3)})
	na := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	w.wfMustAct(t, na.ID, "supe", ActionInput{Action: ActNotAccept, Reason: mk(4), TargetUnit: "external:劳动仲裁委员会"})
	tr := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	w.wfMustAct(t, tr.ID, "supe", ActionInput{Action: ActTransfer, Reason: mk(5), TargetUnit: "group/west"})
	cl := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	w.wfDrive(t, cl.ID, StatusAccepted)
	w.wfMustAct(t, cl.ID, "supe", ActionInput{Action: ActClose, Comment: mk(7)})

	evs, err := w.Events(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ typ, action, actor, kind, from, to, text, reason, comment, deadline string }
	want := []ev{
		{"action", ActAccept, "supe", "staff", StatusRegistered, StatusAccepted, "", "", mk(6), "resolve_by"},
		{"action", ActExtend, "supe", "staff", "", "", "", mk(10), "", "resolve_by"},
		{"action", ActAssign, "supe", "staff", StatusAccepted, StatusInProgress, "", "", "", ""},
		{"note", "", "off1", "staff", "", "", mk(0), "", "", ""},
		{"action", ActReply, "off1", "staff", StatusInProgress, StatusReplied, mk(1), "", "", "review_request_by"},
		{"feedback", "", "", "petitioner", "", "", "", "", mk(9), ""},
		{"review_request", "", "", "petitioner", StatusReplied, StatusReview, "", mk(8), "", "review_by"},
		{"action", ActReviewReply, "supe", "staff", StatusReview, StatusReplied, mk(2), "", "", "review_request_by"},
		{"review_request", "", "", "petitioner", StatusReplied, StatusRereview, "", mk(8), "", "review_by"},
		{"action", ActRereviewReply, "supg", "staff", StatusRereview, StatusClosed, mk(3), "", "", ""},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, e := range evs {
		wt := want[i]
		got := ev{e.Type, e.Action, e.Actor, e.ActorKind, e.FromStatus, e.ToStatus, e.Text, e.Reason, e.Comment, ""}
		for k := range e.Deadlines {
			got.deadline = k
		}
		if got != wt {
			t.Errorf("event %d = %+v, want %+v", i, got, wt)
		}
		if e.Seq != int64(i) || (i > 0 && e.Time.Before(evs[i-1].Time)) || len(e.Sealed) != 0 {
			t.Errorf("event %d: seq %d, time %v, sealed %d bytes", i, e.Seq, e.Time, len(e.Sealed))
		}
	}
	// The deadline an event records is the one set on the petition.
	if d, err := time.Parse(time.RFC3339Nano, evs[1].Deadlines["resolve_by"]); err != nil || !d.Equal(evs[0].Time.Add(67*wfDay)) {
		t.Errorf("extend event resolve_by = %q, want accepted + 67 days", evs[1].Deadlines["resolve_by"])
	}
	// Public events are those shown to the petitioner; notes are internal.
	for _, e := range evs {
		if wantPublic := e.Type != "note" && e.Action != ActAssign; e.Public != wantPublic {
			t.Errorf("%s %s: public = %v", e.Type, e.Action, e.Public)
		}
	}

	// The vault copies no text into metadata, indexes or its own audit
	// entries (the api may add a stated reason to the entry it passes in).
	found := wfScanStore(t, w.Store(), wfMarkers)
	for _, mk := range wfMarkers {
		if keys := found[mk]; len(keys) > 0 {
			t.Errorf("%q is in the store in clear under %q", mk, keys)
		}
	}
}

// TestWorkflowSweep: the sweeper closes cases whose review window passed,
// raises each alert once with an event, and clears alerts that no longer
// apply.
func TestWorkflowSweep(t *testing.T) {
	w := wfOpen(t, nil)
	t0 := w.clock.Now()
	replied := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, replied, StatusReplied)
	accepted := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, accepted, StatusAccepted)
	registered := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	west := w.wfCreate(t, wfNew("group/west", "510104199001011234")).ID
	closed := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, closed, StatusClosed)
	inReview := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234")).ID
	w.wfDrive(t, inReview, StatusReview) // review_by: day 30

	alerts := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		as, err := w.Alerts("", func(*Alert) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if _, dup := out[a.PetitionID]; dup {
				t.Errorf("two alerts for %s", a.PetitionID)
			}
			out[a.PetitionID] = a.Kind
		}
		return out
	}
	alertEvents := func(id string) []string {
		t.Helper()
		evs, err := w.Events(id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			if e.Type == "alert" {
				if e.ActorKind != "system" || e.Actor != "" {
					t.Errorf("alert event by %q/%q", e.Actor, e.ActorKind)
				}
				out = append(out, e.Action)
			}
		}
		return out
	}
	sweep := func(want SweepReport) {
		t.Helper()
		got, err := w.Sweep()
		if err != nil {
			t.Fatal(err)
		}
		want.Checked = got.Checked
		if got != want {
			t.Errorf("at %v: sweep = %+v, want %+v", w.clock.Now().Sub(t0), got, want)
		}
	}

	sweep(SweepReport{})
	if a := alerts(); len(a) != 0 {
		t.Fatalf("alerts on day 0: %v", a)
	}

	// Day 12: accept_by (day 15) is within 3 days.
	w.clock.Set(t0.Add(12*wfDay - time.Second))
	sweep(SweepReport{})
	w.clock.Set(t0.Add(12 * wfDay))
	sweep(SweepReport{Alerts: 2})
	if a := alerts(); a[registered] != AlertDueSoon || a[west] != AlertDueSoon || len(a) != 2 {
		t.Errorf("alerts on day 12: %v", a)
	}
	sweep(SweepReport{}) // once only
	if evs := alertEvents(registered); !slices.Equal(evs, []string{AlertDueSoon}) {
		t.Errorf("alert events after two sweeps: %v", evs)
	}
	counts, err := w.AlertCounts()
	if err != nil || counts[[2]string{"group/east/site-3", AlertDueSoon}] != 1 || counts[[2]string{"group/west", AlertDueSoon}] != 1 {
		t.Errorf("AlertCounts = %v, %v", counts, err)
	}
	as, err := w.Alerts(AlertDueSoon, func(a *Alert) bool { return a.Unit == "group/west" })
	if err != nil || len(as) != 1 || as[0].PetitionID != west || !as[0].Deadline.Equal(t0.Add(15*wfDay)) || !as[0].Since.Equal(t0.Add(12*wfDay)) {
		t.Errorf("Alerts(due_soon, west) = %+v, %v", as, err)
	}

	// Day 15 + 1 s: overdue replaces due soon.
	w.clock.Set(t0.Add(15 * wfDay))
	sweep(SweepReport{})
	w.clock.Set(t0.Add(15*wfDay + time.Second))
	sweep(SweepReport{Alerts: 2, Cleared: 2})
	if a := alerts(); a[registered] != AlertOverdue || a[west] != AlertOverdue {
		t.Errorf("alerts after accept_by: %v", a)
	}
	sweep(SweepReport{})
	if evs := alertEvents(registered); !slices.Equal(evs, []string{AlertDueSoon, AlertOverdue}) {
		t.Errorf("alert events: %v", evs)
	}
	// Accepting the case clears its alert at once.
	w.wfMustAct(t, registered, "supe", ActionInput{Action: ActAccept})
	if a := alerts(); a[registered] != "" {
		t.Errorf("alert of an accepted case: %v", a)
	}
	// So does not accepting one.
	w.wfMustAct(t, west, "supg", ActionInput{Action: ActNotAccept, Reason: "不予受理"})
	if a := alerts(); len(a) != 0 {
		t.Errorf("alerts after the cases moved on: %v", a)
	}

	// Day 30: the review window of the replied case closes at the instant,
	// and so is the review of the case in review due.
	w.clock.Set(t0.Add(30 * wfDay))
	sweep(SweepReport{Alerts: 1})
	if s := w.wfMeta(t, replied).Status; s != StatusReplied {
		t.Fatalf("closed at the deadline instant: %s", s)
	}
	if a := alerts(); a[inReview] != AlertDueSoon {
		t.Errorf("alerts at review_by: %v", a)
	}
	w.clock.Set(t0.Add(30*wfDay + time.Second))
	sweep(SweepReport{Closed: 1, Alerts: 1, Cleared: 1})
	if a := alerts(); a[inReview] != AlertOverdue {
		t.Errorf("alerts after review_by: %v", a)
	}
	m := w.wfMeta(t, replied)
	if m.Status != StatusClosed || m.ClosedAt == nil || !m.ClosedAt.Equal(w.clock.Now()) {
		t.Errorf("after the window: %+v", m)
	}
	evs, err := w.Events(replied)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != "action" || last.Action != "auto_close" || last.ActorKind != "system" || last.FromStatus != StatusReplied || last.ToStatus != StatusClosed || !last.Public {
		t.Errorf("auto close event = %+v", last)
	}
	if es, _, err := w.Log().Entries(audit.Filter{Action: "sweep.close", Limit: 10}); err != nil || len(es) != 1 ||
		es[0].Actor != nil || es[0].Object == nil || es[0].Object.ID != replied || es[0].Details["status"] != StatusClosed {
		t.Errorf("audit entries of the close = %+v, %v", es, err)
	}
	sweep(SweepReport{})
	// The index moved with the status.
	items, _, err := w.List(w.Subject(w.users["supe"]), []string{policy.ScopeUnit}, Query{Status: StatusReplied, Limit: 500}, func(*Meta) bool { return true })
	if err != nil || len(items) != 0 {
		t.Errorf("replied list after the sweep: %d items, %v", len(items), err)
	}

	// Day 57: resolve_by (day 60) of the accepted case is near; reply clears it.
	w.clock.Set(t0.Add(57 * wfDay))
	sweep(SweepReport{Alerts: 1}) // the case accepted on day 15 is due on day 75
	if a := alerts(); a[accepted] != AlertDueSoon {
		t.Errorf("alerts on day 57: %v", a)
	}
	w.wfMustAct(t, accepted, "supe", w.wfValid(ActReply))
	if _, ok := alerts()[accepted]; ok {
		t.Errorf("the reply left the alert")
	}
	if s := w.wfMeta(t, closed).Status; s != StatusClosed {
		t.Errorf("the sweeper touched a closed case: %s", s)
	}
}

// TestWorkflowRules: the warning window, the extension limit and the use of
// working days are configurable.
func TestWorkflowRules(t *testing.T) {
	cal, err := ParseCalendar(strings.NewReader("2026-03-04\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := wfOpen(t, func(o *Options) {
		o.Calendar = cal
		o.Deadlines = DeadlineRules{
			Accept:       DeadlineRule{Days: 3, Working: true},
			MaxExtension: 10,
			DueSoon:      24 * time.Hour,
		}
	})
	r := w.Rules()
	if r.Resolve.Days != 60 || r.Resolve.Working || r.ReviewRequest.Days != 30 || r.Review.Days != 30 || r.Objection.Days != 5 || !r.Objection.Working {
		t.Errorf("defaults not kept for the rules left zero: %+v", r)
	}
	// Sunday 17:00 in China → Mon 2, Tue 3, (Wed 4 holiday), Thu 5.
	m := w.wfCreate(t, wfNew("group/east/site-3", "510104199001011234"))
	if want := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC); !m.Deadlines.AcceptBy.Equal(want) {
		t.Errorf("accept_by in working days = %v, want %v", m.Deadlines.AcceptBy, want)
	}
	w.clock.Set(m.Deadlines.AcceptBy.Add(-24*time.Hour - time.Second))
	if m.DueSoon(w.Now(), w.Rules().DueSoon) {
		t.Errorf("due soon more than the configured day ahead")
	}
	w.clock.Add(time.Second)
	if !m.DueSoon(w.Now(), w.Rules().DueSoon) {
		t.Errorf("not due soon within the configured day")
	}
	w.wfMustAct(t, m.ID, "supe", ActionInput{Action: ActAccept})
	if _, err := w.wfAct(m.ID, "supe", ActionInput{Action: ActExtend, Days: 11, Reason: "需要调查"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("extend beyond the configured maximum: %v", err)
	}
	if _, err := w.wfAct(m.ID, "supe", ActionInput{Action: ActExtend, Days: 10, Reason: "需要调查"}); err != nil {
		t.Errorf("extend by the configured maximum: %v", err)
	}
}

func TestWorkflowSpread(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	for _, tt := range []struct {
		days        []float64
		median, p90 *float64
	}{
		{nil, nil, nil},
		{[]float64{4.04}, f(4), f(4)},
		{[]float64{10, 1, 3, 2, 4}, f(3), f(10)},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, f(5), f(9)},
		{[]float64{1.25, 1.26}, f(1.3), f(1.3)},
	} {
		s := spread(slices.Clone(tt.days))
		eq := func(a, b *float64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }
		if s.Count != len(tt.days) || !eq(s.Median, tt.median) || !eq(s.P90, tt.p90) {
			t.Errorf("spread(%v) = %d %v %v", tt.days, s.Count, s.Median, s.P90)
		}
	}
}
