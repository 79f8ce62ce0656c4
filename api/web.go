package api

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/vault"
)

// The petitioner portal's web pages: plain HTML forms that work without
// JavaScript, in Chinese, served from embedded files. Receipt codes travel
// only in POST bodies and pages, never in URLs.

//go:embed web/*.html web/static/*
var webFS embed.FS

var statusText = map[string]string{
	vault.StatusRegistered:  "已登记，正在审查是否受理",
	vault.StatusAccepted:    "已受理，正在办理",
	vault.StatusInProgress:  "正在办理",
	vault.StatusReplied:     "已答复",
	vault.StatusReview:      "正在复查",
	vault.StatusRereview:    "正在复核",
	vault.StatusClosed:      "已办结",
	vault.StatusNotAccepted: "不予受理",
	vault.StatusTransferred: "已转送其他机关办理",
}

var deadlineLabels = []struct{ key, label string }{
	{"accept_by", "告知是否受理的期限"},
	{"resolve_by", "办理期限"},
	{"review_request_by", "申请复查（复核）的期限"},
	{"review_by", "复查（复核）期限"},
}

var actionText = map[string]string{
	vault.ActAccept:        "您的事项已受理",
	vault.ActNotAccept:     "您的事项不予受理",
	vault.ActTransfer:      "您的事项已转交办理",
	vault.ActAssign:        "已安排专人办理",
	vault.ActExtend:        "办理期限已延长",
	vault.ActReply:         "已作出答复",
	vault.ActReviewReply:   "已作出复查意见",
	vault.ActRereviewReply: "已作出复核意见（最终意见）",
	vault.ActClose:         "事项已办结",
	"auto_close":           "申请复查期限已过，事项办结",
}

func cstDate(t time.Time) string { return t.In(vault.DefaultZone).Format("2006年1月2日 15:04") }

var pageFuncs = template.FuncMap{
	"date": cstDate,
	"replyKind": func(k string) string {
		switch k {
		case vault.ActReviewReply:
			return "复查意见"
		case vault.ActRereviewReply:
			return "复核意见"
		}
		return "答复"
	},
	"eventText": func(e publicEvent) string {
		switch e.Type {
		case "review_request":
			if e.ToStatus == vault.StatusRereview {
				return "您申请了复核"
			}
			return "您申请了复查"
		case "feedback":
			return "您评价了办理结果"
		}
		if t, ok := actionText[e.Action]; ok {
			if e.Action == vault.ActExtend && e.Days > 0 {
				return fmt.Sprintf("%s %d 日", t, e.Days)
			}
			return t
		}
		return "事项状态更新"
	},
}

var pages = template.Must(template.New("").Funcs(pageFuncs).ParseFS(webFS, "web/*.html"))

// securityHeaders are sent with every response: a strict CSP (no scripts at
// all, styles only from this origin), no framing, no referrer.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	for _, kv := range securityHeaderValues {
		// The keys are canonical and each value a slice of length and
		// capacity 1 that nothing writes to (Header.Add appends to a
		// copy), so every response shares them.
		h[kv.key] = kv.value
	}
	c.Next()
}

// jsonContentType is the Content-Type of JSON replies, shared like the
// security headers' values.
var jsonContentType = []string{"application/json; charset=utf-8"}[:1:1]

// noStore is the Cache-Control of API replies, shared the same way.
var noStore = []string{"no-store"}[:1:1]

// headerValue is a response header with its value as the header map holds it.
type headerValue struct {
	key   string
	value []string
}

var securityHeaderValues = func() []headerValue {
	var out []headerValue
	for _, kv := range [][2]string{
		{"Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "no-referrer"},
		{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
	} {
		out = append(out, headerValue{http.CanonicalHeaderKey(kv[0]), []string{kv[1]}[:1:1]})
	}
	return out
}()

func (s *Server) webRoutes(r *gin.Engine) {
	static, _ := fs.Sub(webFS, "web/static")
	r.GET("/static/style.css", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.FileFromFS("style.css", http.FS(static))
	})
	w := r.Group("/")
	w.Use(limitBody)
	h := func(action string, mode authMode, fn handlerFunc) gin.HandlerFunc {
		return s.handle(action, mode, func(c *gin.Context, k *call) error {
			k.detail("via", "web")
			return fn(c, k)
		})
	}
	w.GET("/", h("web.index", public, s.webIndex))
	w.GET("/submit", h("web.submit_form", public, s.webSubmitForm))
	w.POST("/submit", h("public.submit", public, s.webSubmit))
	w.GET("/track", h("web.track_form", public, s.webTrackForm))
	w.POST("/track", h("public.track", public, s.webTrack))
	w.POST("/feedback", h("public.feedback", public, s.webFeedback))
	w.POST("/review", h("public.review", public, s.webReview))
}

// render sets an HTML page as the response.
func (k *call) render(status int, page string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, page, data); err != nil {
		return err
	}
	return k.text(status, "text/html; charset=utf-8", buf.Bytes())
}

