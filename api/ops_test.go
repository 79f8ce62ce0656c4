package api

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// Black-box tests of the operations endpoints (issue 8): key rotation and
// jobs, backup and restore, archive export, /metrics, /readyz, /healthz and
// pprof. Helpers are prefixed op.

const opReason = "核实信访人身份以便回访"

// opEnv is a harness whose vault has recovery recipients, with a cast.
type opEnv struct {
	h                  *harness
	recovery           []*age.X25519Identity
	reg, sup, off, aud string // tokens
	supID              string
	reads              atomic.Int64 // requests made by opReaders
}

func opIdentity(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// opNewHarness is newHarnessWith for a vault initialised with recovery
// recipients.
func opNewHarness(t testing.TB, recovery []string, ho harnessOptions) *harness {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	opts := vault.Options{Argon2: fastArgon, Now: clk.Now}
	if ho.vaultOpts != nil {
		ho.vaultOpts(&opts)
	}
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: testAdminPassword, Recovery: recovery, Options: opts}); err != nil {
		t.Fatalf("init: %v", err)
	}
	v, err := vault.Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	cfg := Config{Vault: v, Now: clk.Now}
	if ho.cfg != nil {
		ho.cfg(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	h := &harness{t: t, dir: dir, v: v, srv: srv, clock: clk}
	h.admin = h.login("admin", testAdminPassword)
	return h
}

// opSetup creates a harness with nRecovery recovery recipients and a cast in
// group/east.
func opSetup(t testing.TB, nRecovery int, ho harnessOptions) *opEnv {
	t.Helper()
	e := &opEnv{}
	var recips []string
	for range nRecovery {
		id := opIdentity(t)
		e.recovery = append(e.recovery, id)
		recips = append(recips, id.Recipient().String())
	}
	e.h = opNewHarness(t, recips, ho)
	_, e.reg = e.h.user("op-reg", "group/east", "registrar")
	e.supID, e.sup = e.h.user("op-sup", "group/east", "supervisor")
	_, e.off = e.h.user("op-off", "group/east", "officer")
	_, e.aud = e.h.user("op-aud", "group", "auditor")
	return e
}

// opCase registers a petition and works it: a note, accept, assign, a
// reply, a categorize correction; close closes it. It returns the id.
func (e *opEnv) opCase(mod func(map[string]any), closeIt bool) string {
	h := e.h
	h.t.Helper()
	b := petitionBody("group/east")
	if mod != nil {
		mod(b)
	}
	id := h.petition(e.reg, b)["id"].(string)
	act := "/api/v1/petitions/" + id + "/actions"
	h.must(http.StatusOK, "POST", act, e.sup, map[string]any{"action": "accept", "comment": "符合受理条件"})
	h.must(http.StatusOK, "POST", act, e.sup, map[string]any{"action": "assign", "assignee": "op-off"})
	h.must(http.StatusCreated, "POST", "/api/v1/petitions/"+id+"/notes", e.off, map[string]any{"text": "已电话联系项目部。"})
	h.must(http.StatusOK, "POST", act, e.sup, map[string]any{"action": "categorize", "label": "wage_arrears"})
	h.must(http.StatusOK, "POST", act, e.off, map[string]any{"action": "reply", "text": "经核实，工资已于本月补发。"})
	if closeIt {
		h.must(http.StatusOK, "POST", act, e.sup, map[string]any{"action": "close", "comment": "已办结"})
	}
	return id
}

// opReveal reads a petition with its petitioner as the supervisor.
func (e *opEnv) opReveal(id string) {
	e.h.t.Helper()
	r := e.h.send(req{Method: "GET", Path: "/api/v1/petitions/" + id + "?reveal=identity", Token: e.sup, Header: map[string]string{"X-Access-Reason": opReason}})
	if r.Code != http.StatusOK || !bytes.Contains(r.Body, []byte("510104199001011234")) {
		e.h.t.Errorf("reveal %s: %d %s", id, r.Code, r.Body)
	}
}

// opRecords returns the sealed records of a petition: content, identity and
// the sealed text of its first few events (the vault's tests check them
// all).
func opRecords(tb testing.TB, st store.Store, id string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	events := 0
	err := st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("p/" + id + "/")}, func(k, val []byte) error {
			key := string(k)
			switch {
			case strings.HasSuffix(key, "/c"), strings.HasSuffix(key, "/i"):
				out[key] = bytes.Clone(val)
			case strings.Contains(key, "/e/"):
				var ev struct{ Sealed []byte }
				if err := json.Unmarshal(val, &ev); err != nil {
					return err
				}
				if len(ev.Sealed) > 0 && events < 4 {
					out[key] = bytes.Clone(ev.Sealed)
					events++
				}
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func opOpens(ct []byte, id age.Identity) bool {
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return false
	}
	_, err = io.ReadAll(r)
	return err == nil
}

// opCheckOpeners checks with the stock age library that each identity of
// yes opens every record of the petitions and each of no opens none.
func opCheckOpeners(tb testing.TB, st store.Store, ids []string, yes, no map[string]age.Identity) {
	tb.Helper()
	recs := map[string][]byte{}
	for _, id := range ids {
		for k, v := range opRecords(tb, st, id) {
			recs[k] = v
		}
	}
	if len(recs) == 0 {
		tb.Fatal("no sealed records")
	}
	check := func(name string, id age.Identity, want bool) {
		bad, example := 0, ""
		for k, ct := range recs {
			if opOpens(ct, id) != want {
				bad, example = bad+1, k
			}
		}
		switch {
		case bad > 0 && want:
			tb.Errorf("%d of %d sealed records do not open with the %s identity (e.g. %q)", bad, len(recs), name, example)
		case bad > 0:
			tb.Errorf("%d of %d sealed records still open with the %s identity (e.g. %q)", bad, len(recs), name, example)
		}
	}
	for name, id := range yes {
		check(name, id, true)
	}
	for name, id := range no {
		check(name, id, false)
	}
}

// opVault is the identity that opens envelopes for the vault identity id, as
// vault/envelope.go documents the format: the file key wrapped in a
// "pvault-key1" stanza under ChaCha20-Poly1305 with the key
// HKDF-SHA-256(id's string, info "pvault envelope key v1"), identified by
// the first 4 bytes of the key's SHA-256; or, for envelopes of the earlier
// format, an X25519 stanza for id. It is written from the documentation, not
// from the vault's code.
func opVault(id *age.X25519Identity) age.Identity {
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, []byte(id.String()), nil, []byte("pvault envelope key v1")), key); err != nil {
		panic(err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(key)
	return &opVaultIdentity{x: id, aead: aead, keyID: base64.RawStdEncoding.EncodeToString(sum[:4])}
}

type opVaultIdentity struct {
	x     *age.X25519Identity
	aead  cipher.AEAD
	keyID string
}

func (i *opVaultIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != "pvault-key1" || len(s.Args) != 2 || s.Args[0] != i.keyID {
			continue
		}
		nonce, err := base64.RawStdEncoding.DecodeString(s.Args[1])
		if err != nil || len(nonce) != chacha20poly1305.NonceSize {
			return nil, errors.New("pvault-key1: malformed stanza")
		}
		return i.aead.Open(nil, nonce, s.Body, []byte("pvault-key1"))
	}
	return i.x.Unwrap(stanzas)
}

// opVaultKey parses DATA/<name> as an age identity.
func opVaultKey(tb testing.TB, dir, name string) *age.X25519Identity {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(ids) != 1 {
		tb.Fatalf("%s: %v", name, err)
	}
	return ids[0].(*age.X25519Identity)
}

// opWaitJob polls GET /admin/jobs/{id} until the job leaves running (at most
// 20 s) and returns the last body.
func opWaitJob(h *harness, id string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j := h.must(http.StatusOK, "GET", "/api/v1/admin/jobs/"+id, h.admin, nil).JSON(h.t)
		if j["state"] != vault.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s still running after 20 s: %v", id, j)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opGate holds a rotation's re-encryption job at the start of each batch
// while active (see vault's tests): the first scan of "cx/" or "p/" with
// values in a View waits for a token on step and signals reached.
type opGate struct {
	store.Store
	active  atomic.Bool
	step    chan struct{}
	reached chan struct{}
	once    sync.Once
}

func newOpGate() *opGate {
	return &opGate{step: make(chan struct{}), reached: make(chan struct{}, 256)}
}

func (g *opGate) wrap(s store.Store) store.Store { g.Store = s; return g }

func (g *opGate) release() { g.once.Do(func() { close(g.step) }) }

func (g *opGate) await(tb testing.TB) {
	tb.Helper()
	select {
	case <-g.reached:
	case <-time.After(20 * time.Second):
		tb.Fatal("the re-encryption job did not reach its next batch within 20 s")
	}
}

func (g *opGate) View(fn func(store.Reader) error) error {
	return g.Store.View(func(r store.Reader) error { return fn(&opGateReader{Reader: r, g: g}) })
}

type opGateReader struct {
	store.Reader
	g     *opGate
	gated bool
}

func (r *opGateReader) Scan(o store.ScanOptions, fn func(k, v []byte) error) error {
	p := string(o.Prefix)
	if !r.gated && r.g.active.Load() && !o.KeysOnly && (p == "p/" || p == "cx/") {
		r.gated = true
		select {
		case r.g.reached <- struct{}{}:
		default:
		}
		<-r.g.step
	}
	return r.Reader.Scan(o, fn)
}

// opReaders reads petitions (plain, revealed, events) as a supervisor from
// several goroutines until stop is called, which returns the number of
// reads and a description of each failure.
func (e *opEnv) opReaders(ids []string) (stop func() (int64, []string)) {
	var done atomic.Bool
	n := &e.reads
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := w; !done.Load(); i++ {
				id := ids[i%len(ids)]
				for _, r := range []req{
					{Method: "GET", Path: "/api/v1/petitions/" + id, Token: e.sup},
					{Method: "GET", Path: "/api/v1/petitions/" + id + "?reveal=identity", Token: e.sup, Header: map[string]string{"X-Access-Reason": opReason}},
					{Method: "GET", Path: "/api/v1/petitions/" + id + "/events", Token: e.sup},
				} {
					got := e.h.send(r)
					n.Add(1)
					if got.Code != http.StatusOK {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s %s: %d %s", r.Method, r.Path, got.Code, got.Body))
						mu.Unlock()
					}
				}
			}
		})
	}
	return func() (int64, []string) {
		done.Store(true)
		wg.Wait()
		return n.Load(), failures
	}
}

