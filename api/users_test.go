package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pvault/audit"
)

// auNewUser is a POST /users body.
func auNewUser(username, unit string, roles ...string) map[string]any {
	return map[string]any{"username": username, "password": testPassword, "display_name": "User " + username, "unit": unit, "roles": roles}
}

// auWith returns a copy of m with k set to v (or removed when v is nil).
func auWith(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// auListUsernames returns the usernames of a GET /users page and its
// next_cursor.
func auListUsernames(tb testing.TB, r *resp) ([]string, string) {
	tb.Helper()
	m := r.JSON(tb)
	items, ok := m["items"].([]any)
	if !ok {
		tb.Fatalf("items = %v", m["items"])
	}
	next, ok := m["next_cursor"].(string)
	if !ok {
		tb.Fatalf("next_cursor = %v, want a string", m["next_cursor"])
	}
	var names []string
	for _, it := range items {
		names = append(names, it.(map[string]any)["username"].(string))
	}
	return names, next
}

// auPetitionIDs returns the ids in a GET /petitions answer for token.
func auPetitionIDs(tb testing.TB, h *harness, token string) []string {
	tb.Helper()
	m := h.must(http.StatusOK, "GET", "/api/v1/petitions", token, nil).JSON(tb)
	var ids []string
	for _, it := range m["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// Each role against each user endpoint: admins may, everyone else gets 403
// and a deny entry.
func TestUsersRoleAccess(t *testing.T) {
	h := newHarness(t)
	tokens, ids := auRoleUsers(h)
	target, _ := h.user("target", "group/east", "officer")
	for _, role := range auRoles {
		want := func(ok int) int {
			if role == "admin" {
				return ok
			}
			return http.StatusForbidden
		}
		for _, tt := range []struct {
			name       string
			method     string
			path       string
			body       any
			wantStatus int
		}{
			{"create", "POST", "/api/v1/users", auNewUser("new-by-"+role, "group/east", "registrar"), want(201)},
			{"create admin", "POST", "/api/v1/users", auNewUser("admin-by-"+role, "group", "admin"), want(201)},
			{"list", "GET", "/api/v1/users", nil, want(200)},
			{"get", "GET", "/api/v1/users/" + target, nil, want(200)},
			{"get self", "GET", "/api/v1/users/" + ids[role], nil, want(200)},
			{"patch", "PATCH", "/api/v1/users/" + target, map[string]any{"display_name": "Patched by " + role}, want(200)},
			{"patch own roles", "PATCH", "/api/v1/users/" + ids[role], map[string]any{"roles": []string{role, "admin"}}, want(200)},
		} {
			t.Run(role+"/"+tt.name, func(t *testing.T) {
				if role == "admin" && tt.name == "patch own roles" {
					t.Skip("an admin may change their own roles")
				}
				r := h.do(tt.method, tt.path, tokens[role], tt.body)
				e := auCheckEntry(t, h, r, "", auDecision(tt.wantStatus))
				if e.Actor == nil || e.Actor.UserID != ids[role] {
					t.Errorf("actor = %+v", e.Actor)
				}
				if tt.wantStatus == http.StatusForbidden {
					auProblem(t, r, tt.wantStatus)
					return
				}
				if r.Code != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", r.Code, tt.wantStatus, r.Body)
				}
			})
		}
	}
	// None of the refused requests changed anything.
	names, _ := auListUsernames(t, h.must(http.StatusOK, "GET", "/api/v1/users?limit=500", h.admin, nil))
	for _, role := range auRoles[1:] {
		if slices.Contains(names, "new-by-"+role) || slices.Contains(names, "admin-by-"+role) {
			t.Errorf("a %s created a user: %v", role, names)
		}
		m := h.must(http.StatusOK, "GET", "/api/v1/users/"+ids[role], h.admin, nil).JSON(t)
		if rs := m["roles"].([]any); len(rs) != 1 {
			t.Errorf("a %s changed their own roles: %v", role, rs)
		}
	}
	if m := h.must(http.StatusOK, "GET", "/api/v1/users/"+target, h.admin, nil).JSON(t); m["display_name"] != "Patched by admin" {
		t.Errorf("target display_name = %v", m["display_name"])
	}
}

func TestUsersCreate(t *testing.T) {
	h := newHarness(t)
	valid := auNewUser("henry", "group/east/site-3", "officer", "registrar")
	h.must(http.StatusCreated, "POST", "/api/v1/users", h.admin, auNewUser("taken", "group", "auditor"))

	for _, tt := range []struct {
		name       string
		body       any
		wantStatus int
		wantDetail string // the field the detail names
	}{
		{"ok", valid, 201, ""},
		{"ok dotted username", auNewUser("a.b_c-9", "group", "auditor"), 201, ""},
		{"ok 32-character username", auNewUser(strings.Repeat("u", 32), "group", "auditor"), 201, ""},
		{"ok 12-character password", auWith(auNewUser("ivy", "group", "auditor"), "password", "twelve-chars"), 201, ""},
		{"ok 12 Chinese characters", auWith(auNewUser("lily", "group", "auditor"), "password", strings.Repeat("密", 12)), 201, ""},
		{"ok Chinese display name", auWith(auNewUser("jack", "group", "supervisor"), "display_name", "东区主管"), 201, ""},
		{"username upper case", auNewUser("Kate", "group", "officer"), 400, "username"},
		{"username too short", auNewUser("ab", "group", "officer"), 400, "username"},
		{"username too long", auNewUser(strings.Repeat("u", 33), "group", "officer"), 400, "username"},
		{"username with space", auNewUser("kate smith", "group", "officer"), 400, "username"},
		{"username with slash", auNewUser("kate/x", "group", "officer"), 400, "username"},
		{"username Chinese", auNewUser("王五五", "group", "officer"), 400, "username"},
		{"username missing", auWith(valid, "username", nil), 400, "username"},
		{"password 11 characters", auWith(auNewUser("kate", "group", "officer"), "password", "eleven-char"), 400, "password"},
		{"password 11 Chinese characters", auWith(auNewUser("kate", "group", "officer"), "password", strings.Repeat("密", 11)), 400, "password"},
		{"display name lone surrogate", `{"username":"kate","password":"` + testPassword + `","unit":"group","roles":["officer"],"display_name":"Kate \ud800"}`, 400, "display_name"},
		{"password missing", auWith(auNewUser("kate", "group", "officer"), "password", nil), 400, "password"},
		{"password equals username", auWith(auNewUser("kate.the.great", "group", "officer"), "password", "kate.the.great"), 400, "password"},
		{"common password", auWith(auNewUser("kate", "group", "officer"), "password", "password1234"), 400, "password"},
		{"common password qwerty", auWith(auNewUser("kate", "group", "officer"), "password", "qwerty123456"), 400, "password"},
		{"unknown role", auNewUser("kate", "group", "root"), 400, "roles"},
		{"role in upper case", auNewUser("kate", "group", "Admin"), 400, "roles"},
		{"empty roles", auNewUser("kate", "group"), 400, "roles"},
		{"roles missing", auWith(auNewUser("kate", "group", "officer"), "roles", nil), 400, "roles"},
		{"roles not a list", auWith(auNewUser("kate", "group", "officer"), "roles", "officer"), 400, "roles"},
		{"unit upper case", auNewUser("kate", "Group/East", "officer"), 400, "unit"},
		{"unit empty segment", auNewUser("kate", "group//east", "officer"), 400, "unit"},
		{"unit leading slash", auNewUser("kate", "/group", "officer"), 400, "unit"},
		{"unit trailing slash", auNewUser("kate", "group/", "officer"), 400, "unit"},
		{"unit underscore", auNewUser("kate", "group/east_1", "officer"), 400, "unit"},
		{"unit dot dot", auNewUser("kate", "group/../x", "officer"), 400, "unit"},
		{"unit missing", auWith(auNewUser("kate", "group", "officer"), "unit", nil), 400, "unit"},
		{"display name with newline", auWith(auNewUser("kate", "group", "officer"), "display_name", "Kate\nSmith"), 400, "display_name"},
		{"display name too long", auWith(auNewUser("kate", "group", "officer"), "display_name", strings.Repeat("名", 101)), 400, "display_name"},
		{"unknown field", auWith(auNewUser("kate", "group", "officer"), "email", "k@example.com"), 400, "email"},
		{"duplicate key", `{"username":"kate","username":"kate2","password":"` + testPassword + `","unit":"group","roles":["officer"]}`, 400, "username"},
		{"trailing data", `{"username":"kate","password":"` + testPassword + `","unit":"group","roles":["officer"]}[]`, 400, ""},
		{"field name in other case", `{"username":"kate","password":"` + testPassword + `","unit":"group","Roles":["officer"]}`, 400, "Roles"},
		{"duplicate username", auNewUser("taken", "group/east", "officer"), 409, ""},
		{"duplicate of a created user", valid, 409, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/api/v1/users", h.admin, tt.body)
			e := auCheckEntry(t, h, r, "user.create", audit.Allow)
			if tt.wantStatus != http.StatusCreated {
				auProblem(t, r, tt.wantStatus)
				if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
					t.Errorf("detail %q does not name %q", d, tt.wantDetail)
				}
				return
			}
			if r.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			body := tt.body.(map[string]any)
			m := r.JSON(t)
			auCheckUser(t, m, body["username"].(string), body["unit"].(string), body["roles"].([]string)...)
			if m["display_name"] != body["display_name"] || m["disabled"] != false {
				t.Errorf("created user = %v", m)
			}
			if e.Object == nil || e.Object.Type != "user" || e.Object.ID != m["id"] {
				t.Errorf("entry object = %+v, want user %v", e.Object, m["id"])
			}
			// The new user can log in and is what GET /users/{id} shows.
			tok := h.login(body["username"].(string), body["password"].(string))
			me := h.must(http.StatusOK, "GET", "/api/v1/me", tok, nil).JSON(t)
			got := h.must(http.StatusOK, "GET", "/api/v1/users/"+m["id"].(string), h.admin, nil).JSON(t)
			for _, k := range []string{"id", "username", "display_name", "unit", "created_at"} {
				if me[k] != m[k] || got[k] != m[k] {
					t.Errorf("%s: created %v, /me %v, /users/{id} %v", k, m[k], me[k], got[k])
				}
			}
		})
	}
	// No password in any audit entry.
	if all := auExport(t, h); strings.Contains(string(all), testPassword) || strings.Contains(string(all), "twelve-chars") {
		t.Errorf("audit entries contain a password")
	}
}

