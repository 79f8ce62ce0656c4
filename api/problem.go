package api

import (
	"errors"
	"fmt"
	"net/http"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id"`
}

// httpError is an error with its own status and public detail.
type httpError struct {
	status int
	detail string
	// retryAfter, in seconds, is sent as Retry-After when set.
	retryAfter int
	// decision is the audit decision when it is not the default for status.
	decision string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.detail) }

func errStatus(status int, format string, a ...any) error {
	return &httpError{status: status, detail: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error { return errStatus(http.StatusBadRequest, format, a...) }

// Errors shared by handlers.
var (
	errUnauthenticated = &httpError{status: http.StatusUnauthorized, detail: "missing, invalid or expired token", decision: audit.Deny}
	errForbidden       = &httpError{status: http.StatusForbidden, detail: "your role may not do this", decision: audit.Deny}
	errHidden          = &httpError{status: http.StatusNotFound, detail: "not found", decision: audit.Deny}
	errNotFound        = &httpError{status: http.StatusNotFound, detail: "not found"}
)

// problemFor maps an error to a status and a detail safe to show. It is the
// only place where errors become statuses.
func problemFor(err error) *httpError {
	var he *httpError
	var ie *vault.InvalidError
	var ce *vault.ConflictError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &ie):
		return &httpError{status: http.StatusBadRequest, detail: ie.Error()}
	case errors.Is(err, policy.ErrInvalid):
		return &httpError{status: http.StatusBadRequest, detail: err.Error()}
	case errors.As(err, &ce):
		return &httpError{status: http.StatusConflict, detail: ce.Msg}
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, audit.ErrNotFound):
		return errNotFound
	case errors.Is(err, vault.ErrUnauthenticated):
		return errUnauthenticated
	case errors.Is(err, audit.ErrUnavailable), errors.Is(err, audit.ErrClosed):
		return &httpError{status: http.StatusServiceUnavailable, detail: "the audit log cannot record this request, so it was refused; try again later"}
	}
	return &httpError{status: http.StatusInternalServerError, detail: "internal error"}
}
