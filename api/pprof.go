package api

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// pprofHandler serves Go's profiles at /debug/pprof/ to callers the policy
// allows system.debug (admins), when Config.Pprof is on. Each request is
// audited before the profile is taken.
func (s *Server) pprofHandler(c *gin.Context) {
	k := &call{c: c, rid: c.GetHeader("X-Request-ID")}
	fresh := false
	if !requestIDRE.MatchString(k.rid) {
		k.rid, fresh = "", true // the log names the entry (as in handle)
	}
	k.entry = audit.Entry{RequestID: k.rid, FreshRequestID: fresh, Action: "system.pprof", Decision: audit.Allow, Details: map[string]any{
		"client":  s.v.Hasher().Sum(vault.HashPseudonym, clientAddr(c.Request)),
		"profile": strings.TrimPrefix(c.Param("path"), "/"),
	}}
	status := http.StatusOK
	err := s.authenticate(k)
	if err == nil {
		err = s.allowed(k, policy.SystemDebug, systemObject)
	}
	if err != nil {
		he := problemFor(err)
		status = he.status
		k.entry.Decision = audit.Deny
	}
	k.entry.Status = status
	rec, aerr := s.v.Record(&k.entry)
	if aerr != nil {
		rid := unrecordedID(&k.entry)
		c.Header("X-Request-ID", rid)
		writeProblem(c, http.StatusServiceUnavailable, "the audit log cannot record this request", rid)
		return
	}
	c.Header("X-Request-ID", rec.RequestID)
	if err != nil {
		if status == http.StatusUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="pvault"`)
		}
		writeProblem(c, status, problemFor(err).detail, rec.RequestID)
		return
	}
	switch name := strings.TrimPrefix(c.Param("path"), "/"); name {
	case "", "index":
		pprof.Index(c.Writer, c.Request)
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	default:
		pprof.Handler(name).ServeHTTP(c.Writer, c.Request)
	}
}
