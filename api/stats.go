package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/analysis"
	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// timeRange parses from and to (RFC 3339 or YYYY-MM-DD; to is exclusive, a
// date meaning the end of that day). Defaults: the last 90 days.
func timeRange(c *gin.Context, now time.Time) (time.Time, time.Time, error) {
	parse := func(name string, def time.Time, endOfDay bool) (time.Time, error) {
		s := c.Query(name)
		if s == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			if endOfDay {
				t = t.AddDate(0, 0, 1)
			}
			return t, nil
		}
		return time.Time{}, badRequest("%s: an RFC 3339 time or a YYYY-MM-DD date", name)
	}
	to, err := parse("to", now, true)
	if err != nil {
		return to, to, err
	}
	from, err := parse("from", to.AddDate(0, 0, -90), false)
	if err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, badRequest("from: must be before to")
	}
	return from, to, nil
}

// isoWeek names the ISO week of t, like 2026-W48, and returns its Monday.
func isoWeek(t time.Time) (string, time.Time) {
	y, w := t.ISOWeek()
	wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
	monday := time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
	return fmt.Sprintf("%04d-W%02d", y, w), monday
}

type revealCount struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	Week      string `json:"week"`
	WeekStart string `json:"week_start"`
	Count     int    `json:"count"`
}

// revealStats lists identity reveals per user per ISO week, from the audit
// log, so that unusual curiosity shows.
func (s *Server) revealStats(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	from, to, err := timeRange(c, s.v.Now())
	if err != nil {
		return err
	}
	type key struct{ user, week string }
	counts := map[key]*revealCount{}
	err = s.v.Log().Each("petition.reveal_identity", func(e *audit.Entry) error {
		if e.Decision != audit.Allow || e.Status != http.StatusOK || e.Actor == nil || e.Time.Before(from) || !e.Time.Before(to) {
			return nil
		}
		week, monday := isoWeek(e.Time)
		kk := key{e.Actor.UserID, week}
		rc := counts[kk]
		if rc == nil {
			rc = &revealCount{UserID: e.Actor.UserID, Username: e.Actor.Username, Week: week, WeekStart: monday.Format(time.DateOnly)}
			counts[kk] = rc
		}
		rc.Count++
		return nil
	})
	if err != nil {
		return err
	}
	items := make([]revealCount, 0, len(counts))
	for _, rc := range counts {
		items = append(items, *rc)
	}
	slices.SortFunc(items, func(a, b revealCount) int {
		return cmp.Or(cmp.Compare(a.Week, b.Week), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Username, b.Username))
	})
	k.detail("from", from.Format(time.RFC3339))
	k.detail("to", to.Format(time.RFC3339))
	return k.reply(http.StatusOK, gin.H{"from": from, "to": to, "items": items})
}

func (s *Server) summaryStats(c *gin.Context, k *call) error {
	if err := s.may(k, policy.StatsRead); err != nil {
		return err
	}
	from, to, err := timeRange(c, s.v.Now())
	if err != nil {
		return err
	}
	unit := c.Query("unit")
	if unit != "" && !vault.ValidUnit(unit) {
		return badRequest("unit: not a unit path")
	}
	if unit != "" && !s.decide(k.sub, policy.StatsRead, &policy.Object{Type: "unit", ID: unit, Unit: unit}) {
		// A unit above the caller's scope is narrowed to it; one outside is 404.
		if !policy.Within(k.user.Unit, unit) {
			return errHidden
		}
	}
	sum, err := s.v.Summarize(k.sub, s.pol.Scopes(k.sub, policy.StatsRead), unit, from, to)
	if err != nil {
		return err
	}
	k.detail("unit", unit)
	return k.reply(http.StatusOK, sum)
}

// hotspots gives weekly counts per unit × category over the window, each
// week flagged when it is a spike against its own baseline (analysis.SpikeTest).
func (s *Server) hotspots(c *gin.Context, k *call) error {
	if err := s.may(k, policy.StatsRead); err != nil {
		return err
	}
	now := s.v.Now()
	to := now
	from := now.AddDate(0, 0, -7*12)
	if c.Query("from") != "" || c.Query("to") != "" {
		var err error
		if from, to, err = timeRange(c, now); err != nil {
			return err
		}
	}
	if to.Sub(from) > 2*366*24*time.Hour {
		return badRequest("from: the window is at most two years")
	}
	unit := c.Query("unit")
	if unit != "" && !vault.ValidUnit(unit) {
		return badRequest("unit: not a unit path")
	}
	if unit != "" && !s.decide(k.sub, policy.StatsRead, &policy.Object{Type: "unit", ID: unit, Unit: unit}) && !policy.Within(k.user.Unit, unit) {
		return errHidden
	}
	baseFrom := analysis.WeekOf(from, vault.DefaultZone).Start.AddDate(0, 0, -7*analysis.SpikeBaselineWeeks)
	points, err := s.v.HotspotPoints(k.sub, s.pol.Scopes(k.sub, policy.StatsRead), unit, baseFrom, to)
	if err != nil {
		return err
	}
	series := analysis.Hotspots(points, from, to, vault.DefaultZone)
	if series == nil {
		series = []analysis.Series{}
	}
	spikes := 0
	for _, x := range series {
		spikes += x.Spikes
	}
	k.detail("spikes", spikes)
	return k.reply(http.StatusOK, gin.H{"from": from, "to": to, "unit": unit, "test": analysis.SpikeTest, "items": series})
}
