package api

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pvault/analysis"
)

// The analysis results of issue 7 over HTTP: category, risk and duplicates
// on created petitions (API.md), the critical alert, the categorize action,
// the list filters, hotspots and retraining. Helpers are prefixed an.

const (
	anWageTitle = "三号工地拖欠钢筋班组工资"
	anWage      = "我们是三号工地钢筋班组的工人，从去年十月干到今年一月，项目部和包工头一直拖欠工资，一共欠十一万六千元。" +
		"我们到项目部询问过，对方说等工程款到账就发，到现在一分钱都没有拿到。请集团督促项目部尽快结清工资。"
	anWageAgain = "我们是三号工地钢筋班组的工人，从去年十月一直干到今年一月，项目部和包工头拖欠工资，一共欠十一万六千元。" +
		"我们到项目部问过好几回，对方说等工程款到账就发，到现在一分钱都没有拿到。恳请集团督促项目部尽快结清工资。"
	anNoise  = "小区旁边的搅拌站每天凌晨三点开始作业，噪音很大，灰尘也多，家里窗户都不敢开，希望有关部门管一管。"
	anThreat = "工资拖了整整半年，家里已经揭不开锅，再不给钱我就从项目部楼顶跳下去。"
)

// anBody is a create body in unit by the petitioner with idNumber.
func anBody(unit, title, content, idNumber string) map[string]any {
	return map[string]any{
		"unit": unit, "channel": "letter", "title": title, "content": content,
		"petitioner": map[string]any{"name": "某某", "id_number": idNumber, "phone": "", "address": "", "employee_no": ""},
		"group_size": 1,
	}
}

// anKeys returns the sorted keys of a JSON object.
func anKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func anObj(t testing.TB, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s = %#v, want an object", what, v)
	}
	return m
}

func TestAnalysisOnCreate(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group/east", "registrar")
	first := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWage, "510104199001011234"))

	cat := anObj(t, first["category"], "category")
	if ks := anKeys(cat); !slices.Equal(ks, []string{"confidence", "label", "source"}) && !slices.Equal(ks, []string{"confidence", "label", "needs_review", "source"}) {
		t.Errorf("category keys %v", ks)
	}
	if cat["label"] != "wage_arrears" || cat["source"] != "model" {
		t.Errorf("category %v, want wage_arrears from the model", cat)
	}
	if c, ok := cat["confidence"].(float64); !ok || c <= 0 || c > 1 {
		t.Errorf("confidence %v", cat["confidence"])
	}
	risk := anObj(t, first["risk"], "risk")
	if ks := anKeys(risk); !slices.Equal(ks, []string{"level", "reasons", "score"}) {
		t.Errorf("risk keys %v", ks)
	}
	if !slices.Contains([]any{"low", "medium", "high", "critical"}, risk["level"]) {
		t.Errorf("risk level %v", risk["level"])
	}
	if s, ok := risk["score"].(float64); !ok || s < 0 || s > 100 || s != float64(int(s)) {
		t.Errorf("risk score %v, want an integer 0–100", risk["score"])
	}
	if _, ok := risk["reasons"].([]any); !ok {
		t.Errorf("risk reasons %#v, want a list", risk["reasons"])
	}
	if d, ok := first["duplicates"].([]any); !ok || len(d) != 0 {
		t.Errorf("duplicates %#v, want []", first["duplicates"])
	}

	// The same matter resubmitted with small edits by someone else.
	again := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWageAgain, "110101198507074321"))
	dups, _ := again["duplicates"].([]any)
	if len(dups) != 1 {
		t.Fatalf("duplicates %v, want the first petition", again["duplicates"])
	}
	d := anObj(t, dups[0], "duplicate")
	if ks := anKeys(d); !slices.Equal(ks, []string{"id", "similarity"}) {
		t.Errorf("duplicate keys %v", ks)
	}
	if sim, _ := d["similarity"].(float64); d["id"] != first["id"] || sim < analysis.DupThreshold || sim > 1 {
		t.Errorf("duplicate %v, want %v with similarity ≥ %.1f", d, first["id"], analysis.DupThreshold)
	}
	ar := anObj(t, again["risk"], "risk")
	if ar["score"].(float64) <= risk["score"].(float64) || !slices.Contains(ar["reasons"].([]any), any("2nd petition on the same matter")) {
		t.Errorf("resubmission risk %v, first %v: want it raised as a repeat", ar, risk)
	}

	// The same petitioner about something else is linked too.
	same := h.petition(reg, anBody("group/east/site-3", "搅拌站凌晨施工扰民", anNoise, "510104199001011234"))
	var ids []any
	for _, x := range same["duplicates"].([]any) {
		ids = append(ids, anObj(t, x, "duplicate")["id"])
	}
	if !slices.Contains(ids, first["id"]) {
		t.Errorf("same petitioner: duplicates %v, want %v", same["duplicates"], first["id"])
	}
	if c := anObj(t, same["category"], "category"); c["label"] != "construction_nuisance" {
		t.Errorf("noise petition category %v", c)
	}

	// The analysis is part of the petition on every read.
	read := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+again["id"].(string), reg, nil).JSON(t)
	if fmt.Sprint(read["category"], read["risk"], read["duplicates"]) != fmt.Sprint(again["category"], again["risk"], again["duplicates"]) {
		t.Errorf("read analysis %v %v %v, created %v %v %v", read["category"], read["risk"], read["duplicates"],
			again["category"], again["risk"], again["duplicates"])
	}
}

