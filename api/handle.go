package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

type authMode int

const (
	public   authMode = iota // no token needed
	authed                   // a valid token is required
	optional                 // a token is used when valid (to name the actor)
)

// call is the state of one API request: who made it, its audit entry, and
// the response waiting for the entry to be committed.
type call struct {
	c *gin.Context
	// rid is the client's request id, or "" when it sent none usable: the
	// audit log then names the entry with an id of its own (committed), and
	// a request whose entry is not recorded gets one made for its reply.
	rid   string
	token string
	user  *vault.User
	sub   *policy.Subject

	entry     audit.Entry
	committed *audit.Entry

	status int
	body   any
	stream func(w io.Writer) error
	ctype  string

	writeFailed bool // the response body's write returned an error

	panicked any    // what a handler panicked with, logged once committed
	stack    []byte // and where
}

type handlerFunc func(c *gin.Context, k *call) error

// responseMarshaler is a response body that writes its own JSON.
type responseMarshaler interface{ marshalResponse() ([]byte, error) }

// releaser is a response body whose memory is returned after the write;
// reuse says whether the response's own buffer may be reused.
type releaser interface{ release(reuse bool) }

// reply sets the response sent once the audit entry is committed.
func (k *call) reply(status int, body any) error {
	k.status, k.body = status, body
	return nil
}

// prepare sets the status of a change about to be recorded by the vault and
// returns the entry to record with it.
func (k *call) prepare(status int) *audit.Entry {
	k.status = status
	k.entry.Status = status
	return &k.entry
}

// done notes that the vault committed the entry.
func (k *call) done(rec audit.Entry) { k.committed = &rec }

func (k *call) detail(key string, v any) { k.entry.Details[key] = v }

