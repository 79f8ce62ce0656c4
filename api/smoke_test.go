package api

import (
	"net/http"
	"testing"
)

func TestSmokeCreateReadAudit(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	p := h.petition(reg, petitionBody("group/east/site-3"))
	id := p["id"].(string)
	r := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, reg, nil)
	if got := r.JSON(t)["petitioner"].(map[string]any)["name"]; got != "张*" {
		t.Fatalf("masked name = %v", got)
	}
	rid := r.Header.Get("X-Request-ID")
	es := h.entries(rid)
	if len(es) != 1 || es[0].Action != "petition.read" || es[0].Object.ID != id {
		t.Fatalf("entries for %s = %+v", rid, es)
	}
}
