package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"pvault/audit"
	"pvault/vault/store"
)

// Tests of key rotation, resumable re-encryption and passphrase change
// (issue 8, "Key rotation"). Helpers shared by the operations tests of this
// package (rotate, backup, archive) are prefixed op.

// opArgon keeps password hashing cheap.
var opArgon = Argon2Params{Memory: 64, Time: 1, Threads: 1}

const opAdminPassword = "op-admin-password-for-tests"

// opEnv is a vault in a temporary directory with recovery identities.
type opEnv struct {
	dir      string
	v        *Vault
	admin    *User
	recovery []*age.X25519Identity
	opts     Options
}

// opNewIdentity generates an age identity.
func opNewIdentity(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// opInit creates a vault with nRecovery recovery recipients and opens it
// with opts (the passphrase, if any, is used at init too).
func opInit(tb testing.TB, nRecovery int, opts Options) *opEnv {
	tb.Helper()
	e := &opEnv{dir: filepath.Join(tb.TempDir(), "data")}
	var recips []string
	for range nRecovery {
		id := opNewIdentity(tb)
		e.recovery = append(e.recovery, id)
		recips = append(recips, id.Recipient().String())
	}
	opts.Argon2 = opArgon
	initOpts := opts
	initOpts.Store = nil // a gate is for the vault under test only
	if _, err := Init(e.dir, InitOptions{AdminPassword: opAdminPassword, Passphrase: opts.Passphrase, Recovery: recips, Options: initOpts}); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	e.opts = opts
	e.open(tb)
	return e
}

// open (re)opens the vault and closes it at the end of the test.
func (e *opEnv) open(tb testing.TB) {
	tb.Helper()
	v, err := Open(e.dir, e.opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	e.v = v
	if e.admin, err = v.UserByName("admin"); err != nil {
		tb.Fatal(err)
	}
}

func opEntry(action string) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Decision: audit.Allow, Status: 200}
}

func opPetition(i int) NewPetition {
	return NewPetition{
		Unit: "group/east/site-3", Channel: "letter",
		Title:   fmt.Sprintf("拖欠工资 %d", i),
		Content: fmt.Sprintf("第%d号：我们在三号工地干了三个月，项目部一直拖欠工资。", i),
		Petitioner: &Petitioner{Name: "张三", IDNumber: "110101199003074578", Phone: fmt.Sprintf("138%08d", i),
			Address: "北京市朝阳区某街道1号", EmployeeNo: fmt.Sprintf("E-%d", i)},
		Subjects: []string{"李四"},
	}
}

// opCreate creates n petitions (with identities) from a few goroutines and
// returns their ids.
func opCreate(tb testing.TB, v *Vault, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := v.CreatePetition(opPetition(i), nil, opEntry("petition.create"))
				if err != nil {
					errs[i] = err
					continue
				}
				ids[i] = c.Meta.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("create petitions: %v", err)
	}
	return ids
}

// opEnrich gives a petition a note, an accept, a reply and a categorize
// correction: sealed events and a sealed correction.
func opEnrich(tb testing.TB, v *Vault, u *User, id string) {
	tb.Helper()
	if _, _, err := v.AddNote(id, "已电话联系项目部核实。", u, opEntry("petition.note")); err != nil {
		tb.Fatalf("note: %v", err)
	}
	for _, in := range []ActionInput{
		{Action: ActAccept, Comment: "符合受理条件"},
		{Action: ActCategorize, Label: "wage_arrears"},
		{Action: ActReply, Text: "经核实，工资已于本月补发。"},
	} {
		if _, _, err := v.Act(id, in, u, opEntry("petition.action")); err != nil {
			tb.Fatalf("%s: %v", in.Action, err)
		}
	}
}