type pageData struct {
	Title   string
	Error   string
	Message string
}

func (s *Server) webIndex(c *gin.Context, k *call) error {
	return k.render(http.StatusOK, "index.html", pageData{Title: "首页"})
}

type submitForm struct {
	Unit, Title, Content, Requests, Subjects, GroupSize, Name, Phone, IDNumber, Address string
}

type submitPage struct {
	pageData
	Units []publicUnit
	Form  submitForm
}

func (s *Server) webSubmitForm(c *gin.Context, k *call) error {
	units, err := s.publicUnits()
	if err != nil {
		return err
	}
	return k.render(http.StatusOK, "submit.html", submitPage{pageData: pageData{Title: "反映问题"}, Units: units, Form: submitForm{GroupSize: "1"}})
}

// parseForm reads a urlencoded form body (1 MiB at most).
func parseForm(c *gin.Context) error {
	ct := c.GetHeader("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return errStatus(http.StatusUnsupportedMediaType, "the form must be application/x-www-form-urlencoded")
	}
	if err := c.Request.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errStatus(http.StatusRequestEntityTooLarge, "the form is larger than 1 MiB")
		}
		return badRequest("the form could not be read")
	}
	return nil
}

// fieldLabels names form fields in Chinese for error messages.
var fieldLabels = map[string]string{
	"unit": "单位", "title": "事项标题", "content": "详细情况", "requests": "您的诉求", "subjects": "反映的对象",
	"group_size": "人数", "petitioner.name": "姓名", "petitioner.phone": "手机号码", "petitioner.id_number": "身份证号码",
	"petitioner.address": "联系地址", "receipt_code": "查询码", "rating": "评价", "comment": "意见", "reason": "申请理由",
}

// webMessage turns an error into a message for a petitioner.
func webMessage(err error) (int, string) {
	he := problemFor(err)
	switch he.status {
	case http.StatusTooManyRequests:
		return he.status, "操作过于频繁，请稍后再试。"
	case http.StatusNotFound:
		return he.status, "没有找到这个查询码对应的事项，请核对后重新输入。"
	case http.StatusConflict:
		return he.status, "当前无法进行此项操作（可能已超过申请期限，或事项状态已变化）。"
	case http.StatusRequestEntityTooLarge:
		return he.status, "提交的内容太长了。"
	case http.StatusBadRequest:
		field, why, _ := strings.Cut(he.detail, ": ")
		label := fieldLabels[field]
		if label == "" {
			return he.status, "提交的内容有误，请检查后重新提交。"
		}
		switch {
		case strings.Contains(why, "required"), strings.Contains(why, "blank"):
			return he.status, "请填写「" + label + "」。"
		case strings.Contains(why, "at most"):
			return he.status, "「" + label + "」太长了。"
		case strings.Contains(why, "control character"), strings.Contains(why, "UTF-8"):
			return he.status, "「" + label + "」含有不能识别的字符。"
		case strings.Contains(why, "not open"):
			return he.status, "请选择可以网上反映的单位。"
		}
		return he.status, "「" + label + "」填写有误，请检查。"
	}
	return he.status, "系统暂时无法处理您的请求，请稍后再试。"
}

// webFail renders page with err as a message, keeping its status and the
// audit decision.
func (s *Server) webFail(c *gin.Context, k *call, err error, page string, data func(msg string) any) error {
	he := problemFor(err)
	if he.status == http.StatusInternalServerError || he.status == http.StatusServiceUnavailable {
		return err
	}
	if he.decision != "" {
		k.entry.Decision = he.decision
	}
	if he.retryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(he.retryAfter))
	}
	status, msg := webMessage(err)
	return k.render(status, page, data(msg))
}