func TestUsersList(t *testing.T) {
	h := newHarness(t)
	want := []string{"admin"}
	for i := range 7 {
		name := "list-user-" + strconv.Itoa(i)
		h.must(http.StatusCreated, "POST", "/api/v1/users", h.admin, auNewUser(name, "group", "officer"))
		want = append(want, name)
	}
	slices.Sort(want)

	t.Run("default limit returns all", func(t *testing.T) {
		r := h.must(http.StatusOK, "GET", "/api/v1/users", h.admin, nil)
		names, next := auListUsernames(t, r)
		slices.Sort(names)
		if !slices.Equal(names, want) || next != "" {
			t.Errorf("users = %v next %q, want %v and no cursor", names, next, want)
		}
		for _, it := range r.JSON(t)["items"].([]any) {
			m := it.(map[string]any)
			if _, ok := m["password_hash"]; ok {
				t.Errorf("list shows a password hash: %v", m)
			}
		}
		e := auCheckEntry(t, h, r, "user.list", audit.Allow)
		if ids, _ := e.Details["ids"].([]any); len(ids) != len(want) {
			t.Errorf("entry records %d ids, want %d", len(ids), len(want))
		}
	})
	for _, limit := range []int{1, 3, 4, 8, 500} {
		t.Run("pages of "+strconv.Itoa(limit), func(t *testing.T) {
			var all []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("more than %d pages", pages)
				}
				q := url.Values{"limit": {strconv.Itoa(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				r := h.must(http.StatusOK, "GET", "/api/v1/users?"+q.Encode(), h.admin, nil)
				names, next := auListUsernames(t, r)
				if len(names) > limit {
					t.Fatalf("page of %d for limit %d", len(names), limit)
				}
				all = append(all, names...)
				if next == "" {
					if len(all) < len(want) && len(names) == 0 {
						t.Fatalf("empty last page")
					}
					break
				}
				if len(names) != limit {
					t.Errorf("short page (%d of %d) with a next cursor", len(names), limit)
				}
				cursor = next
			}
			sorted := slices.Sorted(slices.Values(all))
			if !slices.Equal(sorted, want) {
				t.Errorf("pages gave %v, want %v", all, want)
			}
		})
	}
	t.Run("last page has an empty cursor", func(t *testing.T) {
		r := h.must(http.StatusOK, "GET", "/api/v1/users?limit=8", h.admin, nil)
		if _, next := auListUsernames(t, r); next != "" {
			t.Errorf("next_cursor = %q on a page holding every user", next)
		}
	})
	for _, tt := range []struct {
		name       string
		query      string
		wantStatus int
		wantDetail string
	}{
		{"limit 0", "limit=0", 400, "limit"},
		{"limit 501", "limit=501", 400, "limit"},
		{"limit negative", "limit=-1", 400, "limit"},
		{"limit not a number", "limit=ten", 400, "limit"},
		{"limit empty", "limit=", 400, "limit"},
		{"bad cursor", "cursor=%21%21%21", 400, "cursor"},
		{"cursor of an id-like string", "cursor=bm90LWFuLWlk", 400, "cursor"},
		{"limit 500", "limit=500", 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", "/api/v1/users?"+tt.query, h.admin, nil)
			auCheckEntry(t, h, r, "user.list", audit.Allow)
			if tt.wantStatus == http.StatusOK {
				if r.Code != 200 {
					t.Fatalf("status %d: %s", r.Code, r.Body)
				}
				return
			}
			auProblem(t, r, tt.wantStatus)
			if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
				t.Errorf("detail %q does not name %q", d, tt.wantDetail)
			}
		})
	}
}

