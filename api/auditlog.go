package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
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
	size := s.v.Log().Head().Size
	if _, ok := c.GetQuery("end"); !ok || end > size {
		end = size
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

// text sets a non-JSON response body.
func (k *call) text(status int, ctype string, b []byte) error {
	k.status, k.ctype = status, ctype
	k.stream = func(w io.Writer) error { _, err := w.Write(b); return err }
	return nil
}

func (s *Server) auditCheckpoint(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	size, err := seqParam(c, "size", 0)
	if err != nil {
		return err
	}
	if _, ok := c.GetQuery("size"); ok && size == 0 {
		return badRequest("size: a positive integer")
	}
	b, err := s.v.Log().CheckpointAt(size)
	if errors.Is(err, audit.ErrNotFound) && size == 0 {
		// No checkpoint yet (an empty log, or the first second): sign one now.
		b, err = s.v.Log().Sign()
	}
	if errors.Is(err, audit.ErrNotFound) {
		return errStatus(http.StatusNotFound, "no checkpoint was issued at that size")
	}
	if err != nil {
		return err
	}
	k.detail("size", size)
	return k.text(http.StatusOK, "text/plain; charset=utf-8", b)
}

func (s *Server) auditVerifierKey(c *gin.Context, k *call) error {
	vk := s.v.Log().VerifierKey()
	if vk == "" {
		return errStatus(http.StatusNotFound, "this vault signs no checkpoints")
	}
	return k.text(http.StatusOK, "text/plain; charset=utf-8", []byte(vk+"\n"))
}

func (s *Server) auditInclusion(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	if v, ok := c.GetQuery("index"); !ok || v == "" {
		return badRequest("index: required")
	}
	index, err := seqParam(c, "index", 0)
	if err != nil {
		return err
	}
	size, err := seqParam(c, "size", s.v.Log().Head().Size)
	if err != nil {
		return err
	}
	p, err := s.v.Log().ProveInclusion(index, size)
	if errors.Is(err, audit.ErrRange) {
		return badRequest("index, size: %s", strings.TrimPrefix(err.Error(), "audit: out of range: "))
	}
	if err != nil {
		return err
	}
	k.detail("index", index)
	k.detail("size", size)
	return k.reply(http.StatusOK, p)
}

func (s *Server) auditConsistency(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	if v, ok := c.GetQuery("old"); !ok || v == "" {
		return badRequest("old: required")
	}
	old, err := seqParam(c, "old", 0)
	if err != nil {
		return err
	}
	nw, err := seqParam(c, "new", s.v.Log().Head().Size)
	if err != nil {
		return err
	}
	p, err := s.v.Log().ProveConsistency(old, nw)
	if errors.Is(err, audit.ErrRange) {
		return badRequest("old, new: %s", strings.TrimPrefix(err.Error(), "audit: out of range: "))
	}
	if err != nil {
		return err
	}
	k.detail("old", old)
	k.detail("new", nw)
	return k.reply(http.StatusOK, p)
}

type hashRequest struct {
	Value string `json:"value"`
}

func (s *Server) auditHash(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.AuditRead, auditObject); err != nil {
		return err
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in hashRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	if in.Value == "" || len(in.Value) > 4096 {
		return badRequest("value: 1–4096 bytes")
	}
	h := s.v.Hasher().Sum(vault.HashPseudonym, in.Value)
	k.detail("hmac", h)
	return k.reply(http.StatusOK, gin.H{"hmac": h})
}
