package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"pvault/audit"
)

// Fuzz targets for the request decoders and the whole server (issue 10,
// item 3). Seeds are real requests taken from the other tests, and the
// hostile shapes of hostile_test.go. Helpers are prefixed hx.

// hxDecoders are the request types the handlers decode with decodeStrict.
var hxDecoders = []struct {
	name string
	new  func() any
}{
	{"loginRequest", func() any { return new(loginRequest) }},
	{"createUserRequest", func() any { return new(createUserRequest) }},
	{"patchUserRequest", func() any { return new(patchUserRequest) }},
	{"createPetitionRequest", func() any { return new(createPetitionRequest) }},
	{"actionRequest", func() any { return new(actionRequest) }},
	{"noteRequest", func() any { return new(noteRequest) }},
	{"publicPetitionRequest", func() any { return new(publicPetitionRequest) }},
	{"receiptRequest", func() any { return new(receiptRequest) }},
	{"feedbackRequest", func() any { return new(feedbackRequest) }},
	{"reviewRequest", func() any { return new(reviewRequest) }},
	{"hashRequest", func() any { return new(hashRequest) }},
	{"putPolicyRequest", func() any { return new(putPolicyRequest) }},
	{"putUnitRequest", func() any { return new(putUnitRequest) }},
	{"rotateRequest", func() any { return new(rotateRequest) }},
	{"totpConfirmRequest", func() any { return new(totpConfirmRequest) }},
}

