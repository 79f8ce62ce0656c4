package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"pvault/audit"
	"pvault/policy"
)

// Unique values that must never reach the disk in clear.
const (
	markerASCII    = "MARKER-ascii-7f3a"
	markerChinese  = "独特标记甲乙丙"
	markerRequests = "REQUEST-MARKER-55e1"
	markerSubject  = "SUBJECT-MARKER-c0de"
	markerSubjectZ = "被举报人丁戊己"
	markerName     = "欧阳独特名"
	markerIDNumber = "110101199003074578"
	markerPhone    = "13987654321"
	markerAddress  = "上海市浦东新区独特路88号"
	markerEmployee = "EMP-MARKER-0042"
)

// needles returns what to look for: each marker in UTF-8 and, for the
// longer ones, its base64 and hex text as well.
func needles() map[string][]byte {
	out := map[string][]byte{}
	for _, m := range []string{markerASCII, markerChinese, markerRequests, markerSubject, markerSubjectZ,
		markerName, markerIDNumber, markerPhone, markerAddress, markerEmployee} {
		out[m] = []byte(m)
		if len(m) >= 12 {
			out["base64 of "+m] = []byte(base64.StdEncoding.EncodeToString([]byte(m)))
			out["hex of "+m] = []byte(hex.EncodeToString([]byte(m)))
		}
	}
	return out
}

