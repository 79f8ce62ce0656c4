package vault

import (
	"errors"
	"slices"
	"strings"
	"time"

	"pvault/audit"
	"pvault/vault/store"
)

// Alert kinds.
const (
	AlertDueSoon  = "due_soon"
	AlertOverdue  = "overdue"
	AlertCritical = "critical_risk"
)

// AlertKinds lists the alert kinds.
var AlertKinds = []string{AlertDueSoon, AlertOverdue, AlertCritical}

// Alert tells a unit's supervisors that a case needs attention.
type Alert struct {
	PetitionID string     `json:"petition_id"`
	Unit       string     `json:"unit"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	Deadline   *time.Time `json:"deadline"`
	Since      time.Time  `json:"since"`
}

func alertKey(id, kind string) []byte { return []byte("al/" + id + "/" + kind) }

// wantAlerts returns the alert kinds a petition should have at now.
func (v *Vault) wantAlerts(m *Meta, now time.Time) []string {
	var kinds []string
	if !Terminal(m.Status) && m.Status != StatusReplied {
		if m.Overdue(now) {
			kinds = append(kinds, AlertOverdue)
		} else if m.DueSoon(now, v.rules.DueSoon) {
			kinds = append(kinds, AlertDueSoon)
		}
		if m.Risk != nil && m.Risk.Level == "critical" && m.Status == StatusRegistered {
			kinds = append(kinds, AlertCritical)
		}
	}
	return kinds
}

// storedAlerts returns the alert kinds stored for a petition.
func (v *Vault) storedAlerts(r store.Reader, id string) ([]string, error) {
	var kinds []string
	err := r.Scan(store.ScanOptions{Prefix: []byte("al/" + id + "/"), KeysOnly: true}, func(k, _ []byte) error {
		kinds = append(kinds, string(k[len("al/"+id+"/"):]))
		return nil
	})
	return kinds, err
}

// alertOps removes the stored alerts a petition no longer warrants (after a
// change of state); new alerts are raised by the sweeper, with an event.
func (v *Vault) alertOps(m *Meta, now time.Time) []store.Op {
	var ops []store.Op
	_ = v.st.View(func(r store.Reader) error {
		have, err := v.storedAlerts(r, m.ID)
		if err != nil {
			return err
		}
		want := v.wantAlerts(m, now)
		for _, k := range have {
			if !slices.Contains(want, k) {
				ops = append(ops, store.Del(alertKey(m.ID, k)))
			}
		}
		return nil
	})
	return ops
}

// Alerts returns the stored alerts, filtered by kind ("" for all) and by
// keep, which the caller uses to apply scope.
func (v *Vault) Alerts(kind string, keep func(*Alert) bool) ([]Alert, error) {
	var out []Alert
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("al/")}, func(k, val []byte) error {
			if kind != "" && !strings.HasSuffix(string(k), "/"+kind) {
				return nil
			}
			var a Alert
			if err := jsonUnmarshal(val, &a); err != nil {
				return err
			}
			if keep(&a) {
				out = append(out, a)
			}
			return nil
		})
	})
	return out, err
}

// AlertCounts counts the stored alerts by unit and kind.
func (v *Vault) AlertCounts() (map[[2]string]int, error) {
	counts := map[[2]string]int{}
	_, err := v.Alerts("", func(a *Alert) bool {
		counts[[2]string{a.Unit, a.Kind}]++
		return false
	})
	return counts, err
}

// SweepReport says what a sweep did.
type SweepReport struct {
	Checked int `json:"checked"`
	Closed  int `json:"closed"`
	Alerts  int `json:"alerts"`  // alerts raised
	Cleared int `json:"cleared"` // alerts cleared
}

// Sweep closes the cases whose review window passed, raises an alert (with
// an event) for each open case that is overdue or due within the warning
// window, and clears alerts that no longer apply. Every change is recorded
// in the audit log as a system action. It is safe to run at any time and
// from several places: each petition is handled under its lock.
func (v *Vault) Sweep() (SweepReport, error) {
	var rep SweepReport
	now := v.Now()
	for _, status := range []string{StatusRegistered, StatusAccepted, StatusInProgress, StatusReplied, StatusReview, StatusRereview} {
		var ids []string
		err := v.st.View(func(r store.Reader) error {
			prefix := []byte("x/s/" + status + "\x00")
			return r.Scan(store.ScanOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
				ids = append(ids, string(k[len(prefix):]))
				return nil
			})
		})
		if err != nil {
			return rep, err
		}
		for _, id := range ids {
			rep.Checked++
			if err := v.sweepOne(id, now, &rep); err != nil {
				return rep, err
			}
		}
	}
	// Alerts of petitions that left the open states.
	var stale [][2]string
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("al/"), KeysOnly: true}, func(k, _ []byte) error {
			parts := strings.SplitN(string(k[len("al/"):]), "/", 2)
			if len(parts) == 2 {
				stale = append(stale, [2]string{parts[0], parts[1]})
			}
			return nil
		})
	})
	if err != nil {
		return rep, err
	}
	for _, s := range stale {
		m, err := v.Meta(s[0])
		if err != nil && !errors.Is(err, ErrNotFound) {
			return rep, err
		}
		if m == nil || Terminal(m.Status) {
			unlock := v.lock(s[0])
			_, err := v.log.Append(sweepEntry("sweep.clear_alert", s[0], map[string]any{"kind": s[1]}), []store.Op{store.Del(alertKey(s[0], s[1]))})
			unlock()
			if err != nil {
				return rep, err
			}
			rep.Cleared++
		}
	}
	return rep, nil
}

func sweepEntry(action, id string, details map[string]any) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Object: &audit.Object{Type: "petition", ID: id},
		Decision: audit.Allow, Status: 200, Details: details}
}

func (v *Vault) sweepOne(id string, now time.Time, rep *SweepReport) error {
	unlock := v.lock(id)
	defer unlock()
	old, err := v.Meta(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := *old
	var ops []store.Op
	details := map[string]any{}
	action := ""
	// A replied case whose window to ask for review passed is closed.
	if m.Status == StatusReplied && m.Deadlines.ReviewRequestBy != nil && now.After(*m.Deadlines.ReviewRequestBy) {
		m.Status = StatusClosed
		m.ClosedAt = ts(now)
		m.UpdatedAt = now
		ev, op, err := v.newEvent(&m, Event{Type: "action", Action: "auto_close", ActorKind: "system", FromStatus: StatusReplied, ToStatus: StatusClosed, Time: now, Public: true}, EventText{})
		if err != nil {
			return err
		}
		_ = ev
		ops = append(ops, op)
		ops = append(ops, reindexOps(old, &m)...)
		action = "sweep.close"
		rep.Closed++
	}
	var have []string
	if err := v.st.View(func(r store.Reader) error {
		var err error
		have, err = v.storedAlerts(r, id)
		return err
	}); err != nil {
		return err
	}
	want := v.wantAlerts(&m, now)
	var raised, cleared []any
	for _, k := range want {
		if slices.Contains(have, k) {
			continue
		}
		a := Alert{PetitionID: id, Unit: m.Unit, Kind: k, Status: m.Status, Deadline: m.CurrentDeadline(), Since: now}
		ops = append(ops, store.Put(alertKey(id, k), mustJSON(a)))
		ev := Event{Type: "alert", Action: k, ActorKind: "system", Time: now}
		if d := m.CurrentDeadline(); d != nil {
			ev.Deadlines = map[string]string{"deadline": fmtTime(d)}
		}
		m.UpdatedAt = now
		_, op, err := v.newEvent(&m, ev, EventText{})
		if err != nil {
			return err
		}
		ops = append(ops, op)
		raised = append(raised, k)
		rep.Alerts++
	}
	for _, k := range have {
		if !slices.Contains(want, k) {
			ops = append(ops, store.Del(alertKey(id, k)))
			cleared = append(cleared, k)
			rep.Cleared++
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if action == "" {
		action = "sweep.alert"
	}
	if len(raised) > 0 {
		details["raised"] = raised
	}
	if len(cleared) > 0 {
		details["cleared"] = cleared
	}
	details["status"] = m.Status
	ops = append(ops, store.Put(metaKey(id), mustJSON(&m)))
	_, err = v.log.Append(sweepEntry(action, id, details), ops)
	return err
}