func TestUsersGet(t *testing.T) {
	h := newHarness(t)
	id, _ := h.user("lena", "group/west", "supervisor")
	for _, tt := range []struct {
		name       string
		id         string
		wantStatus int
	}{
		{"known", id, 200},
		{"unknown id", "01ARZ3NDEKTSV4RRFFQ69G5FAV", 404},
		{"lower-case id", strings.ToLower(id), 404},
		{"garbage id", "not-an-id", 404},
		{"username instead of id", "lena", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", "/api/v1/users/"+tt.id, h.admin, nil)
			e := auCheckEntry(t, h, r, "user.read", audit.Allow)
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				return
			}
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			auCheckUser(t, r.JSON(t), "lena", "group/west", "supervisor")
			if e.Object == nil || e.Object.ID != id {
				t.Errorf("entry object = %+v", e.Object)
			}
		})
	}
}

func TestUsersPatch(t *testing.T) {
	h := newHarness(t)
	id, _ := h.user("mia", "group/east", "officer")
	other, _ := h.user("mona", "group/east", "officer")
	for _, tt := range []struct {
		name       string
		id         string
		body       any
		wantStatus int
		wantDetail string
		check      func(t *testing.T, m map[string]any)
	}{
		{name: "display name", id: id, body: map[string]any{"display_name": "米娅"}, wantStatus: 200,
			check: func(t *testing.T, m map[string]any) {
				if m["display_name"] != "米娅" {
					t.Errorf("display_name = %v", m["display_name"])
				}
			}},
		{name: "unit", id: id, body: map[string]any{"unit": "group/west"}, wantStatus: 200,
			check: func(t *testing.T, m map[string]any) { auCheckUser(t, m, "mia", "group/west", "officer") }},
		{name: "roles", id: id, body: map[string]any{"roles": []string{"officer", "registrar"}}, wantStatus: 200,
			check: func(t *testing.T, m map[string]any) { auCheckUser(t, m, "mia", "group/west", "officer", "registrar") }},
		{name: "empty patch", id: id, body: map[string]any{}, wantStatus: 200,
			check: func(t *testing.T, m map[string]any) { auCheckUser(t, m, "mia", "group/west", "officer", "registrar") }},
		{name: "unknown id", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV", body: map[string]any{"display_name": "x"}, wantStatus: 404},
		{name: "bad unit", id: id, body: map[string]any{"unit": "Group"}, wantStatus: 400, wantDetail: "unit"},
		{name: "unknown role", id: id, body: map[string]any{"roles": []string{"superuser"}}, wantStatus: 400, wantDetail: "roles"},
		{name: "empty roles", id: id, body: map[string]any{"roles": []string{}}, wantStatus: 400, wantDetail: "roles"},
		{name: "short password", id: id, body: map[string]any{"password": "short-pass"}, wantStatus: 400, wantDetail: "password"},
		{name: "password equals username", id: id, body: map[string]any{"password": "mia"}, wantStatus: 400, wantDetail: "password"},
		{name: "common password", id: id, body: map[string]any{"password": "changeme1234"}, wantStatus: 400, wantDetail: "password"},
		{name: "blank display name", id: id, body: map[string]any{"display_name": ""}, wantStatus: 400, wantDetail: "display_name"},
		{name: "disabled not a bool", id: id, body: map[string]any{"disabled": "yes"}, wantStatus: 400, wantDetail: "disabled"},
		{name: "username cannot change", id: id, body: map[string]any{"username": "mia2"}, wantStatus: 400, wantDetail: "username"},
		{name: "unknown field", id: id, body: map[string]any{"role": "admin"}, wantStatus: 400, wantDetail: "role"},
		{name: "not JSON", id: id, body: "display_name=x", wantStatus: 400},
		{name: "field name in other case", id: other, body: `{"Disabled":true}`, wantStatus: 400, wantDetail: "Disabled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("PATCH", "/api/v1/users/"+tt.id, h.admin, tt.body)
			auCheckEntry(t, h, r, "user.update", audit.Allow)
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
					t.Errorf("detail %q does not name %q", d, tt.wantDetail)
				}
				return
			}
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			tt.check(t, r.JSON(t))
		})
	}
	// The refused patches left the user as it was.
	m := h.must(http.StatusOK, "GET", "/api/v1/users/"+id, h.admin, nil).JSON(t)
	auCheckUser(t, m, "mia", "group/west", "officer", "registrar")
	if m["display_name"] != "米娅" || m["disabled"] != false {
		t.Errorf("user after refused patches = %v", m)
	}
	h.login("mia", testPassword)
}

