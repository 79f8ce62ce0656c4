package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// Tests of the petitioner portal's web pages (issue 6, item 3). The browser
// flow itself is in browser_test.go; these check the pages' HTTP contract.

// pbForm posts a urlencoded form from addr (empty: 192.0.2.1).
func pbForm(h *harness, addr, path string, vals url.Values) *resp {
	h.t.Helper()
	return pbSend(h, addr, req{Method: "POST", Path: path, Body: vals.Encode(),
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
}

// pbGet gets a page.
func pbGet(h *harness, path string) *resp {
	h.t.Helper()
	return pbSend(h, "", req{Method: "GET", Path: path})
}

// pbSubmitForm is a valid submission form for group/east.
func pbSubmitForm(mods ...func(url.Values)) url.Values {
	v := url.Values{
		"unit":       {"group/east"},
		"title":      {"三号工地拖欠工资"},
		"content":    {"我们十二个人在三号工地干了三个月，\r\n工资一直没有发。"},
		"requests":   {"尽快发放工资"},
		"subjects":   {"李经理，王主管"},
		"group_size": {"12"},
		"name":       {"张三"},
		"phone":      {"13812345678"},
		"id_number":  {""},
		"address":    {""},
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

func pbFormSet(key, val string) func(url.Values) { return func(v url.Values) { v.Set(key, val) } }

var pbPageCodeRE = regexp.MustCompile(`id="receipt-code"[^>]*>\s*([^<]*?)\s*<`)

// pbPageCode reads the receipt code from a receipt page.
func pbPageCode(tb testing.TB, page []byte) string {
	tb.Helper()
	m := pbPageCodeRE.FindSubmatch(page)
	if m == nil {
		tb.Fatalf("no #receipt-code on the page: %s", page)
	}
	code := string(m[1])
	if !pbCodeRE.MatchString(code) {
		tb.Fatalf("receipt code on the page %q is not XXXX-XXXX-XXXX-XXXX-XXXX", code)
	}
	return code
}

// pbSecurityHeaders checks the headers every page carries.
func pbSecurityHeaders(tb testing.TB, hdr http.Header) {
	tb.Helper()
	csp := hdr.Get("Content-Security-Policy")
	dirs := map[string][]string{}
	for d := range strings.SplitSeq(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			dirs[strings.ToLower(f[0])] = f[1:]
		}
	}
	if !slices.Equal(dirs["default-src"], []string{"'none'"}) {
		tb.Errorf("CSP %q: want default-src 'none'", csp)
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"} {
		for name, srcs := range dirs {
			if slices.Contains(srcs, bad) {
				tb.Errorf("CSP %q: %s allows %s", csp, name, bad)
			}
		}
	}
	if s, ok := dirs["script-src"]; ok && !slices.Equal(s, []string{"'none'"}) {
		tb.Errorf("CSP %q allows scripts", csp)
	}
	if !slices.Equal(dirs["frame-ancestors"], []string{"'none'"}) {
		tb.Errorf("CSP %q: want frame-ancestors 'none'", csp)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := hdr.Get(name); !strings.EqualFold(got, want) {
			tb.Errorf("%s %q, want %q", name, got, want)
		}
	}
}

var (
	pbTagRE     = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	pbQuotedRE  = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	pbInlineRE  = regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`)
	pbControlRE = regexp.MustCompile(`(?is)<(input|select|textarea)\b([^>]*)>`)
	pbLabelRE   = regexp.MustCompile(`(?is)<label\b([^>]*)>`)
)

// pbAttr returns the value of attribute name in the attributes of a tag.
func pbAttr(attrs, name string) (string, bool) {
	m := regexp.MustCompile(`(?is)(?:^|\s)` + name + `\s*=\s*"([^"]*)"`).FindStringSubmatch(attrs)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// pbUnlabelled returns the visible form controls of page without a label (a
// <label for> naming their id, or a <label> around them), and how many
// controls it looked at.
func pbUnlabelled(page []byte) (bad []string, n int) {
	s := string(page)
	labelled := map[string]bool{}
	for _, m := range pbLabelRE.FindAllStringSubmatch(s, -1) {
		if id, ok := pbAttr(m[1], "for"); ok {
			labelled[id] = true
		}
	}
	for _, loc := range pbControlRE.FindAllStringSubmatchIndex(s, -1) {
		tag, attrs := s[loc[2]:loc[3]], s[loc[4]:loc[5]]
		typ, _ := pbAttr(attrs, "type")
		if typ == "hidden" || typ == "submit" || typ == "button" {
			continue
		}
		n++
		if id, ok := pbAttr(attrs, "id"); ok && labelled[id] {
			continue
		}
		before := s[:loc[0]]
		if strings.LastIndex(before, "<label") > strings.LastIndex(before, "</label>") {
			continue // wrapped in its label
		}
		bad = append(bad, "<"+tag+attrs+">")
	}
	return bad, n
}

// pbCheckLabels checks that every visible form control of page has a label
// and that ids are unique, and returns the number of controls.
func pbCheckLabels(tb testing.TB, page []byte) int {
	tb.Helper()
	bad, n := pbUnlabelled(page)
	for _, b := range bad {
		tb.Errorf("%s has no label", b)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]*)"`).FindAllSubmatch(page, -1) {
		if ids[string(m[1])] {
			tb.Errorf("id %q used twice", m[1])
		}
		ids[string(m[1])] = true
	}
	return n
}

