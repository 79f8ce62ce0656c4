package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest request body accepted (1 MiB).
const MaxBody = 1 << 20

// maxDepth is the deepest JSON nesting accepted.
const maxDepth = 16

// readBody reads a JSON request body: 415 unless the content type is JSON,
// 413 when over MaxBody, 400 when empty.
func readBody(r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return nil, errStatus(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errStatus(http.StatusUnsupportedMediaType, "the body must be UTF-8")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "the body is larger than 1 MiB")
		}
		return nil, badRequest("the body could not be read")
	}
	if len(b) > MaxBody {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "the body is larger than 1 MiB")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("the body is empty")
	}
	return b, nil
}

// decodeStrict decodes one JSON object into dst: invalid UTF-8, duplicate
// keys, nesting deeper than maxDepth, unknown fields and trailing data are
// errors that name what is wrong.
func decodeStrict(b []byte, dst any) error {
	if !utf8.Valid(b) {
		return badRequest("the body is not valid UTF-8")
	}
	if err := checkJSONShape(b); err != nil {
		return err
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return badRequest("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return te.Field + ": wrong type (want " + te.Type.String() + ")"
		}
		return "the body must be a JSON object"
	case errors.As(err, &se):
		return "malformed JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON"
	}
	return "malformed JSON"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// lowerASCII reports whether s holds only lower-case letters, digits and
// underscores, the alphabet of the API's field names.
func lowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}
