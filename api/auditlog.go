package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
)

var auditObject = &policy.Object{Type: "audit"}

// seqParam parses a non-negative sequence number query parameter.
func seqParam(c *gin.Context, name string, def int64) (int64, error) {
	s, ok := c.GetQuery(name)
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s: a non-negative integer", name)
	}
	return n, nil
}

func (s *Server) auditEntries(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	start, err := seqParam(c, "start", 0)
	if err != nil {
		return err
	}
	limit, _, err := pageParams(c)
	if err != nil {
		return err
	}
	f := audit.Filter{Start: start, Limit: limit, Actor: c.Query("actor"), Action: c.Query("action"),
		Object: c.Query("object"), RequestID: c.Query("request_id")}
	for _, v := range []string{f.Actor, f.Action, f.Object, f.RequestID} {
		if len(v) > 256 {
			return badRequest("filter values are at most 256 bytes")
		}
	}
	entries, next, err := s.v.Log().Entries(f)
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, 0, len(entries))
	for _, e := range entries {
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		items = append(items, b)
	}
	if next == 0 {
		next = start
		if n := len(entries); n > 0 {
			next = entries[n-1].Seq + 1
		}
	}
	k.detail("returned", len(items))
	return k.reply(http.StatusOK, gin.H{"items": items, "next_start": next})
}

func (s *Server) auditExport(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	start, err := seqParam(c, "start", 0)
	if err != nil {
		return err
	}
	end, err := seqParam(c, "end", 0)
	if err != nil {
		return err
	}
	if _, ok := c.GetQuery("end"); ok && end < start {
		return badRequest("end: must not be less than start")
	}
	// The export covers the log as it is now; later entries (this request's
	// own among them) are not part of it.
	if end == 0 {
		if _, ok := c.GetQuery("end"); !ok {
			end = s.v.Log().Head().Size
		}
	}
	k.detail("start", start)
	k.detail("end", end)
	k.status, k.ctype = http.StatusOK, "application/x-ndjson"
	k.stream = func(w io.Writer) error {
		if end == 0 {
			return nil
		}
		return s.v.Log().Export(w, start, end)
	}
	return nil
}

func (s *Server) auditVerify(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	res, err := s.v.Log().Verify()
	if err != nil {
		return err
	}
	k.detail("ok", res.OK)
	k.detail("size", res.Size)
	return k.reply(http.StatusOK, res)
}