// Disabling a user revokes their tokens at once and refuses their login.
func TestUsersPatchDisableRevokes(t *testing.T) {
	h := newHarness(t)
	id, tok := h.user("nina", "group/east", "registrar")
	other := h.login("nina", testPassword)
	h.must(http.StatusOK, "GET", "/api/v1/me", tok, nil)

	r := h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id, h.admin, map[string]any{"disabled": true})
	if m := r.JSON(t); m["disabled"] != true {
		t.Errorf("disabled = %v", m["disabled"])
	}
	for _, tt := range []struct {
		name       string
		method     string
		path       string
		token      string
		body       any
		wantStatus int
	}{
		{"me with first token", "GET", "/api/v1/me", tok, nil, 401},
		{"me with second token", "GET", "/api/v1/me", other, nil, 401},
		{"create petition", "POST", "/api/v1/petitions", tok, petitionBody("group/east"), 401},
		{"login", "POST", "/api/v1/auth/login", "", auLoginBody("nina", testPassword), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, tt.path, tt.token, tt.body)
			auProblem(t, r, tt.wantStatus)
			auCheckEntry(t, h, r, "", audit.Deny)
		})
	}
	// The list shows the user as disabled; enabling lets them log in again
	// but the old tokens stay dead.
	if m := h.must(http.StatusOK, "GET", "/api/v1/users/"+id, h.admin, nil).JSON(t); m["disabled"] != true {
		t.Errorf("GET shows disabled = %v", m["disabled"])
	}
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id, h.admin, map[string]any{"disabled": false})
	fresh := h.login("nina", testPassword)
	h.must(http.StatusOK, "GET", "/api/v1/me", fresh, nil)
	auProblem(t, h.do("GET", "/api/v1/me", tok, nil), 401)
}