func TestWebLabelCheck(t *testing.T) {
	page := []byte(`<form><label for="a">A</label><input id="a" name="a">
<label class="choice"><input type="radio" name="r" value="1"> 一</label>
<input type="hidden" name="h"><input id="b" name="b"><textarea id="c"></textarea>
<label for="d">D</label><select id="d"></select><button type="submit">ok</button></form>`)
	bad, n := pbUnlabelled(page)
	if n != 5 || len(bad) != 2 || !strings.Contains(bad[0], `id="b"`) || !strings.Contains(bad[1], `id="c"`) {
		t.Errorf("pbUnlabelled = %q, %d; want the input b and the textarea c of 5 controls", bad, n)
	}
}

// pbCheckPage checks an HTML page's status and shape: Chinese, labelled,
// script-free, self-contained, with the security headers.
func pbCheckPage(tb testing.TB, r *resp, status int) {
	tb.Helper()
	if r.Code != status {
		tb.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		tb.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	pbSecurityHeaders(tb, r.Header)
	page := r.Body
	if !bytes.Contains(page, []byte(`<html lang="zh-CN">`)) {
		tb.Errorf("page without lang=\"zh-CN\"")
	}
	if !bytes.Contains(page, []byte(`<meta name="viewport"`)) {
		tb.Errorf("page without a viewport (mobile-first)")
	}
	low := bytes.ToLower(page)
	for _, bad := range []string{"<script", "javascript:", "<style", "<iframe", "<object", "<embed"} {
		if bytes.Contains(low, []byte(bad)) {
			tb.Errorf("page contains %s", bad)
		}
	}
	// Inline handlers and style attributes would be blocked by the CSP
	// (attribute values, where escaped text lives, are left out).
	for _, tag := range pbTagRE.FindAll(page, -1) {
		bare := pbQuotedRE.ReplaceAll(tag, []byte(`""`))
		if pbInlineRE.Match(bare) {
			tb.Errorf("inline attribute blocked by the CSP: %s", tag)
		}
	}
	// No CDN: every link, source and form target is on this origin.
	for _, u := range pbLinks(page) {
		if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			tb.Errorf("link %q leaves the origin", u)
		}
	}
	pbCheckLabels(tb, page)
}

// pbContains fails unless page holds every one of want.
func pbContains(tb testing.TB, page []byte, want ...string) {
	tb.Helper()
	for _, w := range want {
		if !bytes.Contains(page, []byte(w)) {
			tb.Errorf("page does not contain %q:\n%s", w, page)
		}
	}
}

func TestWebPages(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	for _, tt := range []struct {
		path     string
		want     []string
		controls int
	}{
		{"/", []string{`href="/submit"`, `href="/track"`, "信访"}, 0},
		{"/submit", []string{`action="/submit"`, `method="post"`, `<option value="group/east">东区分公司</option>`, `name="title"`, `name="content"`}, 10},
		{"/track", []string{`action="/track"`, `method="post"`, `name="receipt_code"`}, 1},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := pbGet(h, tt.path)
			pbCheckPage(t, r, http.StatusOK)
			pbContains(t, r.Body, tt.want...)
			if n := pbCheckLabels(t, r.Body); n != tt.controls {
				t.Errorf("%d form controls, want %d", n, tt.controls)
			}
		})
	}
	// The submit form offers only public units.
	page := pbGet(h, "/submit").Body
	var opts []string
	for _, m := range regexp.MustCompile(`<option value="([^"]*)"`).FindAllSubmatch(page, -1) {
		opts = append(opts, string(m[1]))
	}
	if !slices.Equal(opts, []string{"", "group/east"}) {
		t.Errorf("unit options %q, want only group/east", opts)
	}
	// Forms post: nothing a petitioner types goes into a URL.
	for _, path := range []string{"/submit", "/track"} {
		for _, m := range regexp.MustCompile(`(?i)<form\b[^>]*>`).FindAll(pbGet(h, path).Body, -1) {
			if !bytes.Contains(bytes.ToLower(m), []byte(`method="post"`)) {
				t.Errorf("%s: form %s does not post", path, m)
			}
		}
	}
}

