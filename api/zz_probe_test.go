package api

import (
	"net/http"
	"testing"

	"pvault/audit"
)

func TestZZProbe(t *testing.T) {
	f := hxSetup(t)
	h := f.h
	res, _ := audit.VerifyStore(h.v.Store())
	t.Logf("before: %+v", res)
	r := hxSend(h, hxCase{method: "PUT", path: "/api/v1/units/%ff", token: f.reg, body: []byte(`{}`)})
	t.Logf("status %d", r.Code)
	res, err := audit.VerifyStore(h.v.Store())
	t.Logf("after: %+v %v", res, err)
	r = hxSend(h, hxCase{method: "POST", path: "/feedback", body: []byte("receipt_code=" + f.code + "&rating=%ff"), ctype: "application/x-www-form-urlencoded"})
	t.Logf("feedback status %d", r.Code)
	h.must(http.StatusOK, "GET", "/api/v1/audit/verify", f.aud, nil)
	t.Logf("%s", h.do("GET", "/api/v1/audit/verify", f.aud, nil).Body)
	t.Logf("%s", h.do("GET", "/readyz", "", nil).Body)
	t.Logf("%d", h.do("GET", "/api/v1/me", f.reg, nil).Code)
}
