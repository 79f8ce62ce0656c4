package analysis

import (
	"slices"
	"testing"
	"time"
)

// anCST is China Standard Time, as the vault uses.
var anCST = time.FixedZone("CST", 8*3600)

func TestWeekOf(t *testing.T) {
	for _, tt := range []struct {
		name  string
		t     time.Time
		loc   *time.Location
		week  string
		start time.Time
	}{
		{"a Monday morning", time.Date(2026, 3, 2, 10, 0, 0, 0, anCST), anCST, "2026-W10", time.Date(2026, 3, 2, 0, 0, 0, 0, anCST)},
		{"Monday at midnight", time.Date(2026, 3, 2, 0, 0, 0, 0, anCST), anCST, "2026-W10", time.Date(2026, 3, 2, 0, 0, 0, 0, anCST)},
		{"the Sunday before, last second", time.Date(2026, 3, 1, 23, 59, 59, 0, anCST), anCST, "2026-W09", time.Date(2026, 2, 23, 0, 0, 0, 0, anCST)},
		{"a Wednesday", time.Date(2026, 3, 4, 15, 0, 0, 0, anCST), anCST, "2026-W10", time.Date(2026, 3, 2, 0, 0, 0, 0, anCST)},
		// 20:00 UTC on Sunday 28 December 2025 is Monday 04:00 in China:
		// the first ISO week of 2026 there, the last of 2025 in UTC.
		{"year boundary in CST", time.Date(2025, 12, 28, 20, 0, 0, 0, time.UTC), anCST, "2026-W01", time.Date(2025, 12, 29, 0, 0, 0, 0, anCST)},
		{"year boundary in UTC", time.Date(2025, 12, 28, 20, 0, 0, 0, time.UTC), time.UTC, "2025-W52", time.Date(2025, 12, 22, 0, 0, 0, 0, time.UTC)},
		{"1 January in the last week of the year before", time.Date(2021, 1, 3, 12, 0, 0, 0, anCST), anCST, "2020-W53", time.Date(2020, 12, 28, 0, 0, 0, 0, anCST)},
		{"30 December in the first week of the next year", time.Date(2024, 12, 30, 8, 0, 0, 0, anCST), anCST, "2025-W01", time.Date(2024, 12, 30, 0, 0, 0, 0, anCST)},
		{"1 January 2027 in week 53 of 2026", time.Date(2027, 1, 1, 9, 0, 0, 0, anCST), anCST, "2026-W53", time.Date(2026, 12, 28, 0, 0, 0, 0, anCST)},
		{"start across a month", time.Date(2026, 5, 2, 9, 0, 0, 0, anCST), anCST, "2026-W18", time.Date(2026, 4, 27, 0, 0, 0, 0, anCST)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := WeekOf(tt.t, tt.loc)
			if w.Name != tt.week || !w.Start.Equal(tt.start) {
				t.Errorf("WeekOf(%v) = %s starting %v, want %s starting %v", tt.t, w.Name, w.Start, tt.week, tt.start)
			}
			if w.Start.Location() != tt.loc || w.Start.Weekday() != time.Monday || w.Start.After(tt.t) || !tt.t.Before(w.Start.AddDate(0, 0, 7)) {
				t.Errorf("start %v is not the Monday midnight of the week holding %v", w.Start, tt.t)
			}
		})
	}
}

// anSeries finds the series of unit and category, or nil.
func anSeries(ss []Series, unit, cat string) *Series {
	for i := range ss {
		if ss[i].Unit == unit && ss[i].Category == cat {
			return &ss[i]
		}
	}
	return nil
}

