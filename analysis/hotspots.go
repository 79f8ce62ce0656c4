package analysis

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Week is an ISO week, named like 2026-W48, starting on Monday.
type Week struct {
	Name  string
	Start time.Time
}

// WeekOf returns the ISO week of t in loc.
func WeekOf(t time.Time, loc *time.Location) Week {
	t = t.In(loc)
	y, w := t.ISOWeek()
	wd := (int(t.Weekday()) + 6) % 7
	start := time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, loc)
	return Week{Name: weekName(y, w), Start: start}
}

func weekName(y, w int) string { return fmt.Sprintf("%04d-W%02d", y, w) }

// SpikeTest is the test used to flag hotspots, stated with the results.
const SpikeTest = "Poisson upper tail: a week is a spike when its count is at least 3 and P(X ≥ count) < 0.01 for X ~ Poisson(λ), λ the mean weekly count of the same unit and category over the 8 weeks before the window (at least 0.5)"

// SpikeBaselineWeeks is how many weeks before the window form the baseline.
const SpikeBaselineWeeks = 8

// Cell is one week's count of a unit × category series.
type Cell struct {
	Week     string  `json:"week"`
	Count    int     `json:"count"`
	Baseline float64 `json:"baseline"`
	PValue   float64 `json:"p_value"`
	Spike    bool    `json:"spike"`
}

// Series is the weekly counts of one unit and category.
type Series struct {
	Unit     string `json:"unit"`
	Category string `json:"category"`
	Total    int    `json:"total"`
	Spikes   int    `json:"spikes"`
	Weeks    []Cell `json:"weeks"`
}

// Point is one petition for hotspot counting.
type Point struct {
	Unit, Category string
	Time           time.Time
}

// Hotspots counts points per unit × category per ISO week over the weeks
// from..to, and flags spikes against each series' own baseline (SpikeTest).
// Points before from feed the baseline.
func Hotspots(points []Point, from, to time.Time, loc *time.Location) []Series {
	var weeks []Week
	for w := WeekOf(from, loc); w.Start.Before(to); w = WeekOf(w.Start.AddDate(0, 0, 7), loc) {
		weeks = append(weeks, w)
	}
	baseStart := WeekOf(from, loc).Start.AddDate(0, 0, -7*SpikeBaselineWeeks)
	type key struct{ unit, cat string }
	counts := map[key]map[string]int{}
	base := map[key]int{}
	for _, p := range points {
		k := key{p.Unit, p.Category}
		switch {
		case !p.Time.Before(from) && p.Time.Before(to):
			if counts[k] == nil {
				counts[k] = map[string]int{}
			}
			counts[k][WeekOf(p.Time, loc).Name]++
		case !p.Time.Before(baseStart) && p.Time.Before(WeekOf(from, loc).Start):
			base[k]++
		}
	}
	var out []Series
	for k, byWeek := range counts {
		s := Series{Unit: k.unit, Category: k.cat}
		lambda := math.Max(0.5, float64(base[k])/SpikeBaselineWeeks)
		for _, w := range weeks {
			n := byWeek[w.Name]
			c := Cell{Week: w.Name, Count: n, Baseline: math.Round(lambda*100) / 100, PValue: 1}
			if n > 0 {
				c.PValue = poissonUpper(n, lambda)
			}
			c.Spike = n >= 3 && c.PValue < 0.01
			if c.Spike {
				s.Spikes++
			}
			s.Total += n
			s.Weeks = append(s.Weeks, c)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Spikes != out[j].Spikes {
			return out[i].Spikes > out[j].Spikes
		}
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		if out[i].Unit != out[j].Unit {
			return out[i].Unit < out[j].Unit
		}
		return out[i].Category < out[j].Category
	})
	return out
}

// poissonUpper is P(X ≥ k) for X ~ Poisson(λ): the regularised lower
// incomplete gamma function P(k, λ), computed stably for any λ.
func poissonUpper(k int, lambda float64) float64 {
	if k <= 0 {
		return 1
	}
	p := gammaP(float64(k), lambda)
	return math.Round(math.Min(math.Max(p, 0), 1)*1e6) / 1e6
}

// gammaP is the regularised lower incomplete gamma function P(a, x), by its
// series for x < a+1 and by a continued fraction otherwise.
func gammaP(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < 10000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return sum * math.Exp(-x+a*math.Log(x)-lg)
	}
	// Lentz's continued fraction for Q(a, x) = 1 − P(a, x).
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 10000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return 1 - math.Exp(-x+a*math.Log(x)-lg)*h
}