func TestAnalysisCriticalAlert(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group/east", "registrar")
	_, sup3 := h.user("an.sup3", "group/east/site-3", "supervisor")
	_, supe := h.user("an.supe", "group/east", "supervisor")
	_, supw := h.user("an.supw", "group/west", "supervisor")
	_, off := h.user("an.off", "group/east/site-3", "officer")
	calm := h.petition(reg, anBody("group/east/site-3", "咨询职工疗养报名", "想咨询一下今年职工疗养的报名时间和条件。", ""))
	crit := h.petition(reg, anBody("group/east/site-3", "半年工资未发", anThreat, "510104199001011234"))
	if r := anObj(t, crit["risk"], "risk"); r["level"] != "critical" {
		t.Fatalf("risk %v, want critical", r)
	}
	alerts := func(token string) []any {
		t.Helper()
		items, _ := h.must(http.StatusOK, "GET", "/api/v1/alerts?kind=critical_risk", token, nil).JSON(t)["items"].([]any)
		return items
	}
	for name, tok := range map[string]string{"site supervisor": sup3, "east supervisor": supe} {
		items := alerts(tok)
		if len(items) != 1 {
			t.Errorf("%s: %d critical alerts, want 1: %v", name, len(items), items)
			continue
		}
		a := anObj(t, items[0], "alert")
		if a["petition_id"] != crit["id"] || a["kind"] != "critical_risk" || a["unit"] != "group/east/site-3" {
			t.Errorf("%s: alert %v", name, a)
		}
	}
	if items := alerts(supw); len(items) != 0 {
		t.Errorf("a supervisor of another unit sees %v", items)
	}
	h.must(http.StatusForbidden, "GET", "/api/v1/alerts?kind=critical_risk", off, nil)
	for _, it := range alerts(sup3) {
		if anObj(t, it, "alert")["petition_id"] == calm["id"] {
			t.Error("a calm petition raised a critical alert")
		}
	}
	// The alert is in the case history at once.
	evs := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+crit["id"].(string)+"/events", sup3, nil).JSON(t)["items"].([]any)
	if len(evs) != 1 || anObj(t, evs[0], "event")["type"] != "alert" || evs[0].(map[string]any)["action"] != "critical_risk" {
		t.Errorf("events %v, want the alert", evs)
	}
}