func TestHotspots(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, anCST) // a Monday
	to := from.AddDate(0, 0, 28)                     // four weeks
	var pts []Point
	add := func(unit, cat string, week, n int) {
		for i := range n {
			// Spread over the week, Tuesday to Saturday.
			at := from.AddDate(0, 0, 7*week+1+i%5).Add(time.Duration(i) * time.Hour)
			pts = append(pts, Point{Unit: unit, Category: cat, Time: at})
		}
	}
	// A quiet baseline of one a week for eight weeks, then eight in the
	// first week of the window.
	for w := -8; w < 0; w++ {
		add("group/east/site-3", "wage_arrears", w, 1)
		add("group/west", "quality", w, 1)
	}
	add("group/east/site-3", "wage_arrears", 0, 8)
	add("group/east/site-3", "wage_arrears", 2, 1)
	// A steady series: one or two a week throughout.
	for w := 0; w < 4; w++ {
		add("group/west", "quality", w, 1+w%2)
	}
	// No baseline: two, three and four in a week.
	add("group/north", "other", 0, 2)
	add("group/north", "other", 1, 3)
	add("group/north", "other", 3, 4)
	// Outside: before the baseline, after the window.
	add("group/east/site-3", "wage_arrears", -12, 30)
	add("group/east/site-3", "wage_arrears", 4, 30)

	ss := Hotspots(pts, from, to, anCST)
	if len(ss) != 3 {
		t.Fatalf("%d series, want 3: %+v", len(ss), ss)
	}
	for _, s := range ss {
		if len(s.Weeks) != 4 {
			t.Errorf("%s × %s: %d weeks, want 4", s.Unit, s.Category, len(s.Weeks))
			continue
		}
		for i, c := range s.Weeks {
			if want := WeekOf(from.AddDate(0, 0, 7*i), anCST).Name; c.Week != want {
				t.Errorf("%s × %s week %d named %s, want %s", s.Unit, s.Category, i, c.Week, want)
			}
			if c.Spike && (c.Count < 3 || c.PValue >= 0.01) {
				t.Errorf("%s × %s %s: spike with count %d and p %v", s.Unit, s.Category, c.Week, c.Count, c.PValue)
			}
			if c.Count == 0 && c.PValue != 1 {
				t.Errorf("%s × %s %s: p %v for no petitions", s.Unit, s.Category, c.Week, c.PValue)
			}
		}
	}

	spiky := anSeries(ss, "group/east/site-3", "wage_arrears")
	if spiky == nil {
		t.Fatal("no series for site-3 × wage_arrears")
	}
	if got := []int{spiky.Weeks[0].Count, spiky.Weeks[1].Count, spiky.Weeks[2].Count, spiky.Weeks[3].Count}; !slices.Equal(got, []int{8, 0, 1, 0}) {
		t.Errorf("site-3 × wage_arrears counts %v, want [8 0 1 0] (points outside the window and baseline ignored)", got)
	}
	if c := spiky.Weeks[0]; !c.Spike || c.PValue >= 0.01 || c.Baseline != 1 || c.PValue != 0.00001 {
		t.Errorf("eight after a baseline of one a week: %+v, want a spike with p 0.00001 and baseline 1", c)
	}
	if spiky.Weeks[2].Spike || spiky.Spikes != 1 || spiky.Total != 9 {
		t.Errorf("site-3 × wage_arrears: %d spikes, total %d, want 1 and 9", spiky.Spikes, spiky.Total)
	}
	if ss[0].Unit != "group/east/site-3" {
		t.Errorf("first series %s × %s, want the one with a spike first", ss[0].Unit, ss[0].Category)
	}

	steady := anSeries(ss, "group/west", "quality")
	if steady == nil || steady.Spikes != 0 || steady.Total != 6 {
		t.Errorf("steady series: %+v, want no spikes and 6 petitions", steady)
	}

	north := anSeries(ss, "group/north", "other")
	if north == nil {
		t.Fatal("no series for north × other")
	}
	for i, want := range []struct {
		count int
		p     float64
		spike bool
	}{{2, 0.090204, false}, {3, 0.014388, false}, {0, 1, false}, {4, 0.001752, true}} {
		c := north.Weeks[i]
		if c.Count != want.count || c.PValue != want.p || c.Spike != want.spike || c.Baseline != 0.5 {
			t.Errorf("north week %d: %+v, want count %d p %v spike %v baseline 0.5", i, c, want.count, want.p, want.spike)
		}
	}
}

func TestHotspotsEdges(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, anCST)
	if ss := Hotspots(nil, from, from.AddDate(0, 0, 14), anCST); len(ss) != 0 {
		t.Errorf("no points: %+v", ss)
	}
	// A point exactly at to is outside; one exactly at from is inside.
	pts := []Point{{"u", "c", from}, {"u", "c", from.AddDate(0, 0, 14)}}
	ss := Hotspots(pts, from, from.AddDate(0, 0, 14), anCST)
	if len(ss) != 1 || ss[0].Total != 1 || len(ss[0].Weeks) != 2 {
		t.Errorf("bounds: %+v", ss)
	}
	// An empty window.
	if ss := Hotspots(pts, from, from, anCST); len(ss) != 0 {
		t.Errorf("empty window: %+v", ss)
	}
	// A window starting mid-week still has whole ISO weeks.
	mid := from.AddDate(0, 0, 2)
	ss = Hotspots([]Point{{"u", "c", mid.Add(time.Hour)}}, mid, mid.AddDate(0, 0, 7), anCST)
	if len(ss) != 1 || len(ss[0].Weeks) != 2 || ss[0].Weeks[0].Week != "2026-W10" || ss[0].Weeks[0].Count != 1 {
		t.Errorf("mid-week window: %+v", ss)
	}
}

func TestPoissonUpper(t *testing.T) {
	for _, tt := range []struct {
		k      int
		lambda float64
		want   float64
	}{
		{3, 1, 0.080301},
		{3, 0.5, 0.014388},
		{2, 0.5, 0.090204},
		{4, 0.5, 0.001752},
		{1, 1, 0.632121},
		{0, 2, 1},
		{8, 1, 0.00001},
		{12, 3, 0.000071},
		{80, 50, 0.000057},
		{10, 800, 1},
		// A large unit: 800 a week of one category on average, 1000 this
		// week is seven standard deviations above (P ≈ 5.5e-12).
		{1000, 800, 0},
	} {
		if got := poissonUpper(tt.k, tt.lambda); got != tt.want {
			t.Errorf("poissonUpper(%d, %v) = %v, want %v", tt.k, tt.lambda, got, tt.want)
		}
	}
}

// TestHotspotsLargeBaseline: a spike in a busy series is flagged too.
func TestHotspotsLargeBaseline(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, anCST)
	var pts []Point
	for w := -8; w <= 0; w++ {
		n := 800
		if w == 0 {
			n = 1000
		}
		for i := range n {
			pts = append(pts, Point{"group", "wage_arrears", from.AddDate(0, 0, 7*w).Add(time.Duration(i) * time.Minute)})
		}
	}
	ss := Hotspots(pts, from, from.AddDate(0, 0, 7), anCST)
	if len(ss) != 1 || ss[0].Weeks[0].Count != 1000 || ss[0].Weeks[0].Baseline != 800 {
		t.Fatalf("series %+v", ss)
	}
	if c := ss[0].Weeks[0]; !c.Spike {
		t.Errorf("1000 in a week after 800 a week (seven standard deviations): %+v, want a spike", c)
	}
}