// opSealed returns every sealed record of the store (petition content and
// identity, the sealed text of events, corrections) as age files by key.
func opSealed(tb testing.TB, st store.Store) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	err := st.View(func(r store.Reader) error {
		for _, p := range []string{"cx/", "p/"} {
			if err := r.Scan(store.ScanOptions{Prefix: []byte(p)}, func(k, val []byte) error {
				key := string(k)
				switch {
				case strings.HasPrefix(key, "cx/"), strings.HasSuffix(key, "/c"), strings.HasSuffix(key, "/i"):
					out[key] = bytes.Clone(val)
				case strings.Contains(key, "/e/"):
					var ev Event
					if err := json.Unmarshal(val, &ev); err != nil {
						return fmt.Errorf("event %q: %w", key, err)
					}
					if len(ev.Sealed) > 0 {
						out[key] = bytes.Clone(ev.Sealed)
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// opKinds counts the sealed records by kind, to check a fixture covers them.
func opKinds(recs map[string][]byte) map[string]int {
	n := map[string]int{}
	for k := range recs {
		switch {
		case strings.HasPrefix(k, "cx/"):
			n["correction"]++
		case strings.HasSuffix(k, "/c"):
			n["content"]++
		case strings.HasSuffix(k, "/i"):
			n["identity"]++
		default:
			n["event"]++
		}
	}
	return n
}

func opOpens(ct []byte, id age.Identity) bool {
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return false
	}
	_, err = io.ReadAll(r)
	return err == nil
}

// opVault is the identity that opens envelopes for the vault identity id, as
// vault/envelope.go documents the format: the file key wrapped in a
// "pvault-key1" stanza under ChaCha20-Poly1305 with the key
// HKDF-SHA-256(id's string, info "pvault envelope key v1"), identified by
// the first 4 bytes of the key's SHA-256; or, for envelopes of the earlier
// format, an X25519 stanza for id. It is written from the documentation, not
// from the vault's code, so the format stays pinned.
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

// opCheckOpeners checks which identities open the records with the stock
// age library: each of yes opens all, each of no opens none. It reports one
// error per identity, with a count and an example.
func opCheckOpeners(tb testing.TB, recs map[string][]byte, yes, no map[string]age.Identity) {
	tb.Helper()
	if len(recs) == 0 {
		tb.Fatal("no sealed records to check")
	}
	check := func(name string, id age.Identity, want bool) {
		bad, example := 0, ""
		for k, ct := range recs {
			if opOpens(ct, id) != want {
				bad++
				example = k
			}
		}
		if bad == 0 {
			return
		}
		if want {
			tb.Errorf("%d of %d sealed records do not open with the %s identity (e.g. %q)", bad, len(recs), name, example)
		} else {
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

// opUnchanged counts the records of before still byte-identical in after.
func opUnchanged(before, after map[string][]byte) int {
	n := 0
	for k, ct := range before {
		if bytes.Equal(after[k], ct) {
			n++
		}
	}
	return n
}

// opIdentityFile parses the plain identity file of a vault.
func opIdentityFile(tb testing.TB, dir, name string) *age.X25519Identity {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(ids) != 1 {
		tb.Fatalf("parse %s: %v (%d identities)", name, err, len(ids))
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		tb.Fatalf("%s holds a %T", name, ids[0])
	}
	return id
}

func opMissing(tb testing.TB, dir string, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("%s: stat error %v, want it gone", n, err)
		}
	}
}

// opKeyringOpens reports whether id opens the vault's sealed keyring.
func opKeyringOpens(tb testing.TB, dir string, id age.Identity) bool {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, KeyringFile))
	if err != nil {
		tb.Fatal(err)
	}
	return opOpens(b, id)
}

// opWaitJob polls a job until it leaves the running state (at most 20 s).
func opWaitJob(tb testing.TB, v *Vault, id string) *Job {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := v.Job(id)
		if err != nil {
			tb.Fatalf("job %s: %v", id, err)
		}
		if j.State != JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job %s still running after 20 s: %+v", id, j)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opCheckReadable opens every petition's content, identity and events
// through the vault, and reports the failures in one error.
func opCheckReadable(tb testing.TB, v *Vault, ids []string) {
	tb.Helper()
	var bad []string
	for _, id := range ids {
		m, err := v.Meta(id)
		if err != nil {
			tb.Fatalf("meta %s: %v", id, err)
		}
		if c, err := v.OpenContent(id); err != nil || !strings.Contains(c.Content, "拖欠工资") {
			bad = append(bad, fmt.Sprintf("content %s: %v", id, err))
			continue
		}
		if p, err := v.OpenIdentity(m); err != nil || p == nil || p.Name != "张三" {
			bad = append(bad, fmt.Sprintf("identity %s: %v", id, err))
			continue
		}
		if _, err := v.Events(id); err != nil {
			bad = append(bad, fmt.Sprintf("events %s: %v", id, err))
		}
	}
	if len(bad) > 0 {
		tb.Errorf("%d of %d petitions cannot be read; first: %s", len(bad), len(ids), bad[0])
	}
}

// opActions lists the actions of the audit log, in order.
func opActions(tb testing.TB, v *Vault) []string {
	tb.Helper()
	var out []string
	if err := v.Log().Each("", func(e *audit.Entry) error { out = append(out, e.Action); return nil }); err != nil {
		tb.Fatal(err)
	}
	return out
}

func opCount(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// opGate is a store that holds the re-encryption job at the start of each
// batch: while active, the first scan of "cx/" or "p/" with values in each
// View waits for a token on step (close step to let everything through), and
// signals reached before waiting.
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

// release lets every waiting and future batch through.
func (g *opGate) release() { g.once.Do(func() { close(g.step) }) }

// await waits until the job waits at a batch.
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

func TestRotateNewIdentity(t *testing.T) {
	e := opInit(t, 1, Options{})
	ids := opCreate(t, e.v, 12)
	for _, id := range ids[:4] {
		opEnrich(t, e.v, e.admin, id)
	}
	before := opSealed(t, e.v.Store())
	if k := opKinds(before); k["content"] != 12 || k["identity"] != 12 || k["event"] < 8 || k["correction"] != 4 {
		t.Fatalf("fixture: sealed records by kind %v", k)
	}
	oldID := opIdentityFile(t, e.dir, IdentityFile)
	rec := e.recovery[0]
	opCheckOpeners(t, before, map[string]age.Identity{"vault": opVault(oldID), "recovery": rec}, nil)

	j, ent, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatalf("StartRotation: %v", err)
	}
	// Total counts every record the job visits, events without text too.
	if j.State != JobRunning || j.Kind != "key.rotate" || !j.NewIdentity || j.Total < int64(len(before)) {
		t.Errorf("job %+v: want running key.rotate with a new identity over at least %d records", j, len(before))
	}
	if ent.Action != "key.rotate" || ent.Object == nil || ent.Object.ID != j.ID {
		t.Errorf("rotation entry %+v, want key.rotate on job %s", ent, j.ID)
	}
	newID := opIdentityFile(t, e.dir, IdentityFile)
	if newID.String() == oldID.String() {
		t.Fatal("vault.key was not replaced")
	}
	if got := e.v.Recipient(); got != newID.Recipient().String() {
		t.Errorf("Recipient() = %s, want the new identity's", got)
	}

	done := opWaitJob(t, e.v, j.ID)
	if done.State != JobDone || done.Done != done.Total || done.Total != j.Total || done.FinishedAt == nil || done.Error != "" {
		t.Fatalf("finished job %+v: want done, %d of %d, with finished_at", done, j.Total, j.Total)
	}
	after := opSealed(t, e.v.Store())
	if len(after) != len(before) {
		t.Fatalf("%d sealed records after rotation, %d before", len(after), len(before))
	}
	if n := opUnchanged(before, after); n != 0 {
		t.Errorf("%d of %d records were not re-encrypted", n, len(before))
	}
	opCheckOpeners(t, after, map[string]age.Identity{"new vault": opVault(newID), "recovery": rec}, map[string]age.Identity{"old vault": opVault(oldID)})
	opMissing(t, e.dir, OldIdentityFile, OldSealedIdentityFile)
	if opKeyringOpens(t, e.dir, oldID) {
		t.Error("the old identity still opens the keyring")
	}
	if !opKeyringOpens(t, e.dir, newID) || !opKeyringOpens(t, e.dir, rec) {
		t.Error("the keyring does not open with the new vault identity and the recovery identity")
	}
	opCheckReadable(t, e.v, ids)

	// New records use the new keys.
	more := opCreate(t, e.v, 1)
	opCheckOpeners(t, map[string][]byte{"new": opSealed(t, e.v.Store())["p/"+more[0]+"/c"]},
		map[string]age.Identity{"new vault": opVault(newID), "recovery": rec}, map[string]age.Identity{"old vault": opVault(oldID)})

	acts := opActions(t, e.v)
	if opCount(acts, "key.rotate") != 1 || opCount(acts, "key.reencrypt") < 1 || opCount(acts, "key.rotate_done") != 1 {
		t.Errorf("audit actions: key.rotate %d, key.reencrypt %d, key.rotate_done %d; want 1, ≥1, 1",
			opCount(acts, "key.rotate"), opCount(acts, "key.reencrypt"), opCount(acts, "key.rotate_done"))
	}
	if res, err := audit.VerifyStore(e.v.Store()); err != nil || !res.OK {
		t.Errorf("audit log after rotation: %+v, %v", res, err)
	}

	// The vault reopens with the new identity alone.
	if err := e.v.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	opCheckReadable(t, e.v, append(ids, more...))
}

func TestRotateRecoveryRecipients(t *testing.T) {
	e := opInit(t, 1, Options{})
	ids := opCreate(t, e.v, 6)
	opEnrich(t, e.v, e.admin, ids[0])
	r1 := e.recovery[0]
	r2 := opNewIdentity(t)
	vaultID := opIdentityFile(t, e.dir, IdentityFile)
	keyBefore, _ := os.ReadFile(filepath.Join(e.dir, IdentityFile))
	before := opSealed(t, e.v.Store())

	for _, tt := range []struct {
		name string
		o    RotateOptions
	}{
		{"add not a recipient", RotateOptions{KeepIdentity: true, AddRecovery: []string{"age1notarecipient"}}},
		{"add an identity", RotateOptions{KeepIdentity: true, AddRecovery: []string{r2.String()}}},
		{"remove a stranger", RotateOptions{KeepIdentity: true, RemoveRecovery: []string{r2.Recipient().String()}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.v.StartRotation(tt.o, opEntry("key.rotate"))
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("StartRotation(%+v) = %v, want ErrInvalid", tt.o, err)
			}
		})
	}

	j, _, err := e.v.StartRotation(RotateOptions{KeepIdentity: true, AddRecovery: []string{r2.Recipient().String()},
		RemoveRecovery: []string{r1.Recipient().String()}}, opEntry("key.rotate"))
	if err != nil {
		t.Fatalf("StartRotation: %v", err)
	}
	if j.NewIdentity {
		t.Error("keep_identity: the job says it replaced the identity")
	}
	done := opWaitJob(t, e.v, j.ID)
	if done.State != JobDone || done.Done != done.Total {
		t.Fatalf("job %+v", done)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(e.dir, IdentityFile)); !bytes.Equal(keyBefore, keyAfter) {
		t.Error("keep_identity: vault.key changed")
	}
	opMissing(t, e.dir, OldIdentityFile)
	if got := e.v.ArchiveRecipients(); len(got) != 1 || got[0] != r2.Recipient().String() {
		t.Errorf("recovery recipients %v, want only the added one", got)
	}
	if n := opUnchanged(before, opSealed(t, e.v.Store())); n != 0 {
		t.Errorf("%d of %d records were not re-encrypted to the new recovery recipients", n, len(before))
	}
	more := opCreate(t, e.v, 2) // written after the change
	opEnrich(t, e.v, e.admin, more[0])
	opCheckOpeners(t, opSealed(t, e.v.Store()),
		map[string]age.Identity{"vault": opVault(vaultID), "added recovery": r2}, map[string]age.Identity{"removed recovery": r1})
	if opKeyringOpens(t, e.dir, r1) || !opKeyringOpens(t, e.dir, r2) {
		t.Error("the keyring is not sealed to the new recovery recipients only")
	}
	opCheckReadable(t, e.v, append(ids, more...))

	// The change survives a restart.
	e.v.Close()
	e.open(t)
	if got := e.v.ArchiveRecipients(); len(got) != 1 || got[0] != r2.Recipient().String() {
		t.Errorf("after reopening, recovery recipients %v", got)
	}
	more = opCreate(t, e.v, 1)
	opCheckOpeners(t, map[string][]byte{"c": opSealed(t, e.v.Store())["p/"+more[0]+"/c"]},
		map[string]age.Identity{"added recovery": r2}, map[string]age.Identity{"removed recovery": r1})
}

// opGated opens a vault whose re-encryption job can be held at each batch,
// with n petitions (the first few enriched) and notes more notes on each
// (notes are the cheapest sealed records to make).
func opGated(t *testing.T, n, notes int) (*opEnv, *opGate, []string) {
	t.Helper()
	g := newOpGate()
	e := opInit(t, 1, Options{Store: g.wrap})
	ids := opCreate(t, e.v, n)
	for _, id := range ids[:min(3, n)] {
		opEnrich(t, e.v, e.admin, id)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			for range notes {
				if _, _, err := e.v.AddNote(id, "补充材料已收到。", e.admin, opEntry("petition.note")); err != nil {
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
	t.Cleanup(g.release) // never leave the job blocked at Close
	return e, g, ids
}

func TestRotateConflictWhileRunning(t *testing.T) {
	e, g, _ := opGated(t, 5, 0)
	g.active.Store(true)
	j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatal(err)
	}
	g.await(t)
	for _, o := range []RotateOptions{{}, {KeepIdentity: true, AddRecovery: []string{opNewIdentity(t).Recipient().String()}}} {
		_, _, err := e.v.StartRotation(o, opEntry("key.rotate"))
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), j.ID) {
			t.Errorf("second rotation while one runs: %v, want ErrConflict naming job %s", err, j.ID)
		}
	}
	g.release()
	if done := opWaitJob(t, e.v, j.ID); done.State != JobDone {
		t.Fatalf("job %+v", done)
	}
	// Another rotation may start once the first is done.
	j2, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatalf("rotation after the first finished: %v", err)
	}
	if done := opWaitJob(t, e.v, j2.ID); done.State != JobDone {
		t.Fatalf("second job %+v", done)
	}
}

// TestRotateReadsDuringJob steps the job batch by batch while readers read
// every petition from several goroutines: no read may fail.
func TestRotateReadsDuringJob(t *testing.T) {
	e, g, ids := opGated(t, 10, 11) // 140 records: two batches
	oldID := opIdentityFile(t, e.dir, IdentityFile)
	var stop atomic.Bool
	var reads, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := w; !stop.Load(); i = (i + 7) % len(ids) {
				id := ids[i]
				err := func() error {
					m, err := e.v.Meta(id)
					if err != nil {
						return fmt.Errorf("meta: %w", err)
					}
					if _, err := e.v.OpenContent(id); err != nil {
						return fmt.Errorf("content: %w", err)
					}
					if _, err := e.v.OpenIdentity(m); err != nil {
						return fmt.Errorf("identity: %w", err)
					}
					if _, err = e.v.Events(id); err != nil {
						return fmt.Errorf("events: %w", err)
					}
					return nil
				}()
				reads.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", id, err))
				}
			}
		})
	}
	g.active.Store(true)
	j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	for {
		g.await(t)
		cur, err := e.v.Job(j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.State != JobRunning {
			t.Fatalf("job left running while held: %+v", cur)
		}
		if cur.Done > 0 && cur.ETASeconds == nil {
			t.Errorf("running job with progress %d/%d has no ETA", cur.Done, cur.Total)
		}
		if cur.Done >= cur.Total {
			break // the next scan finds nothing left
		}
		// Let the readers read against a half re-encrypted store.
		r0 := reads.Load()
		for deadline := time.Now().Add(5 * time.Second); reads.Load() < r0+6 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		batches++
		g.step <- struct{}{}
	}
	g.release()
	done := opWaitJob(t, e.v, j.ID)
	stop.Store(true)
	wg.Wait()
	if batches < 2 {
		t.Errorf("the job ran in %d batches; the test wants several", batches)
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d reads failed during the rotation; first: %v", n, reads.Load(), firstErr.Load())
	}
	if done.State != JobDone || done.Done != done.Total {
		t.Fatalf("job %+v", done)
	}
	newID := opIdentityFile(t, e.dir, IdentityFile)
	opCheckOpeners(t, opSealed(t, e.v.Store()), map[string]age.Identity{"new vault": opVault(newID), "recovery": e.recovery[0]},
		map[string]age.Identity{"old vault": opVault(oldID)})
}

// TestRotateResume stops the vault half-way through the re-encryption and
// finishes the job after reopening it.
func TestRotateResume(t *testing.T) {
	e, g, ids := opGated(t, 20, 12) // 290 records: three batches
	oldID := opIdentityFile(t, e.dir, IdentityFile)
	before := opSealed(t, e.v.Store())
	g.active.Store(true)
	j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatal(err)
	}
	g.await(t)
	g.step <- struct{}{} // the first batch
	g.await(t)           // committed; held at the second
	closed := make(chan error, 1)
	go func() { closed <- e.v.Close() }()
	// Close waits for the job, which finishes the batch it holds and stops.
	<-e.v.stopping
	g.release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not stop the job within 20 s")
	}

	newID := opIdentityFile(t, e.dir, IdentityFile)
	if _, err := os.Stat(filepath.Join(e.dir, OldIdentityFile)); err != nil {
		t.Fatalf("the previous identity is gone while records still need it: %v", err)
	}
	e.opts.Store = nil
	e.open(t)
	mid, err := e.v.Job(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mid.State != JobRunning || mid.Done == 0 || mid.Done >= mid.Total || mid.Cursor == "" {
		t.Fatalf("job after the stop %+v: want running, part done, with a cursor", mid)
	}
	if n := opUnchanged(before, opSealed(t, e.v.Store())); n == 0 || n == len(before) {
		t.Fatalf("%d of %d records not re-encrypted yet; want the job stopped half-way", n, len(before))
	}
	opCheckReadable(t, e.v, ids) // both identities are loaded

	if err := e.v.ResumeJobs(); err != nil {
		t.Fatal(err)
	}
	done := opWaitJob(t, e.v, j.ID)
	if done.State != JobDone || done.Done != done.Total || done.FinishedAt == nil {
		t.Fatalf("resumed job %+v", done)
	}
	opCheckOpeners(t, opSealed(t, e.v.Store()), map[string]age.Identity{"new vault": opVault(newID), "recovery": e.recovery[0]},
		map[string]age.Identity{"old vault": opVault(oldID)})
	if n := opUnchanged(before, opSealed(t, e.v.Store())); n != 0 {
		t.Errorf("%d records were not re-encrypted by the resumed job", n)
	}
	opMissing(t, e.dir, OldIdentityFile, OldSealedIdentityFile)
	if err := e.v.ResumeJobs(); err != nil {
		t.Errorf("ResumeJobs with nothing to resume: %v", err)
	}
	opCheckReadable(t, e.v, ids)
	if res, err := audit.VerifyStore(e.v.Store()); err != nil || !res.OK {
		t.Errorf("audit log: %+v, %v", res, err)
	}
}