func TestAnalysisCategorize(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group/east", "registrar")
	_, sup := h.user("an.sup", "group/east", "supervisor")
	_, off := h.user("an.off", "group/east/site-3", "officer")
	_, supw := h.user("an.supw", "group/west", "supervisor")
	p := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWage, ""))
	path := "/api/v1/petitions/" + p["id"].(string) + "/actions"
	for _, tt := range []struct {
		name  string
		token string
		body  map[string]any
		want  int
	}{
		{"officer", off, map[string]any{"action": "categorize", "label": "discipline"}, http.StatusForbidden},
		{"registrar", reg, map[string]any{"action": "categorize", "label": "discipline"}, http.StatusForbidden},
		{"admin", h.admin, map[string]any{"action": "categorize", "label": "discipline"}, http.StatusForbidden},
		{"supervisor of another unit", supw, map[string]any{"action": "categorize", "label": "discipline"}, http.StatusNotFound},
		{"unknown label", sup, map[string]any{"action": "categorize", "label": "gossip"}, http.StatusBadRequest},
		{"no label", sup, map[string]any{"action": "categorize"}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := h.do("POST", path, tt.token, tt.body); r.Code != tt.want && !(tt.want == http.StatusNotFound && r.Code == http.StatusForbidden) {
				t.Errorf("status %d, want %d: %s", r.Code, tt.want, r.Body)
			}
		})
	}
	if c := anObj(t, h.must(http.StatusOK, "GET", "/api/v1/petitions/"+p["id"].(string), sup, nil).JSON(t)["category"], "category"); c["source"] != "model" {
		t.Errorf("category after refused corrections %v", c)
	}
	r := h.must(http.StatusOK, "POST", path, sup, map[string]any{"action": "categorize", "label": "discipline"}).JSON(t)
	c := anObj(t, r["category"], "category")
	if c["label"] != "discipline" || c["source"] != "officer" || c["confidence"] != 1.0 {
		t.Errorf("category %v, want discipline from an officer", c)
	}
	if r["status"] != "registered" {
		t.Errorf("status %v: categorize changed the state", r["status"])
	}
	// The list shows the corrected label and filters on it.
	items := h.must(http.StatusOK, "GET", "/api/v1/petitions?category=discipline", sup, nil).JSON(t)["items"].([]any)
	if len(items) != 1 || anObj(t, items[0], "item")["id"] != p["id"] {
		t.Errorf("category=discipline: %v", items)
	}
}

func TestAnalysisListFilters(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group/east", "registrar")
	_, sup := h.user("an.sup", "group/east", "supervisor")
	wage := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWage, ""))
	noise := h.petition(reg, anBody("group/east/site-3", "搅拌站凌晨施工扰民", anNoise, ""))
	crit := h.petition(reg, anBody("group/east/site-3", "半年工资未发", anThreat, ""))
	label := func(p map[string]any) string { return anObj(t, p["category"], "category")["label"].(string) }
	level := func(p map[string]any) string { return anObj(t, p["risk"], "risk")["level"].(string) }
	if label(wage) != "wage_arrears" || label(noise) != "construction_nuisance" || level(crit) != "critical" || level(noise) == "critical" {
		t.Fatalf("analysis: %s %s %s %s", label(wage), label(noise), level(crit), level(noise))
	}
	list := func(query string) []any {
		t.Helper()
		items, _ := h.must(http.StatusOK, "GET", "/api/v1/petitions?"+query, sup, nil).JSON(t)["items"].([]any)
		var ids []any
		for _, it := range items {
			m := anObj(t, it, "item")
			if _, ok := m["category"].(map[string]any); !ok {
				t.Errorf("summary without a category: %v", m)
			}
			if _, ok := m["risk"].(map[string]any); !ok {
				t.Errorf("summary without a risk: %v", m)
			}
			ids = append(ids, m["id"])
		}
		return ids
	}
	for _, tt := range []struct {
		query string
		want  []any
	}{
		{"", []any{crit["id"], noise["id"], wage["id"]}},
		{"category=construction_nuisance", []any{noise["id"]}},
		{"category=" + label(crit), anFilter([]map[string]any{crit, noise, wage}, func(p map[string]any) bool { return label(p) == label(crit) })},
		{"category=quality", nil},
		{"risk=critical", []any{crit["id"]}},
		{"risk=" + level(noise), anFilter([]map[string]any{crit, noise, wage}, func(p map[string]any) bool { return level(p) == level(noise) })},
		{"risk=critical&category=construction_nuisance", nil},
		{"category=unknown_label", nil},
	} {
		if got := list(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%q: %v, want %v", tt.query, got, tt.want)
		}
	}
	for _, q := range []string{"risk=severe", "risk=CRITICAL", "category=" + strings.Repeat("x", 65)} {
		h.must(http.StatusBadRequest, "GET", "/api/v1/petitions?"+q, sup, nil)
	}
}

