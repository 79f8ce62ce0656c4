package api

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// tlHarness is a harness whose log signs checkpoints only when asked (or at
// close), so that the sizes of checkpoints are known.
func tlHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, harnessOptions{vaultOpts: func(o *vault.Options) {
		o.Audit.CheckpointInterval = time.Hour
	}})
}

// tlAuditor creates an auditor and returns its token.
func tlAuditor(h *harness) string {
	h.t.Helper()
	_, tok := h.user("tl-auditor", "group", "auditor")
	return tok
}

// tlTraffic makes n audited requests.
func tlTraffic(h *harness, n int) {
	h.t.Helper()
	for range n {
		h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil)
	}
}

// tlSign signs a checkpoint of the log as it is now and returns its size.
func tlSign(h *harness) int64 {
	h.t.Helper()
	if _, err := h.v.Log().Sign(); err != nil {
		h.t.Fatal(err)
	}
	return h.v.Log().Head().Size
}

// tlEntryOf returns the audit entry of a response.
func tlEntryOf(tb testing.TB, h *harness, r *resp) *audit.Entry {
	tb.Helper()
	rid := r.Header.Get("X-Request-ID")
	es := h.entries(rid)
	if len(es) != 1 {
		tb.Fatalf("%d entries for request id %q, want 1", len(es), rid)
	}
	return es[0]
}

// tlProblem checks a problem response.
func tlProblem(tb testing.TB, r *resp, status int) {
	tb.Helper()
	if r.Code != status {
		tb.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
}

// tlOpenNote opens a checkpoint with x/mod's note package and the verifier
// key, independently of package audit, and returns size and root.
func tlOpenNote(tb testing.TB, msg []byte, vkey string) (int64, []byte) {
	tb.Helper()
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		tb.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		tb.Fatalf("note.Open(%q): %v", msg, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != v.Name() || lines[3] != "" {
		tb.Fatalf("checkpoint text %q", n.Text)
	}
	var size int64
	if _, err := fmt.Sscan(lines[1], &size); err != nil {
		tb.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		tb.Fatalf("root %q", lines[2])
	}
	return size, root
}

// tlRoot is the root of lines computed with transparency-dev/merkle.
func tlRoot(tb testing.TB, lines [][]byte) []byte {
	tb.Helper()
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range lines {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			tb.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if root == nil {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	return root
}

// tlExportLines fetches the whole export.
func tlExportLines(tb testing.TB, h *harness, token string) [][]byte {
	tb.Helper()
	r := h.must(http.StatusOK, "GET", "/api/v1/audit/export", token, nil)
	return bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n"))
}

type tlInclusion struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Hashes   []string `json:"hashes"`
}

type tlConsistency struct {
	Old    int64    `json:"old"`
	New    int64    `json:"new"`
	Hashes []string `json:"hashes"`
}

func tlDecodeStrict(tb testing.TB, b []byte, v any) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
}

func tlB64s(tb testing.TB, ss []string) [][]byte {
	tb.Helper()
	if ss == nil {
		tb.Fatal("hashes is null, want a list")
	}
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			tb.Fatalf("hash %q is not base64 of 32 bytes", s)
		}
		out[i] = b
	}
	return out
}

