package vault

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
)

// Tests of the signed archive export (issue 8, "Archive export").

// opClosedPetition creates a petition received at t, replies to it and
// closes it, and returns its id.
func opClosedPetition(tb testing.TB, e *opEnv, i int, received time.Time) string {
	tb.Helper()
	in := opPetition(i)
	in.ReceivedAt = &received
	c, err := e.v.CreatePetition(in, e.admin, opEntry("petition.create"))
	if err != nil {
		tb.Fatal(err)
	}
	opEnrich(tb, e.v, e.admin, c.Meta.ID)
	if _, _, err := e.v.Act(c.Meta.ID, ActionInput{Action: ActClose, Comment: "已办结"}, e.admin, opEntry("petition.action")); err != nil {
		tb.Fatal(err)
	}
	return c.Meta.ID
}

// opUntar reads a tar into name → contents, keeping the member order.
func opUntar(tb testing.TB, b []byte) (map[string][]byte, []string) {
	tb.Helper()
	out := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			tb.Fatalf("tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		if _, dup := out[h.Name]; dup {
			tb.Errorf("tar member %s twice", h.Name)
		}
		out[h.Name] = body
		order = append(order, h.Name)
	}
}

// opCheckArchive checks an archive's manifest, its signature and its members
// (opened with rec) and returns the ids it holds.
func opCheckArchive(tb testing.TB, tarball []byte, verifierKey string, rec age.Identity) []string {
	tb.Helper()
	files, order := opUntar(tb, tarball)
	mb, ok := files["manifest.json"]
	if !ok {
		tb.Fatalf("no manifest.json in %v", order)
	}
	var man ArchiveManifest
	if err := json.Unmarshal(mb, &man); err != nil {
		tb.Fatalf("manifest: %v", err)
	}
	verifier, err := note.NewVerifier(verifierKey)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := note.Open(files["manifest.json.sig"], note.VerifierList(verifier))
	if err != nil {
		tb.Fatalf("manifest.json.sig does not verify: %v", err)
	}
	sum := sha256.Sum256(mb)
	if !strings.Contains(n.Text, hex.EncodeToString(sum[:])) {
		tb.Errorf("the signed note %q does not name the manifest's SHA-256 %x", n.Text, sum)
	}
	if len(files) != len(man.Items)+2 {
		tb.Errorf("%d tar members for %d manifest items: %v", len(files), len(man.Items), order)
	}
	var ids []string
	for _, it := range man.Items {
		body, ok := files[it.File]
		if !ok || it.File != it.ID+".age" {
			tb.Errorf("manifest item %+v: no member %s", it, it.ID+".age")
			continue
		}
		got := sha256.Sum256(body)
		if hex.EncodeToString(got[:]) != it.SHA256 {
			tb.Errorf("member %s: SHA-256 %x, the manifest says %s", it.File, got, it.SHA256)
		}
		r, err := age.Decrypt(bytes.NewReader(body), rec)
		if err != nil {
			tb.Errorf("member %s does not open with the archive identity: %v", it.File, err)
			continue
		}
		pt, err := io.ReadAll(r)
		if err != nil {
			tb.Fatal(err)
		}
		var ar ArchiveRecord
		if err := json.Unmarshal(pt, &ar); err != nil {
			tb.Fatalf("member %s: %v", it.File, err)
		}
		if ar.Meta == nil || ar.Meta.ID != it.ID || ar.Content == nil || !strings.Contains(ar.Content.Content, "拖欠工资") ||
			ar.Petitioner == nil || ar.Petitioner.Name != "张三" || ar.Petitioner.IDNumber == "" {
			tb.Errorf("member %s: record %s lacks its meta, content or identity", it.File, pt)
		}
		var texts []string
		for _, ev := range ar.Events {
			texts = append(texts, ev.Text, ev.Comment)
		}
		if len(ar.Events) < 4 || !slices.Contains(texts, "经核实，工资已于本月补发。") || !slices.Contains(texts, "已电话联系项目部核实。") {
			tb.Errorf("member %s: events %+v lack the reply and the note", it.File, ar.Events)
		}
		ids = append(ids, it.ID)
	}
	for _, name := range order[:max(len(order)-2, 0)] {
		if !strings.HasSuffix(name, ".age") {
			tb.Errorf("unexpected member %s", name)
		}
	}
	if bytes.Contains(tarball, []byte("张三")) || bytes.Contains(tarball, []byte("拖欠工资")) {
		tb.Error("the archive holds plaintext")
	}
	slices.Sort(ids)
	return ids
}