func TestWebStaticStyle(t *testing.T) {
	h := newHarness(t)
	r := pbGet(h, "/static/style.css")
	if r.Code != http.StatusOK || len(r.Body) == 0 {
		t.Fatalf("status %d, %d bytes", r.Code, len(r.Body))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q, want text/css", ct)
	}
	pbSecurityHeaders(t, r.Header)
	if bytes.Contains(r.Body, []byte("@import")) || bytes.Contains(r.Body, []byte("http://")) || bytes.Contains(r.Body, []byte("https://")) {
		t.Errorf("the style sheet loads something from elsewhere")
	}
	if r := pbGet(h, "/static/nope.css"); r.Code != http.StatusNotFound {
		t.Errorf("missing asset: status %d", r.Code)
	}
}

func TestWebSubmit(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	r := pbForm(h, "", "/submit", pbSubmitForm())
	pbCheckPage(t, r, http.StatusCreated)
	code := pbPageCode(t, r.Body)
	pbContains(t, r.Body, "请立即抄写或截图保存这个查询码")
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q: the receipt page must not be cached", cc)
	}
	if e := pbEntry(t, h, r); e.Action != "public.submit" || e.Status != 201 || e.Actor != nil {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}

	// The case is there, as typed.
	if tr := pbTrack(t, h, code); tr["status"] != "registered" {
		t.Errorf("track %v", tr)
	}
	id := pbID(t, h, code)
	p := f.pbStaff(t, id)
	if p["title"] != "三号工地拖欠工资" || p["content"] != "我们十二个人在三号工地干了三个月，\n工资一直没有发。" ||
		p["requests"] != "尽快发放工资" || p["channel"] != "online" || p["unit"] != "group/east" || p["group_size"] != float64(12) {
		t.Errorf("staff view %v", p)
	}
	if subj, _ := p["subjects"].([]any); len(subj) != 2 || subj[0] != "李经理" || subj[1] != "王主管" {
		t.Errorf("subjects %v", p["subjects"])
	}
	if pet, _ := p["petitioner"].(map[string]any); pet == nil || pet["name"] == "张三" || pet["name"] == "" {
		t.Errorf("petitioner %v, want the name masked", p["petitioner"])
	}

	// Anonymous: no contact fields.
	anon := pbSubmitForm(func(v url.Values) {
		for _, k := range []string{"name", "phone", "id_number", "address"} {
			v.Del(k)
		}
	})
	r = pbForm(h, "", "/submit", anon)
	pbCheckPage(t, r, http.StatusCreated)
	if p := f.pbStaff(t, pbID(t, h, pbPageCode(t, r.Body))); p["petitioner"] != nil {
		t.Errorf("anonymous petitioner %v", p["petitioner"])
	}
}

// A bad form comes back with a Chinese message, status 400, what was typed,
// and nothing stored.
func TestWebSubmitErrors(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	for _, tt := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"missing title", pbSubmitForm(func(v url.Values) { v.Del("title") }), "请填写「事项标题」"},
		{"blank title", pbSubmitForm(pbFormSet("title", "   ")), "请填写「事项标题」"},
		{"missing content", pbSubmitForm(pbFormSet("content", "")), "请填写「详细情况」"},
		{"title too long", pbSubmitForm(pbFormSet("title", strings.Repeat("题", 201))), "「事项标题」太长了"},
		{"control character in title", pbSubmitForm(pbFormSet("title", "拖欠\x1b工资")), "「事项标题」含有不能识别的字符"},
		{"unit not public", pbSubmitForm(pbFormSet("unit", "group/west")), "请选择可以网上反映的单位"},
		{"no unit", pbSubmitForm(pbFormSet("unit", "")), "单位"},
		{"group size not a number", pbSubmitForm(pbFormSet("group_size", "很多")), "「人数」"},
		{"group size 0", pbSubmitForm(pbFormSet("group_size", "0")), "「人数」"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := pbSnapshot(t, h)
			r := pbForm(h, "", "/submit", tt.form)
			pbCheckPage(t, r, http.StatusBadRequest)
			pbContains(t, r.Body, `role="alert"`, tt.msg, `action="/submit"`)
			if pbPageCodeRE.Match(r.Body) {
				t.Errorf("an error page shows a receipt code")
			}
			// What was typed is kept.
			if tt.form.Get("content") != "" {
				pbContains(t, r.Body, "我们十二个人在三号工地干了三个月")
			}
			if e := pbEntry(t, h, r); e.Action != "public.submit" || e.Status != 400 || (e.Object != nil && e.Object.ID != "") {
				t.Errorf("entry %s", pbEntryJSON(t, e))
			}
			pbSameStore(t, h, before)
		})
	}
}

