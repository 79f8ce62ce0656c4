package api

import (
	"net/http"
	"testing"
	"time"
)

func TestSmokeWorkflow(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, sup := h.user("sup1", "group/east", "supervisor")
	_, off := h.user("off1", "group/east", "officer")
	p := h.petition(reg, petitionBody("group/east/site-3"))
	id := p["id"].(string)
	act := func(tok string, want int, body map[string]any) map[string]any {
		t.Helper()
		return h.must(want, "POST", "/api/v1/petitions/"+id+"/actions", tok, body).JSON(t)
	}
	act(off, http.StatusForbidden, map[string]any{"action": "accept"})
	r := act(sup, http.StatusOK, map[string]any{"action": "accept"})
	if r["status"] != "accepted" || r["deadlines"].(map[string]any)["resolve_by"] == nil {
		t.Fatalf("accept: %v", r)
	}
	act(sup, http.StatusConflict, map[string]any{"action": "accept"})
	act(sup, http.StatusBadRequest, map[string]any{"action": "extend", "days": 31, "reason": "需要更多时间调查"})
	act(sup, http.StatusOK, map[string]any{"action": "extend", "days": 30, "reason": "需要更多时间调查"})
	act(sup, http.StatusConflict, map[string]any{"action": "extend", "days": 1, "reason": "需要更多时间调查"})
	h.must(http.StatusNotFound, "GET", "/api/v1/petitions/"+id, off, nil)
	act(sup, http.StatusOK, map[string]any{"action": "assign", "assignee": "off1"})
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, off, nil)
	h.must(http.StatusCreated, "POST", "/api/v1/petitions/"+id+"/notes", off, map[string]any{"text": "已联系项目部"})
	r = act(off, http.StatusOK, map[string]any{"action": "reply", "text": "工资已于本周发放。"})
	if r["status"] != "replied" {
		t.Fatalf("reply: %v", r)
	}
	ev := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id+"/events", sup, nil).JSON(t)
	if n := len(ev["items"].([]any)); n != 5 {
		t.Fatalf("events = %d: %v", n, ev)
	}
	h.clock.Add(31 * 24 * time.Hour)
	rep := h.must(http.StatusOK, "POST", "/api/v1/admin/sweep", h.login("admin", testAdminPassword), nil).JSON(t)
	sup = h.login("sup1", testPassword)
	if rep["closed"].(float64) != 1 {
		t.Fatalf("sweep: %v", rep)
	}
	sum := h.must(http.StatusOK, "GET", "/api/v1/stats/summary?from=2026-01-01", sup, nil).JSON(t)
	if sum["total"].(float64) != 1 {
		t.Fatalf("summary: %v", sum)
	}
	h.must(http.StatusOK, "GET", "/metrics", "", nil)
}