// TestRotateProgressWithWrites creates petitions while a rotation runs: they
// are readable afterwards and the progress never passes its total.
func TestRotateProgressWithWrites(t *testing.T) {
	e, g, ids := opGated(t, 10, 0)
	g.active.Store(true)
	j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatal(err)
	}
	g.await(t)
	more := opCreate(t, e.v, 5)
	g.release()
	done := opWaitJob(t, e.v, j.ID)
	if done.State != JobDone {
		t.Fatalf("job %+v", done)
	}
	opCheckReadable(t, e.v, append(ids, more...))
	if done.Done > done.Total {
		t.Errorf("job progress %d/%d: done passes total when records are written during the rotation", done.Done, done.Total)
	}
}

// opRace reports whether the test binary runs under the race detector, where
// one age scrypt operation (work factor 18) takes about 20 s.
func opRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestChangePassphrase(t *testing.T) {
	if opRace() {
		t.Skip("age scrypt is too slow under the race detector; the plain test run covers this")
	}
	e := opInit(t, 1, Options{})
	ids := opCreate(t, e.v, 4)
	opEnrich(t, e.v, e.admin, ids[0])
	before := opSealed(t, e.v.Store())

	if err := e.v.ChangePassphrase("old passphrase"); err != nil {
		t.Fatal(err)
	}
	opMissing(t, e.dir, IdentityFile)
	if err := e.v.ChangePassphrase("new passphrase"); err != nil {
		t.Fatal(err)
	}
	opCheckReadable(t, e.v, ids)
	if err := e.v.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, pass string
	}{{"old", "old passphrase"}, {"none", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := Open(e.dir, Options{Passphrase: tt.pass}); !errors.Is(err, ErrPassphrase) {
				if v != nil {
					v.Close()
				}
				t.Errorf("Open with the %s passphrase: %v, want ErrPassphrase", tt.name, err)
			}
		})
	}
	e.opts.Passphrase = "new passphrase"
	e.open(t)
	after := opSealed(t, e.v.Store())
	if len(after) != len(before) {
		t.Fatalf("%d sealed records, %d before", len(after), len(before))
	}
	for k, ct := range before {
		if !bytes.Equal(after[k], ct) {
			t.Errorf("record %q was rewritten by a passphrase change", k)
		}
	}
	opCheckReadable(t, e.v, ids)

	// An empty passphrase stores the identity plain again.
	if err := e.v.ChangePassphrase(""); err != nil {
		t.Fatal(err)
	}
	opMissing(t, e.dir, SealedIdentityFile)
	opIdentityFile(t, e.dir, IdentityFile)
	e.v.Close()
	e.opts.Passphrase = ""
	e.open(t)
	opCheckReadable(t, e.v, ids)
}