// The form endpoints take only urlencoded forms, and at most 1 MiB.
func TestWebFormContentType(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code := pbSubmit(t, h, pbBody())
	form := pbSubmitForm().Encode()
	for _, tt := range []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"submit JSON", "/submit", "application/json", `{"unit":"group/east","title":"t","content":"c"}`, 415},
		{"submit text", "/submit", "text/plain", form, 415},
		{"submit multipart", "/submit", "multipart/form-data; boundary=x", "--x--", 415},
		{"submit no type", "/submit", "", form, 415},
		{"track JSON", "/track", "application/json", `{"receipt_code":"` + code + `"}`, 415},
		{"track text", "/track", "text/plain", "receipt_code=" + code, 415},
		{"feedback JSON", "/feedback", "application/json", `{}`, 415},
		{"review JSON", "/review", "application/json", `{}`, 415},
		{"submit over 1 MiB", "/submit", "application/x-www-form-urlencoded", form + "&content=" + strings.Repeat("a", 1<<20), 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := pbSnapshot(t, h)
			hdr := map[string]string{"Content-Type": tt.ctype}
			r := pbSend(h, "", req{Method: "POST", Path: tt.path, Body: tt.body, Header: hdr})
			if r.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.want, r.Body)
			}
			pbSecurityHeaders(t, r.Header)
			if bytes.Contains(r.Body, []byte(`id="status"`)) || pbPageCodeRE.Match(r.Body) {
				t.Errorf("a refused request shows a case or a code")
			}
			pbSameStore(t, h, before)
		})
	}
}

func TestWebTrack(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicFailures = 1000 })
	h := f.h
	code := pbSubmit(t, h, pbBody())

	r := pbForm(h, "", "/track", url.Values{"receipt_code": {strings.ToLower(strings.ReplaceAll(code, "-", " "))}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, `id="status"`, "已登记", "告知是否受理的期限")
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q on a status page", cc)
	}
	if bytes.Contains(r.Body, []byte(`action="/feedback"`)) || bytes.Contains(r.Body, []byte(`action="/review"`)) {
		t.Errorf("feedback or review offered before a reply")
	}

	// Unknown and malformed codes: the same not-found page, 404.
	unknown := pbForm(h, "", "/track", url.Values{"receipt_code": {"7KQ2-M9XD-4ZRT-8HBW-3NPE"}})
	pbCheckPage(t, unknown, http.StatusNotFound)
	pbContains(t, unknown.Body, "没有找到这个查询码对应的事项", `role="alert"`, `action="/track"`)
	for name, c := range map[string]string{
		"too short":       code[:len(code)-1],
		"bad characters":  "UUUU-UUUU-UUUU-UUUU-UUUU",
		"empty":           "",
		"1000 characters": strings.Repeat("A", 1000),
	} {
		t.Run(name, func(t *testing.T) {
			r := pbForm(h, "", "/track", url.Values{"receipt_code": {c}})
			if r.Code != unknown.Code || !bytes.Equal(r.Body, unknown.Body) {
				t.Errorf("status %d and page differ from an unknown code's (%d)", r.Code, unknown.Code)
			}
		})
	}
	if r := pbForm(h, "", "/track", url.Values{}); r.Code != http.StatusNotFound || !bytes.Equal(r.Body, unknown.Body) {
		t.Errorf("no code field: status %d", r.Code)
	}
	// GET /track with a code in the query string shows only the form.
	r = pbGet(h, "/track?receipt_code="+code)
	if r.Code != http.StatusOK || bytes.Contains(r.Body, []byte(`id="status"`)) {
		t.Errorf("GET /track?receipt_code=…: status %d, shows the case", r.Code)
	}
}

