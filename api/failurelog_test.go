package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"pvault/audit"
)

// logLines parses the JSON log lines b holds.
func logLines(b *hxLogBuffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestFailureLoggedUnderResponseID: a handler's panic or internal error is
// logged under the request id its response carries, which finds its audit
// entry, whether the log named the id or the client chose it.
func TestFailureLoggedUnderResponseID(t *testing.T) {
	var logs hxLogBuffer
	h := newHarnessWith(t, harnessOptions{cfg: func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}})
	r := gin.New()
	r.GET("/api/v1/test/panic", h.srv.handle("test.panic", public, func(*gin.Context, *call) error { panic("boom") }))
	r.GET("/api/v1/test/fail", h.srv.handle("test.fail", public, func(*gin.Context, *call) error { return errors.New("disk on fire") }))
	for _, tt := range []struct{ path, msg, clientRID string }{
		{"/api/v1/test/panic", "handler panic", ""},
		{"/api/v1/test/fail", "request failed", ""},
		{"/api/v1/test/panic", "handler panic", "client-panic-1"},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.clientRID != "" {
			req.Header.Set("X-Request-ID", tt.clientRID)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status %d", tt.path, w.Code)
		}
		rid := w.Header().Get("X-Request-ID")
		if tt.clientRID != "" && rid != tt.clientRID {
			t.Errorf("%s: X-Request-ID %q, want the client's %q", tt.path, rid, tt.clientRID)
		}
		var logged []string
		for _, l := range logLines(&logs) {
			if l["msg"] == tt.msg {
				logged = append(logged, l["request_id"].(string))
			}
		}
		if len(logged) == 0 || logged[len(logged)-1] != rid {
			t.Errorf("%s: %q logged under %v, the response carries %q", tt.path, tt.msg, logged, rid)
		}
		got, _, err := h.v.Log().Entries(audit.Filter{RequestID: rid})
		if err != nil || len(got) != 1 || got[0].Action != strings.Replace(tt.path[len("/api/v1/"):], "/", ".", 1) || got[0].Status != 500 {
			t.Errorf("%s: entries of request id %s: %v, %v", tt.path, rid, got, err)
		}
	}
}

// TestPprofNamedRequestID: a profile request without an X-Request-ID gets
// the id the log named its entry with, allowed or denied.
func TestPprofNamedRequestID(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: oaPprof})
	_, sup := h.user("sup1", "group/east", "supervisor")
	for _, tt := range []struct {
		token, decision string
	}{{h.admin, audit.Allow}, {sup, audit.Deny}} {
		r := h.send(req{Method: "GET", Path: "/debug/pprof/cmdline", Token: tt.token})
		if e := auEntry(t, h, r); e.Action != "system.pprof" || e.Decision != tt.decision {
			t.Errorf("entry %s %s, want system.pprof %s", e.Action, e.Decision, tt.decision)
		}
	}
}