// TestRotateAfterFailedJob: a re-encryption that fails (a damaged record)
// keeps the previous identity, and a retry after the damage is repaired
// finishes with every record readable.
func TestRotateAfterFailedJob(t *testing.T) {
	e := opInit(t, 1, Options{})
	ids := opCreate(t, e.v, 5)
	opEnrich(t, e.v, e.admin, ids[1])
	bad := []byte("p/" + ids[0] + "/c")
	good, err := e.v.currentValue(bad)
	if err != nil {
		t.Fatal(err)
	}
	put := func(val []byte) {
		t.Helper()
		if err := e.v.Store().Update(func(tx store.Tx) error { return tx.Set(bad, val) }); err != nil {
			t.Fatal(err)
		}
	}
	put([]byte("age-encryption.org/v1\n-> X25519 damaged\n"))

	j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatal(err)
	}
	failed := opWaitJob(t, e.v, j.ID)
	if failed.State != JobFailed || failed.Error == "" || failed.FinishedAt == nil {
		t.Fatalf("job over a damaged record: %+v, want failed with an error", failed)
	}
	if strings.Contains(failed.Error, ids[0]) {
		t.Errorf("the job's error %q names a store key", failed.Error)
	}
	if acts := opActions(t, e.v); opCount(acts, "key.rotate_failed") != 1 || opCount(acts, "key.rotate_done") != 0 {
		t.Errorf("audit actions after a failed job: %v", acts[len(acts)-3:])
	}
	if _, err := os.Stat(filepath.Join(e.dir, OldIdentityFile)); err != nil {
		t.Fatalf("the previous identity is gone after a failed job: %v", err)
	}
	opCheckReadable(t, e.v, ids[1:])

	// Repaired, the rotation is run again.
	put(good)
	opCheckReadable(t, e.v, ids)
	j2, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
	if err != nil {
		t.Fatalf("a rotation after a failed one: %v", err)
	}
	if done := opWaitJob(t, e.v, j2.ID); done.State != JobDone {
		t.Errorf("the retried rotation: %+v, want done", done)
	}
	opCheckReadable(t, e.v, ids)
	e.v.Close()
	e.open(t)
	opCheckReadable(t, e.v, ids)
}