func TestAuditVerifierKeyIsPublic(t *testing.T) {
	h := tlHarness(t)
	aud := tlAuditor(h)
	_, reg := h.user("tl-reg", "group", "registrar")
	for _, tok := range []string{"", aud, reg, h.admin, "not-a-token"} {
		r := h.do("GET", "/api/v1/audit/verifier-key", tok, nil)
		if tok == "not-a-token" {
			// A bad token is refused like anywhere else, or ignored; either
			// way nothing but the public key may come back.
			if r.Code != http.StatusOK && r.Code != http.StatusUnauthorized {
				t.Errorf("bad token: status %d", r.Code)
			}
			continue
		}
		if r.Code != http.StatusOK {
			t.Fatalf("GET /audit/verifier-key with token %q: %d %s", tok, r.Code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q", ct)
		}
		if string(r.Body) != h.v.Log().VerifierKey()+"\n" {
			t.Errorf("body = %q, want %q", r.Body, h.v.Log().VerifierKey()+"\n")
		}
		v, err := note.NewVerifier(strings.TrimSpace(string(r.Body)))
		if err != nil {
			t.Fatalf("verifier key %q: %v", r.Body, err)
		}
		if v.Name() != h.v.Name()+"/audit" {
			t.Errorf("key name %q, want %q", v.Name(), h.v.Name()+"/audit")
		}
		e := tlEntryOf(t, h, r)
		if e.Action != "audit.verifier_key" || e.Status != http.StatusOK || e.Decision != audit.Allow {
			t.Errorf("entry = %+v", e)
		}
		if tok == "" && e.Actor != nil {
			t.Errorf("anonymous request recorded actor %+v", e.Actor)
		}
		if tok == aud && (e.Actor == nil || e.Actor.Username != "tl-auditor") {
			t.Errorf("auditor's request recorded actor %+v", e.Actor)
		}
	}
}

func TestAuditCheckpointMatchesProofs(t *testing.T) {
	h := tlHarness(t)
	aud := tlAuditor(h)
	tlTraffic(h, 5)
	s1 := tlSign(h)
	tlTraffic(h, 9)
	s2 := tlSign(h)
	tlTraffic(h, 3)
	vkey := string(h.must(http.StatusOK, "GET", "/api/v1/audit/verifier-key", "", nil).Body)

	// The latest checkpoint.
	r := h.must(http.StatusOK, "GET", "/api/v1/audit/checkpoint", aud, nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	size, root := tlOpenNote(t, r.Body, vkey)
	if size != s2 {
		t.Fatalf("latest checkpoint size %d, want %d", size, s2)
	}
	c, err := audit.OpenCheckpoint(r.Body, vkey)
	if err != nil || c.Size != size || !bytes.Equal(c.Root[:], root) {
		t.Errorf("audit.OpenCheckpoint = %+v, %v", c, err)
	}
	if e := tlEntryOf(t, h, r); e.Action != "audit.checkpoint" || e.Status != http.StatusOK {
		t.Errorf("entry = %+v", e)
	}

	// An older one.
	r1 := h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/audit/checkpoint?size=%d", s1), aud, nil)
	size1, root1 := tlOpenNote(t, r1.Body, vkey)
	if size1 != s1 {
		t.Fatalf("?size=%d gave size %d", s1, size1)
	}
	if want, _ := h.v.Log().CheckpointAt(s1); !bytes.Equal(r1.Body, want) {
		t.Errorf("?size=%d = %q, want the stored %q", s1, r1.Body, want)
	}

	// Both roots are the transparency-dev roots of the export's prefixes.
	lines := tlExportLines(t, h, aud)
	if int64(len(lines)) < s2 {
		t.Fatalf("export has %d lines, checkpoint covers %d", len(lines), s2)
	}
	if got := tlRoot(t, lines[:s2]); !bytes.Equal(got, root) {
		t.Errorf("checkpoint root %x, merkle root of the export %x", root, got)
	}
	if got := tlRoot(t, lines[:s1]); !bytes.Equal(got, root1) {
		t.Errorf("old checkpoint root %x, merkle root %x", root1, got)
	}

	// Inclusion proofs against the checkpoint.
	for _, i := range []int64{0, 1, s1 - 1, s1, s2 / 2, s2 - 1} {
		r := h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/audit/proof/inclusion?index=%d&size=%d", i, s2), aud, nil)
		var p tlInclusion
		tlDecodeStrict(t, r.Body, &p)
		leaf := rfc6962.DefaultHasher.HashLeaf(lines[i])
		if p.Index != i || p.Size != s2 || p.LeafHash != base64.StdEncoding.EncodeToString(leaf) {
			t.Errorf("inclusion proof %d = %s", i, r.Body)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(s2), leaf, tlB64s(t, p.Hashes), root); err != nil {
			t.Errorf("inclusion of %d in %d: %v", i, s2, err)
		}
	}
	// Without size: the log as it is when the request arrives.
	head := h.v.Log().Head().Size
	r = h.must(http.StatusOK, "GET", "/api/v1/audit/proof/inclusion?index=3", aud, nil)
	var p tlInclusion
	tlDecodeStrict(t, r.Body, &p)
	headRoot, err := h.v.Log().RootAt(head)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != head {
		t.Errorf("default size %d, want %d", p.Size, head)
	}
	leaf, _ := base64.StdEncoding.DecodeString(p.LeafHash)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 3, uint64(p.Size), leaf, tlB64s(t, p.Hashes), headRoot[:]); err != nil {
		t.Errorf("default-size inclusion: %v", err)
	}

	// Consistency between the two checkpoints, and from each to itself.
	for _, pair := range [][2]int64{{s1, s2}, {1, s2}, {s1, s1}, {s2, s2}} {
		r := h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/audit/proof/consistency?old=%d&new=%d", pair[0], pair[1]), aud, nil)
		var cp tlConsistency
		tlDecodeStrict(t, r.Body, &cp)
		if cp.Old != pair[0] || cp.New != pair[1] {
			t.Errorf("consistency = %s", r.Body)
		}
		r1, r2 := tlRoot(t, lines[:pair[0]]), tlRoot(t, lines[:pair[1]])
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(pair[0]), uint64(pair[1]), tlB64s(t, cp.Hashes), r1, r2); err != nil {
			t.Errorf("consistency %v: %v", pair, err)
		}
	}
	r = h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/audit/proof/consistency?old=%d&new=%d", s1, s2), aud, nil)
	var cp tlConsistency
	tlDecodeStrict(t, r.Body, &cp)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(s1), uint64(s2), tlB64s(t, cp.Hashes), root1, root); err != nil {
		t.Errorf("checkpoints %d and %d inconsistent: %v", s1, s2, err)
	}
	if e := tlEntryOf(t, h, r); e.Action != "audit.proof" || e.Status != http.StatusOK {
		t.Errorf("entry = %+v", e)
	}

	// Sizes never signed, and bad sizes.
	for _, tt := range []struct {
		query string
		want  int
	}{
		{fmt.Sprintf("size=%d", s1+1), http.StatusNotFound},
		{fmt.Sprintf("size=%d", s2+1), http.StatusNotFound},
		{"size=999999", http.StatusNotFound},
		{"size=0", http.StatusBadRequest},
		{"size=-1", http.StatusBadRequest},
		{"size=x", http.StatusBadRequest},
		{"size=1.5", http.StatusBadRequest},
	} {
		t.Run("checkpoint?"+tt.query, func(t *testing.T) {
			r := h.do("GET", "/api/v1/audit/checkpoint?"+tt.query, aud, nil)
			tlProblem(t, r, tt.want)
			if e := tlEntryOf(t, h, r); e.Status != tt.want || e.Action != "audit.checkpoint" {
				t.Errorf("entry = %+v", e)
			}
		})
	}
}