// hxSeedBodies are valid bodies of every decoder (from the API tests) and
// the hostile shapes.
func hxSeedBodies() [][]byte {
	valid := []any{
		map[string]string{"username": "admin", "password": testAdminPassword},
		map[string]string{"username": "mx-tina", "password": testPassword, "totp": "123456"},
		map[string]any{"username": "reg-east", "password": testPassword, "display_name": "王登记", "unit": "group/east", "roles": []string{"registrar"}},
		map[string]any{"display_name": "改名", "unit": "group", "roles": []string{"officer"}, "disabled": true, "password": "another-long-password"},
		petitionBody("group/east"),
		hxWith(petitionBody("group/east/site-3"), "received_at", "2026-02-28T09:00:00Z"),
		hxWith(petitionBody("group"), "petitioner", nil),
		map[string]any{"action": "extend", "days": 5, "reason": "需要调取工地考勤记录"},
		map[string]any{"action": "assign", "assignee": "off-east"},
		map[string]any{"action": "transfer", "reason": "属于劳动监察部门职责", "target_unit": "external:市劳动保障监察支队"},
		map[string]any{"action": "reply", "text": "经核实，工资已于本月补发。"},
		map[string]any{"action": "categorize", "label": "wage_arrears"},
		map[string]any{"action": "close", "comment": "已办结"},
		map[string]any{"action": "not_accept", "reason": "不属于本单位职责", "target_unit": "group/west"},
		map[string]string{"text": "已电话联系项目部。"},
		pbBody(),
		map[string]string{"receipt_code": "ABCD-EFGH-JKMN-PQRS-TVWX"},
		map[string]string{"receipt_code": "abcd efgh jkmn pqrs tvwx", "rating": "satisfied", "comment": "谢谢"},
		map[string]string{"receipt_code": "ABCDEFGHJKMNPQRSTVWX", "reason": "对答复不满意，申请复查。"},
		map[string]string{"value": "张三"},
		map[string]any{"rules": [][]string{{"p", "admin", "*", "*", "allow"}, {"g", "u1", "admin"}}},
		map[string]any{"name": "东区分公司", "public": true},
		map[string]any{"keep_identity": true, "add_recovery": []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}, "remove_recovery": []string{}},
		map[string]string{"code": "123456"},
		map[string]any{},
	}
	var out [][]byte
	for _, v := range valid {
		out = append(out, hxJSON(v))
	}
	for _, s := range []string{
		`{"group_size":1e400}`, `{"group_size":99999999999999999999}`, `{"days":-0}`, `{"days":1e-400}`,
		`{"title":"a","title":"b"}`, `{"Title":"a"}`, `{"petitioner":{"name":"a","name":"b"}}`,
		"{\"title\":\"a\x00b\"}", `{"title":"a\u0000b"}`, `{"title":"a\u202eb"}`, "{\"title\":\"\xff\xfe\"}",
		`null`, `[]`, `"a string"`, `42`, `true`, `{} x`, `{}{}`, `{"a":1}`, `{"":1}`, "\xef\xbb\xbf{}",
		strings.Repeat("[", 17) + strings.Repeat("]", 17), strings.Repeat(`{"a":`, 17) + "1" + strings.Repeat("}", 17),
		strings.Repeat("[", 16) + strings.Repeat("]", 16), `{"rules":[["p","a"],["p","a"]]}`, `{"title":"\ud800"}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func FuzzDecodeStrict(f *testing.F) {
	for _, b := range hxSeedBodies() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range hxDecoders {
			v := d.new()
			err := decodeStrict(b, v)
			if err != nil {
				var he *httpError
				if !errors.As(err, &he) || he.status != http.StatusBadRequest {
					t.Fatalf("%s: error %v is not a 400", d.name, err)
				}
				continue
			}
			if !utf8.Valid(b) {
				t.Fatalf("%s accepted invalid UTF-8 %q", d.name, b)
			}
			if err := checkJSONShape(b); err != nil {
				t.Fatalf("%s accepted %q, which checkJSONShape refuses: %v", d.name, b, err)
			}
			if hxDepth(b) > maxDepth {
				t.Fatalf("%s accepted %q nested %d deep", d.name, b, hxDepth(b))
			}
			// decodeStrict "decodes one JSON object into dst".
			if tb := bytes.TrimLeft(b, " \t\r\n"); len(tb) == 0 || tb[0] != '{' {
				t.Errorf("%s accepted %q, which is not a JSON object", d.name, b)
			}
			// The same bytes decode to the same value.
			again := d.new()
			if err := decodeStrict(b, again); err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("%s: decoding %q twice gave %+v and %+v (%v)", d.name, b, v, again, err)
			}
			// What was accepted survives a round trip.
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: marshal %+v: %v", d.name, v, err)
			}
			back := d.new()
			if err := decodeStrict(enc, back); err != nil || !reflect.DeepEqual(v, back) {
				t.Fatalf("%s: %q re-encoded as %q decodes to %+v (%v), want %+v", d.name, b, enc, back, err, v)
			}
		}
	})
}

// hxDepth is the deepest nesting of arrays and objects in b (strings
// skipped), the reference for maxDepth.
func hxDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// hxShapeRef is a recursive reference for checkJSONShape on one valid JSON
// value: no duplicate keys, keys of [a-z0-9_]+, at most maxDepth deep.
func hxShapeRef(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func(depth int) bool
	walk = func(depth int) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		if depth+1 > maxDepth {
			return false
		}
		switch d {
		case '[':
			for dec.More() {
				if !walk(depth + 1) {
					return false
				}
			}
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				k, _ := kt.(string)
				if err != nil || k == "" || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" || seen[k] {
					return false
				}
				seen[k] = true
				if !walk(depth + 1) {
					return false
				}
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	return walk(0)
}

func FuzzCheckJSONShape(f *testing.F) {
	for _, b := range hxSeedBodies() {
		f.Add(b)
	}
	f.Add([]byte(hxDeepArrays))
	f.Add([]byte(hxDeepObjects))
	f.Add([]byte(`{"a":[{"b":{"c":[1,2,{"d":null}]}}],"e":"\"}{"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSONShape(b)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			for _, c := range hxHidden {
				if strings.Contains(he.detail, c) {
					t.Fatalf("detail %q echoes %q", he.detail, c)
				}
			}
		}
		if json.Valid(b) {
			if want := hxShapeRef(b); (err == nil) != want {
				t.Fatalf("checkJSONShape(%q) = %v, reference says ok=%v", b, err, want)
			}
		}
	})
}

// hxFuzzWho are the callers a fuzzed request may come from.
const (
	hxWhoNone = iota
	hxWhoAdmin
	hxWhoRegistrar
	hxWhoSupervisor
	hxWhoOfficer
	hxWhoAuditor
	hxWhoTOTP
	hxWhoBogus
	hxWhoCount
)