func TestArchive(t *testing.T) {
	e := opInit(t, 1, Options{})
	rec := e.recovery[0]
	now := time.Now().UTC()
	days := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	old := opClosedPetition(t, e, 1, days(30))
	mid := opClosedPetition(t, e, 2, days(20))
	recent := opClosedPetition(t, e, 3, days(10))
	open := opCreate(t, e.v, 1)[0]
	archivist := opNewIdentity(t)

	for _, tt := range []struct {
		name       string
		q          ArchiveQuery
		recipients []string
		opener     *age.X25519Identity
		want       []string
	}{
		{"closed to recovery", ArchiveQuery{}, e.v.ArchiveRecipients(), rec, []string{old, mid, recent}},
		{"closed to an archivist", ArchiveQuery{Status: StatusClosed}, []string{archivist.Recipient().String()}, archivist, []string{old, mid, recent}},
		{"from", ArchiveQuery{From: days(25)}, e.v.ArchiveRecipients(), rec, []string{mid, recent}},
		{"to", ArchiveQuery{To: days(15)}, e.v.ArchiveRecipients(), rec, []string{old, mid}},
		{"from and to", ArchiveQuery{From: days(25), To: days(15)}, e.v.ArchiveRecipients(), rec, []string{mid}},
		{"empty range", ArchiveQuery{From: days(5)}, e.v.ArchiveRecipients(), rec, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			man, err := e.v.Archive(&buf, tt.q, tt.recipients)
			if err != nil {
				t.Fatalf("Archive: %v", err)
			}
			got := opCheckArchive(t, buf.Bytes(), e.v.Log().VerifierKey(), tt.opener)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("archive holds %v, want %v", got, want)
			}
			if man.Vault != e.v.Name() || len(man.Items) != len(want) || !slices.Equal(man.Recipients, tt.recipients) {
				t.Errorf("manifest %+v", man)
			}
			// Admins move archives; they never read them.
			files, _ := opUntar(t, buf.Bytes())
			for _, it := range man.Items {
				if opOpens(files[it.File], opVault(opIdentityFile(t, e.dir, IdentityFile))) {
					t.Errorf("member %s opens with the vault identity", it.File)
				}
				if tt.opener != rec && opOpens(files[it.File], rec) {
					t.Errorf("member %s opens with a recovery identity it was not sealed to", it.File)
				}
			}
		})
	}

	t.Run("other status", func(t *testing.T) {
		var buf bytes.Buffer
		man, err := e.v.Archive(&buf, ArchiveQuery{Status: StatusRegistered}, e.v.ArchiveRecipients())
		if err != nil {
			t.Fatal(err)
		}
		if len(man.Items) != 1 || man.Items[0].ID != open {
			t.Errorf("registered petitions in the archive: %+v, want %s", man.Items, open)
		}
	})

	for _, tt := range []struct {
		name       string
		recipients []string
	}{
		{"no recipients", nil},
		{"not a recipient", []string{"age1notarecipient"}},
		{"an identity", []string{rec.String()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := e.v.Archive(&buf, ArchiveQuery{}, tt.recipients); !errors.Is(err, ErrInvalid) {
				t.Errorf("Archive: %v, want ErrInvalid", err)
			}
			if bytes.Contains(buf.Bytes(), []byte("张三")) {
				t.Error("a refused archive wrote plaintext")
			}
		})
	}
}

func TestArchiveSignatureBindsManifest(t *testing.T) {
	e := opInit(t, 1, Options{})
	opClosedPetition(t, e, 1, time.Now().Add(-time.Hour))
	var buf bytes.Buffer
	if _, err := e.v.Archive(&buf, ArchiveQuery{}, e.v.ArchiveRecipients()); err != nil {
		t.Fatal(err)
	}
	files, _ := opUntar(t, buf.Bytes())
	verifier, err := note.NewVerifier(e.v.Log().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(files["manifest.json.sig"], note.VerifierList(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// An edited manifest no longer matches the signed digest.
	edited := bytes.Replace(files["manifest.json"], []byte(`"sha256": "`), []byte(`"sha256": "0`), 1)
	sum := sha256.Sum256(edited)
	if strings.Contains(n.Text, hex.EncodeToString(sum[:])) {
		t.Error("the signature covers an edited manifest")
	}
	// A signature under another key does not verify.
	other := opInit(t, 0, Options{})
	ov, err := note.NewVerifier(other.v.Log().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(files["manifest.json.sig"], note.VerifierList(ov)); err == nil {
		t.Error("the manifest signature verifies under another vault's key")
	}
}
