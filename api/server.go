// Package api is pvault's REST interface (API.md): a gin router, middleware
// for request ids, authentication, body limits and auditing, and handlers.
//
// Guarantees: every request under /api/v1 yields exactly one audit entry,
// committed before the response leaves; if it cannot be committed the caller
// gets 503 and nothing the request changed is kept. Handlers decide access only
// through the policy enforcer, never by comparing role names. Errors are RFC
// 9457 problem documents and a 500 never carries internal error text. Access
// logs hold the route template, status, duration and request id: never
// bodies, query strings, tokens or petition data.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/policy"
	"pvault/vault"
)

// Config configures a Server. The zero value of each optional field means its
// default.
type Config struct {
	Vault  *vault.Vault
	Policy *policy.Enforcer // default: from the rules stored in the vault
	Logger *slog.Logger
	// Now is the clock of rate limits (default time.Now).
	Now func() time.Time
	// LoginFailures is how many failed logins lock a username (default 5).
	LoginFailures int
	// LockoutWindow is the window and the lock time (default 15 min).
	LockoutWindow time.Duration
	// ClientFailures is how many failed logins from one client address
	// within LockoutWindow block it (default 50).
	ClientFailures int
	// PublicSubmits is how many portal submissions one client address may
	// make per hour (default 10); PublicLookups how many receipt-code
	// lookups per minute (default 60); PublicFailures how many lookups of
	// unknown codes per 15 minutes before it must wait (default 10).
	PublicSubmits, PublicLookups, PublicFailures int
	// Metrics, when set, is fed by the server (else it makes its own).
	Metrics *Metrics
	// Pprof serves Go profiles at /debug/pprof/ to admins.
	Pprof bool
	// ArchiveRecipients are the age recipients of archive exports when a
	// request names none (default: the vault's recovery recipients).
	ArchiveRecipients []string
	// RequireTOTP lists the roles that must log in with a second factor.
	// Their users without one get a session that can only enrol one.
	RequireTOTP []string
}

// DefaultTOTPRoles are the roles that need a second factor when the switch
// is on without a list.
var DefaultTOTPRoles = []string{"admin", "supervisor"}

// Server serves the API.
type Server struct {
	v       *vault.Vault
	pol     *policy.Enforcer
	log     *slog.Logger
	cfg     Config
	limiter *loginLimiter
	polMu   sync.Mutex
	engine  *gin.Engine
	metrics *Metrics

	submitLimit   *windowLimiter // portal submissions per client
	trackLimit    *windowLimiter // portal lookups per client
	trackFailures *windowLimiter // portal lookups of unknown codes per client
}

