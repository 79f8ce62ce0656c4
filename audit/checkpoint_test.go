package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

var tlUpdate = flag.Bool("update-checkpoint", false, "rewrite testdata/checkpoint-*.txt")

// The checkpoint test vector: a log of tlVectorSize entries written by a Log
// with a fixed clock and fixed request ids, and its checkpoint signed with a
// fixed Ed25519 seed (Ed25519 signatures are deterministic, so the signed
// note is pinned byte for byte).
const (
	tlOrigin     = "pvault/audit"
	tlVectorSize = 7

	tlVectorLog    = "testdata/checkpoint-log.txt"    // the export, one canonical entry per line
	tlVectorBody   = "testdata/checkpoint-body.txt"   // the checkpoint body
	tlVectorSigned = "testdata/checkpoint-signed.txt" // the signed note
	tlVectorKey    = "testdata/checkpoint-vkey.txt"   // the verifier key, one line
)

// tlSeed is the fixed test signing seed: bytes 0, 1, …, 31.
func tlSeed(b byte) []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return seed
}

// tlSignerFor returns a checkpoint signer for the log called name with the
// key made from tlSeed(b), and its verifier key.
func tlSignerFor(tb testing.TB, name string, b byte) (note.Signer, string) {
	tb.Helper()
	s, vkey, err := NewSigner(name, ed25519.NewKeyFromSeed(tlSeed(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return s, vkey
}

// tlSigner is the fixed test signer of log pvault/audit.
func tlSigner(tb testing.TB) (note.Signer, string) { return tlSignerFor(tb, tlOrigin, 0) }

// tlClock is a clock that advances by step on every call.
type tlClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *tlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func tlNewClock() *tlClock {
	return &tlClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), step: 1500 * time.Microsecond}
}

// tlVectorEntry is the i-th entry of the vector log.
func tlVectorEntry(i int) *Entry {
	e := &Entry{
		RequestID: fmt.Sprintf("vector-%02d", i),
		Action:    []string{"auth.login", "petition.create", "petition.read", "petition.list"}[i%4],
		Decision:  Allow,
		Status:    200,
		Details:   map[string]any{"client": "9f2c3bb0d1b8c7e4a5f60718293a4b5c"},
	}
	if i > 0 {
		e.Actor = &Actor{UserID: "01M8CNZYV5FKRWB6TFGY4V9CT5", Username: "reg1", Roles: []string{"registrar"}, Unit: "group/east"}
		e.Object = &Object{Type: "petition", ID: fmt.Sprintf("01M8CNZZCE0PXVDAC8XH97RR%02d", i)}
	}
	if i == 5 {
		e.Decision, e.Status = Deny, 403
	}
	return e
}

// tlVectorLog builds the vector log in a Log over a Mem store and signs its
// checkpoint: it returns the export and the signed note.
func tlBuildVector(tb testing.TB) (export, signed []byte, vkey string) {
	tb.Helper()
	s, vkey := tlSigner(tb)
	l, err := Open(store.NewMem(), Options{Now: tlNewClock().Now, Signer: s, VerifierKey: vkey, CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	for i := range tlVectorSize {
		if _, err := l.Append(tlVectorEntry(i), nil); err != nil {
			tb.Fatal(err)
		}
	}
	signed, err = l.Sign()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.Export(&buf, 0, 0); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), signed, vkey
}

// tlReadVector reads a vector file, or writes want to it with -update-checkpoint.
func tlGolden(tb testing.TB, path string, got []byte) []byte {
	tb.Helper()
	if *tlUpdate {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -run TestCheckpointVector -update-checkpoint to create it)", err)
	}
	return b
}

// tlMerkleRoot is the RFC 6962 root of the lines computed with
// transparency-dev/merkle.
func tlMerkleRoot(tb testing.TB, lines [][]byte) []byte {
	tb.Helper()
	if len(lines) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, line := range lines {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(line), nil); err != nil {
			tb.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// tlLines splits an export into its lines (without the newlines).
func tlLines(tb testing.TB, export []byte) [][]byte {
	tb.Helper()
	if len(export) == 0 {
		return nil
	}
	if !bytes.HasSuffix(export, []byte("\n")) {
		tb.Fatalf("export does not end with a newline")
	}
	return bytes.Split(bytes.TrimSuffix(export, []byte("\n")), []byte("\n"))
}

func TestCheckpointVector(t *testing.T) {
	export, signed, vkey := tlBuildVector(t)
	wantLog := tlGolden(t, tlVectorLog, export)
	wantKey := tlGolden(t, tlVectorKey, []byte(vkey+"\n"))
	wantSigned := tlGolden(t, tlVectorSigned, signed)
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		t.Fatalf("signed checkpoint has no blank line:\n%s", signed)
	}
	wantBody := tlGolden(t, tlVectorBody, signed[:i+1])

	if !bytes.Equal(export, wantLog) {
		t.Errorf("log export changed:\ngot:\n%s\nwant:\n%s", export, wantLog)
	}
	if vkey+"\n" != string(wantKey) {
		t.Errorf("verifier key = %q, want %q", vkey, wantKey)
	}
	if !bytes.Equal(signed, wantSigned) {
		t.Errorf("signed checkpoint changed:\ngot:\n%s\nwant:\n%s", signed, wantSigned)
	}

	// Independently of the log: the pinned note opens with x/mod's note
	// package and the pinned key, its text is the pinned body, and its root is
	// the transparency-dev root of the pinned log.
	v, err := note.NewVerifier(strings.TrimSpace(string(wantKey)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(wantSigned, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if n.Text != string(wantBody) {
		t.Errorf("note text = %q, want %q", n.Text, wantBody)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != tlOrigin {
		t.Errorf("signatures = %+v", n.Sigs)
	}
	lines := tlLines(t, wantLog)
	if len(lines) != tlVectorSize {
		t.Fatalf("vector log has %d lines, want %d", len(lines), tlVectorSize)
	}
	root := tlMerkleRoot(t, lines)
	wantText := fmt.Sprintf("%s\n%d\n%s\n", tlOrigin, tlVectorSize, base64.StdEncoding.EncodeToString(root))
	if string(wantBody) != wantText {
		t.Errorf("pinned body = %q, want %q", wantBody, wantText)
	}

	// The package's own reader agrees.
	c, err := OpenCheckpoint(wantSigned, string(wantKey))
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if c.Origin != tlOrigin || c.Size != tlVectorSize || !bytes.Equal(c.Root[:], root) {
		t.Errorf("OpenCheckpoint = %+v", c)
	}
	if !bytes.Equal(c.Body(), wantBody) {
		t.Errorf("Body() = %q, want %q", c.Body(), wantBody)
	}
	// Signing the same body again gives the same bytes.
	s, _ := tlSigner(t)
	again, err := SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, wantSigned) {
		t.Errorf("SignCheckpoint = %q, want %q", again, wantSigned)
	}
	if !SameCheckpoint(again, wantSigned) {
		t.Error("SameCheckpoint(again, vector) = false")
	}
	rep, err := VerifyExport(bytes.NewReader(wantLog), []Checkpoint{c})
	if err != nil || !rep.OK || rep.Checked != 1 {
		t.Errorf("VerifyExport(vector) = %+v, %v", rep, err)
	}
}

// tlResign replaces the signature of a signed note with a fresh one over
// text by s (for building notes whose body the package would never sign).
func tlSignText(tb testing.TB, text string, s note.Signer) []byte {
	tb.Helper()
	b, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestOpenCheckpointRejects(t *testing.T) {
	_, signed, vkey := tlBuildVector(t)
	good, err := OpenCheckpoint(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tlSigner(t)
	_, otherKey := tlSignerFor(t, tlOrigin, 100)               // same name, another key
	otherName, otherNameKey := tlSignerFor(t, "evil/audit", 0) // another log, same key bytes
	sigLine := bytes.LastIndex(signed, []byte("\n— "))
	if sigLine < 0 {
		t.Fatalf("no signature line in %q", signed)
	}

	flipSig := func(pos int) []byte {
		// The signature line is "— name base64(keyhash‖sig)\n".
		line := signed[sigLine+1 : len(signed)-1]
		sp := bytes.LastIndexByte(line, ' ')
		raw, err := base64.StdEncoding.DecodeString(string(line[sp+1:]))
		if err != nil {
			t.Fatal(err)
		}
		raw[pos] ^= 0x01
		out := append([]byte(nil), signed[:sigLine+1]...)
		out = append(out, line[:sp+1]...)
		out = append(out, base64.StdEncoding.EncodeToString(raw)...)
		return append(out, '\n')
	}
	bodyEdit := bytes.Replace(signed, []byte(fmt.Sprintf("\n%d\n", tlVectorSize)), []byte(fmt.Sprintf("\n%d\n", tlVectorSize+1)), 1)

	for _, tt := range []struct {
		name string
		msg  []byte
		key  string
	}{
		{"wrong key", signed, otherKey},
		{"other log's key", signed, otherNameKey},
		{"flipped signature byte", flipSig(10), vkey},
		{"flipped last signature byte", flipSig(4 + 63), vkey},
		{"flipped key hash byte", flipSig(0), vkey},
		{"edited size", bodyEdit, vkey},
		{"origin not the key's name", tlSignText(t, string(Checkpoint{Origin: "evil/audit", Size: good.Size, Root: good.Root}.Body()), s), vkey},
		{"signed by the other log", tlSignText(t, string(good.Body()), otherName), vkey},
		{"other log's checkpoint under its own key, origin differs", tlSignText(t, string(good.Body()), otherName), otherNameKey},
		{"malformed body under a good signature", tlSignText(t, tlOrigin+"\n01\n"+EncodeHash(good.Root)+"\n", s), vkey},
		{"extension line under a good signature", tlSignText(t, string(good.Body())+"extra\n", s), vkey},
		{"no signature", signed[:sigLine+1], vkey},
		{"truncated signature line", signed[:sigLine+2], vkey},
		{"body only", good.Body(), vkey},
		{"empty", nil, vkey},
		{"malformed verifier key", signed, "pvault/audit+00000000+AAAA"},
		{"empty verifier key", signed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenCheckpoint(tt.msg, tt.key)
			if err == nil {
				t.Fatalf("OpenCheckpoint = %+v, want an error", c)
			}
			if !errors.Is(err, ErrCheckpoint) {
				t.Errorf("error %v does not wrap ErrCheckpoint", err)
			}
			if c != (Checkpoint{}) {
				t.Errorf("checkpoint %+v returned with an error", c)
			}
		})
	}

	// Sanity: the vector itself opens, also with surrounding space in the key.
	if _, err := OpenCheckpoint(signed, "  "+vkey+"\n"); err != nil {
		t.Errorf("OpenCheckpoint(vector, padded key): %v", err)
	}
	// A second signature from an unknown key does not hurt (signed notes
	// allow cosignatures).
	cosigned, err := note.Sign(&note.Note{Text: string(good.Body())}, s, otherName)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := OpenCheckpoint(cosigned, vkey); err != nil || c != good {
		t.Errorf("OpenCheckpoint(cosigned) = %+v, %v", c, err)
	}
}

// tlGoodRoot is a fixed root for parser tests.
var tlGoodRoot = EncodeHash(tlog.Hash{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})

func TestParseCheckpoint(t *testing.T) {
	root31 := base64.StdEncoding.EncodeToString(make([]byte, 31))
	root33 := base64.StdEncoding.EncodeToString(make([]byte, 33))
	// Same 32 bytes as tlGoodRoot but with non-zero padding bits: decodes,
	// but is not the canonical encoding.
	nonCanon := tlGoodRoot[:len(tlGoodRoot)-2] + string(tlGoodRoot[len(tlGoodRoot)-2]+1) + "="
	for _, tt := range []struct {
		name string
		text string
		ok   bool
		size int64
	}{
		{"good", "pvault/audit\n42\n" + tlGoodRoot + "\n", true, 42},
		{"size 0", "pvault/audit\n0\n" + tlGoodRoot + "\n", true, 0},
		{"max size", "pvault/audit\n9223372036854775807\n" + tlGoodRoot + "\n", true, 1<<63 - 1},
		{"plain origin", "example.com/log\n1\n" + tlGoodRoot + "\n", true, 1},

		{"empty", "", false, 0},
		{"only newline", "\n", false, 0},
		{"missing root line", "pvault/audit\n42\n", false, 0},
		{"missing size line", "pvault/audit\n" + tlGoodRoot + "\n", false, 0},
		{"missing final newline", "pvault/audit\n42\n" + tlGoodRoot, false, 0},
		{"extra line", "pvault/audit\n42\n" + tlGoodRoot + "\nextension\n", false, 0},
		{"extra blank line", "pvault/audit\n42\n" + tlGoodRoot + "\n\n", false, 0},
		{"leading blank line", "\npvault/audit\n42\n" + tlGoodRoot + "\n", false, 0},
		{"CRLF", "pvault/audit\r\n42\r\n" + tlGoodRoot + "\r\n", false, 0},
		{"size 01", "pvault/audit\n01\n" + tlGoodRoot + "\n", false, 0},
		{"size 00", "pvault/audit\n00\n" + tlGoodRoot + "\n", false, 0},
		{"size -1", "pvault/audit\n-1\n" + tlGoodRoot + "\n", false, 0},
		{"size -0", "pvault/audit\n-0\n" + tlGoodRoot + "\n", false, 0},
		{"size +1", "pvault/audit\n+1\n" + tlGoodRoot + "\n", false, 0},
		{"size x", "pvault/audit\nx\n" + tlGoodRoot + "\n", false, 0},
		{"size empty", "pvault/audit\n\n" + tlGoodRoot + "\n", false, 0},
		{"size with space", "pvault/audit\n 42\n" + tlGoodRoot + "\n", false, 0},
		{"size hex", "pvault/audit\n0x2a\n" + tlGoodRoot + "\n", false, 0},
		{"size overflow", "pvault/audit\n9223372036854775808\n" + tlGoodRoot + "\n", false, 0},
		{"size 1e3", "pvault/audit\n1e3\n" + tlGoodRoot + "\n", false, 0},
		{"root not base64", "pvault/audit\n42\n!!!!\n", false, 0},
		{"root bad base64 char", "pvault/audit\n42\n" + strings.Replace(tlGoodRoot, "A", "*", 1) + "\n", false, 0},
		{"root 31 bytes", "pvault/audit\n42\n" + root31 + "\n", false, 0},
		{"root 33 bytes", "pvault/audit\n42\n" + root33 + "\n", false, 0},
		{"root empty", "pvault/audit\n42\n\n", false, 0},
		{"root unpadded", "pvault/audit\n42\n" + strings.TrimRight(tlGoodRoot, "=") + "\n", false, 0},
		{"root url alphabet", "pvault/audit\n42\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", false, 0},
		{"root non-canonical padding bits", "pvault/audit\n42\n" + nonCanon + "\n", false, 0},
		{"root with trailing space", "pvault/audit\n42\n" + tlGoodRoot + " \n", false, 0},
		{"empty origin", "\n42\n" + tlGoodRoot + "\n", false, 0},
		{"space in origin", "pvault audit\n42\n" + tlGoodRoot + "\n", false, 0},
		{"leading space in origin", " pvault/audit\n42\n" + tlGoodRoot + "\n", false, 0},
		{"tab in origin", "pvault\taudit\n42\n" + tlGoodRoot + "\n", false, 0},
		{"plus in origin", "pvault+audit\n42\n" + tlGoodRoot + "\n", false, 0},
		{"CR in origin", "pvault/audit\r\n42\n" + tlGoodRoot + "\n", false, 0},
		{"origin too long", strings.Repeat("o", 257) + "\n42\n" + tlGoodRoot + "\n", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCheckpoint([]byte(tt.text))
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseCheckpoint(%q) = %+v, want an error", tt.text, c)
				}
				if !errors.Is(err, ErrCheckpoint) {
					t.Errorf("error %v does not wrap ErrCheckpoint", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCheckpoint(%q): %v", tt.text, err)
			}
			if c.Size != tt.size || EncodeHash(c.Root) != tlGoodRoot {
				t.Errorf("ParseCheckpoint = %+v", c)
			}
			if got := string(c.Body()); got != tt.text {
				t.Errorf("Body() = %q, want %q", got, tt.text)
			}
		})
	}
	// The parser's limit on the origin is 256 bytes inclusive.
	long := strings.Repeat("o", 256) + "\n1\n" + tlGoodRoot + "\n"
	if _, err := ParseCheckpoint([]byte(long)); err != nil {
		t.Errorf("256-byte origin: %v", err)
	}
}

func TestCheckpointBodyRoundTrip(t *testing.T) {
	for _, c := range []Checkpoint{
		{Origin: tlOrigin, Size: 0, Root: tlog.Hash{}},
		{Origin: tlOrigin, Size: 1, Root: tlog.RecordHash([]byte("x"))},
		{Origin: "example.com/log", Size: 1<<63 - 1, Root: tlog.Hash{0xff}},
	} {
		got, err := ParseCheckpoint(c.Body())
		if err != nil || got != c {
			t.Errorf("ParseCheckpoint(Body(%+v)) = %+v, %v", c, got, err)
		}
	}
}

func TestSameCheckpoint(t *testing.T) {
	s, _ := tlSigner(t)
	other, _ := tlSignerFor(t, tlOrigin, 100)
	c := Checkpoint{Origin: tlOrigin, Size: 3, Root: tlog.Hash{3}}
	a, _ := SignCheckpoint(c, s)
	b, _ := SignCheckpoint(c, other)
	c.Size = 4
	d, _ := SignCheckpoint(c, s)
	if !SameCheckpoint(a, b) {
		t.Error("same body under two keys: SameCheckpoint = false")
	}
	if SameCheckpoint(a, d) {
		t.Error("different sizes: SameCheckpoint = true")
	}
	if SameCheckpoint([]byte("no blank line"), []byte("no blank line")) {
		t.Error("malformed notes: SameCheckpoint = true")
	}
}

func tlParseSeeds() []string {
	return []string{
		"pvault/audit\n42\n" + tlGoodRoot + "\n",
		"pvault/audit\n0\n" + tlGoodRoot + "\n",
		"pvault/audit\n01\n" + tlGoodRoot + "\n",
		"pvault/audit\n-1\n" + tlGoodRoot + "\n",
		"pvault/audit\n42\n" + tlGoodRoot + "\nextra\n",
		"pvault audit\n42\n" + tlGoodRoot + "\n",
		"pvault/audit\n42\nAAAA\n",
		"",
		"\n\n\n",
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	for _, s := range tlParseSeeds() {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(tlVectorBody); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v does not wrap ErrCheckpoint", err)
			}
			return
		}
		if got := c.Body(); !bytes.Equal(got, text) {
			t.Fatalf("Body() = %q, input %q", got, text)
		}
		again, err := ParseCheckpoint(c.Body())
		if err != nil || again != c {
			t.Fatalf("reparse = %+v, %v; want %+v", again, err, c)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	signed, err := os.ReadFile(tlVectorSigned)
	if err != nil {
		f.Fatal(err)
	}
	key, err := os.ReadFile(tlVectorKey)
	if err != nil {
		f.Fatal(err)
	}
	body, err := os.ReadFile(tlVectorBody)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(body)
	f.Add(append(append([]byte(nil), signed...), signed...))
	f.Add(bytes.Replace(signed, []byte("\n\n"), []byte("\n"), 1))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := OpenCheckpoint(msg, string(key))
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v does not wrap ErrCheckpoint", err)
			}
			return
		}
		// Nobody but the key holder can sign, so anything that opens carries
		// the vector's body.
		if !bytes.Equal(c.Body(), body) {
			t.Fatalf("opened a checkpoint %+v that the key never signed", c)
		}
	})
}

// tlSigLine is the signature line of a signed note.
func tlSigLine(tb testing.TB, signed []byte) string {
	tb.Helper()
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		tb.Fatalf("no blank line in %q", signed)
	}
	return string(signed[i+2:])
}

func TestVectorFilesAreWellFormed(t *testing.T) {
	// Guards the vector files against an editor's reformatting.
	for _, p := range []string{tlVectorLog, tlVectorBody, tlVectorSigned, tlVectorKey} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("\r")) || !bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("%s: CR or missing final newline", filepath.Base(p))
		}
	}
	signed, _ := os.ReadFile(tlVectorSigned)
	if line := tlSigLine(t, signed); !strings.HasPrefix(line, "— "+tlOrigin+" ") || strings.Count(line, "\n") != 1 {
		t.Errorf("signature line = %q", line)
	}
}