func anFilter(ps []map[string]any, keep func(map[string]any) bool) []any {
	var out []any
	for _, p := range ps {
		if keep(p) {
			out = append(out, p["id"])
		}
	}
	return out
}

// anSeries finds a unit × category series in a hotspots response.
func anSeries(t testing.TB, items []any, unit, cat string) map[string]any {
	t.Helper()
	for _, it := range items {
		s := anObj(t, it, "series")
		if s["unit"] == unit && s["category"] == cat {
			return s
		}
	}
	return nil
}

func TestAnalysisHotspots(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group", "registrar")
	_, supe := h.user("an.supe", "group/east", "supervisor")
	_, aud := h.user("an.aud", "group", "auditor")
	_, off := h.user("an.off", "group/east/site-3", "officer")
	now := h.clock.Now() // Sunday 1 March 2026, 17:00 in China: week 2026-W09
	// The default window is the 12 weeks before now; its baseline the 8
	// weeks before the window's first week (from Monday 6 October 2025).
	base := time.Date(2025, 10, 8, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	create := func(unit, content string, at *time.Time) {
		t.Helper()
		b := anBody(unit, anWageTitle, content, "")
		if at != nil {
			b["received_at"] = at.Format(time.RFC3339)
		}
		p := h.petition(reg, b)
		if l := anObj(t, p["category"], "category")["label"]; l != "wage_arrears" {
			t.Fatalf("category %v, want wage_arrears", l)
		}
	}
	// A quiet baseline: one a week for eight weeks, in two units.
	for w := range 8 {
		at := base.AddDate(0, 0, 7*w)
		create("group/east/site-3", anWage, &at)
		if w%2 == 0 {
			create("group/west", anWageAgain, &at)
		}
	}
	// In the window: west stays steady; east gets eight in the last week.
	for _, days := range []int{-60, -30} {
		at := now.AddDate(0, 0, days)
		create("group/west", anWageAgain, &at)
	}
	for range 8 {
		h.clock.Add(10 * time.Minute)
		create("group/east/site-3", anWage, nil)
	}
	h.clock.Add(time.Minute)

	get := func(token, query string) []any {
		t.Helper()
		r := h.must(http.StatusOK, "GET", "/api/v1/stats/hotspots"+query, token, nil).JSON(t)
		if r["test"] != analysis.SpikeTest {
			t.Errorf("test %q, want analysis.SpikeTest", r["test"])
		}
		items, ok := r["items"].([]any)
		if !ok {
			t.Fatalf("items %#v", r["items"])
		}
		return items
	}
	checkEast := func(who string, items []any) {
		t.Helper()
		s := anSeries(t, items, "group/east/site-3", "wage_arrears")
		if s == nil {
			t.Fatalf("%s: no series for site-3 × wage_arrears in %v", who, items)
		}
		weeks := s["weeks"].([]any)
		last := anObj(t, weeks[len(weeks)-1], "week")
		if last["week"] != "2026-W09" || last["count"] != 8.0 || last["spike"] != true || last["baseline"] != 1.0 {
			t.Errorf("%s: last week %v, want 2026-W09 with 8, a spike over a baseline of 1", who, last)
		}
		if p, _ := last["p_value"].(float64); p >= 0.01 {
			t.Errorf("%s: p_value %v, want < 0.01", who, p)
		}
		if s["spikes"] != 1.0 || s["total"] != 8.0 {
			t.Errorf("%s: spikes %v total %v, want 1 and 8", who, s["spikes"], s["total"])
		}
		for _, w := range weeks[:len(weeks)-1] {
			if c := anObj(t, w, "week"); c["count"] != 0.0 || c["spike"] != false {
				t.Errorf("%s: week %v", who, c)
			}
		}
	}

	// The east supervisor sees their own scope only.
	items := get(supe, "")
	checkEast("supervisor", items)
	if s := anSeries(t, items, "group/west", "wage_arrears"); s != nil {
		t.Errorf("supervisor sees another unit's series %v", s)
	}
	// The auditor sees every unit; west is steady.
	items = get(aud, "")
	checkEast("auditor", items)
	west := anSeries(t, items, "group/west", "wage_arrears")
	if west == nil || west["spikes"] != 0.0 || west["total"] != 2.0 {
		t.Errorf("auditor: west series %v, want 2 petitions and no spike", west)
	}
	if anObj(t, items[0], "series")["unit"] != "group/east/site-3" {
		t.Errorf("the series with a spike is not listed first: %v", items[0])
	}
	// Narrowed to a unit.
	if items := get(aud, "?unit=group/west"); len(items) != 1 || anSeries(t, items, "group/west", "wage_arrears") == nil {
		t.Errorf("auditor, unit=group/west: %v", items)
	}
	if r := h.do("GET", "/api/v1/stats/hotspots?unit=group/west", supe, nil); r.Code != http.StatusNotFound && r.Code != http.StatusForbidden {
		t.Errorf("supervisor asking for another unit: %d %s", r.Code, r.Body)
	}
	// An explicit window ending before the spike: nothing flagged.
	for _, it := range get(aud, "?from=2025-12-01&to=2026-02-22") {
		if s := anObj(t, it, "series"); s["spikes"] != 0.0 {
			t.Errorf("window before the spike: %v", s)
		}
	}
	for _, q := range []string{"?from=yesterday", "?from=2026-03-01&to=2026-01-01", "?from=2020-01-01&to=2026-03-01", "?unit=Not_A_Unit"} {
		h.must(http.StatusBadRequest, "GET", "/api/v1/stats/hotspots"+q, aud, nil)
	}
	// Nobody else.
	for name, tok := range map[string]string{"officer": off, "registrar": reg, "admin": h.admin} {
		if r := h.do("GET", "/api/v1/stats/hotspots", tok, nil); r.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, r.Code)
		}
	}
	h.must(http.StatusUnauthorized, "GET", "/api/v1/stats/hotspots", "", nil)
}