func TestAuditCheckpointOnFreshVault(t *testing.T) {
	// A vault's first checkpoint is signed when Init closes it; a fresh
	// request for the latest always gets one that covers at least that.
	h := tlHarness(t)
	aud := tlAuditor(h)
	vkey := h.v.Log().VerifierKey()
	r := h.must(http.StatusOK, "GET", "/api/v1/audit/checkpoint", aud, nil)
	size, root := tlOpenNote(t, r.Body, vkey)
	if size < 1 {
		t.Fatalf("checkpoint size %d", size)
	}
	want, err := h.v.Log().RootAt(size)
	if err != nil || !bytes.Equal(want[:], root) {
		t.Errorf("root %x, log root %x (%v)", root, want, err)
	}
}

func TestAuditProofParameterErrors(t *testing.T) {
	h := tlHarness(t)
	aud := tlAuditor(h)
	tlTraffic(h, 4)
	n := h.v.Log().Head().Size // grows by one per request; every bound below is far from it
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/api/v1/audit/proof/inclusion", 400},
		{"/api/v1/audit/proof/inclusion?size=3", 400},
		{"/api/v1/audit/proof/inclusion?index=", 400},
		{"/api/v1/audit/proof/inclusion?index=x", 400},
		{"/api/v1/audit/proof/inclusion?index=-1", 400},
		{"/api/v1/audit/proof/inclusion?index=1.0", 400},
		{"/api/v1/audit/proof/inclusion?index=3&size=3", 400},
		{"/api/v1/audit/proof/inclusion?index=4&size=3", 400},
		{fmt.Sprintf("/api/v1/audit/proof/inclusion?index=%d", n+1000), 400},
		{fmt.Sprintf("/api/v1/audit/proof/inclusion?index=0&size=%d", n+1000), 400},
		{"/api/v1/audit/proof/inclusion?index=0&size=0", 400},
		{"/api/v1/audit/proof/inclusion?index=0&size=x", 400},
		{"/api/v1/audit/proof/inclusion?index=99999999999999999999", 400},
		{"/api/v1/audit/proof/inclusion?index=0&size=3", 200},
		{"/api/v1/audit/proof/inclusion?index=2&size=3", 200},
		{"/api/v1/audit/proof/consistency", 400},
		{"/api/v1/audit/proof/consistency?new=3", 400},
		{"/api/v1/audit/proof/consistency?old=0", 400},
		{"/api/v1/audit/proof/consistency?old=0&new=3", 400},
		{"/api/v1/audit/proof/consistency?old=4&new=3", 400},
		{"/api/v1/audit/proof/consistency?old=-1&new=3", 400},
		{"/api/v1/audit/proof/consistency?old=x&new=3", 400},
		{"/api/v1/audit/proof/consistency?old=1&new=y", 400},
		{fmt.Sprintf("/api/v1/audit/proof/consistency?old=1&new=%d", n+1000), 400},
		{fmt.Sprintf("/api/v1/audit/proof/consistency?old=%d", n+1000), 400},
		{"/api/v1/audit/proof/consistency?old=1&new=3", 200},
		{"/api/v1/audit/proof/consistency?old=3&new=3", 200},
		{"/api/v1/audit/proof/consistency?old=2", 200},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := h.do("GET", tt.path, aud, nil)
			if tt.want != http.StatusOK {
				tlProblem(t, r, tt.want)
			} else if r.Code != tt.want {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			e := tlEntryOf(t, h, r)
			if e.Action != "audit.proof" || e.Status != tt.want || e.Decision != audit.Allow {
				t.Errorf("entry = %+v, want audit.proof, allow, %d", e, tt.want)
			}
		})
	}
}

