package audit

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"pvault/internal/jsonenc"
)

// appendCanonical appends the canonical bytes of e (see Entry.Marshal) to b
// without reflection. ok is false when e holds something it does not encode
// (a details value other than a string, bool, integer or []string, invalid
// UTF-8, or a time outside the years 0–9999); Marshal then takes
// encoding/json's path. The two give the same bytes (FuzzMarshalFast).
func appendCanonical(b []byte, e *Entry) (_ []byte, ok bool) {
	t := e.Time.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	keys := make([]string, 0, len(e.Details))
	for k, v := range e.Details {
		switch v.(type) {
		case string, bool, int, int64, []string:
		default:
			return b, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w := jsonWriter{b: b}

	w.b = append(w.b, `{"seq":`...)
	w.b = strconv.AppendInt(w.b, e.Seq, 10)
	w.b = append(w.b, `,"time":"`...)
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, `","request_id":`...)
	w.str(e.RequestID)
	w.b = append(w.b, `,"actor":`...)
	if a := e.Actor; a == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, `{"user_id":`...)
		w.str(a.UserID)
		w.b = append(w.b, `,"username":`...)
		w.str(a.Username)
		w.b = append(w.b, `,"roles":[`...)
		for i, r := range a.Roles {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.str(r)
		}
		w.b = append(w.b, `],"unit":`...)
		w.str(a.Unit)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, `,"action":`...)
	w.str(e.Action)
	w.b = append(w.b, `,"object":`...)
	if o := e.Object; o == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, `{"type":`...)
		w.str(o.Type)
		w.b = append(w.b, `,"id":`...)
		w.str(o.ID)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, `,"decision":`...)
	w.str(e.Decision)
	w.b = append(w.b, `,"status":`...)
	w.b = strconv.AppendInt(w.b, int64(e.Status), 10)
	w.b = append(w.b, `,"reason":`...)
	w.str(e.Reason)
	w.b = append(w.b, `,"details":{`...)
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(k)
		w.b = append(w.b, ':')
		switch v := e.Details[k].(type) {
		case string:
			w.str(v)
		case bool:
			w.b = strconv.AppendBool(w.b, v)
		case int:
			w.b = strconv.AppendInt(w.b, int64(v), 10)
		case int64:
			w.b = strconv.AppendInt(w.b, v, 10)
		case []string:
			w.b = append(w.b, '[')
			for i, x := range v {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.str(x)
			}
			w.b = append(w.b, ']')
		}
	}
	w.b = append(w.b, `},"prev":`...)
	w.str(e.Prev)
	if w.bad {
		return b, false
	}
	return append(w.b, '}'), true
}

// jsonWriter appends JSON as encoding/json's Encoder writes it; bad is set
// by a string with invalid UTF-8, which Marshal replaces first.
type jsonWriter struct {
	b   []byte
	bad bool
}

func (w *jsonWriter) str(s string) {
	if !utf8.ValidString(s) {
		w.bad = true
		return
	}
	w.b = jsonenc.AppendString(w.b, s)
}