// scanDir reports every file under dir (and every path) that holds a needle.
func scanDir(tb testing.TB, dir string) []string {
	tb.Helper()
	ns := needles()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for name, n := range ns {
			if strings.Contains(path, string(n)) {
				found = append(found, path+" (name): "+name)
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		files++
		hits, err := scanFile(path, ns)
		for _, h := range hits {
			found = append(found, path+": "+h)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if files == 0 {
		tb.Fatalf("no files under %s", dir)
	}
	return found
}

// Whence values of lseek for sparse files (Linux).
const (
	seekData = 3
	seekHole = 4
)

// scanFile searches a file for the needles, in chunks, skipping the holes of
// sparse files (badger preallocates value-log and memtable log files larger
// than their contents while open). No needle holds a zero byte, so none spans a hole.
func scanFile(path string, ns map[string][]byte) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	maxLen := 0
	for _, n := range ns {
		maxLen = max(maxLen, len(n))
	}
	hit := map[string]bool{}
	buf := make([]byte, 1<<20+maxLen)
	for off := int64(0); off < size; {
		end := size
		if data, err := f.Seek(off, seekData); err == nil {
			off = data
			if hole, err := f.Seek(off, seekHole); err == nil {
				end = hole
			}
		} else if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		// Scan [off, end) in chunks that overlap by maxLen-1 bytes.
		for pos := off; pos < end; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
			if n == 0 && err != nil {
				return nil, err
			}
			for name, needle := range ns {
				if bytes.Contains(buf[:n], needle) {
					hit[name] = true
				}
			}
			if pos+int64(n) >= end {
				break
			}
			pos += int64(n - (maxLen - 1))
		}
		off = end
	}
	var out []string
	for name := range hit {
		out = append(out, name)
	}
	return out, nil
}

// TestNoPlaintextOnDisk creates, reads and reveals petitions holding unique
// markers, closes the vault, and checks that no byte of any file in the
// data directory holds a marker, an ID number, a phone number or a name.
func TestNoPlaintextOnDisk(t *testing.T) {
	// The scanner finds a planted marker (so that a pass means something).
	control := t.TempDir()
	if err := os.WriteFile(filepath.Join(control, "f"), []byte("xx"+markerChinese+"yy"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A marker across a chunk boundary, after a hole of a sparse file.
	sparse, err := os.Create(filepath.Join(control, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparse.WriteAt([]byte(markerPhone), 8<<20+1<<20-5); err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(16 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()
	if got := scanDir(t, control); len(got) != 2 {
		t.Fatalf("scanner found %q in the control files, want 2 hits", got)
	}

	dir := initVault(t, InitOptions{})
	v, err := Open(dir, Options{Argon2: testArgon2})
	if err != nil {
		t.Fatal(err)
	}
	reg, _, err := v.CreateUser(NewUser{Username: "registrar1", Password: "registrar-password-1", Unit: "group/east", Roles: []string{policy.RoleRegistrar}}, entry("user.create"))
	if err != nil {
		t.Fatal(err)
	}
	petitioner := &Petitioner{Name: markerName, IDNumber: markerIDNumber, Phone: markerPhone, Address: markerAddress, EmployeeNo: markerEmployee}
	inputs := []NewPetition{
		{Unit: "group/east", Channel: "visit", Title: "工资问题 " + markerASCII,
			Content:  "我们反映" + markerChinese + "的情况，身份证号" + markerIDNumber + "，电话" + markerPhone + "。\n请尽快处理。",
			Requests: "要求 " + markerRequests, Petitioner: petitioner, Subjects: []string{markerSubject, markerSubjectZ}, GroupSize: 6},
		{Unit: "group/east/site-1", Channel: "online", Title: markerChinese, Content: markerASCII + " " + markerName,
			Petitioner: &Petitioner{Name: markerName, Phone: markerPhone}, Subjects: []string{markerSubjectZ}},
		{Unit: "group", Channel: "letter", Title: "匿名 " + markerASCII, Content: "匿名反映" + markerChinese},
	}
	var created []*Created
	for i, in := range inputs {
		u := reg
		if i == 1 {
			u = nil // public portal
		}
		e := entry("petition.create")
		e.Actor = Actor(u)
		c, err := v.CreatePetition(in, u, e)
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, c)
	}

	// Read, list and reveal, as the api does, recording each access.
	sub := v.Subject(reg)
	items, _, err := v.List(sub, []string{policy.ScopeAll}, Query{Limit: 10}, func(*Meta) bool { return true })
	if err != nil || len(items) != len(inputs) {
		t.Fatalf("List = %d items, %v", len(items), err)
	}
	for i, c := range created {
		m, err := v.Meta(c.Meta.ID)
		if err != nil {
			t.Fatal(err)
		}
		content, err := v.OpenContent(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if content.Title != inputs[i].Title || content.Content != inputs[i].Content {
			t.Fatalf("petition %d read back as %+v", i, content)
		}
		if _, err := v.Record(&audit.Entry{Action: "petition.read", Actor: Actor(reg), Object: &audit.Object{Type: "petition", ID: m.ID}, Decision: audit.Allow, Status: 200}); err != nil {
			t.Fatal(err)
		}
		p, err := v.OpenIdentity(m)
		if err != nil {
			t.Fatal(err)
		}
		if inputs[i].Petitioner != nil && (p == nil || p.Name != markerName) {
			t.Fatalf("petition %d identity revealed as %+v", i, p)
		}
		if _, err := v.Record(&audit.Entry{Action: "petition.reveal_identity", Actor: Actor(reg), Object: &audit.Object{Type: "petition", ID: m.ID},
			Decision: audit.Allow, Status: 200, Reason: "回访核实"}); err != nil {
			t.Fatal(err)
		}
		if got, err := v.PetitionByReceipt(c.ReceiptCode); err != nil || got.ID != m.ID {
			t.Fatalf("PetitionByReceipt = %v, %v", got, err)
		}
	}
	if res, err := v.Log().Verify(); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	// While open, the write-ahead log of badger's memtable holds the
	// recent writes: a crash now would leave it on disk.
	for _, f := range scanDir(t, dir) {
		t.Errorf("plaintext on disk while open: %s", f)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	for _, f := range scanDir(t, dir) {
		t.Errorf("plaintext on disk: %s", f)
	}

	// The petitions really are in the directory that was scanned.
	v2 := openVault(t, dir, Options{})
	for i, c := range created {
		content, err := v2.OpenContent(c.Meta.ID)
		if err != nil || content.Title != inputs[i].Title {
			t.Errorf("after reopen, petition %d = %+v, %v", i, content, err)
		}
	}
}