func TestAuditHashMatchesClientPseudonym(t *testing.T) {
	h := tlHarness(t)
	aud := tlAuditor(h)
	r := h.must(http.StatusOK, "POST", "/api/v1/audit/hash", aud, map[string]string{"value": "192.0.2.1"})
	var out map[string]string
	tlDecodeStrict(t, r.Body, &out)
	hm := out["hmac"]
	if hm == "" {
		t.Fatalf("no hmac in %s", r.Body)
	}
	if want := h.v.Hasher().Sum(vault.HashPseudonym, "192.0.2.1"); hm != want {
		t.Errorf("hmac %q, want the vault's pseudonym %q", hm, want)
	}
	if strings.Contains(hm, "192.0.2.1") {
		t.Errorf("hmac %q contains the address", hm)
	}
	// Every entry made by a test request (httptest's 192.0.2.1) carries it,
	// including the hash request's own, which also records the result.
	e := tlEntryOf(t, h, r)
	if e.Action != "audit.hash" || e.Details["client"] != hm || e.Details["hmac"] != hm {
		t.Errorf("hash entry = %+v", e)
	}
	lines := tlExportLines(t, h, aud)
	withClient := 0
	for _, line := range lines {
		le, err := audit.ParseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := le.Details["client"]; ok {
			withClient++
			if c != hm {
				t.Errorf("entry %d client %v, want %s", le.Seq, c, hm)
			}
		}
		if bytes.Contains(line, []byte("192.0.2.1")) {
			t.Errorf("entry %d holds the client address in clear", le.Seq)
		}
	}
	if withClient < 3 {
		t.Errorf("only %d entries carry a client pseudonym", withClient)
	}
	// Another value hashes differently; the same one the same.
	other := h.must(http.StatusOK, "POST", "/api/v1/audit/hash", aud, map[string]string{"value": "192.0.2.2"}).JSON(t)["hmac"]
	again := h.must(http.StatusOK, "POST", "/api/v1/audit/hash", aud, map[string]string{"value": "192.0.2.1"}).JSON(t)["hmac"]
	if other == hm || again != hm {
		t.Errorf("hmac(192.0.2.2) = %v, hmac(192.0.2.1) again = %v, first %v", other, again, hm)
	}
	// Bad bodies.
	for _, tt := range []struct {
		name string
		body any
	}{
		{"empty object", map[string]any{}},
		{"empty value", map[string]string{"value": ""}},
		{"unknown field", map[string]any{"value": "x", "other": 1}},
		{"number", map[string]any{"value": 5}},
		{"not JSON", "value=x"},
		{"too long", map[string]string{"value": strings.Repeat("v", 4097)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/api/v1/audit/hash", aud, tt.body)
			tlProblem(t, r, http.StatusBadRequest)
			if e := tlEntryOf(t, h, r); e.Action != "audit.hash" || e.Status != http.StatusBadRequest {
				t.Errorf("entry = %+v", e)
			}
		})
	}
}

