package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"pvault/policy"
	"pvault/vault"
)

// The OpenAPI document (api/openapi.json) is checked three ways: it is a
// valid OpenAPI 3.1 document; its operations are exactly the routes of the
// gin engine; and real requests and responses, driven through the test
// harness, validate against it.

var (
	oaOnce sync.Once
	oaDoc  *openapi3.T
	oaErr  error
)

// oaLoad parses the embedded document once and registers the body decoders
// of the non-JSON media types it uses.
func oaLoad(tb testing.TB) *openapi3.T {
	tb.Helper()
	oaOnce.Do(func() {
		for _, ct := range []string{"text/html", "text/css", "application/x-ndjson", "application/openmetrics-text"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
		openapi3filter.RegisterBodyDecoder("application/x-tar", openapi3filter.FileBodyDecoder)
		loader := openapi3.NewLoader()
		oaDoc, oaErr = loader.LoadFromData(openAPIDoc)
	})
	if oaErr != nil {
		tb.Fatalf("load openapi.json: %v", oaErr)
	}
	return oaDoc
}

// oaParam turns gin's :name and *name path parameters into {name}.
var oaParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

func oaTemplate(ginPath string) string { return oaParam.ReplaceAllString(ginPath, "{$1}") }

// oaOperations lists the documented operations as "METHOD /path".
func oaOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

// oaSecured reports whether op needs a bearer token: it inherits the global
// requirement or names one, and does not also allow none ({}).
func oaSecured(op *openapi3.Operation) bool {
	if op.Security == nil {
		return true
	}
	return len(*op.Security) > 0 && !slices.ContainsFunc(*op.Security, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := oaLoad(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if _, ok := doc.Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Fatal("no bearerAuth security scheme")
	}
	ids := map[string]string{}
	for name, op := range oaOperations(doc) {
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", name)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share operationId %s", name, other, op.OperationID)
		}
		ids[op.OperationID] = name
		if ext, ok := op.Extensions["x-pvault-extension"]; ok && (ext != true || op.Description == "") {
			t.Errorf("%s: an extension needs x-pvault-extension: true and a description", name)
		}
		_, path, _ := strings.Cut(name, " ")
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		// Every /api/v1 response is audited: it may be 500 or 503, and
		// every response carries X-Request-ID.
		for _, code := range []int{500, 503} {
			if op.Responses.Status(code) == nil {
				t.Errorf("%s: no %d response", name, code)
			}
		}
		for code, r := range op.Responses.Map() {
			if _, ok := r.Value.Headers["X-Request-ID"]; !ok {
				t.Errorf("%s %s: no X-Request-ID header", name, code)
			}
			if strings.HasPrefix(code, "4") || strings.HasPrefix(code, "5") {
				if mt := r.Value.Content.Get("application/problem+json"); mt == nil || mt.Schema.Ref != "#/components/schemas/Problem" {
					t.Errorf("%s %s: not a problem+json Problem", name, code)
				}
			}
		}
		secured := oaSecured(op)
		if secured && op.Responses.Status(401) == nil {
			t.Errorf("%s: needs a token but documents no 401", name)
		}
	}
}

// The document's enumerations are the server's.
func TestOpenAPIEnums(t *testing.T) {
	schemas := oaLoad(t).Components.Schemas
	for _, tt := range []struct {
		schema, property string
		want             []string
	}{
		{"Role", "", policy.Roles},
		{"PolicyAction", "", policy.Actions},
		{"WorkflowAction", "", vault.Actions},
		{"Status", "", vault.Statuses},
		{"Channel", "", vault.Channels},
		{"CategoryLabel", "", Categories},
		{"Rating", "", vault.Ratings},
		{"Alert", "kind", vault.AlertKinds},
	} {
		s := schemas[tt.schema]
		if s != nil && tt.property != "" {
			s = s.Value.Properties[tt.property]
		}
		if s == nil {
			t.Errorf("no schema %s %s", tt.schema, tt.property)
			continue
		}
		var got []string
		for _, v := range s.Value.Enum {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.want))) {
			t.Errorf("%s %s enum = %v, server has %v", tt.schema, tt.property, got, tt.want)
		}
	}
}

// The served document is the file, public and audited.
func TestOpenAPIServed(t *testing.T) {
	h := newHarness(t)
	r := h.send(req{Method: "GET", Path: "/api/v1/openapi.json", Header: map[string]string{"X-Request-ID": "oa-served"}})
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %q", r.Code, r.Header.Get("Content-Type"))
	}
	if !bytes.Equal(r.Body, openAPIDoc) {
		t.Error("served document differs from api/openapi.json")
	}
	es := h.entries("oa-served")
	if len(es) != 1 || es[0].Action != "api.openapi" || es[0].Decision != "allow" || es[0].Status != 200 || es[0].Actor != nil {
		t.Errorf("audit entries of GET /api/v1/openapi.json = %+v", es)
	}
}

// oaPprof turns the optional routes on.
func oaPprof(cfg *Config) { cfg.Pprof = true }

