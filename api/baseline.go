package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"pvault/vault/store"
)

// NewBaseline returns the insecure comparison server of the load tool: a
// plain gin + badger service with the same petition endpoints and synced
// writes, but no encryption, policy, audit or validation beyond JSON. Its
// only use is to measure what pvault's protections cost (pvault bench
// --baseline); it must never hold real data.
func NewBaseline(st store.Store) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/api/v1/auth/login", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"token": "baseline", "expires_at": nil})
	})
	r.POST("/api/v1/petitions", func(c *gin.Context) {
		b, err := io.ReadAll(io.LimitReader(c.Request.Body, MaxBody+1))
		if err != nil || len(b) > MaxBody || !json.Valid(b) {
			c.Status(http.StatusBadRequest)
			return
		}
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		id := hex.EncodeToString(rnd[:])
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		doc["id"] = id
		out, _ := json.Marshal(doc)
		err = st.Update(func(tx store.Tx) error {
			if err := tx.Set([]byte("b/p/"+id), out); err != nil {
				return err
			}
			return tx.Set([]byte("b/i/"+id), nil)
		})
		if err != nil {
			c.Status(http.StatusServiceUnavailable)
			return
		}
		c.Data(http.StatusCreated, "application/json", out)
	})
	r.GET("/api/v1/petitions/:id", func(c *gin.Context) {
		var out []byte
		err := st.View(func(rd store.Reader) error {
			var err error
			out, err = rd.Get([]byte("b/p/" + c.Param("id")))
			return err
		})
		if err != nil {
			c.Status(http.StatusNotFound)
			return
		}
		c.Data(http.StatusOK, "application/json", out)
	})
	r.GET("/api/v1/petitions", func(c *gin.Context) {
		limit, _ := strconv.Atoi(c.DefaultQuery("limit", "50"))
		limit = min(max(limit, 1), 500)
		items := make([]json.RawMessage, 0, limit)
		_ = st.View(func(rd store.Reader) error {
			return rd.Scan(store.ScanOptions{Prefix: []byte("b/p/"), Reverse: true}, func(_, v []byte) error {
				items = append(items, json.RawMessage(v))
				if len(items) == limit {
					return store.ErrStop
				}
				return nil
			})
		})
		c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": ""})
	})
	return r
}