func TestAuditProofEndpointsAuditorOnly(t *testing.T) {
	h := tlHarness(t)
	tok := map[string]string{"admin": h.admin, "none": ""}
	for _, u := range []struct{ name, unit, role string }{
		{"tl-reg", "group/east", "registrar"},
		{"tl-off", "group/east", "officer"},
		{"tl-sup", "group", "supervisor"},
		{"tl-aud", "group", "auditor"},
		{"tl-aud-east", "group/east", "auditor"},
	} {
		_, tok[u.name] = h.user(u.name, u.unit, u.role)
	}
	tlSign(h)
	for _, ep := range []struct {
		method, path string
		body         any
		action       string
	}{
		{"GET", "/api/v1/audit/checkpoint", nil, "audit.checkpoint"},
		{"GET", "/api/v1/audit/checkpoint?size=1", nil, "audit.checkpoint"},
		{"GET", "/api/v1/audit/proof/inclusion?index=0&size=2", nil, "audit.proof"},
		{"GET", "/api/v1/audit/proof/consistency?old=1&new=2", nil, "audit.proof"},
		{"POST", "/api/v1/audit/hash", map[string]string{"value": "192.0.2.1"}, "audit.hash"},
	} {
		for _, tt := range []struct {
			user string
			want int
		}{
			{"admin", 403},
			{"tl-reg", 403},
			{"tl-off", 403},
			{"tl-sup", 403},
			{"none", 401},
			{"tl-aud", 200},
			{"tl-aud-east", 200},
		} {
			t.Run(ep.path+" as "+tt.user, func(t *testing.T) {
				r := h.do(ep.method, ep.path, tok[tt.user], ep.body)
				if tt.want != http.StatusOK {
					tlProblem(t, r, tt.want)
				} else if r.Code != http.StatusOK {
					t.Fatalf("status %d: %s", r.Code, r.Body)
				}
				e := tlEntryOf(t, h, r)
				wantDecision := audit.Allow
				if tt.want != http.StatusOK {
					wantDecision = audit.Deny
				}
				if e.Action != ep.action || e.Status != tt.want || e.Decision != wantDecision {
					t.Errorf("entry = %+v, want %s %s %d", e, ep.action, wantDecision, tt.want)
				}
				if tt.want != http.StatusOK {
					// A refusal leaks nothing of the log.
					for _, leak := range []string{"hmac", "hashes", "—", h.v.Log().VerifierKey()} {
						if bytes.Contains(r.Body, []byte(leak)) {
							t.Errorf("refusal body %s contains %q", r.Body, leak)
						}
					}
				}
			})
		}
	}
}

func TestAuditRefusesToServeAfterInconsistentTree(t *testing.T) {
	h := tlHarness(t)
	aud := tlAuditor(h)
	tlTraffic(h, 6)
	tlSign(h)
	h.must(http.StatusOK, "GET", "/readyz", "", nil)
	// Someone with the storage key rewrites the stored tree under the
	// checkpoint just signed: the next checkpoint must not be signed, and
	// the vault stops serving. Find the stored hashes the tree of the
	// checkpoint's size is computed from.
	size := h.v.Log().Head().Size
	var read []int64
	if err := h.v.Store().View(func(r store.Reader) error {
		_, err := tlog.TreeHash(size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			read = append(read, idx...)
			out := make([]tlog.Hash, len(idx))
			return out, nil
		}))
		return err
	}); err != nil || len(read) == 0 {
		t.Fatalf("tree hash: %v (%d reads)", err, len(read))
	}
	// Each interior hash is stored with the entry that completes it, after
	// a marker byte and a count byte (see audit/entryvalue.go).
	level, n := tlog.SplitStoredHashIndex(read[0])
	if level == 0 {
		t.Fatalf("the tree of size %d is read from a leaf", size)
	}
	if err := h.v.Store().Update(func(tx store.Tx) error {
		key := binary.BigEndian.AppendUint64([]byte("a/e/"), uint64((n+1)<<level-1))
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		if b[0] != 0x01 || int(b[1]) < level {
			t.Fatalf("entry value holds no hash of level %d", level)
		}
		b = append([]byte(nil), b...)
		b[2+(level-1)*tlog.HashSize] ^= 0xff
		return tx.Set(key, b)
	}); err != nil {
		t.Fatal(err)
	}
	before, _, err := h.v.Log().LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusOK, "GET", "/api/v1/me", aud, nil) // the log grows past the checkpoint
	if b, err := h.v.Log().Sign(); err == nil {
		t.Fatalf("signed %q over a tampered tree", b)
	}
	if h.v.Log().Healthy() {
		t.Error("log healthy after a refused checkpoint")
	}
	r := h.do("GET", "/readyz", "", nil)
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz = %d %s, want 503", r.Code, r.Body)
	}
	r = h.do("GET", "/api/v1/me", aud, nil)
	tlProblem(t, r, http.StatusServiceUnavailable)
	after, _, _ := h.v.Log().LatestCheckpoint()
	if !bytes.Equal(before, after) {
		t.Error("a checkpoint was signed over the tampered tree")
	}
}