// Changing a user's roles revokes their tokens; the next login carries the
// new roles.
func TestUsersPatchRolesRevokes(t *testing.T) {
	h := newHarness(t)
	id, tok := h.user("oscar", "group", "auditor")
	h.must(http.StatusOK, "GET", "/api/v1/audit/entries?limit=1", tok, nil)
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id, h.admin, map[string]any{"roles": []string{"supervisor"}})
	r := h.do("GET", "/api/v1/audit/entries?limit=1", tok, nil)
	auProblem(t, r, 401)
	auCheckEntry(t, h, r, "", audit.Deny)
	fresh := h.login("oscar", testPassword)
	auCheckUser(t, h.must(http.StatusOK, "GET", "/api/v1/me", fresh, nil).JSON(t), "oscar", "group", "supervisor")
	auProblem(t, h.do("GET", "/api/v1/audit/entries?limit=1", fresh, nil), 403)
}

func TestUsersPatchPassword(t *testing.T) {
	h := newHarness(t)
	id, _ := h.user("paula", "group", "officer")
	newPassword := "paulas-new-password"
	r := h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id, h.admin, map[string]any{"password": newPassword})
	if strings.Contains(string(r.Body), newPassword) || strings.Contains(string(r.Body), "password") {
		t.Errorf("PATCH answer mentions the password: %s", r.Body)
	}
	e := auCheckEntry(t, h, r, "user.update", audit.Allow)
	if e.Object == nil || e.Object.ID != id {
		t.Errorf("entry object = %+v", e.Object)
	}
	auProblem(t, h.do("POST", "/api/v1/auth/login", "", auLoginBody("paula", testPassword)), 401)
	h.login("paula", newPassword)
	if strings.Contains(string(auExport(t, h)), newPassword) {
		t.Errorf("audit entries contain the new password")
	}
}

