package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuditedRead is a petition read through the whole handler:
// authentication, policy, decryption and a durable audit entry (group
// commit on a synced badger store). Run in parallel, reads share commits.
func BenchmarkAuditedRead(b *testing.B) {
	h := newHarness(b)
	_, sup := h.user("sup1", "group/east", "supervisor")
	id := h.petition(sup, petitionBody("group/east"))["id"].(string)
	read := func() {
		r := httptest.NewRequest("GET", "/api/v1/petitions/"+id, nil)
		r.Header.Set("Authorization", "Bearer "+sup)
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			read()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				read()
			}
		})
	})
}

// BenchmarkAuditedCreate is a petition registration through the handler:
// validation, analysis, sealing, indexes and the audit entry in one synced
// commit shared by concurrent requests.
func BenchmarkAuditedCreate(b *testing.B) {
	h := newHarness(b)
	_, sup := h.user("sup1", "group/east", "supervisor")
	body := petitionBody("group/east")
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := h.do("POST", "/api/v1/petitions", sup, body); r.Code != http.StatusCreated {
				b.Fatalf("status %d", r.Code)
			}
		}
	})
}
