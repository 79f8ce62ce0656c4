package api

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

var systemObject = &policy.Object{Type: "system"}

type rotateRequest struct {
	KeepIdentity   bool     `json:"keep_identity"`
	AddRecovery    []string `json:"add_recovery"`
	RemoveRecovery []string `json:"remove_recovery"`
}

// rotateKeys starts a key rotation (a new vault identity, and/or new
// recovery recipients) and answers 202 with the background job.
func (s *Server) rotateKeys(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.KeyManage, systemObject); err != nil {
		return err
	}
	var in rotateRequest
	if c.Request.ContentLength != 0 {
		b, err := readBody(c.Request)
		if err != nil {
			return err
		}
		if err := decodeStrict(b, &in); err != nil {
			return err
		}
	}
	if in.KeepIdentity && len(in.AddRecovery) == 0 && len(in.RemoveRecovery) == 0 {
		return badRequest("keep_identity: nothing would change")
	}
	j, rec, err := s.v.StartRotation(vault.RotateOptions{KeepIdentity: in.KeepIdentity, AddRecovery: in.AddRecovery, RemoveRecovery: in.RemoveRecovery}, k.prepare(http.StatusAccepted))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusAccepted, gin.H{"job": jobJSON(j)})
}

// JobJSON is a background job as the API shows it.
type JobJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	Done       int64      `json:"done"`
	Total      int64      `json:"total"`
	ETASeconds *float64   `json:"eta_seconds"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error,omitempty"`
}

func jobJSON(j *vault.Job) JobJSON {
	return JobJSON{ID: j.ID, Kind: j.Kind, State: j.State, Done: j.Done, Total: j.Total, ETASeconds: j.ETASeconds,
		StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, Error: j.Error}
}

func (s *Server) getJob(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.KeyManage, systemObject); err != nil {
		return err
	}
	id := c.Param("id")
	k.entry.Object = &audit.Object{Type: "job", ID: truncate(id, 64)}
	if !vault.ValidID(id) {
		return errNotFound
	}
	j, err := s.v.Job(id)
	if err != nil {
		return err
	}
	return k.reply(http.StatusOK, jobJSON(j))
}

// backup streams an online, consistent backup: one age file sealed to the
// vault and recovery recipients (admins move it, they cannot read it).
func (s *Server) backup(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.KeyManage, systemObject); err != nil {
		return err
	}
	k.detail("log_size", s.v.Log().Head().Size)
	k.status, k.ctype = http.StatusOK, "application/octet-stream"
	c.Header("Content-Disposition", `attachment; filename="pvault-backup.age"`)
	k.stream = func(w io.Writer) error {
		_, err := s.v.Backup(w)
		return err
	}
	return nil
}

// archive streams a tar of closed cases, each sealed to the archive
// recipients, with a signed manifest.
func (s *Server) archive(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.KeyManage, systemObject); err != nil {
		return err
	}
	status := c.DefaultQuery("status", vault.StatusClosed)
	if !slices.Contains(vault.Statuses, status) {
		return badRequest("status: one of %s", strings.Join(vault.Statuses, ", "))
	}
	var q vault.ArchiveQuery
	q.Status = status
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := c.Query(name); v != "" {
			t, err := parseTimeOrDate(v, name == "to")
			if err != nil {
				return badRequest("%s: an RFC 3339 time or a YYYY-MM-DD date", name)
			}
			*dst = t
		}
	}
	approved := append(slices.Clone(s.cfg.ArchiveRecipients), s.v.ArchiveRecipients()...)
	recipients := c.QueryArray("recipient")
	for _, r := range recipients {
		// Separation of duties: an admin may choose among the approved
		// archive recipients, never seal an export to a key of their own.
		if !slices.Contains(approved, r) {
			return &httpError{status: http.StatusForbidden, detail: "recipient: not an approved archive recipient (configured archive or recovery recipients)", decision: audit.Deny}
		}
	}
	if len(recipients) == 0 {
		recipients = s.cfg.ArchiveRecipients
	}
	if len(recipients) == 0 {
		recipients = s.v.ArchiveRecipients()
	}
	if len(recipients) == 0 {
		return badRequest("recipient: no archive recipients given, configured or set as recovery recipients")
	}
	if _, err := vault.ParseRecipients(recipients); err != nil {
		return badRequest("recipient: not an age X25519 recipient")
	}
	k.detail("status", status)
	k.detail("recipients", len(recipients))
	k.status, k.ctype = http.StatusOK, "application/x-tar"
	c.Header("Content-Disposition", `attachment; filename="pvault-archive.tar"`)
	k.stream = func(w io.Writer) error {
		_, err := s.v.Archive(w, q, recipients)
		return err
	}
	return nil
}

func parseTimeOrDate(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return t, err
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