// Removing the last enabled admin is 409; with another admin it is allowed.
func TestUsersLastAdmin(t *testing.T) {
	h := newHarness(t)
	adminID := h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(t)["id"].(string)

	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"disable the only admin", map[string]any{"disabled": true}},
		{"drop the admin role", map[string]any{"roles": []string{"auditor"}}},
		{"drop the admin role and disable", map[string]any{"roles": []string{"registrar"}, "disabled": true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("PATCH", "/api/v1/users/"+adminID, h.admin, tt.body)
			auProblem(t, r, 409)
			auCheckEntry(t, h, r, "user.update", audit.Allow)
			// Nothing changed and the admin's token still works.
			m := h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(t)
			auCheckUser(t, m, "admin", "group", "admin")
			if m["disabled"] != false {
				t.Errorf("admin disabled = %v", m["disabled"])
			}
		})
	}

	// A disabled second admin does not count.
	id2, tok2 := h.user("admin2", "group", "admin")
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id2, h.admin, map[string]any{"disabled": true})
	auProblem(t, h.do("PATCH", "/api/v1/users/"+adminID, h.admin, map[string]any{"disabled": true}), 409)
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id2, h.admin, map[string]any{"disabled": false})
	tok2 = h.login("admin2", testPassword)

	t.Run("with another admin", func(t *testing.T) {
		h.must(http.StatusOK, "PATCH", "/api/v1/users/"+adminID, tok2, map[string]any{"roles": []string{"auditor"}})
		auProblem(t, h.do("GET", "/api/v1/users", h.login("admin", testAdminPassword), nil), 403)
		// admin2 is now the last one.
		r := h.do("PATCH", "/api/v1/users/"+id2, tok2, map[string]any{"disabled": true})
		auProblem(t, r, 409)
		r = h.do("PATCH", "/api/v1/users/"+id2, tok2, map[string]any{"roles": []string{"supervisor"}})
		auProblem(t, r, 409)
		// Restore the first admin, then admin2 may go.
		h.must(http.StatusOK, "PATCH", "/api/v1/users/"+adminID, tok2, map[string]any{"roles": []string{"admin"}})
		h.must(http.StatusOK, "PATCH", "/api/v1/users/"+id2, tok2, map[string]any{"disabled": true})
		auProblem(t, h.do("GET", "/api/v1/me", tok2, nil), 401)
		h.login("admin", testAdminPassword)
	})
}