// Every route of the engine (with the optional ones on) is documented and
// every documented operation is a route.
func TestOpenAPIRoutes(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: oaPprof})
	doc := oaLoad(t)
	routes := map[string]bool{}
	for _, r := range h.srv.engine.Routes() {
		routes[r.Method+" "+oaTemplate(r.Path)] = true
	}
	if len(routes) < 40 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	ops := oaOperations(doc)
	var undocumented, unrouted []string
	for r := range routes {
		if ops[r] == nil {
			undocumented = append(undocumented, r)
		}
	}
	for o := range ops {
		if !routes[o] {
			unrouted = append(unrouted, o)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unrouted)
	for _, r := range undocumented {
		t.Errorf("route %s is not documented in openapi.json", r)
	}
	for _, o := range unrouted {
		t.Errorf("openapi.json documents %s, which is not a route", o)
	}
}

// Operations the document marks as needing a token answer 401 without one;
// the others never do. Each 401 validates, and where the document promises
// X-Request-ID the client's own id is echoed.
func TestOpenAPISecurity(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: oaPprof})
	c := oaNewChecker(t, h)
	for name, op := range oaOperations(c.doc) {
		method, path, _ := strings.Cut(name, " ")
		path = strings.NewReplacer("{id}", "00000000000000000000000000", "{path}", "group").Replace(path)
		secured := oaSecured(op)
		rid := "oa-" + op.OperationID
		rq := req{Method: method, Path: path, Header: map[string]string{"X-Request-ID": rid}}
		r := h.send(rq)
		if secured != (r.Code == http.StatusUnauthorized) {
			t.Errorf("%s without a token: %d (documented as needing one: %v)", name, r.Code, secured)
		}
		if secured {
			c.checkResponse(rq, r)
		}
		if doc := op.Responses.Status(r.Code); doc != nil && doc.Value.Headers["X-Request-ID"] != nil {
			if got := r.Header.Get("X-Request-ID"); got != rid {
				t.Errorf("%s: sent X-Request-ID %q, got back %q", name, rid, got)
			}
		}
	}
}

// oaChecker sends requests through a harness and validates them and their
// responses against the document.
type oaChecker struct {
	t      *testing.T
	h      *harness
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // operations exercised: "METHOD /path status"
}

func oaNewChecker(t *testing.T, h *harness) *oaChecker {
	t.Helper()
	doc := oaLoad(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &oaChecker{t: t, h: h, doc: doc, router: router, seen: map[string]bool{}}
}

// oaOptions are the validation options: bearer tokens are checked by
// oaAuth, and schema errors are reported in one line.
func oaOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{AuthenticationFunc: oaAuth, IncludeResponseStatus: true}
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	return o
}

// oaAuth accepts a request that carries a bearer token.
func oaAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearerAuth" {
		return fmt.Errorf("unknown scheme %s", in.SecuritySchemeName)
	}
	tok, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// oaRequest rebuilds the http.Request that h.send makes of r.
func oaRequest(tb testing.TB, r req) *http.Request {
	tb.Helper()
	var body []byte
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			tb.Fatal(err)
		}
	}
	hr := httptest.NewRequest(r.Method, r.Path, bytes.NewReader(body))
	if r.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	return hr
}

func (c *oaChecker) route(hr *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := c.router.FindRoute(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: no documented operation: %w", hr.Method, hr.URL.Path, err)
	}
	return route, params, nil
}

// send sends a request that follows the contract and checks that it, and
// the response, validate and that the status is want.
func (c *oaChecker) send(r req, want int) *resp {
	c.t.Helper()
	hr := oaRequest(c.t, r)
	route, params, err := c.route(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route,
		Options: oaOptions()}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		c.t.Errorf("%s %s: request does not validate: %v", r.Method, r.Path, err)
	}
	res := c.h.send(r)
	c.expect(r, res, want)
	return res
}

// start validates a request that follows the contract and sends it in the
// background (for slow requests); the function it returns waits for the
// response and checks it like send.
func (c *oaChecker) start(r req) func(want int) *resp {
	c.t.Helper()
	hr := oaRequest(c.t, r)
	route, params, err := c.route(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route, Options: oaOptions()}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		c.t.Errorf("%s %s: request does not validate: %v", r.Method, r.Path, err)
	}
	done := make(chan *resp, 1)
	go func() { done <- c.h.send(r) }()
	return func(want int) *resp {
		c.t.Helper()
		res := <-done
		c.expect(r, res, want)
		return res
	}
}

// bad sends a request that breaks the contract: the document must reject it
// too, the server must answer want, and its problem document must validate.
func (c *oaChecker) bad(r req, want int) *resp {
	c.t.Helper()
	hr := oaRequest(c.t, r)
	route, params, err := c.route(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route,
		Options: oaOptions()}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err == nil {
		c.t.Errorf("%s %s: the document accepts a request the server refuses with %d", r.Method, r.Path, want)
	}
	res := c.h.send(r)
	c.expect(r, res, want)
	return res
}