// Too many failed lookups from one client: the page says so, 429 with
// Retry-After.
func TestWebTrackRateLimited(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicFailures = 2 })
	h := f.h
	code := pbSubmit(t, h, pbBody())
	for range 2 {
		if r := pbForm(h, "", "/track", url.Values{"receipt_code": {"nope"}}); r.Code != 404 {
			t.Fatalf("status %d", r.Code)
		}
	}
	r := pbForm(h, "", "/track", url.Values{"receipt_code": {code}})
	pbCheckPage(t, r, http.StatusTooManyRequests)
	pbRetryAfter(t, r, 1, 900)
	pbContains(t, r.Body, "操作过于频繁")
	if bytes.Contains(r.Body, []byte(`id="status"`)) {
		t.Errorf("a blocked lookup shows the case")
	}
	if r := pbForm(h, pbOtherAddr, "/track", url.Values{"receipt_code": {code}}); r.Code != 200 {
		t.Errorf("other client: status %d", r.Code)
	}
	h.clock.Add(15 * time.Minute)
	if r := pbForm(h, "", "/track", url.Values{"receipt_code": {code}}); r.Code != 200 {
		t.Errorf("after the window: status %d", r.Code)
	}
}

// The web form and the API share the per-client submission limit.
func TestWebSubmitRateLimited(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicSubmits = 1 })
	h := f.h
	pbSubmit(t, h, pbBody())
	before := pbSnapshot(t, h)
	r := pbForm(h, "", "/submit", pbSubmitForm())
	pbCheckPage(t, r, http.StatusTooManyRequests)
	pbRetryAfter(t, r, 1, 3600)
	pbContains(t, r.Body, "操作过于频繁", "三号工地拖欠工资")
	pbSameStore(t, h, before)
	r = pbForm(h, pbOtherAddr, "/submit", pbSubmitForm())
	pbCheckPage(t, r, http.StatusCreated)
}