func TestAnalysisRetrainEndpoint(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("an.reg", "group/east", "registrar")
	_, sup := h.user("an.sup", "group/east", "supervisor")
	_, off := h.user("an.off", "group/east", "officer")
	_, aud := h.user("an.aud", "group", "auditor")
	for name, tok := range map[string]string{"registrar": reg, "supervisor": sup, "officer": off, "auditor": aud} {
		if r := h.do("POST", "/api/v1/admin/analysis/retrain", tok, nil); r.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, r.Code)
		}
	}
	h.must(http.StatusUnauthorized, "POST", "/api/v1/admin/analysis/retrain", "", nil)
	if testing.Short() {
		t.Skip("retraining takes seconds")
	}
	p := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWage, ""))
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+p["id"].(string)+"/actions", sup, map[string]any{"action": "categorize", "label": "contract_payment"})
	before := h.v.Model().Digest
	r := h.must(http.StatusOK, "POST", "/api/v1/admin/analysis/retrain", h.admin, nil).JSON(t)
	if r["corrections"] != 1.0 || r["kind"] != "logreg" {
		t.Errorf("retrain response %v, want 1 correction, logreg", r)
	}
	labels, _ := r["labels"].([]any)
	if len(labels) != len(Categories) {
		t.Errorf("labels %v, want the %d categories", labels, len(Categories))
	}
	if h.v.Model().Digest == before {
		t.Error("the model in use did not change")
	}
	// New petitions are classified by the new model.
	q := h.petition(reg, anBody("group/east/site-3", anWageTitle, anWageAgain, ""))
	if c := anObj(t, q["category"], "category"); c["source"] != "model" || c["label"] != h.v.Model().Predict(anWageTitle+"\n"+anWageAgain).Label {
		t.Errorf("category %v after retraining", c)
	}
}
