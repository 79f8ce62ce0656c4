package vault

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// wfCalendar2026 is modelled on the State Council's notice for the 2026
// Spring Festival: 15–23 February off, Saturdays 14 and 28 February worked.
const wfCalendar2026 = `# 2026 春节
2026-02-15
2026-02-16
2026-02-17
2026-02-18
2026-02-19   # 初三
2026-02-20
2026-02-21
2026-02-22
2026-02-23
+2026-02-14  # 调休上班 (Saturday)
+2026-02-28  # 调休上班 (Saturday)

# 清明
2026-04-06
`

func wfParseCalendar(tb testing.TB, text string) *Calendar {
	tb.Helper()
	c, err := ParseCalendar(strings.NewReader(text))
	if err != nil {
		tb.Fatalf("ParseCalendar: %v", err)
	}
	return c
}

func TestCalendarParse(t *testing.T) {
	for _, tt := range []struct {
		name     string
		text     string
		holidays []string
		workdays []string
		errLine  int // 0: no error
	}{
		{name: "empty", text: ""},
		{name: "comments and blank lines", text: "# only a comment\n\n   \n\t# indented comment\n"},
		{name: "one holiday", text: "2026-10-01\n", holidays: []string{"2026-10-01"}},
		{name: "no final newline", text: "2026-10-01", holidays: []string{"2026-10-01"}},
		{name: "CRLF and spaces", text: "  2026-10-01  \r\n+2026-10-10\r\n", holidays: []string{"2026-10-01"}, workdays: []string{"2026-10-10"}},
		{name: "trailing comment", text: "2026-10-01 # 国庆节\n+2026-10-10# 调休\n", holidays: []string{"2026-10-01"}, workdays: []string{"2026-10-10"}},
		{name: "duplicates", text: "2026-10-01\n2026-10-01\n", holidays: []string{"2026-10-01"}},
		{name: "leap day", text: "2028-02-29\n", holidays: []string{"2028-02-29"}},
		{name: "bad date", text: "2026-10-01\n2026-13-01\n", errLine: 2},
		{name: "not a leap year", text: "2026-02-29\n", errLine: 1},
		{name: "short form", text: "# c\n2026-1-1\n", errLine: 2},
		{name: "words", text: "\n\n国庆节\n", errLine: 3},
		{name: "double plus", text: "++2026-10-10\n", errLine: 1},
		{name: "minus", text: "-2026-10-10\n", errLine: 1},
		{name: "space after plus", text: "+ 2026-10-10\n", errLine: 1},
		{name: "two dates", text: "2026-10-01 2026-10-02\n", errLine: 1},
		{name: "date and time", text: "2026-10-01T00:00:00Z\n", errLine: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCalendar(strings.NewReader(tt.text))
			if tt.errLine != 0 {
				if err == nil {
					t.Fatalf("no error; holidays %v, workdays %v", c.Holidays, c.Workdays)
				}
				if want := fmt.Sprintf("line %d", tt.errLine); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Holidays) != len(tt.holidays) || len(c.Workdays) != len(tt.workdays) {
				t.Errorf("holidays %v, workdays %v; want %v, %v", c.Holidays, c.Workdays, tt.holidays, tt.workdays)
			}
			for _, d := range tt.holidays {
				if !c.Holidays[d] {
					t.Errorf("holiday %s missing", d)
				}
			}
			for _, d := range tt.workdays {
				if !c.Workdays[d] {
					t.Errorf("working day %s missing", d)
				}
			}
		})
	}
}

// TestCalendarParseErrorEchoesNothing: an error names the line, not its
// content (the file is operator input, but errors end up in logs).
func TestCalendarParseErrorEchoesNothing(t *testing.T) {
	_, err := ParseCalendar(strings.NewReader("secret-looking-line\n"))
	if err == nil || strings.Contains(err.Error(), "secret-looking-line") {
		t.Errorf("err = %v", err)
	}
}