// A replied case's page shows the reply, the feedback and review forms; the
// forms work.
func TestWebRepliedCase(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code, id := f.pbReplied(t, "经核实，项目部已于本周补发全部工资。")
	r := pbForm(h, "", "/track", url.Values{"receipt_code": {code}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "已答复", "经核实，项目部已于本周补发全部工资。", `action="/feedback"`, `action="/review"`, "申请复查")
	for _, secret := range []string{"off-east", "sup-east", "钱办理", "赵主任", "张三", "13812345678", "李经理"} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("status page shows %q", secret)
		}
	}

	// Feedback with a bad rating: 400 page; before a reply elsewhere: 409 page.
	r = pbForm(h, "", "/feedback", url.Values{"receipt_code": {code}, "rating": {"great"}})
	pbCheckPage(t, r, http.StatusBadRequest)
	pbContains(t, r.Body, `role="alert"`, "「评价」")
	fresh := pbSubmit(t, h, pbBody())
	r = pbForm(h, "", "/feedback", url.Values{"receipt_code": {fresh}, "rating": {"satisfied"}})
	pbCheckPage(t, r, http.StatusConflict)
	r = pbForm(h, "", "/review", url.Values{"receipt_code": {fresh}, "reason": {"不满意"}})
	pbCheckPage(t, r, http.StatusConflict)
	r = pbForm(h, "", "/review", url.Values{"receipt_code": {"7KQ2-M9XD-4ZRT-8HBW-3NPE"}, "reason": {"不满意"}})
	pbCheckPage(t, r, http.StatusNotFound)

	// Ask for a review through the form.
	r = pbForm(h, "", "/review", url.Values{"receipt_code": {code}, "reason": {"工资只补发了一半"}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "复查申请已提交")
	if e := pbEntry(t, h, r); e.Action != "public.review" || e.Object == nil || e.Object.ID != id {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	if p := f.pbStaff(t, id); p["status"] != "review" {
		t.Errorf("staff status %v, want review", p["status"])
	}
	r = pbForm(h, "", "/track", url.Values{"receipt_code": {code}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "正在复查", "您申请了复查")
	if bytes.Contains(r.Body, []byte(`action="/review"`)) {
		t.Errorf("review offered while under review")
	}

	// After the review reply: re-review (复核) offered, then feedback.
	pbAct(t, h, f.parent, id, map[string]any{"action": "review_reply", "text": "复查意见：责令补发。"})
	r = pbForm(h, "", "/track", url.Values{"receipt_code": {code}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "复查意见：责令补发。", "申请复核")
	r = pbForm(h, "", "/feedback", url.Values{"receipt_code": {code}, "rating": {"satisfied"}, "comment": {"谢谢"}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "评价已记录")
	if p := f.pbStaff(t, id); p["status"] != "closed" {
		t.Errorf("staff status %v, want closed", p["status"])
	}
}

// Petition text, replies and reasons are escaped wherever a page shows them.
func TestWebEscapesText(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	const evil = `<script>alert(1)</script>`
	const escaped = `&lt;script&gt;alert(1)&lt;/script&gt;`

	// A title typed into the form comes back escaped in the re-rendered form.
	r := pbForm(h, "", "/submit", pbSubmitForm(pbFormSet("title", evil+`" onfocus="x`), pbFormSet("content", evil), pbFormSet("unit", "group/west")))
	pbCheckPage(t, r, http.StatusBadRequest)
	pbContains(t, r.Body, escaped)

	// A petition with such a title, a reason and a reply holding markup.
	r = pbForm(h, "", "/submit", pbSubmitForm(pbFormSet("title", evil), pbFormSet("content", evil)))
	pbCheckPage(t, r, http.StatusCreated)
	code := pbPageCode(t, r.Body)
	id := pbID(t, h, code)
	if p := f.pbStaff(t, id); p["title"] != evil {
		t.Errorf("title stored as %v", p["title"])
	}
	pbAct(t, h, f.sup, id, map[string]any{"action": "accept"})
	pbAct(t, h, f.sup, id, map[string]any{"action": "assign", "assignee": "off-east"})
	pbAct(t, h, f.sup, id, map[string]any{"action": "extend", "days": 5, "reason": "延期" + evil})
	pbAct(t, h, f.off, id, map[string]any{"action": "reply", "text": "答复" + evil + "\n<b>粗体</b>"})
	r = pbForm(h, "", "/track", url.Values{"receipt_code": {code}})
	pbCheckPage(t, r, http.StatusOK)
	pbContains(t, r.Body, "答复"+escaped, "延期"+escaped, "&lt;b&gt;粗体&lt;/b&gt;")
	if bytes.Contains(r.Body, []byte("<b>")) {
		t.Errorf("reply markup rendered")
	}
}

// Every portal page request is recorded with details.via "web", whether it
// changed something or not, so that an auditor can tell the form from the
// API.
func TestWebEntriesMarkedVia(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code, _ := f.pbReplied(t, "答复")
	for _, tt := range []struct {
		name, path string
		form       url.Values
		status     int
	}{
		{"submit", "/submit", pbSubmitForm(), 201},
		{"submit refused", "/submit", pbSubmitForm(pbFormSet("title", "")), 400},
		{"track", "/track", url.Values{"receipt_code": {code}}, 200},
		{"track unknown", "/track", url.Values{"receipt_code": {"nope"}}, 404},
		{"review", "/review", url.Values{"receipt_code": {code}, "reason": {"不满意"}}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pbForm(h, "", tt.path, tt.form)
			if r.Code != tt.status {
				t.Fatalf("status %d, want %d", r.Code, tt.status)
			}
			if e := pbEntry(t, h, r); e.Details["via"] != "web" {
				t.Errorf("entry %s, want details.via web", pbEntryJSON(t, e))
			}
		})
	}
}

// TestSecurityHeadersShared: responses share the security headers' values,
// and a handler adding to one of them changes neither the shared value nor
// the next response.
func TestSecurityHeadersShared(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(securityHeaders)
	r.GET("/add", func(c *gin.Context) {
		c.Writer.Header().Add("X-Frame-Options", "SAMEORIGIN")
		c.Writer.Header().Set("Referrer-Policy", "same-origin")
		c.Status(http.StatusNoContent)
	})
	r.GET("/plain", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/add", nil))
	if got := w.Header().Values("X-Frame-Options"); !slices.Equal(got, []string{"DENY", "SAMEORIGIN"}) {
		t.Errorf("after Add: %q", got)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/plain", nil))
	for _, kv := range securityHeaderValues {
		if got := w.Header().Values(kv.key); len(got) != 1 || got[0] != kv.value[0] || len(kv.value) != 1 {
			t.Errorf("%s = %q, shared %q", kv.key, got, kv.value)
		}
	}
	if got := w.Header().Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q after another response added to it", got)
	}
}