func TestOpsRotateKeys(t *testing.T) {
	g := newOpGate()
	e := opSetup(t, 1, harnessOptions{vaultOpts: func(o *vault.Options) { o.Store = g.wrap }})
	t.Cleanup(g.release)
	h := e.h
	var ids []string
	for range 3 {
		ids = append(ids, e.opCase(nil, false))
	}
	ids = append(ids, h.petition(e.reg, petitionBody("group/east"))["id"].(string))
	// Enough sealed records for two batches of the job: notes are cheap.
	off, err := h.v.UserByName("op-off")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, id := range ids[:3] {
		wg.Go(func() {
			for range 40 {
				if _, _, err := h.v.AddNote(id, "补充材料已收到。", off, &audit.Entry{RequestID: audit.NewRequestID(),
					Action: "petition.note", Decision: audit.Allow, Status: 201}); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	oldID := opVaultKey(t, h.dir, vault.IdentityFile)
	rec := e.recovery[0]

	for _, tt := range []struct {
		name  string
		token string
		want  int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"supervisor", e.sup, http.StatusForbidden},
		{"registrar", e.reg, http.StatusForbidden},
		{"auditor", e.aud, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := *h
			h.t = t
			h.must(tt.want, "POST", "/api/v1/admin/keys/rotate", tt.token, map[string]any{})
			h.must(tt.want, "GET", "/api/v1/admin/jobs/00000000000000000000000000", tt.token, nil)
		})
	}
	for _, tt := range []struct {
		name string
		body any
		want int
	}{
		{"nothing would change", map[string]any{"keep_identity": true}, http.StatusBadRequest},
		{"bad recipient", map[string]any{"keep_identity": true, "add_recovery": []string{"age1nope"}}, http.StatusBadRequest},
		{"identity as recipient", map[string]any{"keep_identity": true, "add_recovery": []string{opIdentity(t).String()}}, http.StatusBadRequest},
		{"unknown recovery", map[string]any{"keep_identity": true, "remove_recovery": []string{opIdentity(t).Recipient().String()}}, http.StatusBadRequest},
		{"unknown field", map[string]any{"new_identity": true}, http.StatusBadRequest},
		{"not JSON", "{", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := *h
			h.t = t
			if r := h.must(tt.want, "POST", "/api/v1/admin/keys/rotate", h.admin, tt.body); bytes.Contains(r.Body, []byte("AGE-SECRET-KEY")) {
				t.Errorf("the answer echoes a secret key: %s", r.Body)
			}
		})
	}
	h.must(http.StatusNotFound, "GET", "/api/v1/admin/jobs/00000000000000000000000000", h.admin, nil)
	h.must(http.StatusNotFound, "GET", "/api/v1/admin/jobs/not-an-id", h.admin, nil)

	stop := e.opReaders(ids)
	g.active.Store(true)
	r := h.must(http.StatusAccepted, "POST", "/api/v1/admin/keys/rotate", h.admin, nil)
	job, _ := r.JSON(t)["job"].(map[string]any)
	jobID, _ := job["id"].(string)
	if jobID == "" || job["state"] != vault.JobRunning || job["done"] != 0.0 || job["total"].(float64) < 128 {
		t.Fatalf("rotate answered %s", r.Body)
	}
	if ent := h.entries(r.Header.Get("X-Request-ID")); len(ent) != 1 || ent[0].Action != "key.rotate" || ent[0].Actor == nil || ent[0].Object == nil || ent[0].Object.ID != jobID {
		t.Errorf("audit entries of the rotation: %+v", ent)
	}
	g.await(t)
	h.must(http.StatusConflict, "POST", "/api/v1/admin/keys/rotate", h.admin, nil)
	h.must(http.StatusConflict, "POST", "/api/v1/admin/keys/rotate", h.admin, map[string]any{"keep_identity": true, "add_recovery": []string{opIdentity(t).Recipient().String()}})
	// Step the job batch by batch, with the readers reading throughout.
	sawETA := false
	for {
		j := h.must(http.StatusOK, "GET", "/api/v1/admin/jobs/"+jobID, h.admin, nil).JSON(t)
		if j["state"] != vault.JobRunning {
			t.Fatalf("job left running while held: %v", j)
		}
		if _, ok := j["eta_seconds"]; !ok {
			t.Errorf("job %v has no eta_seconds", j)
		}
		if eta, ok := j["eta_seconds"].(float64); ok && eta > 0 {
			sawETA = true
		}
		if j["done"].(float64) >= j["total"].(float64) {
			break
		}
		h.clock.Add(30 * time.Second)
		// Let the readers read against a half re-encrypted store.
		for r0, deadline := e.reads.Load(), time.Now().Add(5*time.Second); e.reads.Load() < r0+6 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		g.step <- struct{}{}
		g.await(t)
	}
	g.release()
	j := opWaitJob(h, jobID)
	reads, failures := stop()
	if j["state"] != vault.JobDone || j["done"] != j["total"] || j["finished_at"] == nil || j["started_at"] == nil {
		t.Fatalf("finished job %v", j)
	}
	if _, ok := j["eta_seconds"]; !ok {
		t.Errorf("finished job %v has no eta_seconds", j)
	}
	if !sawETA {
		t.Error("no running job showed a positive ETA")
	}
	if len(failures) > 0 || reads == 0 {
		t.Errorf("%d of %d reads failed during the rotation: %v", len(failures), reads, failures[:min(len(failures), 3)])
	}

	newID := opVaultKey(t, h.dir, vault.IdentityFile)
	if newID.String() == oldID.String() {
		t.Fatal("vault.key was not replaced")
	}
	if _, err := os.Stat(filepath.Join(h.dir, vault.OldIdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("vault.key.old after the job: %v", err)
	}
	ring, err := os.ReadFile(filepath.Join(h.dir, vault.KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if opOpens(ring, oldID) {
		t.Error("the old identity still opens the keyring")
	}
	if !opOpens(ring, rec) || !opOpens(ring, newID) {
		t.Error("the keyring does not open with the new vault identity and the recovery identity")
	}
	opCheckOpeners(t, h.v.Store(), ids, map[string]age.Identity{"new vault": opVault(newID), "recovery": rec}, map[string]age.Identity{"old vault": opVault(oldID)})
	for _, id := range ids[:3] {
		e.opReveal(id)
	}

	// Recovery recipients: add one, remove the other, keep the identity.
	r2 := opIdentity(t)
	r = h.must(http.StatusAccepted, "POST", "/api/v1/admin/keys/rotate", h.admin, map[string]any{"keep_identity": true,
		"add_recovery": []string{r2.Recipient().String()}, "remove_recovery": []string{rec.Recipient().String()}})
	jobID = r.JSON(t)["job"].(map[string]any)["id"].(string)
	if j := opWaitJob(h, jobID); j["state"] != vault.JobDone || j["done"] != j["total"] {
		t.Fatalf("recovery job %v", j)
	}
	if got := opVaultKey(t, h.dir, vault.IdentityFile); got.String() != newID.String() {
		t.Error("keep_identity replaced vault.key")
	}
	later := e.opCase(nil, false)
	opCheckOpeners(t, h.v.Store(), append(slices.Clone(ids), later), map[string]age.Identity{"vault": opVault(newID), "added recovery": r2},
		map[string]age.Identity{"removed recovery": rec, "old vault": opVault(oldID)})
	e.opReveal(later)
	if res, err := h.v.Log().Verify(); err != nil || !res.OK {
		t.Errorf("audit log: %+v, %v", res, err)
	}
}

// opBackup streams GET /admin/backup while writers create petitions.
func (e *opEnv) opBackup(t *testing.T) []byte {
	t.Helper()
	h := e.h
	var stop atomic.Bool
	var wg sync.WaitGroup
	var created, failed atomic.Int64
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				if r := h.do("POST", "/api/v1/petitions", e.reg, petitionBody("group/east")); r.Code == http.StatusCreated {
					created.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	for created.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	r := h.must(http.StatusOK, "GET", "/api/v1/admin/backup", h.admin, nil)
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d petitions failed to be created during the backup", failed.Load())
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("backup Content-Type %q", ct)
	}
	if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("backup Content-Disposition %q", r.Header.Get("Content-Disposition"))
	}
	if len(r.Body) < 100 || !bytes.HasPrefix(r.Body, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("the backup is not an age file (%d bytes)", len(r.Body))
	}
	if bytes.Contains(r.Body, []byte("张三")) {
		t.Fatal("the backup holds plaintext")
	}
	return r.Body
}

// opRestored restores a backup into a new directory with identity text and
// serves it.
func opRestored(t *testing.T, backup []byte, identity string) *harness {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := vault.Restore(dir, bytes.NewReader(backup), identity); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	v, err := vault.Open(dir, vault.Options{Argon2: fastArgon, Now: clk.Now})
	if err != nil {
		t.Fatalf("open the restored vault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	srv, err := New(Config{Vault: v, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, v: v, srv: srv, clock: clk}
	h.admin = h.login("admin", testAdminPassword)
	return h
}

func TestOpsBackupRestore(t *testing.T) {
	e := opSetup(t, 1, harnessOptions{})
	h := e.h
	var ids []string
	for range 2 {
		ids = append(ids, e.opCase(nil, false))
	}
	for range 5 {
		ids = append(ids, h.petition(e.reg, petitionBody("group/east"))["id"].(string))
	}
	for _, tok := range []string{e.sup, e.reg, e.aud, e.off} {
		h.must(http.StatusForbidden, "GET", "/api/v1/admin/backup", tok, nil)
	}
	h.must(http.StatusUnauthorized, "GET", "/api/v1/admin/backup", "", nil)
	backup := e.opBackup(t)
	es, _, err := h.v.Log().Entries(audit.Filter{Action: "admin.backup", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, e := range es {
		if e.Status == http.StatusOK && e.Decision == audit.Allow && e.Actor != nil && e.Actor.Username == "admin" {
			allowed++
		}
	}
	if len(es) != 6 || allowed != 1 {
		t.Errorf("%d admin.backup entries (%d allowed), want 6 (1 allowed)", len(es), allowed)
	}

	key, err := os.ReadFile(filepath.Join(h.dir, vault.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, identity := range map[string]string{"vault": string(key), "recovery": e.recovery[0].String() + "\n"} {
		t.Run(name, func(t *testing.T) {
			rh := opRestored(t, backup, identity)
			rh.t = t
			sup := rh.login("op-sup", testPassword)
			for _, id := range ids {
				if p := rh.send(req{Method: "GET", Path: "/api/v1/petitions/" + id + "?reveal=identity", Token: sup,
					Header: map[string]string{"X-Access-Reason": opReason}}); p.Code != http.StatusOK || !bytes.Contains(p.Body, []byte("510104199001011234")) {
					t.Errorf("reveal %s on the restored vault: %d %s", id, p.Code, p.Body)
				}
				rh.must(http.StatusOK, "GET", "/api/v1/petitions/"+id+"/events", sup, nil)
			}
			before, err := audit.VerifyStore(rh.v.Store())
			if err != nil || !before.OK {
				t.Fatalf("the restored audit log: %+v, %v", before, err)
			}
			reg := rh.login("op-reg", testPassword)
			id := rh.petition(reg, petitionBody("group/east"))["id"].(string)
			rh.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, sup, nil)
			after, err := audit.VerifyStore(rh.v.Store())
			if err != nil || !after.OK || after.Size <= before.Size {
				t.Errorf("after new requests the log is %+v (was %+v), %v", after, before, err)
			}
			rh.must(http.StatusOK, "GET", "/api/v1/audit/verify", rh.login("op-aud", testPassword), nil)
		})
	}

	t.Run("wrong identity", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		if _, err := vault.Restore(dir, bytes.NewReader(backup), opIdentity(t).String()+"\n"); !errors.Is(err, vault.ErrBadBackup) {
			t.Errorf("restore with a stranger's identity: %v, want ErrBadBackup", err)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"truncated": backup[:len(backup)*2/3],
			"edited": func() []byte {
				b := bytes.Clone(backup)
				b[len(b)/2] ^= 1
				return b
			}(),
		} {
			dir := filepath.Join(t.TempDir(), "restored")
			if _, err := vault.Restore(dir, bytes.NewReader(b), string(key)); err == nil {
				t.Errorf("%s backup restored without an error", name)
			}
		}
	})
	t.Run("non-empty", func(t *testing.T) {
		if _, err := vault.Restore(h.dir, bytes.NewReader(backup), string(key)); !errors.Is(err, vault.ErrExists) {
			t.Errorf("restore over a vault: %v, want ErrExists", err)
		}
	})
}

// opSource serves a vault's log to an audit.Monitor.
type opSource struct{ v *vault.Vault }

func (s opSource) Checkpoint() ([]byte, error) { return s.v.Log().Sign() }

func (s opSource) Consistency(old, new int64) ([]tlog.Hash, error) {
	p, err := s.v.Log().ProveConsistency(old, new)
	if err != nil {
		return nil, err
	}
	return p.Hashes, nil
}

func TestOpsStaleRestoreDetected(t *testing.T) {
	e := opSetup(t, 1, harnessOptions{})
	h := e.h
	e.opCase(nil, false)
	backup := h.must(http.StatusOK, "GET", "/api/v1/admin/backup", h.admin, nil).Body
	key := strings.TrimSpace(string(h.must(http.StatusOK, "GET", "/api/v1/audit/verifier-key", "", nil).Body))
	mon := &audit.Monitor{Key: key, Dir: t.TempDir()}
	e.opCase(nil, true) // more entries after the backup
	if _, _, err := mon.Poll(opSource{h.v}); err != nil {
		t.Fatalf("poll the live vault: %v", err)
	}
	// Restored with the recovery identity (TestOpsBackupRestore covers vault.key).
	rh := opRestored(t, backup, e.recovery[0].String()+"\n")
	_, _, err := mon.Poll(opSource{rh.v})
	var alarm *audit.AlarmError
	if !errors.As(err, &alarm) || alarm.Kind != "rollback" {
		t.Errorf("poll the restored vault: %v, want a rollback alarm", err)
	}
}

// opArchive fetches an archive and checks it: members, manifest digests, the
// signature under the published verifier key, and each member opened with
// opener. It returns the ids it holds, sorted.
func opArchive(h *harness, query string, opener age.Identity) []string {
	t := h.t
	t.Helper()
	r := h.must(http.StatusOK, "GET", "/api/v1/admin/archive"+query, h.admin, nil)
	if ct := r.Header.Get("Content-Type"); ct != "application/x-tar" {
		t.Errorf("archive Content-Type %q", ct)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(r.Body))
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hd.Name] = b
	}
	var man struct {
		Items []struct{ ID, File, SHA256 string }
	}
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	vk := strings.TrimSpace(string(h.must(http.StatusOK, "GET", "/api/v1/audit/verifier-key", "", nil).Body))
	verifier, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatalf("verifier key %q: %v", vk, err)
	}
	n, err := note.Open(files["manifest.json.sig"], note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("manifest.json.sig: %v", err)
	}
	sum := sha256.Sum256(files["manifest.json"])
	if !strings.Contains(n.Text, hex.EncodeToString(sum[:])) {
		t.Errorf("signed note %q does not name the manifest's SHA-256", n.Text)
	}
	if len(files) != len(man.Items)+2 {
		t.Errorf("%d members for %d items", len(files), len(man.Items))
	}
	var ids []string
	for _, it := range man.Items {
		body := files[it.ID+".age"]
		if it.File != it.ID+".age" || body == nil {
			t.Errorf("item %+v has no member <id>.age", it)
			continue
		}
		got := sha256.Sum256(body)
		if hex.EncodeToString(got[:]) != it.SHA256 {
			t.Errorf("member %s: SHA-256 mismatch", it.File)
		}
		ar, err := age.Decrypt(bytes.NewReader(body), opener)
		if err != nil {
			t.Errorf("member %s: %v", it.File, err)
			continue
		}
		pt, _ := io.ReadAll(ar)
		var rec struct {
			Meta       struct{ ID string }
			Content    struct{ Content string }
			Petitioner struct {
				Name     string
				IDNumber string `json:"id_number"`
			}
			Events []struct {
				Type, Action, Text string
			}
		}
		if err := json.Unmarshal(pt, &rec); err != nil {
			t.Fatalf("member %s: %v", it.File, err)
		}
		if rec.Meta.ID != it.ID || !strings.Contains(rec.Content.Content, "拖欠我们三个月工资") || rec.Petitioner.Name != "张三" ||
			rec.Petitioner.IDNumber != "510104199001011234" || len(rec.Events) < 5 {
			t.Errorf("member %s holds %s", it.File, pt)
		}
		ids = append(ids, it.ID)
	}
	if bytes.Contains(r.Body, []byte("张三")) {
		t.Error("the archive holds plaintext")
	}
	slices.Sort(ids)
	return ids
}

func opSorted(s ...string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestOpsArchive(t *testing.T) {
	archivist := opIdentity(t)
	e := opSetup(t, 1, harnessOptions{})
	h := e.h
	rec := e.recovery[0]
	at := func(ts string) func(map[string]any) { return func(b map[string]any) { b["received_at"] = ts } }
	feb10 := e.opCase(at("2026-02-10T08:00:00Z"), true)
	feb20 := e.opCase(at("2026-02-20T08:00:00Z"), true)
	feb27 := e.opCase(at("2026-02-27T08:00:00Z"), true)
	open := e.opCase(nil, false)

	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"default", "", []string{feb10, feb20, feb27}},
		{"closed", "?status=closed", []string{feb10, feb20, feb27}},
		{"replied", "?status=replied", []string{open}},
		{"from", "?status=closed&from=2026-02-15", []string{feb20, feb27}},
		{"to date is inclusive", "?status=closed&to=2026-02-20", []string{feb10, feb20}},
		{"from and to", "?status=closed&from=2026-02-15T00:00:00Z&to=2026-02-25T00:00:00Z", []string{feb20}},
		{"approved recipient", "?status=closed&recipient=" + rec.Recipient().String(), []string{feb10, feb20, feb27}},
		{"empty", "?status=closed&from=2026-02-28", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := *h
			h.t = t
			if got := opArchive(&h, tt.query, rec); !slices.Equal(got, opSorted(tt.want...)) {
				t.Errorf("archive holds %v, want %v", got, opSorted(tt.want...))
			}
		})
	}
	for _, tt := range []struct {
		name, token, query string
		want               int
	}{
		{"anonymous", "", "", http.StatusUnauthorized},
		{"supervisor", e.sup, "", http.StatusForbidden},
		{"auditor", e.aud, "", http.StatusForbidden},
		{"recipient not approved", h.admin, "?recipient=" + archivist.Recipient().String(), http.StatusForbidden},
		{"one not approved", h.admin, "?recipient=" + rec.Recipient().String() + "&recipient=" + archivist.Recipient().String(), http.StatusForbidden},
		{"bad status", h.admin, "?status=lost", http.StatusBadRequest},
		{"bad from", h.admin, "?from=yesterday", http.StatusBadRequest},
		{"bad to", h.admin, "?to=2026-13-01", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", "/api/v1/admin/archive"+tt.query, tt.token, nil)
			if r.Code != tt.want {
				t.Errorf("status %d, want %d: %s", r.Code, tt.want, r.Body)
			}
			if bytes.Contains(r.Body, []byte("manifest")) {
				t.Error("a refused request streamed an archive")
			}
		})
	}
	es, _, err := h.v.Log().Entries(audit.Filter{Action: "admin.archive", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range es {
		if e.Status == http.StatusForbidden && e.Decision == audit.Deny {
			denied++
		}
	}
	if denied != 4 {
		t.Errorf("%d denied archive requests recorded, want 4", denied)
	}

	t.Run("configured archive recipients", func(t *testing.T) {
		e := opSetup(t, 1, harnessOptions{cfg: func(c *Config) { c.ArchiveRecipients = []string{archivist.Recipient().String()} }})
		id := e.opCase(nil, true)
		if got := opArchive(e.h, "", archivist); !slices.Equal(got, []string{id}) {
			t.Errorf("archive to the configured recipient holds %v", got)
		}
		// The recovery recipients stay approved.
		if got := opArchive(e.h, "?recipient="+e.recovery[0].Recipient().String(), e.recovery[0]); !slices.Equal(got, []string{id}) {
			t.Errorf("archive to the recovery recipient holds %v", got)
		}
	})
	t.Run("no recipients", func(t *testing.T) {
		e := opSetup(t, 0, harnessOptions{})
		e.opCase(nil, true)
		e.h.must(http.StatusBadRequest, "GET", "/api/v1/admin/archive?status=closed", e.h.admin, nil)
		e.h.must(http.StatusForbidden, "GET", "/api/v1/admin/archive?recipient="+archivist.Recipient().String(), e.h.admin, nil)
	})
}

// opMetric is one sample of the Prometheus text format.
type opMetric struct {
	name   string
	labels map[string]string
	value  float64
}

var opSampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
var opLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func opScrape(h *harness) []opMetric {
	h.t.Helper()
	r := h.must(http.StatusOK, "GET", "/metrics", "", nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		h.t.Errorf("/metrics Content-Type %q", ct)
	}
	var out []opMetric
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := opSampleRE.FindStringSubmatch(line)
		if m == nil {
			h.t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			h.t.Fatalf("metrics line %q: %v", line, err)
		}
		s := opMetric{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range opLabelRE.FindAllStringSubmatch(m[3], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// opFind returns the samples named name whose labels include want.
func opFind(ms []opMetric, name string, want map[string]string) []opMetric {
	var out []opMetric
	for _, m := range ms {
		if m.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			if m.labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func TestOpsMetrics(t *testing.T) {
	m := NewMetrics()
	e := &opEnv{}
	h := newHarnessWith(t, harnessOptions{
		vaultOpts: func(o *vault.Options) { o.Audit.OnCommit = m.AuditHook() },
		cfg:       func(c *Config) { c.Metrics = m },
	})
	e.h = h
	_, e.reg = h.user("op-reg", "group/east", "registrar")
	_, e.sup = h.user("op-sup", "group/east", "supervisor")
	_, e.off = h.user("op-off", "group/east", "officer")
	_, e.aud = h.user("op-aud", "group", "auditor")
	id := e.opCase(nil, false)
	crit := petitionBody("group/east")
	crit["content"] = "工资拖了整整半年，家里已经揭不开锅，再不给钱我就从项目部楼顶跳下去。"
	critID := h.petition(e.reg, crit)["id"].(string)
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+critID, e.sup, nil)
	h.must(http.StatusNotFound, "GET", "/api/v1/petitions/00000000000000000000000000", e.sup, nil)
	h.must(http.StatusForbidden, "GET", "/api/v1/users", e.sup, nil)
	h.must(http.StatusNotFound, "GET", "/no/such/route/"+id, "", nil)
	if _, err := h.v.Log().Sign(); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusOK, "GET", "/healthz", "", nil)
	if r := h.must(http.StatusOK, "GET", "/readyz", "", nil); r.JSON(t)["status"] != "ready" {
		t.Errorf("/readyz: %s", r.Body)
	}

	ms := opScrape(h)
	for _, tt := range []struct {
		route, method, status string
	}{
		{"/api/v1/petitions", "POST", "201"},
		{"/api/v1/petitions/:id", "GET", "200"},
		{"/api/v1/petitions/:id", "GET", "404"},
		{"/api/v1/petitions/:id/actions", "POST", "200"},
		{"/api/v1/petitions/:id/notes", "POST", "201"},
		{"/api/v1/users", "GET", "403"},
		{"/api/v1/auth/login", "POST", "200"},
		{"/healthz", "GET", "200"},
		{"unmatched", "GET", "404"},
	} {
		got := opFind(ms, "pvault_http_requests_total", map[string]string{"route": tt.route, "method": tt.method, "status": tt.status})
		if len(got) != 1 || got[0].value < 1 {
			t.Errorf("pvault_http_requests_total{route=%q,method=%q,status=%q}: %v", tt.route, tt.method, tt.status, got)
		}
	}
	if got := opFind(ms, "pvault_http_request_duration_seconds_count", map[string]string{"route": "/api/v1/petitions/:id", "method": "GET"}); len(got) != 1 || got[0].value != 2 {
		t.Errorf("pvault_http_request_duration_seconds_count for GET /api/v1/petitions/:id: %v", got)
	}
	if len(opFind(ms, "pvault_http_request_duration_seconds_bucket", map[string]string{"route": "/api/v1/petitions", "le": "+Inf"})) != 1 {
		t.Error("no latency histogram for /api/v1/petitions")
	}
	// Labels hold route templates, never ids.
	for _, s := range ms {
		for k, v := range s.labels {
			if strings.Contains(v, id) || strings.Contains(v, critID) || strings.Contains(v, "/no/such") {
				t.Errorf("%s has label %s=%q holding request data", s.name, k, v)
			}
		}
	}
	for _, name := range []string{"pvault_audit_batch_entries_count", "pvault_audit_commit_seconds_count"} {
		if got := opFind(ms, name, nil); len(got) != 1 || got[0].value < 1 {
			t.Errorf("%s: %v", name, got)
		}
	}
	if got := opFind(ms, "pvault_audit_batch_entries_sum", nil); len(got) != 1 || got[0].value < 10 {
		t.Errorf("pvault_audit_batch_entries_sum: %v, want the entries committed", got)
	}
	for _, name := range []string{"pvault_audit_checkpoint_age_seconds", "pvault_store_bytes", "pvault_store_index_bytes"} {
		if got := opFind(ms, name, nil); len(got) != 1 || got[0].value < 0 {
			t.Errorf("%s: %v", name, got)
		}
	}
	if got := opFind(ms, "pvault_store_index_cache_bytes", nil); len(got) != 1 || got[0].value != 32<<20 {
		t.Errorf("pvault_store_index_cache_bytes: %v, want the 32 MiB a small store opens with", got)
	}
	if got := opFind(ms, "pvault_sealed", nil); len(got) != 1 || got[0].value != 0 {
		t.Errorf("pvault_sealed: %v, want 0", got)
	}
	if got := opFind(ms, "pvault_alerts", map[string]string{"unit": "group/east", "kind": "critical_risk"}); len(got) != 1 || got[0].value != 1 {
		t.Errorf("pvault_alerts for the critical petition: %v", got)
	}
	if got := opFind(ms, "pvault_audit_entries", nil); len(got) != 1 || got[0].value < 10 {
		t.Errorf("pvault_audit_entries: %v", got)
	}
}

// TestOpsMetricsPolicyDecisions: the issue asks for policy decisions by
// result among the metrics.
func TestOpsMetricsPolicyDecisions(t *testing.T) {
	m := NewMetrics()
	h := newHarnessWith(t, harnessOptions{cfg: func(c *Config) { c.Metrics = m }})
	_, reg := h.user("op-reg", "group/east", "registrar")
	_, west := h.user("op-west", "group/west", "supervisor")
	id := h.petition(reg, petitionBody("group/east"))["id"].(string)
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, reg, nil)
	h.must(http.StatusNotFound, "GET", "/api/v1/petitions/"+id, west, nil)
	ms := opScrape(h)
	for _, result := range []string{"allow", "deny"} {
		if got := opFind(ms, "pvault_policy_decisions_total", map[string]string{"result": result}); len(got) != 1 || got[0].value < 1 {
			t.Errorf("pvault_policy_decisions_total{result=%q}: %v, want a count after an allowed and a denied read", result, got)
		}
	}
}

func TestOpsPprof(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: func(c *Config) { c.Pprof = true }})
	_, sup := h.user("op-sup", "group/east", "supervisor")
	for _, tt := range []struct {
		name, path, token string
		want              int
		decision          string
	}{
		{"anonymous", "/debug/pprof/", "", http.StatusUnauthorized, audit.Deny},
		{"bad token", "/debug/pprof/", "not-a-token", http.StatusUnauthorized, audit.Deny},
		{"supervisor", "/debug/pprof/", sup, http.StatusForbidden, audit.Deny},
		{"admin index", "/debug/pprof/", h.admin, http.StatusOK, audit.Allow},
		{"admin cmdline", "/debug/pprof/cmdline", h.admin, http.StatusOK, audit.Allow},
		{"admin goroutine", "/debug/pprof/goroutine?debug=1", h.admin, http.StatusOK, audit.Allow},
		{"supervisor heap", "/debug/pprof/heap", sup, http.StatusForbidden, audit.Deny},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size := h.v.Log().Head().Size
			r := h.do("GET", tt.path, tt.token, nil)
			if r.Code != tt.want {
				t.Fatalf("GET %s: %d, want %d: %.200s", tt.path, r.Code, tt.want, r.Body)
			}
			if tt.want != http.StatusOK && bytes.Contains(r.Body, []byte("goroutine")) {
				t.Error("a refused request got a profile")
			}
			es, _, err := h.v.Log().Entries(audit.Filter{Start: size, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].Action != "system.pprof" || es[0].Decision != tt.decision || es[0].Status != tt.want ||
				es[0].RequestID != r.Header.Get("X-Request-ID") {
				t.Errorf("audit entries of the request: %+v, want one system.pprof %s %d", es, tt.decision, tt.want)
			}
			if tt.want == http.StatusOK && (es[0].Actor == nil || es[0].Actor.Username != "admin") {
				t.Errorf("pprof entry actor %+v, want admin", es[0].Actor)
			}
		})
	}

	off := newHarness(t)
	for _, tok := range []string{off.admin, ""} {
		if r := off.do("GET", "/debug/pprof/", tok, nil); r.Code != http.StatusNotFound {
			t.Errorf("pprof off: GET /debug/pprof/ = %d, want 404", r.Code)
		}
	}
}

func TestOpsHealth(t *testing.T) {
	h := newHarness(t)
	if r := h.must(http.StatusOK, "GET", "/healthz", "", nil); len(r.Body) == 0 {
		t.Error("/healthz has no body")
	}
	h.must(http.StatusOK, "GET", "/readyz", "", nil)
	h.must(http.StatusOK, "GET", "/metrics", "", nil)
}
