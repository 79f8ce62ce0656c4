package api

import (
	"strconv"
	"time"

	"pvault/internal/jsonenc"
	"pvault/vault"
)

// appendPetitionJSON appends p as encoding/json writes it, its title,
// content and requests taken from raw (JSON strings as the record holds
// them, which DecodeContentRaw checked are what encoding/json writes for
// their text). ok is false when p holds what encoding/json refuses (a NaN,
// a year past 9999); the caller then uses encoding/json, which reports it.
// TestPetitionJSONMatches and FuzzPetitionJSON compare the two, every field
// set.
func appendPetitionJSON(b []byte, p *PetitionJSON, raw *vault.RawText) (_ []byte, ok bool) {
	w := replyWriter{b: b, ok: true}
	w.lit(`{"id":`)
	w.str(p.ID)
	w.lit(`,"unit":`)
	w.str(p.Unit)
	w.lit(`,"channel":`)
	w.str(p.Channel)
	w.lit(`,"title":`)
	w.b = append(w.b, raw.Title...)
	w.lit(`,"content":`)
	w.b = append(w.b, raw.Content...)
	w.lit(`,"requests":`)
	w.b = append(w.b, raw.Requests...)
	w.lit(`,"petitioner":`)
	if pt := p.Petitioner; pt == nil {
		w.lit("null")
	} else {
		w.lit(`{"name":`)
		w.str(pt.Name)
		w.lit(`,"id_number":`)
		w.str(pt.IDNumber)
		w.lit(`,"phone":`)
		w.str(pt.Phone)
		w.lit(`,"address":`)
		w.str(pt.Address)
		w.lit(`,"employee_no":`)
		w.str(pt.EmployeeNo)
		w.lit("}")
	}
	w.lit(`,"identity_masked":`)
	w.b = strconv.AppendBool(w.b, p.IdentityMasked)
	w.lit(`,"subjects":`)
	w.strs(p.Subjects)
	w.lit(`,"group_size":`)
	w.b = strconv.AppendInt(w.b, int64(p.GroupSize), 10)
	w.lit(`,"status":`)
	w.str(p.Status)
	w.lit(`,"category":`)
	w.category(p.Category)
	w.lit(`,"risk":`)
	w.risk(p.Risk)
	w.lit(`,"duplicates":`)
	if p.Duplicates == nil {
		w.lit("null")
	} else {
		w.lit("[")
		for i, d := range p.Duplicates {
			if i > 0 {
				w.lit(",")
			}
			w.lit(`{"id":`)
			w.str(d.ID)
			w.lit(`,"similarity":`)
			w.float(d.Similarity)
			w.lit("}")
		}
		w.lit("]")
	}
	w.lit(`,"assignee":`)
	w.strPtr(p.Assignee)
	w.lit(`,"deadlines":`)
	w.deadlines(&p.Deadlines)
	w.lit(`,"overdue":`)
	w.b = strconv.AppendBool(w.b, p.Overdue)
	w.lit(`,"received_at":`)
	w.time(p.ReceivedAt)
	w.lit(`,"created_at":`)
	w.time(p.CreatedAt)
	w.lit(`,"updated_at":`)
	w.time(p.UpdatedAt)
	w.lit(`,"registered_by":`)
	w.strPtr(p.RegisteredBy)
	if p.RepeatOfFinal != nil {
		w.lit(`,"repeat_of_final":`)
		w.str(*p.RepeatOfFinal)
	}
	if p.ReceiptCode != "" {
		w.lit(`,"receipt_code":`)
		w.str(p.ReceiptCode)
	}
	w.lit("}")
	return w.b, w.ok
}

// replyWriter appends JSON values for appendPetitionJSON and
// appendSummary; ok turns false at the first value encoding/json refuses.
type replyWriter struct {
	b  []byte
	ok bool
}

func (w *replyWriter) lit(s string) { w.b = append(w.b, s...) }

// category, risk and deadlines write the parts a petition and its summary
// share.
func (w *replyWriter) category(c *vault.Category) {
	if c == nil {
		w.lit("null")
		return
	}
	w.lit(`{"label":`)
	w.str(c.Label)
	w.lit(`,"confidence":`)
	w.float(c.Confidence)
	w.lit(`,"source":`)
	w.str(c.Source)
	if c.NeedsReview {
		w.lit(`,"needs_review":true`)
	}
	w.lit("}")
}

func (w *replyWriter) risk(r *vault.Risk) {
	if r == nil {
		w.lit("null")
		return
	}
	w.lit(`{"level":`)
	w.str(r.Level)
	w.lit(`,"score":`)
	w.b = strconv.AppendInt(w.b, int64(r.Score), 10)
	w.lit(`,"reasons":`)
	w.strs(r.Reasons)
	w.lit("}")
}

func (w *replyWriter) deadlines(d *vault.Deadlines) {
	w.lit(`{"accept_by":`)
	w.timePtr(d.AcceptBy)
	w.lit(`,"resolve_by":`)
	w.timePtr(d.ResolveBy)
	w.lit(`,"review_request_by":`)
	w.timePtr(d.ReviewRequestBy)
	w.lit(`,"review_by":`)
	w.timePtr(d.ReviewBy)
	if d.ObjectionBy != nil {
		w.lit(`,"objection_by":`)
		w.time(*d.ObjectionBy)
	}
	w.lit("}")
}

func (w *replyWriter) str(s string) { w.b = jsonenc.AppendString(w.b, s) }

func (w *replyWriter) strs(ss []string) {
	if ss == nil {
		w.lit("null")
		return
	}
	w.lit("[")
	for i, s := range ss {
		if i > 0 {
			w.lit(",")
		}
		w.str(s)
	}
	w.lit("]")
}

func (w *replyWriter) strPtr(s *string) {
	if s == nil {
		w.lit("null")
		return
	}
	w.str(*s)
}

func (w *replyWriter) float(f float64) {
	var ok bool
	if w.b, ok = jsonenc.AppendFloat(w.b, f); !ok {
		w.ok = false
	}
}

func (w *replyWriter) time(t time.Time) {
	var ok bool
	if w.b, ok = jsonenc.AppendTime(w.b, t); !ok {
		w.ok = false
	}
}

func (w *replyWriter) timePtr(t *time.Time) {
	if t == nil {
		w.lit("null")
		return
	}
	w.time(*t)
}
