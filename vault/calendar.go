package vault

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Calendar counts deadline days. Calendar days are the default; rules that
// count working days skip weekends and holidays, except weekend days the
// calendar marks as working days (China's make-up working days, 调休).
// Dates are taken in the office's time zone (default UTC+8).
type Calendar struct {
	Holidays map[string]bool // YYYY-MM-DD
	Workdays map[string]bool // weekend dates that are working days
	Zone     *time.Location
}

// DefaultZone is China Standard Time.
var DefaultZone = time.FixedZone("CST", 8*3600)

func (c *Calendar) zone() *time.Location {
	if c == nil || c.Zone == nil {
		return DefaultZone
	}
	return c.Zone
}

// IsWorkingDay reports whether the date of t (in the calendar's zone) is a
// working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	d := t.In(c.zone())
	key := d.Format(time.DateOnly)
	if c != nil && c.Workdays[key] {
		return true
	}
	if c != nil && c.Holidays[key] {
		return false
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkingDays returns t moved forward by n working days: the same time of
// day on the n-th working day after t's date.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	d := t
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkingDay(d) {
			n--
		}
	}
	return d
}

// Add returns t plus n days, counted as working days when working is set.
func (c *Calendar) Add(t time.Time, n int, working bool) time.Time {
	if working {
		return c.AddWorkingDays(t, n)
	}
	return t.Add(time.Duration(n) * 24 * time.Hour)
}

// ParseCalendar reads a holiday calendar: one date (YYYY-MM-DD) per line for
// a holiday, "+YYYY-MM-DD" for a weekend day that is a working day; blank
// lines and lines starting with # are ignored.
func ParseCalendar(r io.Reader) (*Calendar, error) {
	c := &Calendar{Holidays: map[string]bool{}, Workdays: map[string]bool{}}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		work := strings.HasPrefix(line, "+")
		date := strings.TrimPrefix(line, "+")
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			return nil, fmt.Errorf("calendar line %d: not a YYYY-MM-DD date", n)
		}
		if work {
			c.Workdays[date] = true
		} else {
			c.Holidays[date] = true
		}
	}
	return c, sc.Err()
}

// DeadlineRule is one legal time limit.
type DeadlineRule struct {
	Days    int
	Working bool // count working days instead of calendar days
}

// DeadlineRules are the time limits of 信访工作条例 the workflow applies.
// The zero value of a rule means its default.
type DeadlineRules struct {
	Accept        DeadlineRule // register and decide: 15 days (Art. 22, 23)
	Resolve       DeadlineRule // handle: 60 days (Art. 34)
	ReviewRequest DeadlineRule // ask for review / re-review: 30 days (Art. 35, 36)
	Review        DeadlineRule // review / re-review: 30 days (Art. 35, 36)
	Objection     DeadlineRule // object to a misdirected transfer: 5 working days (Art. 23)
	MaxExtension  int          // one extension of at most 30 days (Art. 34)
	DueSoon       time.Duration
}

func (r DeadlineRules) withDefaults() DeadlineRules {
	def := func(x *DeadlineRule, days int, working bool) {
		if x.Days == 0 {
			x.Days, x.Working = days, working
		}
	}
	def(&r.Accept, 15, false)
	def(&r.Resolve, 60, false)
	def(&r.ReviewRequest, 30, false)
	def(&r.Review, 30, false)
	def(&r.Objection, 5, true)
	if r.MaxExtension == 0 {
		r.MaxExtension = 30
	}
	if r.DueSoon == 0 {
		r.DueSoon = 3 * 24 * time.Hour
	}
	return r
}