// hxServe sends one fuzzed request through the server. It returns nil when
// the request could not travel over HTTP at all (a method or target that
// net/http would refuse to parse).
func hxServe(srv http.Handler, method, target, ctype string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	if method == "" || strings.IndexFunc(method, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) >= 0 {
		return nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \x00\r\n") {
		return nil
	}
	r := &http.Request{
		Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Host: "pvault.test", RemoteAddr: "192.0.2.1:1234",
	}
	if ctype != "" {
		r.Header["Content-Type"] = []string{ctype}
	}
	for k, v := range hdr {
		if v != "" {
			r.Header[http.CanonicalHeaderKey(k)] = []string{v}
		}
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

func FuzzServeRequest(f *testing.F) {
	fx := hxSetup(f)
	h := fx.h
	tokens := [hxWhoCount]string{hxWhoAdmin: h.admin, hxWhoRegistrar: fx.reg, hxWhoSupervisor: fx.sup, hxWhoOfficer: fx.off,
		hxWhoAuditor: fx.aud, hxWhoTOTP: fx.totpTok, hxWhoBogus: "not-a-token"}
	p := fx.staffID
	type seed struct {
		method, target, ctype string
		body                  any
		rid                   string
		who                   uint8
	}
	const js = "application/json"
	const form = "application/x-www-form-urlencoded"
	seeds := []seed{
		{"GET", "/healthz", "", nil, "", hxWhoNone},
		{"GET", "/readyz", "", nil, "", hxWhoNone},
		{"GET", "/metrics", "", nil, "", hxWhoNone},
		{"GET", "/static/style.css", "", nil, "", hxWhoNone},
		{"GET", "/", "", nil, "", hxWhoNone},
		{"GET", "/submit", "", nil, "", hxWhoNone},
		{"POST", "/submit", form, "unit=group%2Feast&title=%E6%AC%A0%E8%96%AA&content=%E5%B7%A5%E8%B5%84&group_size=2", "", hxWhoNone},
		{"GET", "/track", "", nil, "", hxWhoNone},
		{"POST", "/track", form, "receipt_code=" + fx.code, "", hxWhoNone},
		{"POST", "/feedback", form, "receipt_code=" + fx.code + "&rating=satisfied&comment=ok", "", hxWhoNone},
		{"POST", "/review", form, "receipt_code=" + fx.code + "&reason=%E4%B8%8D%E6%BB%A1%E6%84%8F", "", hxWhoNone},
		{"GET", "/api/v1/openapi.json", "", nil, "seed-openapi", hxWhoNone},
		{"POST", "/api/v1/auth/login", js, map[string]string{"username": "admin", "password": testAdminPassword}, "seed-login", hxWhoNone},
		{"POST", "/api/v1/auth/login", js, map[string]string{"username": "admin", "password": "wrong-password!"}, "", hxWhoNone},
		{"POST", "/api/v1/auth/logout", "", nil, "", hxWhoBogus},
		{"GET", "/api/v1/me", "", nil, "", hxWhoRegistrar},
		{"POST", "/api/v1/me/totp", js, map[string]string{"code": "000000"}, "", hxWhoTOTP},
		{"POST", "/api/v1/me/totp/confirm", js, map[string]string{"code": "000000"}, "", hxWhoTOTP},
		{"DELETE", "/api/v1/users/" + fx.targetID + "/totp", "", nil, "", hxWhoAdmin},
		{"POST", "/api/v1/users", js, map[string]any{"username": "fz-user", "password": testPassword, "display_name": "模糊", "unit": "group/east", "roles": []string{"officer"}}, "", hxWhoAdmin},
		{"GET", "/api/v1/users?limit=2", "", nil, "", hxWhoAdmin},
		{"GET", "/api/v1/users/" + fx.targetID, "", nil, "", hxWhoAdmin},
		{"PATCH", "/api/v1/users/" + fx.targetID, js, map[string]any{"display_name": "新名字"}, "", hxWhoAdmin},
		{"GET", "/api/v1/units", "", nil, "", hxWhoSupervisor},
		{"PUT", "/api/v1/units/group/west", js, map[string]any{"name": "西区", "public": false}, "", hxWhoAdmin},
		{"GET", "/api/v1/policy", "", nil, "", hxWhoAdmin},
		{"PUT", "/api/v1/policy", js, map[string]any{"rules": fx.policyRules}, "", hxWhoAdmin},
		{"GET", "/api/v1/policy/explain?user=admin&action=petition.read", "", nil, "", hxWhoAdmin},
		{"POST", "/api/v1/petitions", js, petitionBody("group/east"), "", hxWhoRegistrar},
		{"GET", "/api/v1/petitions?limit=5&status=accepted", "", nil, "", hxWhoSupervisor},
		{"GET", "/api/v1/petitions/" + p, "", nil, "", hxWhoSupervisor},
		{"POST", "/api/v1/petitions/" + p + "/actions", js, map[string]any{"action": "extend", "days": 5, "reason": "需要调取工地考勤记录"}, "", hxWhoSupervisor},
		{"POST", "/api/v1/petitions/" + p + "/notes", js, map[string]string{"text": "已电话联系项目部"}, "", hxWhoSupervisor},
		{"GET", "/api/v1/petitions/" + p + "/events", "", nil, "", hxWhoSupervisor},
		{"GET", "/api/v1/alerts", "", nil, "", hxWhoSupervisor},
		{"GET", "/api/v1/public/units", "", nil, "", hxWhoNone},
		{"POST", "/api/v1/public/petitions", js, pbBody(), "", hxWhoNone},
		{"POST", "/api/v1/public/track", js, map[string]string{"receipt_code": fx.code}, "", hxWhoNone},
		{"POST", "/api/v1/public/feedback", js, map[string]string{"receipt_code": fx.code, "rating": "satisfied"}, "", hxWhoNone},
		{"POST", "/api/v1/public/review", js, map[string]string{"receipt_code": fx.code, "reason": "对答复不满意"}, "", hxWhoNone},
		{"GET", "/api/v1/audit/entries?start=0&limit=5", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/audit/export?start=0&end=3", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/audit/verify", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/audit/checkpoint", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/audit/verifier-key", "", nil, "", hxWhoNone},
		{"GET", "/api/v1/audit/proof/inclusion?index=0&size=2", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/audit/proof/consistency?old=1&new=2", "", nil, "", hxWhoAuditor},
		{"POST", "/api/v1/audit/hash", js, map[string]string{"value": "张三"}, "", hxWhoAuditor},
		{"GET", "/api/v1/stats/reveals?from=2026-01-01", "", nil, "", hxWhoAuditor},
		{"GET", "/api/v1/stats/summary", "", nil, "", hxWhoSupervisor},
		{"GET", "/api/v1/stats/hotspots", "", nil, "", hxWhoSupervisor},
		{"POST", "/api/v1/admin/analysis/retrain", "", nil, "", hxWhoAuditor},
		{"POST", "/api/v1/admin/keys/rotate", js, map[string]any{"keep_identity": true}, "", hxWhoAuditor},
		{"GET", "/api/v1/admin/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", nil, "", hxWhoAdmin},
		{"GET", "/api/v1/admin/backup", "", nil, "", hxWhoSupervisor},
		{"GET", "/api/v1/admin/archive?status=closed", "", nil, "", hxWhoAdmin},
		{"POST", "/api/v1/admin/sweep", "", nil, "", hxWhoAdmin},
		{"GET", "/api/v1/petitions/..%2f..%2fetc%2fpasswd", "", nil, "hx\r\nSet-Cookie: x=1", hxWhoSupervisor},
		{"POST", "/api/v1/petitions", js, hxDeepArrays, "", hxWhoRegistrar},
		{"PUT", "/api/v1/units/%2e%2e", js, `{"name":"a","name":"b"}`, "", hxWhoAdmin},
	}
	for _, s := range seeds {
		var b []byte
		switch v := s.body.(type) {
		case nil:
		case string:
			b = []byte(v)
		default:
			b = hxJSON(v)
		}
		f.Add(s.method, s.target, s.ctype, b, s.rid, s.who)
	}
	f.Fuzz(func(t *testing.T, method, target, ctype string, body []byte, rid string, who uint8) {
		u, err := url.ParseRequestURI(target)
		if err == nil && (strings.Contains(u.Path, "rotate") || strings.Contains(u.Path, "retrain")) && who%hxWhoCount == hxWhoAdmin {
			t.Skip("a key rotation or a retraining is a long background job, not a request")
		}
		hdr := map[string]string{"X-Request-ID": rid}
		if tok := tokens[who%hxWhoCount]; tok != "" {
			hdr["Authorization"] = "Bearer " + tok
		}
		w := hxServe(h.srv, method, target, ctype, body, hdr)
		if w == nil {
			return
		}
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q (%s, %d bytes): status %d: %.300s", method, target, ctype, len(body), w.Code, w.Body.Bytes())
		}
		got := w.Header().Get("X-Request-ID")
		if got == "" {
			return
		}
		if !requestIDRE.MatchString(got) {
			t.Fatalf("response X-Request-ID %q is malformed", got)
		}
		// The request's audit entry is canonical: the log still verifies.
		if _, _, err := h.v.Log().Entries(audit.Filter{RequestID: got, Limit: 2}); err != nil {
			t.Fatalf("%s %q: its audit entry cannot be read back: %v", method, target, err)
		}
	})
}