// A supervisor sees petitions of their own scope; changing their unit
// changes what they see at once, with the same token.
func TestUsersPatchUnitChangesScope(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("quinn", "group", "registrar")
	east := h.petition(reg, petitionBody("group/east"))["id"].(string)
	west := h.petition(reg, petitionBody("group/west/site-1"))["id"].(string)
	supID, sup := h.user("rita", "group/east", "supervisor")

	if got := auPetitionIDs(t, h, sup); !slices.Equal(got, []string{east}) {
		t.Fatalf("supervisor in group/east sees %v, want [%s]", got, east)
	}
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+east, sup, nil)
	auProblem(t, h.do("GET", "/api/v1/petitions/"+west, sup, nil), 404)

	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+supID, h.admin, map[string]any{"unit": "group/west"})
	if got := auPetitionIDs(t, h, sup); !slices.Equal(got, []string{west}) {
		t.Errorf("supervisor moved to group/west sees %v, want [%s]", got, west)
	}
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+west, sup, nil)
	auProblem(t, h.do("GET", "/api/v1/petitions/"+east, sup, nil), 404)

	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+supID, h.admin, map[string]any{"unit": "group"})
	want := []string{east, west}
	slices.Sort(want)
	if got := auPetitionIDs(t, h, sup); !slices.Equal(got, want) {
		t.Errorf("supervisor moved to group sees %v, want %v", got, want)
	}
}

// A user's display name is one of the names under which a petition can
// name them: renaming a supervisor to the person a petition complains about
// hides it from them at once.
func TestUsersPatchDisplayNameNamesSubject(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("vera", "group", "registrar")
	pid := h.petition(reg, petitionBody("group/east"))["id"].(string) // names 李经理
	supID, sup := h.userNamed("lizhuguan", "李主管", "group/east", "supervisor")
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid, sup, nil)
	if got := auPetitionIDs(t, h, sup); !slices.Equal(got, []string{pid}) {
		t.Fatalf("supervisor sees %v, want [%s]", got, pid)
	}
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+supID, h.admin, map[string]any{"display_name": "李经理"})
	r := h.do("GET", "/api/v1/petitions/"+pid, sup, nil)
	auProblem(t, r, 404)
	auCheckEntry(t, h, r, "petition.read", audit.Deny)
	if got := auPetitionIDs(t, h, sup); len(got) != 0 {
		t.Errorf("renamed supervisor still lists %v", got)
	}
}