func TestCalendarIsWorkingDay(t *testing.T) {
	c := wfParseCalendar(t, wfCalendar2026)
	cst := DefaultZone
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 2, 13, 12, 0, 0, 0, cst), true},  // Friday
		{time.Date(2026, 2, 14, 12, 0, 0, 0, cst), true},  // Saturday, make-up day
		{time.Date(2026, 2, 15, 12, 0, 0, 0, cst), false}, // Sunday, holiday
		{time.Date(2026, 2, 16, 12, 0, 0, 0, cst), false}, // Monday, holiday
		{time.Date(2026, 2, 23, 12, 0, 0, 0, cst), false}, // Monday, last holiday
		{time.Date(2026, 2, 24, 12, 0, 0, 0, cst), true},  // Tuesday
		{time.Date(2026, 2, 28, 12, 0, 0, 0, cst), true},  // Saturday, make-up day
		{time.Date(2026, 3, 1, 12, 0, 0, 0, cst), false},  // Sunday
		{time.Date(2026, 3, 7, 12, 0, 0, 0, cst), false},  // Saturday
		// 23:30 UTC on Friday 13 February is Saturday 14 in China (a
		// make-up day); 16:30 UTC on Sunday 22 February is Monday 23 (a
		// holiday); 16:00 UTC on Friday 6 March is Saturday 7.
		{time.Date(2026, 2, 13, 23, 30, 0, 0, time.UTC), true},
		{time.Date(2026, 2, 22, 16, 30, 0, 0, time.UTC), false},
		{time.Date(2026, 3, 6, 16, 0, 0, 0, time.UTC), false},
		{time.Date(2026, 3, 6, 15, 59, 59, 0, time.UTC), true},
	} {
		if got := c.IsWorkingDay(tt.at); got != tt.want {
			t.Errorf("IsWorkingDay(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestCalendarAddWorkingDays(t *testing.T) {
	c := wfParseCalendar(t, wfCalendar2026)
	cst := DefaultZone
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, cst) }
	for _, tt := range []struct {
		name string
		cal  *Calendar
		from time.Time
		n    int
		want time.Time
	}{
		{"zero", c, at(2026, 3, 2, 10), 0, at(2026, 3, 2, 10)},
		{"negative is zero", c, at(2026, 3, 2, 10), -3, at(2026, 3, 2, 10)},
		{"within a week", c, at(2026, 3, 2, 10), 3, at(2026, 3, 5, 10)},
		{"over a weekend", c, at(2026, 3, 5, 10), 5, at(2026, 3, 12, 10)},
		{"from a Saturday", c, at(2026, 3, 7, 10), 1, at(2026, 3, 9, 10)},
		{"from a Sunday", c, at(2026, 3, 8, 10), 5, at(2026, 3, 13, 10)},
		{"Friday to the make-up Saturday", c, at(2026, 2, 13, 10), 1, at(2026, 2, 14, 10)},
		{"over the Spring Festival", c, at(2026, 2, 13, 10), 2, at(2026, 2, 24, 10)},
		{"five days over the festival and a make-up day", c, at(2026, 2, 12, 10), 5, at(2026, 2, 26, 10)},
		{"onto the second make-up day", c, at(2026, 2, 24, 10), 4, at(2026, 2, 28, 10)},
		{"over the second make-up day", c, at(2026, 2, 26, 10), 3, at(2026, 3, 2, 10)},
		{"from inside the holiday", c, at(2026, 2, 18, 10), 1, at(2026, 2, 24, 10)},
		{"over Qingming", c, at(2026, 4, 3, 10), 1, at(2026, 4, 7, 10)},
		{"weekends only without a calendar", nil, at(2026, 2, 13, 10), 2, at(2026, 2, 17, 10)},
		{"empty calendar", &Calendar{}, at(2026, 2, 13, 10), 1, at(2026, 2, 16, 10)},
		// 20:00 UTC on Friday 6 March is 04:00 on Saturday 7 in China:
		// Mon 9 … Fri 13 in China, so Thursday 12 at 20:00 UTC.
		{"UTC input, China dates", c, time.Date(2026, 3, 6, 20, 0, 0, 0, time.UTC), 5, time.Date(2026, 3, 12, 20, 0, 0, 0, time.UTC)},
		// 15:00 UTC on Friday 13 February is 23:00 the same Friday in China.
		{"late Friday in China", c, time.Date(2026, 2, 13, 15, 0, 0, 0, time.UTC), 1, time.Date(2026, 2, 14, 15, 0, 0, 0, time.UTC)},
		{"other zone", &Calendar{Zone: time.UTC}, time.Date(2026, 3, 6, 20, 0, 0, 0, time.UTC), 1, time.Date(2026, 3, 9, 20, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cal.AddWorkingDays(tt.from, tt.n)
			if !got.Equal(tt.want) {
				t.Errorf("AddWorkingDays(%v, %d) = %v, want %v", tt.from, tt.n, got.In(cst), tt.want.In(cst))
			}
			if tt.n > 0 && !tt.cal.IsWorkingDay(got) {
				t.Errorf("result %v is not a working day", got)
			}
			// The working-day rule of Calendar.Add is the same count.
			if a := tt.cal.Add(tt.from, tt.n, true); !a.Equal(got) {
				t.Errorf("Add(working) = %v, AddWorkingDays = %v", a, got)
			}
		})
	}
}

func TestCalendarAddCalendarDays(t *testing.T) {
	c := wfParseCalendar(t, wfCalendar2026)
	from := time.Date(2026, 2, 10, 9, 30, 15, 0, time.UTC)
	for _, n := range []int{0, 1, 15, 30, 60} {
		// Calendar days ignore holidays: exactly n × 24 h.
		if got, want := c.Add(from, n, false), from.Add(time.Duration(n)*24*time.Hour); !got.Equal(want) {
			t.Errorf("Add(%d, calendar) = %v, want %v", n, got, want)
		}
	}
}

func ExampleCalendar_AddWorkingDays() {
	cal, err := ParseCalendar(strings.NewReader(`
# 2026 春节: 15–23 February off, Saturday 28 February worked
2026-02-23
+2026-02-28
`))
	if err != nil {
		panic(err)
	}
	monday := time.Date(2026, 2, 23, 10, 0, 0, 0, DefaultZone)
	for _, n := range []int{1, 4, 5} {
		fmt.Println(n, cal.AddWorkingDays(monday, n).Format("Mon 2006-01-02"))
	}
	// Output:
	// 1 Tue 2026-02-24
	// 4 Fri 2026-02-27
	// 5 Sat 2026-02-28
}

// FuzzParseCalendar: any input either fails with an error or yields dates
// that parse; it never panics.
func FuzzParseCalendar(f *testing.F) {
	f.Add(wfCalendar2026)
	f.Add("+2026-02-14\n")
	f.Add("2026-02-30\n")
	f.Add("#\n+\n")
	f.Add(strings.Repeat("2026-01-01\n", 100))
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCalendar(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, m := range []map[string]bool{c.Holidays, c.Workdays} {
			for d := range m {
				if _, err := time.Parse(time.DateOnly, d); err != nil {
					t.Fatalf("accepted %q", d)
				}
			}
		}
	})
}