func (c *oaChecker) expect(r req, res *resp, want int) {
	c.t.Helper()
	c.checkResponse(r, res)
	if res.Code != want {
		c.t.Fatalf("%s %s: status %d, want %d: %.300s", r.Method, r.Path, res.Code, want, res.Body)
	}
	if want >= 400 && strings.HasPrefix(r.Path, "/api/v1/") {
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			c.t.Errorf("%s %s: %d with Content-Type %q", r.Method, r.Path, res.Code, ct)
		}
	}
}

// checkResponse validates a response (status, headers, body) against the
// operation of its request.
func (c *oaChecker) checkResponse(r req, res *resp) {
	c.t.Helper()
	if err := c.responseError(r, res); err != nil {
		c.t.Errorf("%s %s: %d response does not validate: %v\nbody: %.600s", r.Method, r.Path, res.Code, err, res.Body)
	}
}

func (c *oaChecker) responseError(r req, res *resp) error {
	hr := oaRequest(c.t, r)
	route, params, err := c.route(hr)
	if err != nil {
		return err
	}
	c.seen[strings.ToUpper(hr.Method)+" "+route.Path+" "+fmt.Sprint(res.Code)] = true
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Code, Header: res.Header,
		Options: oaOptions()}
	out.SetBodyBytes(res.Body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// The checker is not a rubber stamp: responses that drift from the document
// in a field, a header, a status or a media type are caught.
func TestOpenAPICatchesDrift(t *testing.T) {
	h := newHarness(t)
	c := oaNewChecker(t, h)
	_, reg := h.user("reg-east", "group/east", "registrar")
	p := h.petition(reg, petitionBody("group/east"))
	read := req{Method: "GET", Path: "/api/v1/petitions/" + p["id"].(string), Token: reg}
	good := h.send(read)
	if err := c.responseError(read, good); err != nil {
		t.Fatalf("a real response does not validate: %v", err)
	}
	missing := req{Method: "GET", Path: "/api/v1/petitions/00000000000000000000000000", Token: reg}
	notFound := h.send(missing)
	if err := c.responseError(missing, notFound); err != nil {
		t.Fatalf("a real 404 does not validate: %v", err)
	}
	edit := func(r *resp, f func(m map[string]any)) *resp {
		m := r.JSON(t)
		f(m)
		b, _ := json.Marshal(m)
		return &resp{Code: r.Code, Header: r.Header.Clone(), Body: b}
	}
	for _, tt := range []struct {
		name string
		r    req
		res  *resp
	}{
		{"unknown field", read, edit(good, func(m map[string]any) { m["petitioner_ip"] = "10.0.0.1" })},
		{"missing field", read, edit(good, func(m map[string]any) { delete(m, "identity_masked") })},
		{"wrong type", read, edit(good, func(m map[string]any) { m["group_size"] = "3" })},
		{"bad enum", read, edit(good, func(m map[string]any) { m["status"] = "lost" })},
		{"null where not nullable", read, edit(good, func(m map[string]any) { m["deadlines"] = nil })},
		{"nested field", read, edit(good, func(m map[string]any) { m["risk"].(map[string]any)["level"] = "meh" })},
		{"undocumented status", read, &resp{Code: http.StatusTeapot, Header: good.Header, Body: good.Body}},
		{"no request id", read, func() *resp {
			r := &resp{Code: good.Code, Header: good.Header.Clone(), Body: good.Body}
			r.Header.Del("X-Request-ID")
			return r
		}()},
		{"wrong media type", read, func() *resp {
			r := &resp{Code: good.Code, Header: good.Header.Clone(), Body: good.Body}
			r.Header.Set("Content-Type", "text/plain")
			return r
		}()},
		{"problem without request_id", missing, edit(notFound, func(m map[string]any) { delete(m, "request_id") })},
		{"problem as plain JSON", missing, func() *resp {
			r := &resp{Code: notFound.Code, Header: notFound.Header.Clone(), Body: notFound.Body}
			r.Header.Set("Content-Type", "application/json")
			return r
		}()},
	} {
		if err := c.responseError(tt.r, tt.res); err == nil {
			t.Errorf("%s: validates", tt.name)
		}
	}
}

// schema validates a JSON value against a component schema.
func (c *oaChecker) schema(name string, v any) error {
	s := c.doc.Components.Schemas[name]
	if s == nil {
		return fmt.Errorf("no schema %s", name)
	}
	return s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

func oaID(tb testing.TB, r *resp) string {
	tb.Helper()
	id, _ := r.JSON(tb)["id"].(string)
	if id == "" {
		tb.Fatalf("no id in %s", r.Body)
	}
	return id
}

const oaReason = "核实信访人身份以便回访"

// oaNoClientError are operations whose documented client errors a default
// vault cannot produce.
var oaNoClientError = map[string]bool{
	"GET /api/v1/audit/verifier-key": true, // 404 only for a vault that signs no checkpoints
}

// TestOpenAPIExamples drives the API through a day of work and validates
// every request and response against the document.
func TestOpenAPIExamples(t *testing.T) {
	archiveID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, harnessOptions{cfg: func(cfg *Config) {
		oaPprof(cfg)
		cfg.ArchiveRecipients = []string{archiveID.Recipient().String()}
	}})
	c := oaNewChecker(t, h)
	admin := h.admin
	post := func(path, token string, body any) req {
		return req{Method: "POST", Path: path, Token: token, Body: body}
	}
	get := func(path, token string) req { return req{Method: "GET", Path: path, Token: token} }
	retrained := c.start(post("/api/v1/admin/analysis/retrain", admin, nil)) // slow: it runs alongside
	login := func(username, password string) string {
		r := c.send(post("/api/v1/auth/login", "", map[string]string{"username": username, "password": password}), 200)
		return r.JSON(t)["token"].(string)
	}
	user := func(username, unit string, roles ...string) (string, string) {
		r := c.send(post("/api/v1/users", admin, map[string]any{"username": username, "password": testPassword,
			"display_name": username, "unit": unit, "roles": roles}), 201)
		return oaID(t, r), login(username, testPassword)
	}

	// operations
	c.send(get("/healthz", ""), 200)
	c.send(get("/readyz", ""), 200)
	c.send(get("/metrics", ""), 200)
	c.send(get("/api/v1/openapi.json", ""), 200)

	// users and auth
	regID, reg := user("reg-east", "group/east", "registrar")
	_, sup := user("sup-east", "group/east", "supervisor")
	_, off := user("off-east", "group/east", "officer")
	_, aud := user("aud-root", "group", "auditor")
	_, supWest := user("sup-west", "group/west", "supervisor")
	c.send(req{Method: "POST", Path: "/api/v1/users", Token: admin, Header: map[string]string{"X-Request-ID": "oa-dup-user"},
		Body: map[string]any{"username": "reg-east", "password": testPassword, "unit": "group/east", "roles": []string{"registrar"}}}, 409)
	c.bad(post("/api/v1/users", admin, map[string]any{"username": "x", "password": testPassword, "unit": "group", "roles": []string{"registrar"}}), 400)
	c.bad(post("/api/v1/users", admin, map[string]any{"username": "oa-new", "password": testPassword, "unit": "group",
		"roles": []string{"registrar"}, "shoe_size": 42}), 400)
	c.send(post("/api/v1/users", sup, map[string]any{"username": "oa-new", "password": testPassword, "unit": "group/east",
		"roles": []string{"registrar"}}), 403)
	c.send(get("/api/v1/users?limit=2", admin), 200)
	next := c.send(get("/api/v1/users?limit=2", admin), 200).JSON(t)["next_cursor"].(string)
	c.send(get("/api/v1/users?limit=2&cursor="+url.QueryEscape(next), admin), 200)
	c.bad(get("/api/v1/users?limit=0", admin), 400)
	c.send(get("/api/v1/users/"+regID, admin), 200)
	c.send(get("/api/v1/users/00000000000000000000000000", admin), 404)
	c.send(get("/api/v1/users/"+regID, sup), 403)
	c.send(req{Method: "PATCH", Path: "/api/v1/users/" + regID, Token: admin, Body: map[string]any{"display_name": "登记员"}}, 200)
	c.bad(req{Method: "PATCH", Path: "/api/v1/users/" + regID, Token: admin, Body: map[string]any{"display_name": ""}}, 400)
	c.bad(req{Method: "PATCH", Path: "/api/v1/users/" + regID, Token: admin, Body: map[string]any{"roles": []string{"janitor"}}}, 400)
	tmpID, tmp := user("oa-tmp", "group/east", "registrar")
	c.send(get("/api/v1/me", tmp), 200)
	secret := c.send(post("/api/v1/me/totp", tmp, nil), 200).JSON(t)["secret"].(string)
	c.send(post("/api/v1/me/totp/confirm", tmp, map[string]any{"code": mxWrongCode(t, secret, h.clock.Now())}), 400)
	c.bad(post("/api/v1/me/totp/confirm", tmp, map[string]any{}), 400)
	c.send(post("/api/v1/me/totp/confirm", tmp, map[string]any{"code": mxCode(t, secret, h.clock.Now())}), 204)
	h.clock.Add(time.Minute)
	c.send(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp", "password": testPassword}), 401)
	c.send(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp", "password": testPassword,
		"totp": mxCode(t, secret, h.clock.Now())}), 200)
	c.send(post("/api/v1/me/totp", tmp, nil), 400)
	c.send(post("/api/v1/me/totp", tmp, map[string]any{"code": mxWrongCode(t, secret, h.clock.Now())}), 403)
	c.send(req{Method: "DELETE", Path: "/api/v1/users/" + tmpID + "/totp", Token: admin}, 204)
	c.send(req{Method: "DELETE", Path: "/api/v1/users/" + tmpID + "/totp", Token: sup}, 403)
	c.send(req{Method: "DELETE", Path: "/api/v1/users/00000000000000000000000000/totp", Token: admin}, 404)
	tmp = login("oa-tmp", testPassword)
	c.send(post("/api/v1/auth/logout", tmp, nil), 204)
	c.send(get("/api/v1/me", tmp), 401) // a revoked token: the request itself follows the contract
	c.bad(get("/api/v1/me", ""), 401)
	c.send(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp", "password": "not-the-password"}), 401)
	c.bad(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp"}), 400)
	c.bad(req{Method: "POST", Path: "/api/v1/auth/login", Body: `{"username":"a","password":"b"}`,
		Header: map[string]string{"Content-Type": "text/plain"}}, 415)
	for range 4 {
		c.send(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp", "password": "not-the-password"}), 401)
	}
	c.send(post("/api/v1/auth/login", "", map[string]string{"username": "oa-tmp", "password": testPassword}), 429)

	// units and policy
	c.send(req{Method: "PUT", Path: "/api/v1/units/group%2Feast", Token: admin, Body: map[string]any{"name": "东区分公司", "public": true}}, 200)
	c.send(req{Method: "PUT", Path: "/api/v1/units/group", Token: admin, Body: map[string]any{"name": "集团"}}, 200)
	c.send(req{Method: "PUT", Path: "/api/v1/units/group", Token: sup, Body: map[string]any{"name": "集团"}}, 403)
	c.bad(req{Method: "PUT", Path: "/api/v1/units/group", Token: admin, Body: map[string]any{"public": "yes"}}, 400)
	c.send(get("/api/v1/units", reg), 200)
	c.bad(get("/api/v1/units", ""), 401)
	pol := c.send(get("/api/v1/policy", admin), 200).JSON(t)
	c.send(get("/api/v1/policy", sup), 403)
	c.send(req{Method: "PUT", Path: "/api/v1/policy", Token: admin, Body: map[string]any{"rules": pol["rules"]}}, 200)
	c.bad(req{Method: "PUT", Path: "/api/v1/policy", Token: admin, Body: map[string]any{}}, 400)
	var noManagers []any
	for _, r := range pol["rules"].([]any) {
		if !slices.Contains(r.([]any), any("user.manage")) {
			noManagers = append(noManagers, r)
		}
	}
	c.send(req{Method: "PUT", Path: "/api/v1/policy", Token: admin, Body: map[string]any{"rules": noManagers}}, 409)

	// petitions
	p1 := c.send(post("/api/v1/petitions", reg, petitionBody("group/east")), 201).JSON(t)
	id1 := p1["id"].(string)
	anon := petitionBody("group/east")
	anon["petitioner"] = nil
	anon["received_at"] = "2026-02-27T08:30:00Z"
	anon["requests"] = "请尽快处理。"
	id2 := oaID(t, c.send(post("/api/v1/petitions", sup, anon), 201))
	c.send(post("/api/v1/petitions", reg, petitionBody("group/west")), 403)
	c.bad(post("/api/v1/petitions", reg, func() map[string]any { b := petitionBody("group/east"); b["channel"] = "fax"; return b }()), 400)
	c.bad(post("/api/v1/petitions", reg, func() map[string]any { b := petitionBody("group/east"); delete(b, "title"); return b }()), 400)
	c.bad(post("/api/v1/petitions", "", petitionBody("group/east")), 401)
	c.send(post("/api/v1/petitions", aud, petitionBody("group/east")), 403)
	c.send(get("/api/v1/petitions/"+id1, reg), 200)
	c.send(get("/api/v1/petitions/"+id1, supWest), 404)
	c.send(get("/api/v1/petitions/"+id1, aud), 403)
	c.send(req{Method: "GET", Path: "/api/v1/petitions/" + id1 + "?reveal=identity", Token: sup,
		Header: map[string]string{"X-Access-Reason": oaReason}}, 200)
	c.send(req{Method: "GET", Path: "/api/v1/petitions/" + id2 + "?reveal=identity", Token: sup,
		Header: map[string]string{"X-Access-Reason": oaReason}}, 200)
	c.send(get("/api/v1/petitions/"+id1+"?reveal=identity", sup), 400)
	c.bad(get("/api/v1/petitions/"+id1+"?reveal=everything", sup), 400)
	c.send(get("/api/v1/petitions?limit=1", sup), 200)
	c.send(get("/api/v1/petitions?status=registered&unit=group%2Feast&risk=low&overdue=false&due_soon=false&assignee=off-east", sup), 200)
	c.send(get("/api/v1/petitions", reg), 200)
	c.bad(get("/api/v1/petitions?risk=apocalyptic", sup), 400)
	c.bad(get("/api/v1/petitions?overdue=maybe", sup), 400)
	c.send(get("/api/v1/petitions", admin), 403)

	act := func(token, id string, body map[string]any, want int) map[string]any {
		return c.send(post("/api/v1/petitions/"+id+"/actions", token, body), want).JSON(t)
	}
	act(sup, id1, map[string]any{"action": "categorize", "label": "wage_arrears"}, 200)
	act(sup, id1, map[string]any{"action": "accept", "comment": "符合受理条件"}, 200)
	act(sup, id1, map[string]any{"action": "accept"}, 409)
	act(sup, id1, map[string]any{"action": "assign", "assignee": "off-east"}, 200)
	act(sup, id1, map[string]any{"action": "extend", "days": 10, "reason": "需要现场核实工资发放记录"}, 200)
	c.send(get("/api/v1/petitions/"+id1, off), 200)
	act(off, id1, map[string]any{"action": "reply", "text": "经核实，工资已于本月补发。"}, 200)
	act(sup, id2, map[string]any{"action": "transfer", "reason": "属于西区管辖", "target_unit": "group/west"}, 200)
	act(reg, id1, map[string]any{"action": "close"}, 403)
	act(supWest, id1, map[string]any{"action": "close"}, 404)
	c.bad(post("/api/v1/petitions/"+id1+"/actions", sup, map[string]any{"action": "teleport"}), 400)
	c.bad(post("/api/v1/petitions/"+id1+"/actions", sup, map[string]any{"action": "accept", "days": 3}), 400)
	c.bad(post("/api/v1/petitions/"+id1+"/actions", sup, map[string]any{"action": "extend", "days": 99, "reason": "太忙"}), 400)
	c.bad(post("/api/v1/petitions/"+id1+"/actions", sup, map[string]any{"action": "assign"}), 400)
	c.send(post("/api/v1/petitions/"+id1+"/notes", off, map[string]any{"text": "已电话联系项目部。"}), 201)
	c.send(post("/api/v1/petitions/"+id1+"/notes", reg, map[string]any{"text": "登记员的备注"}), 403)
	c.bad(post("/api/v1/petitions/"+id1+"/notes", off, map[string]any{"text": ""}), 400)
	c.send(get("/api/v1/petitions/"+id1+"/events", sup), 200)
	c.send(get("/api/v1/petitions/00000000000000000000000000/events", sup), 404)
	c.bad(req{Method: "POST", Path: "/api/v1/petitions/" + id1 + "/notes", Token: off, Body: strings.Repeat("x", MaxBody+10)}, 413)

	// policy explain, with a petition
	c.send(get("/api/v1/policy/explain?user=reg-east&action=petition.read&petition="+id1, admin), 200)
	c.send(get("/api/v1/policy/explain?user=reg-east&action=petition.reveal", admin), 200)
	c.bad(get("/api/v1/policy/explain?action=petition.read", admin), 400)
	c.bad(get("/api/v1/policy/explain?user=reg-east&action=petition.reveal_identity", admin), 400)
	c.send(get("/api/v1/policy/explain?user=reg-east&action=petition.read", sup), 403)

	// the portal
	c.send(get("/api/v1/public/units", ""), 200)
	pub := map[string]any{"unit": "group/east", "title": "三号工地拖欠工资", "content": "我们十二个人在三号工地干了三个月，工资一直没有发。",
		"requests": "请督促项目部尽快发放工资。", "subjects": []string{"李经理"}, "group_size": 12,
		"petitioner": map[string]any{"name": "张三", "phone": "13812345678"}}
	code := c.send(post("/api/v1/public/petitions", "", pub), 201).JSON(t)["receipt_code"].(string)
	pub2 := map[string]any{"unit": "group/east", "channel": "online", "title": "食堂卫生问题", "content": "食堂的饭菜不卫生。"}
	code2 := c.send(post("/api/v1/public/petitions", "", pub2), 201).JSON(t)["receipt_code"].(string)
	c.send(post("/api/v1/public/petitions", "", map[string]any{"unit": "group/west", "title": "t", "content": "c"}), 400)
	c.bad(post("/api/v1/public/petitions", "", map[string]any{"unit": "group/east", "title": "t", "content": "c",
		"received_at": "2026-02-27T08:30:00Z"}), 400)
	c.send(post("/api/v1/public/track", "", map[string]any{"receipt_code": code}), 200)
	c.send(post("/api/v1/public/track", "", map[string]any{"receipt_code": "0000-0000-0000-0000-0000"}), 404)
	c.send(post("/api/v1/public/review", "", map[string]any{"receipt_code": code, "reason": "对答复不满意，申请复查。"}), 409)
	m, err := h.v.PetitionByReceipt(code)
	if err != nil {
		t.Fatal(err)
	}
	act(sup, m.ID, map[string]any{"action": "accept"}, 200)
	act(sup, m.ID, map[string]any{"action": "assign", "assignee": "off-east"}, 200)
	act(off, m.ID, map[string]any{"action": "reply", "text": "工资将于下周一发放。"}, 200)
	c.send(post("/api/v1/public/track", "", map[string]any{"receipt_code": code}), 200)
	c.bad(post("/api/v1/public/feedback", "", map[string]any{"receipt_code": code, "rating": "meh"}), 400)
	c.send(post("/api/v1/public/feedback", "", map[string]any{"receipt_code": code, "rating": "dissatisfied", "comment": "还没发"}), 204)
	c.send(post("/api/v1/public/feedback", "", map[string]any{"receipt_code": code, "rating": "satisfied"}), 409)
	c.send(post("/api/v1/public/review", "", map[string]any{"receipt_code": code, "reason": "对答复不满意，申请复查。"}), 204)
	c.send(post("/api/v1/public/track", "", map[string]any{"receipt_code": code}), 200)
	c.send(get("/api/v1/petitions/"+m.ID+"/events", sup), 200)
	c.send(get("/api/v1/petitions/"+m.ID, sup), 200)

	// the portal's web pages
	form := func(path, body string) req {
		return req{Method: "POST", Path: path, Body: body, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	c.send(get("/", ""), 200)
	c.send(get("/submit", ""), 200)
	c.send(get("/track", ""), 200)
	c.send(get("/static/style.css", ""), 200)
	c.send(form("/submit", url.Values{"unit": {"group/east"}, "title": {"网上反映"}, "content": {"网页提交的内容。"}, "group_size": {"2"}}.Encode()), 201)
	c.send(form("/submit", url.Values{"unit": {"group/east"}, "title": {""}, "content": {"内容"}}.Encode()), 400)
	c.send(form("/track", url.Values{"receipt_code": {code2}}.Encode()), 200)
	c.send(form("/track", url.Values{"receipt_code": {"0000-0000-0000-0000-0001"}}.Encode()), 404)
	c.send(form("/feedback", url.Values{"receipt_code": {code2}, "rating": {"satisfied"}}.Encode()), 409)
	c.send(form("/review", url.Values{"receipt_code": {code2}, "reason": {"申请复查"}}.Encode()), 409)
	m2, err := h.v.PetitionByReceipt(code2)
	if err != nil {
		t.Fatal(err)
	}
	act(sup, m2.ID, map[string]any{"action": "accept"}, 200)
	act(sup, m2.ID, map[string]any{"action": "assign", "assignee": "off-east"}, 200)
	act(off, m2.ID, map[string]any{"action": "reply", "text": "食堂已整改。"}, 200)
	c.send(form("/feedback", url.Values{"receipt_code": {code2}, "rating": {"dissatisfied"}, "comment": {"没有彻底整改"}}.Encode()), 200)
	c.send(form("/review", url.Values{"receipt_code": {code2}, "reason": {"整改不彻底，申请复查。"}}.Encode()), 200)
	c.send(form("/track", url.Values{"receipt_code": {code2}}.Encode()), 200)
	c.bad(req{Method: "POST", Path: "/track", Body: `{"receipt_code":"x"}`}, 415)

	// the audit log
	c.send(get("/api/v1/audit/entries?limit=5", aud), 200)
	c.send(get("/api/v1/audit/entries?start=3&limit=3&action=petition.read&actor=sup-east&object="+id1+"&request_id=oa-dup-user", aud), 200)
	c.bad(get("/api/v1/audit/entries?start=-1", aud), 400)
	c.send(get("/api/v1/audit/entries", sup), 403)
	exp := c.send(get("/api/v1/audit/export?start=0&end=20", aud), 200)
	lines := bytes.Split(bytes.TrimSuffix(exp.Body, []byte("\n")), []byte("\n"))
	if len(lines) != 20 {
		t.Errorf("export of 20 entries has %d lines", len(lines))
	}
	for i, l := range lines {
		var v any
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("export line %d: %v", i, err)
		}
		if err := c.schema("AuditEntry", v); err != nil {
			t.Errorf("export line %d does not validate as AuditEntry: %v\n%s", i, err, l)
		}
	}
	c.send(get("/api/v1/audit/export?start=5&end=2", aud), 400)
	c.send(get("/api/v1/audit/export", admin), 403)
	c.send(get("/api/v1/audit/checkpoint", aud), 200)
	c.bad(get("/api/v1/audit/checkpoint?size=0", aud), 400)
	c.send(get("/api/v1/audit/checkpoint?size=3", aud), 404)
	c.send(get("/api/v1/audit/verifier-key", ""), 200)
	c.send(get("/api/v1/audit/verifier-key", aud), 200)
	c.send(get("/api/v1/audit/proof/inclusion?index=0", aud), 200)
	c.send(get("/api/v1/audit/proof/inclusion?index=3&size=10", aud), 200)
	c.send(get("/api/v1/audit/proof/inclusion?index=999999", aud), 400)
	c.bad(get("/api/v1/audit/proof/inclusion", aud), 400)
	c.send(get("/api/v1/audit/proof/consistency?old=1", aud), 200)
	c.send(get("/api/v1/audit/proof/consistency?old=5&new=9", aud), 200)
	c.send(get("/api/v1/audit/proof/consistency?old=9&new=5", aud), 400)
	c.send(get("/api/v1/audit/verify", aud), 200)
	c.send(get("/api/v1/audit/verify", sup), 403)
	c.send(post("/api/v1/audit/hash", aud, map[string]any{"value": "13812345678"}), 200)
	c.bad(post("/api/v1/audit/hash", aud, map[string]any{"value": ""}), 400)

	// statistics
	c.send(get("/api/v1/stats/summary", sup), 200)
	c.send(get("/api/v1/stats/summary?from=2026-01-01&to=2026-03-31T00:00:00Z&unit=group", aud), 200)
	c.bad(get("/api/v1/stats/summary?from=yesterday", sup), 400)
	c.send(get("/api/v1/stats/summary?unit=group%2Fwest", sup), 404)
	c.send(get("/api/v1/stats/summary", reg), 403)
	c.send(get("/api/v1/stats/hotspots", aud), 200)
	c.send(get("/api/v1/stats/hotspots?from=2026-01-01&to=2026-03-02&unit=group%2Feast", sup), 200)
	c.send(get("/api/v1/stats/hotspots?from=2020-01-01&to=2026-03-02", sup), 400)
	c.send(get("/api/v1/stats/reveals", aud), 200)
	c.send(get("/api/v1/stats/reveals?from=2026-03-03&to=2026-03-01", aud), 400)
	c.send(get("/api/v1/stats/reveals", sup), 403)

	// alerts: a fortnight later the open cases are due or overdue
	h.clock.Add(14 * 24 * time.Hour)
	admin = login("admin", testAdminPassword)
	sup = login("sup-east", testPassword)
	reg = login("reg-east", testPassword)
	aud = login("aud-root", testPassword)
	c.send(post("/api/v1/admin/sweep", admin, nil), 200)
	c.send(post("/api/v1/admin/sweep", sup, nil), 403)
	c.send(get("/api/v1/alerts", sup), 200)
	c.send(get("/api/v1/alerts?kind=due_soon&unit=group%2Feast", sup), 200)
	c.bad(get("/api/v1/alerts?kind=doom", sup), 400)
	c.send(get("/api/v1/alerts", reg), 403)
	c.send(get("/api/v1/petitions?due_soon=true", sup), 200)

	// administration
	c.send(get("/debug/pprof/cmdline", admin), 200)
	c.send(get("/debug/pprof/heap?debug=1", admin), 200)
	c.send(get("/debug/pprof/nonesuch", admin), 404)
	c.send(get("/debug/pprof/cmdline", sup), 403)
	c.bad(get("/debug/pprof/cmdline", ""), 401)
	retrained(200)
	c.send(post("/api/v1/admin/analysis/retrain", sup, nil), 403)
	c.send(get("/api/v1/admin/backup", admin), 200)
	c.send(get("/api/v1/admin/backup", aud), 403)
	c.send(get("/api/v1/admin/archive", admin), 200)
	c.send(get("/api/v1/admin/archive?status=transferred&from=2026-01-01&to=2026-12-31&recipient="+url.QueryEscape(archiveID.Recipient().String()), admin), 200)
	c.send(get("/api/v1/admin/archive?recipient="+url.QueryEscape(otherID.Recipient().String()), admin), 403)
	c.bad(get("/api/v1/admin/archive?status=lost", admin), 400)
	c.send(get("/api/v1/admin/archive", sup), 403)
	c.send(get("/api/v1/admin/jobs/00000000000000000000000000", admin), 404)
	c.bad(post("/api/v1/admin/keys/rotate", admin, map[string]any{"add_recovery": []string{"not-an-age-key"}}), 400)
	c.send(post("/api/v1/admin/keys/rotate", sup, nil), 403)
	job := c.send(post("/api/v1/admin/keys/rotate", admin, nil), 202).JSON(t)["job"].(map[string]any)
	jobID, _ := job["id"].(string)
	for i := 0; i < 500; i++ {
		if h.must(200, "GET", "/api/v1/admin/jobs/"+jobID, admin, nil).JSON(t)["state"] != "running" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j := c.send(get("/api/v1/admin/jobs/"+jobID, admin), 200).JSON(t); j["state"] != "done" {
		t.Errorf("rotation job = %v", j)
	}

	// Every operation was exercised with a success and, where it documents
	// one, a client error.
	for name, op := range oaOperations(c.doc) {
		var ok, clientErr, hasClientErr bool
		for code := range op.Responses.Map() {
			if code >= "400" && code < "500" && code != "401" && code != "413" && code != "415" && code != "429" {
				hasClientErr = true
			}
		}
		for k := range c.seen {
			if !strings.HasPrefix(k, name+" ") {
				continue
			}
			st := strings.TrimPrefix(k, name+" ")
			ok = ok || st < "400"
			clientErr = clientErr || st >= "400" && st < "500"
		}
		if !ok {
			t.Errorf("%s: no successful exchange validated", name)
		}
		if hasClientErr && !clientErr && !oaNoClientError[name] {
			t.Errorf("%s: no client error validated", name)
		}
	}
}