// New returns a server for cfg.Vault.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginFailures == 0 {
		cfg.LoginFailures = 5
	}
	if cfg.LockoutWindow == 0 {
		cfg.LockoutWindow = 15 * time.Minute
	}
	if cfg.ClientFailures == 0 {
		cfg.ClientFailures = 50
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	s := &Server{v: cfg.Vault, pol: cfg.Policy, log: cfg.Logger, cfg: cfg, metrics: cfg.Metrics}
	s.metrics.registerVault(s.v)
	if s.pol == nil {
		rules, err := s.v.PolicyRules()
		if err != nil {
			return nil, err
		}
		if s.pol, err = policy.New(rules); err != nil {
			return nil, err
		}
	}
	s.limiter = newLoginLimiter(cfg.LoginFailures, cfg.ClientFailures, cfg.LockoutWindow, cfg.Now)
	if cfg.PublicSubmits == 0 {
		cfg.PublicSubmits = 10
	}
	if cfg.PublicLookups == 0 {
		cfg.PublicLookups = 60
	}
	if cfg.PublicFailures == 0 {
		cfg.PublicFailures = 10
	}
	s.submitLimit = newWindowLimiter(cfg.PublicSubmits, time.Hour, cfg.Now)
	s.trackLimit = newWindowLimiter(cfg.PublicLookups, time.Minute, cfg.Now)
	s.trackFailures = newWindowLimiter(cfg.PublicFailures, 15*time.Minute, cfg.Now)
	s.engine = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Policy is the server's enforcer.
func (s *Server) Policy() *policy.Enforcer { return s.pol }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.UseRawPath = true
	r.Use(s.accessLog, s.recover, securityHeaders)

	r.GET("/healthz", func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metrics.handler()))

	v1 := r.Group("/api/v1")
	v1.Use(limitBody)
	h := s.handle
	v1.GET("/openapi.json", h("api.openapi", public, s.openAPI))
	v1.POST("/auth/login", h("auth.login", public, s.login))
	v1.POST("/auth/logout", h("auth.logout", authed, s.logout))
	v1.GET("/me", h("user.me", authed, s.me))
	v1.POST("/me/totp", h("user.totp_begin", authed, s.beginTOTP))
	v1.POST("/me/totp/confirm", h("user.totp_confirm", authed, s.confirmTOTP))
	v1.DELETE("/users/:id/totp", h("user.totp_reset", authed, s.resetTOTP))

	v1.POST("/users", h("user.create", authed, s.createUser))
	v1.GET("/users", h("user.list", authed, s.listUsers))
	v1.GET("/users/:id", h("user.read", authed, s.getUser))
	v1.PATCH("/users/:id", h("user.update", authed, s.updateUser))

	v1.GET("/units", h("unit.list", authed, s.listUnits))
	v1.PUT("/units/*path", h("unit.update", authed, s.putUnit))

	v1.GET("/policy", h("policy.read", authed, s.getPolicy))
	v1.PUT("/policy", h("policy.update", authed, s.putPolicy))
	v1.GET("/policy/explain", h("policy.explain", authed, s.explainPolicy))

	v1.POST("/petitions", h("petition.create", authed, s.createPetition))
	v1.GET("/petitions", h("petition.list", authed, s.listPetitions))
	v1.GET("/petitions/:id", h("petition.read", authed, s.getPetition))
	v1.POST("/petitions/:id/actions", h("petition.action", authed, s.petitionAction))
	v1.POST("/petitions/:id/notes", h("petition.note", authed, s.addNote))
	v1.GET("/petitions/:id/events", h("petition.events", authed, s.petitionEvents))
	v1.GET("/alerts", h("alert.list", authed, s.listAlerts))

	v1.GET("/public/units", h("public.units", public, s.listPublicUnits))
	v1.POST("/public/petitions", h("public.submit", public, s.createPublicPetition))
	v1.POST("/public/track", h("public.track", public, s.trackPublic))
	v1.POST("/public/feedback", h("public.feedback", public, s.feedbackPublic))
	v1.POST("/public/review", h("public.review", public, s.reviewPublic))

	v1.GET("/audit/entries", h("audit.read", authed, s.auditEntries))
	v1.GET("/audit/export", h("audit.export", authed, s.auditExport))
	v1.GET("/audit/verify", h("audit.verify", authed, s.auditVerify))
	v1.GET("/audit/checkpoint", h("audit.checkpoint", authed, s.auditCheckpoint))
	v1.GET("/audit/verifier-key", h("audit.verifier_key", optional, s.auditVerifierKey))
	v1.GET("/audit/proof/inclusion", h("audit.proof", authed, s.auditInclusion))
	v1.GET("/audit/proof/consistency", h("audit.proof", authed, s.auditConsistency))
	v1.POST("/audit/hash", h("audit.hash", authed, s.auditHash))

	v1.GET("/stats/reveals", h("stats.reveals", authed, s.revealStats))
	v1.GET("/stats/summary", h("stats.summary", authed, s.summaryStats))
	v1.GET("/stats/hotspots", h("stats.hotspots", authed, s.hotspots))
	v1.POST("/admin/analysis/retrain", h("analysis.retrain", authed, s.retrain))
	v1.POST("/admin/keys/rotate", h("key.rotate", authed, s.rotateKeys))
	v1.GET("/admin/jobs/:id", h("job.read", authed, s.getJob))
	v1.GET("/admin/backup", h("admin.backup", authed, s.backup))
	v1.GET("/admin/archive", h("admin.archive", authed, s.archive))
	v1.POST("/admin/sweep", h("system.sweep", authed, s.sweep))

	s.webRoutes(r)
	if s.cfg.Pprof {
		r.GET("/debug/pprof/*path", s.pprofHandler)
	}

	r.NoRoute(func(c *gin.Context) {
		if isAPI(c.Request.URL.Path) {
			s.handle("api.not_found", optional, func(c *gin.Context, k *call) error {
				return errStatus(http.StatusNotFound, "no such endpoint")
			})(c)
			return
		}
		writeProblem(c, http.StatusNotFound, "no such page", "")
	})
	r.NoMethod(func(c *gin.Context) {
		if isAPI(c.Request.URL.Path) {
			s.handle("api.method_not_allowed", optional, func(c *gin.Context, k *call) error {
				return errStatus(http.StatusMethodNotAllowed, "method not allowed")
			})(c)
			return
		}
		writeProblem(c, http.StatusMethodNotAllowed, "method not allowed", "")
	})
	return r
}

func isAPI(p string) bool { return p == "/api/v1" || len(p) > 7 && p[:8] == "/api/v1/" }

func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if !s.v.Log().Healthy() && !s.v.Log().Probe() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": "audit log unhealthy"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// limitBody caps request bodies at MaxBody.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody)
	}
	c.Next()
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// accessLog logs each request without its body, query string or headers.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.metrics.observe(c, time.Since(start))
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	lvl := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		lvl = slog.LevelError
	}
	s.log.LogAttrs(context.Background(), lvl, "request",
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", time.Since(start)),
		slog.String("request_id", c.Writer.Header().Get("X-Request-ID")),
	)
}

// recover turns a panic outside a handler into a bare 500.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic", "route", c.FullPath(), "panic", p)
			if !c.Writer.Written() {
				writeProblem(c, http.StatusInternalServerError, "internal error", c.Writer.Header().Get("X-Request-ID"))
			}
			c.Abort()
		}
	}()
	c.Next()
}

func writeProblem(c *gin.Context, status int, detail, rid string) {
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	b, _ := json.Marshal(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, RequestID: rid})
	c.Status(status)
	_, _ = c.Writer.Write(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