func splitNames(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' || r == ';' || r == '；' || r == '\n' })
	out := []string{}
	for _, x := range f {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) webSubmit(c *gin.Context, k *call) error {
	units, err := s.publicUnits()
	if err != nil {
		return err
	}
	var f submitForm
	fail := func(err error) error {
		return s.webFail(c, k, err, "submit.html", func(msg string) any {
			return submitPage{pageData: pageData{Title: "反映问题", Error: msg}, Units: units, Form: f}
		})
	}
	if err := parseForm(c); err != nil {
		return fail(err)
	}
	get := func(name string) string { return strings.ReplaceAll(c.PostForm(name), "\r\n", "\n") }
	f = submitForm{Unit: get("unit"), Title: strings.TrimSpace(get("title")), Content: get("content"), Requests: get("requests"),
		Subjects: get("subjects"), GroupSize: get("group_size"), Name: strings.TrimSpace(get("name")), Phone: strings.TrimSpace(get("phone")),
		IDNumber: strings.TrimSpace(get("id_number")), Address: strings.TrimSpace(get("address"))}
	in := vault.NewPetition{Unit: f.Unit, Channel: "online", Title: f.Title, Content: f.Content, Requests: f.Requests, Subjects: splitNames(f.Subjects)}
	if f.GroupSize != "" {
		n, err := strconv.Atoi(strings.TrimSpace(f.GroupSize))
		if err != nil || n < 1 {
			return fail(badRequest("group_size: a whole number of at least 1"))
		}
		in.GroupSize = n
	}
	if p := (vault.Petitioner{Name: f.Name, Phone: f.Phone, IDNumber: f.IDNumber, Address: f.Address}); p != (vault.Petitioner{}) {
		in.Petitioner = &p
	}
	created, err := s.submitPublic(in, c, k)
	if err != nil {
		return fail(err)
	}
	return k.render(http.StatusCreated, "receipt.html", struct {
		pageData
		Code, AcceptBy string
	}{pageData{Title: "提交成功"}, created.ReceiptCode, cstDate(*created.Meta.Deadlines.AcceptBy)})
}

func (s *Server) webTrackForm(c *gin.Context, k *call) error {
	return k.render(http.StatusOK, "track.html", pageData{Title: "查询办理进度"})
}

type deadlineLine struct{ Label, When string }

type statusPage struct {
	pageData
	T          *TrackJSON
	Code       string
	StatusText string
	Received   string
	Deadlines  []deadlineLine
	ReviewName string
	ReviewBy   string
}

func (s *Server) statusPage(m *vault.Meta, code string) (*statusPage, error) {
	t, err := s.track(m)
	if err != nil {
		return nil, err
	}
	p := &statusPage{pageData: pageData{Title: "办理进度"}, T: t, Code: code, StatusText: statusText[m.Status], Received: cstDate(m.ReceivedAt)}
	d := map[string]*time.Time{"accept_by": m.Deadlines.AcceptBy, "resolve_by": m.Deadlines.ResolveBy,
		"review_request_by": m.Deadlines.ReviewRequestBy, "review_by": m.Deadlines.ReviewBy}
	for _, l := range deadlineLabels {
		if v := d[l.key]; v != nil {
			p.Deadlines = append(p.Deadlines, deadlineLine{l.label, cstDate(*v) + " 前"})
		}
	}
	p.ReviewName = "复查"
	if m.Stage >= 1 {
		p.ReviewName = "复核"
	}
	if m.Deadlines.ReviewRequestBy != nil {
		p.ReviewBy = cstDate(*m.Deadlines.ReviewRequestBy)
	}
	return p, nil
}

func (s *Server) webTrack(c *gin.Context, k *call) error {
	fail := func(err error) error {
		return s.webFail(c, k, err, "track.html", func(msg string) any { return pageData{Title: "查询办理进度", Error: msg} })
	}
	if err := parseForm(c); err != nil {
		return fail(err)
	}
	code := c.PostForm("receipt_code")
	m, err := s.byReceipt(c, k, code)
	if err != nil {
		return fail(err)
	}
	p, err := s.statusPage(m, code)
	if err != nil {
		return err
	}
	return k.render(http.StatusOK, "status.html", p)
}

func (s *Server) webFeedback(c *gin.Context, k *call) error {
	fail := func(err error) error {
		return s.webFail(c, k, err, "message.html", func(msg string) any { return pageData{Title: "评价未能提交", Error: msg} })
	}
	if err := parseForm(c); err != nil {
		return fail(err)
	}
	m, err := s.byReceipt(c, k, c.PostForm("receipt_code"))
	if err != nil {
		return fail(err)
	}
	rating := c.PostForm("rating")
	k.detail("rating", rating)
	if _, rec, err := s.v.Feedback(m.ID, rating, c.PostForm("comment"), k.prepare(http.StatusOK)); err != nil {
		return fail(err)
	} else {
		k.done(rec)
	}
	return k.render(http.StatusOK, "message.html", pageData{Title: "感谢您的评价", Message: "您的评价已记录。"})
}

func (s *Server) webReview(c *gin.Context, k *call) error {
	fail := func(err error) error {
		return s.webFail(c, k, err, "message.html", func(msg string) any { return pageData{Title: "申请未能提交", Error: msg} })
	}
	if err := parseForm(c); err != nil {
		return fail(err)
	}
	m, err := s.byReceipt(c, k, c.PostForm("receipt_code"))
	if err != nil {
		return fail(err)
	}
	nm, rec, err := s.v.RequestReview(m.ID, c.PostForm("reason"), k.prepare(http.StatusOK))
	if err != nil {
		return fail(err)
	}
	k.done(rec)
	name := "复查"
	if nm.Status == vault.StatusRereview {
		name = "复核"
	}
	return k.render(http.StatusOK, "message.html", pageData{Title: "申请已提交", Message: fmt.Sprintf("您的%s申请已提交，我们将在 %s 前作出意见。", name, cstDate(*nm.Deadlines.ReviewBy))})
}