// opHold is a store that holds a read of one key (Get) or one prefix (Scan)
// after the read, before its View returns: the reader has its snapshot and
// has not opened it yet.
type opHold struct {
	store.Store
	target atomic.Pointer[string]
	held   chan struct{}
	resume chan struct{}
}

func (h *opHold) wrap(s store.Store) store.Store { h.Store = s; return h }

func (h *opHold) View(fn func(store.Reader) error) error {
	return h.Store.View(func(r store.Reader) error { return fn(opHoldReader{r, h}) })
}

type opHoldReader struct {
	store.Reader
	h *opHold
}

func (r opHoldReader) hold(k []byte) {
	if t := r.h.target.Load(); t != nil && *t == string(k) && r.h.target.CompareAndSwap(t, nil) {
		r.h.held <- struct{}{}
		<-r.h.resume
	}
}

func (r opHoldReader) Get(k []byte) ([]byte, error) {
	v, err := r.Reader.Get(k)
	r.hold(k)
	return v, err
}

func (r opHoldReader) Scan(o store.ScanOptions, fn func(k, v []byte) error) error {
	err := r.Reader.Scan(o, fn)
	r.hold(o.Prefix)
	return err
}

// TestRotateReadAcrossFinish: a read that took its snapshot before the last
// records were re-encrypted and opens them after the job finished must still
// succeed ("reads keep working throughout").
func TestRotateReadAcrossFinish(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  func(id string) string
		read func(v *Vault, id string) error
	}{
		{"content", func(id string) string { return "p/" + id + "/c" }, func(v *Vault, id string) error { _, err := v.OpenContent(id); return err }},
		{"events", func(id string) string { return "p/" + id + "/e/" }, func(v *Vault, id string) error { _, err := v.Events(id); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &opHold{held: make(chan struct{}), resume: make(chan struct{})}
			e := opInit(t, 1, Options{Store: h.wrap})
			ids := opCreate(t, e.v, 2)
			opEnrich(t, e.v, e.admin, ids[0])
			target := tt.key(ids[0])
			h.target.Store(&target)
			e.v.sealed.drop(ids[0]) // read the store, not the cached envelope (TestSealedCacheReads)
			res := make(chan error, 1)
			go func() { res <- tt.read(e.v, ids[0]) }()
			select {
			case <-h.held:
			case <-time.After(20 * time.Second):
				t.Fatal("the read was not held")
			}
			j, _, err := e.v.StartRotation(RotateOptions{}, opEntry("key.rotate"))
			if err != nil {
				close(h.resume)
				t.Fatal(err)
			}
			done := opWaitJob(t, e.v, j.ID)
			close(h.resume)
			if err := <-res; err != nil {
				t.Errorf("a %s read across the end of a rotation failed: %v", tt.name, err)
			}
			if done.State != JobDone {
				t.Errorf("job %+v", done)
			}
		})
	}
}
