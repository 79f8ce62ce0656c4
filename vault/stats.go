package vault

import (
	"math"
	"slices"
	"time"

	"pvault/analysis"
	"pvault/policy"
	"pvault/vault/store"
)

// Summary is the office's dashboard over the petitions received in a window.
type Summary struct {
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Unit       string         `json:"unit"`
	Total      int            `json:"total"`
	ByStatus   map[string]int `json:"by_status"`
	ByChannel  map[string]int `json:"by_channel"`
	ByCategory map[string]int `json:"by_category"`
	ByRisk     map[string]int `json:"by_risk"`
	Overdue    struct {
		Total    int            `json:"total"`
		ByStatus map[string]int `json:"by_status"`
	} `json:"overdue"`
	DaysToAccept   Spread `json:"days_to_accept"`
	DaysToResolve  Spread `json:"days_to_resolve"`
	ResolvedInTime struct {
		Resolved int     `json:"resolved"`
		InTime   int     `json:"in_time"`
		Share    float64 `json:"share"`
	} `json:"resolved_in_time"`
	Satisfaction struct {
		Rated              int     `json:"rated"`
		Satisfied          int     `json:"satisfied"`
		BasicallySatisfied int     `json:"basically_satisfied"`
		Dissatisfied       int     `json:"dissatisfied"`
		Rate               float64 `json:"rate"` // (satisfied + basically) / rated
	} `json:"satisfaction"`
}

// Spread is the median and 90th percentile of a set of durations in days.
type Spread struct {
	Count  int      `json:"count"`
	Median *float64 `json:"median"`
	P90    *float64 `json:"p90"`
}

func spread(days []float64) Spread {
	s := Spread{Count: len(days)}
	if len(days) == 0 {
		return s
	}
	slices.Sort(days)
	q := func(p float64) *float64 {
		// Nearest-rank percentile, rounded to 0.1 day.
		i := int(math.Ceil(p*float64(len(days)))) - 1
		v := math.Round(days[max(i, 0)]*10) / 10
		return &v
	}
	s.Median, s.P90 = q(0.5), q(0.9)
	return s
}

// Summarize computes the summary of the petitions received in [from, to) in
// unit (or everywhere the caller's scopes reach when unit is ""). scopes are
// the caller's stats.read scopes: all, or unit.
func (v *Vault) Summarize(sub *policy.Subject, scopes []string, unit string, from, to time.Time) (*Summary, error) {
	s := &Summary{From: from, To: to, Unit: unit, ByStatus: map[string]int{}, ByChannel: map[string]int{},
		ByCategory: map[string]int{}, ByRisk: map[string]int{}}
	s.Overdue.ByStatus = map[string]int{}
	prefixes := statsPrefixes(sub, scopes, unit)
	now := v.Now()
	var toAccept, toResolve []float64
	err := v.st.View(func(r store.Reader) error {
		for _, p := range prefixes {
			err := r.Scan(store.ScanOptions{Prefix: []byte(p), KeysOnly: true}, func(k, _ []byte) error {
				id := string(k[len(p):])
				var m Meta
				if err := getJSON(r, metaKey(id), &m); err != nil {
					return nil
				}
				if m.ReceivedAt.Before(from) || !m.ReceivedAt.Before(to) {
					return nil
				}
				s.Total++
				s.ByStatus[m.Status]++
				s.ByChannel[m.Channel]++
				cat := "unclassified"
				if m.Category != nil {
					cat = m.Category.Label
				}
				s.ByCategory[cat]++
				risk := "unassessed"
				if m.Risk != nil {
					risk = m.Risk.Level
				}
				s.ByRisk[risk]++
				if m.Overdue(now) {
					s.Overdue.Total++
					s.Overdue.ByStatus[m.Status]++
				}
				if m.AcceptedAt != nil {
					toAccept = append(toAccept, m.AcceptedAt.Sub(m.ReceivedAt).Hours()/24)
				}
				if m.FirstReplyAt != nil {
					toResolve = append(toResolve, m.FirstReplyAt.Sub(m.ReceivedAt).Hours()/24)
					s.ResolvedInTime.Resolved++
					if m.InTime != nil && *m.InTime {
						s.ResolvedInTime.InTime++
					}
				}
				switch m.Rating {
				case "satisfied":
					s.Satisfaction.Satisfied++
				case "basically_satisfied":
					s.Satisfaction.BasicallySatisfied++
				case "dissatisfied":
					s.Satisfaction.Dissatisfied++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.DaysToAccept, s.DaysToResolve = spread(toAccept), spread(toResolve)
	if s.ResolvedInTime.Resolved > 0 {
		s.ResolvedInTime.Share = math.Round(float64(s.ResolvedInTime.InTime)/float64(s.ResolvedInTime.Resolved)*1000) / 1000
	}
	sat := &s.Satisfaction
	sat.Rated = sat.Satisfied + sat.BasicallySatisfied + sat.Dissatisfied
	if sat.Rated > 0 {
		sat.Rate = math.Round(float64(sat.Satisfied+sat.BasicallySatisfied)/float64(sat.Rated)*1000) / 1000
	}
	return s, nil
}

// HotspotPoints returns (unit, category, received time) of the petitions in
// the caller's stats scopes received in [from, to), for hotspot counting.
func (v *Vault) HotspotPoints(sub *policy.Subject, scopes []string, unit string, from, to time.Time) ([]analysis.Point, error) {
	prefixes := statsPrefixes(sub, scopes, unit)
	var out []analysis.Point
	err := v.st.View(func(r store.Reader) error {
		for _, p := range prefixes {
			err := r.Scan(store.ScanOptions{Prefix: []byte(p), KeysOnly: true}, func(k, _ []byte) error {
				var m Meta
				if err := getJSON(r, metaKey(string(k[len(p):])), &m); err != nil {
					return nil
				}
				if m.ReceivedAt.Before(from) || !m.ReceivedAt.Before(to) {
					return nil
				}
				cat := "unclassified"
				if m.Category != nil {
					cat = m.Category.Label
				}
				out = append(out, analysis.Point{Unit: m.Unit, Category: cat, Time: m.ReceivedAt})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// statsPrefixes picks the unit index ranges that aggregate statistics may
// read for the caller's stats scopes (all, or their unit), narrowed to unit.
func statsPrefixes(sub *policy.Subject, scopes []string, unit string) []string {
	switch {
	case slices.Contains(scopes, policy.ScopeAll):
		if unit == "" {
			return []string{"x/all/"}
		}
		return []string{"x/u/" + unit + "\x00"}
	case slices.Contains(scopes, policy.ScopeUnit):
		switch {
		case unit == "" || policy.Within(sub.Unit, unit):
			return []string{"x/u/" + sub.Unit + "\x00"}
		case policy.Within(unit, sub.Unit):
			return []string{"x/u/" + unit + "\x00"}
		}
	}
	return nil
}