// handle wraps a handler: request id, authentication, the audit entry and the
// response, which is written only after the entry is committed.
func (s *Server) handle(action string, mode authMode, fn handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		// The request will append one audit entry: let the log's group
		// commit wait for it.
		s.v.Log().Expect()
		k := &call{c: c, rid: c.GetHeader("X-Request-ID")}
		defer func() {
			// A body holding pooled plaintext is zeroed and returned once
			// the response is written. A write that failed may still be
			// sending it (HTTP/2 returns when the stream is reset, its
			// writer still holding the bytes): that buffer is left to the
			// collector.
			if r, ok := k.body.(releaser); ok {
				r.release(!k.writeFailed)
			}
		}()
		// Without a usable client id the log names the entry at commit;
		// only a request whose entry is not recorded needs one made here.
		fresh := false
		if !requestIDRE.MatchString(k.rid) {
			k.rid, fresh = "", true
		}
		act := action
		if _, ok := c.GetQuery("reveal"); ok && action == "petition.read" {
			act = "petition.reveal_identity"
		}
		k.entry = audit.Entry{RequestID: k.rid, FreshRequestID: fresh, Action: act, Decision: audit.Allow, Details: map[string]any{}}
		k.detail("client", s.v.Hasher().Sum(vault.HashPseudonym, clientAddr(c.Request)))
		err := s.run(c, k, mode, fn)
		var retryAfter int
		var he *httpError
		if err != nil {
			he = problemFor(err)
			if he.decision != "" {
				k.entry.Decision = he.decision
			}
			k.status, retryAfter = he.status, he.retryAfter
		}
		if k.status == 0 {
			k.status = http.StatusOK
		}
		if k.committed == nil {
			k.entry.Status = k.status
			rec, aerr := s.v.Record(&k.entry)
			if aerr != nil {
				rid := unrecordedID(&k.entry)
				s.logFailure(k, rid, he, err)
				s.log.Error("audit record failed", "request_id", rid, "err", aerr)
				c.Header("X-Request-ID", rid)
				he := problemFor(aerr)
				writeProblem(c, he.status, he.detail, rid)
				return
			}
			k.committed = &rec
		}
		rid := k.committed.RequestID
		s.logFailure(k, rid, he, err)
		h := c.Writer.Header()
		h["X-Request-Id"] = []string{rid}
		h["Cache-Control"] = noStore
		if he != nil {
			if retryAfter > 0 {
				c.Header("Retry-After", itoa(retryAfter))
			}
			if he.status == http.StatusUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="pvault"`)
			}
			writeProblem(c, he.status, he.detail, rid)
			return
		}
		switch {
		case k.stream != nil:
			c.Header("Content-Type", k.ctype)
			c.Status(k.status)
			if err := k.stream(c.Writer); err != nil {
				s.log.Error("stream failed", "request_id", rid, "err", err)
			}
		case k.body == nil:
			c.Status(k.status)
			c.Writer.WriteHeaderNow()
		default:
			var b []byte
			var err error
			if m, ok := k.body.(responseMarshaler); ok {
				b, err = m.marshalResponse()
			} else {
				b, err = json.Marshal(k.body)
			}
			if err != nil {
				s.log.Error("encode response", "request_id", rid, "err", err)
				writeProblem(c, http.StatusInternalServerError, "internal error", rid)
				return
			}
			h["Content-Type"] = jsonContentType
			// A known length spares the reply the chunked framing.
			h["Content-Length"] = []string{itoa(len(b))}
			c.Status(k.status)
			if _, err := c.Writer.Write(b); err != nil {
				k.writeFailed = true
			}
		}
	}
}

// unrecordedID is the request id of the reply to a request whose entry e
// the log did not record: the client's, the one the log named the entry
// with should a commit in doubt have stored it, or, for a request that
// came without one, a fresh one.
func unrecordedID(e *audit.Entry) string {
	if e.RequestID == "" {
		return audit.NewRequestID()
	}
	return e.RequestID
}

// logFailure logs a handler's panic or internal error under the request
// id the response carries.
func (s *Server) logFailure(k *call, rid string, he *httpError, err error) {
	switch {
	case k.panicked != nil:
		s.log.Error("handler panic", "request_id", rid, "route", k.c.FullPath(), "panic", fmt.Sprint(k.panicked), "stack", string(k.stack))
	case he != nil && he.status == http.StatusInternalServerError:
		s.log.Error("request failed", "request_id", rid, "route", k.c.FullPath(), "err", err)
	}
}

// run authenticates and calls fn, turning a panic into an error.
func (s *Server) run(c *gin.Context, k *call, mode authMode, fn handlerFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			k.panicked, k.stack = p, debug.Stack()
			err = fmt.Errorf("panic")
		}
	}()
	if mode != public {
		if err := s.authenticate(k); err != nil && mode == authed {
			return err
		}
	}
	return fn(c, k)
}

func (s *Server) authenticate(k *call) error {
	h := k.c.GetHeader("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return errUnauthenticated
	}
	u, sess, sub, err := s.v.SessionSubject(strings.TrimSpace(tok))
	if errors.Is(err, vault.ErrUnauthenticated) {
		return errUnauthenticated
	}
	if err != nil {
		// The store could not be read: the token may well be valid.
		return &httpError{status: http.StatusServiceUnavailable, detail: "the vault cannot read its store; try again"}
	}
	k.token, k.user, k.sub = strings.TrimSpace(tok), u, sub
	k.entry.Actor = vault.Actor(u)
	if sess.EnrolOnly && !slices.Contains(enrolActions, k.entry.Action) {
		return &httpError{status: http.StatusForbidden, detail: "enrol a second factor first (POST /api/v1/me/totp)", decision: audit.Deny}
	}
	return nil
}

// may checks that the caller's role can take act at all: 403 otherwise.
func (s *Server) may(k *call, act string) error {
	if !s.pol.RoleMay(k.sub, act) {
		return errForbidden
	}
	return nil
}

// allowed checks act on obj: 403 when the role may never do it, 404 when obj
// is out of the caller's reach.
func (s *Server) allowed(k *call, act string, obj *policy.Object) error {
	if err := s.may(k, act); err != nil {
		return err
	}
	if !s.decide(k.sub, act, obj) {
		return errHidden
	}
	return nil
}

// clientAddr is the TCP peer address without the port. Proxies are not
// trusted: forwarded headers are ignored.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// decide asks the policy whether sub may take act on obj, counting the
// decision in the metrics.
func (s *Server) decide(sub *policy.Subject, act string, obj *policy.Object) bool {
	ok := s.pol.Allowed(sub, act, obj)
	if ok {
		s.metrics.decisions.WithLabelValues("allow").Inc()
	} else {
		s.metrics.decisions.WithLabelValues("deny").Inc()
	}
	return ok
}
