package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// testArgon2 keeps password hashing cheap in tests.
var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

const testAdminPassword = "correct-horse-battery-staple"

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// initVault creates a vault in a new directory with fast password hashing
// and returns the directory.
func initVault(tb testing.TB, o InitOptions) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	if o.AdminPassword == "" {
		o.AdminPassword = testAdminPassword
	}
	o.Options.Argon2 = testArgon2
	if _, err := Init(dir, o); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	return dir
}

// openVault opens dir and closes the vault at the end of the test.
func openVault(tb testing.TB, dir string, opts Options) *Vault {
	tb.Helper()
	opts.Argon2 = testArgon2
	v, err := Open(dir, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// newTestVault initialises and opens a vault on clock c (nil: real time).
func newTestVault(tb testing.TB, c *fakeClock) *Vault {
	tb.Helper()
	var opts Options
	if c != nil {
		opts.Now = c.Now
	}
	dir := initVault(tb, InitOptions{Options: opts})
	return openVault(tb, dir, opts)
}

func entry(action string) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Decision: audit.Allow, Status: 200}
}

func samplePetition() NewPetition {
	return NewPetition{
		Unit:    "group/east/site-3",
		Channel: "letter",
		Title:   "关于拖欠工资的信访",
		Content: "我们在某项目工地工作三个月，工资一直未发放。",
		Petitioner: &Petitioner{
			Name: "张三", IDNumber: "110101199003074578", Phone: "13812345678",
			Address: "北京市朝阳区某街道1号", EmployeeNo: "E-1024",
		},
		Subjects: []string{"李四"},
	}
}

func TestInitOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	pw, err := Init(dir, InitOptions{AdminPassword: testAdminPassword, Options: Options{Argon2: testArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	if pw != testAdminPassword {
		t.Errorf("Init returned password %q, want the one given", pw)
	}
	fi, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", IdentityFile, fi.Mode().Perm())
	}
	for _, name := range []string{KeyringFile, StoreDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, SealedIdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists without a passphrase", SealedIdentityFile)
	}

	v := openVault(t, dir, Options{})
	if v.Name() != "pvault" {
		t.Errorf("Name = %q", v.Name())
	}
	if !strings.HasPrefix(v.Recipient(), "age1") {
		t.Errorf("Recipient = %q", v.Recipient())
	}
	admin, err := v.Authenticate("admin", testAdminPassword)
	if err != nil {
		t.Fatalf("Authenticate(admin): %v", err)
	}
	if admin.Unit != "group" || !slices.Equal(admin.Roles, []string{"admin"}) || !ValidID(admin.ID) {
		t.Errorf("admin = %+v", admin)
	}
	if _, err := v.UnitByPath("group"); err != nil {
		t.Errorf("root unit: %v", err)
	}
	rules, err := v.PolicyRules()
	if err != nil || len(rules) == 0 {
		t.Errorf("PolicyRules = %v, %v", rules, err)
	}
	// The initialisation is the first audit entry, and the log verifies.
	got, _, err := v.Log().Entries(audit.Filter{})
	if err != nil || len(got) != 1 || got[0].Action != "vault.init" {
		t.Fatalf("audit entries after Init = %+v, %v", got, err)
	}
	if res, err := v.Log().Verify(); err != nil || !res.OK || res.Size != 1 {
		t.Errorf("Verify = %+v, %v", res, err)
	}
}

func TestInitGeneratesPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	pw, err := Init(dir, InitOptions{Name: "office-1", RootUnit: "acme", Options: Options{Argon2: testArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	if utf8.RuneCountInString(pw) < 20 || CheckPassword(pw, "admin") != nil {
		t.Errorf("generated password %q is weak", pw)
	}
	v := openVault(t, dir, Options{})
	u, err := v.Authenticate("admin", pw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Unit != "acme" || v.Name() != "office-1" {
		t.Errorf("admin unit %q, vault name %q", u.Unit, v.Name())
	}
}

func TestInitErrors(t *testing.T) {
	nonEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(nonEmpty, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		dir  string
		opts InitOptions
		want error
	}{
		{"non-empty dir", nonEmpty, InitOptions{}, ErrExists},
		{"bad name", "", InitOptions{Name: "my vault"}, ErrInvalid},
		{"bad root unit", "", InitOptions{RootUnit: "Group"}, ErrInvalid},
		{"bad recovery recipient", "", InitOptions{Recovery: []string{"age1notarecipient"}}, ErrInvalid},
		{"short admin password", "", InitOptions{AdminPassword: "short"}, ErrInvalid},
		{"common admin password", "", InitOptions{AdminPassword: "password1234"}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "data")
			}
			if tt.opts.AdminPassword == "" {
				tt.opts.AdminPassword = testAdminPassword
			}
			tt.opts.Options.Argon2 = testArgon2
			_, err := Init(dir, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Init = %v, want %v", err, tt.want)
			}
			if tt.dir == "" {
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Init with bad options created %s", dir)
				}
			}
		})
	}
	// A failed Init into a non-empty dir leaves it alone.
	entries, _ := os.ReadDir(nonEmpty)
	if len(entries) != 1 {
		t.Errorf("non-empty dir now holds %d entries", len(entries))
	}
	// Init into an existing vault is refused too.
	dir := initVault(t, InitOptions{})
	if _, err := Init(dir, InitOptions{AdminPassword: testAdminPassword}); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a vault = %v, want ErrExists", err)
	}
}

func TestOpenNoVault(t *testing.T) {
	empty := t.TempDir()
	onlyKeyring := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyKeyring, KeyringFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	onlyIdentity := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(onlyIdentity, IdentityFile), []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"empty dir":     empty,
		"missing dir":   filepath.Join(empty, "nope"),
		"only keyring":  onlyKeyring,
		"only identity": onlyIdentity,
	} {
		t.Run(name, func(t *testing.T) {
			v, err := Open(dir, Options{})
			if !errors.Is(err, ErrNoVault) {
				if v != nil {
					v.Close()
				}
				t.Fatalf("Open = %v, want ErrNoVault", err)
			}
		})
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("Open wrote into an empty dir: %v", entries)
	}
}

func TestOpenPassphrase(t *testing.T) {
	const pass = "a long passphrase for the vault"
	dir := initVault(t, InitOptions{Passphrase: pass})
	if _, err := os.Stat(filepath.Join(dir, IdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plain %s exists with a passphrase", IdentityFile)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, SealedIdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("AGE-SECRET-KEY")) {
		t.Fatal("sealed identity holds the secret key in clear")
	}
	for _, tt := range []struct {
		name, pass string
		want       error
	}{
		{"missing", "", ErrPassphrase},
		{"wrong", "not the passphrase", ErrPassphrase},
		{"right", pass, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Open(dir, Options{Passphrase: tt.pass, Argon2: testArgon2})
			if v != nil {
				defer v.Close()
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open = %v", err)
				}
				if _, err := v.Authenticate("admin", testAdminPassword); err != nil {
					t.Errorf("Authenticate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.pass) && tt.pass != "" {
				t.Errorf("error echoes the passphrase: %v", err)
			}
		})
	}
}

func TestOpenWrongKey(t *testing.T) {
	dir := initVault(t, InitOptions{})
	other := initVault(t, InitOptions{})
	copyFile := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("fresh identity", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "d")
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, IdentityFile), []byte(id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if v, err := Open(d, Options{}); !errors.Is(err, ErrWrongKey) {
			if v != nil {
				v.Close()
			}
			t.Fatalf("Open = %v, want ErrWrongKey", err)
		}
	})
	t.Run("another vault's identity", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "d")
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		copyFile(filepath.Join(other, IdentityFile), filepath.Join(d, IdentityFile))
		if v, err := Open(d, Options{}); !errors.Is(err, ErrWrongKey) {
			if v != nil {
				v.Close()
			}
			t.Fatalf("Open = %v, want ErrWrongKey", err)
		}
	})
	t.Run("another vault's identity and keyring", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "d")
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		copyFile(filepath.Join(other, IdentityFile), filepath.Join(d, IdentityFile))
		copyFile(filepath.Join(other, KeyringFile), filepath.Join(d, KeyringFile))
		if v, err := Open(d, Options{}); !errors.Is(err, ErrWrongKey) {
			if v != nil {
				v.Close()
			}
			t.Fatalf("Open = %v, want ErrWrongKey", err)
		}
	})
	// The original still opens.
	openVault(t, dir, Options{})
}

// storedValue is the value stored at key.
func storedValue(tb testing.TB, v *Vault, key string) []byte {
	tb.Helper()
	var b []byte
	err := v.Store().View(func(r store.Reader) error {
		var err error
		b, err = r.Get([]byte(key))
		return err
	})
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	return b
}

// ageDecrypt opens ct with stock age.
func ageDecrypt(ct []byte, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRecoveryRecipient(t *testing.T) {
	rec, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := initVault(t, InitOptions{Recovery: []string{rec.Recipient().String()}})
	v := openVault(t, dir, Options{})
	in := samplePetition()
	c, err := v.CreatePetition(in, nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	raw := func(key string) []byte { return storedValue(t, v, key) }
	open := ageDecrypt

	// The content envelope is a standard age file that the recovery
	// identity opens alone.
	ct := raw("p/" + c.Meta.ID + "/c")
	if !bytes.HasPrefix(ct, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("content envelope is not an age file: %q", ct[:min(len(ct), 30)])
	}
	pt, err := open(ct, rec)
	if err != nil {
		t.Fatalf("recovery identity cannot open the content: %v", err)
	}
	var content Content
	if err := json.Unmarshal(pt, &content); err != nil {
		t.Fatal(err)
	}
	if content.Title != in.Title || content.Content != in.Content || !slices.Equal(content.Subjects, in.Subjects) {
		t.Errorf("recovered content = %+v", content)
	}
	// So is the identity envelope.
	pt, err = open(raw("p/"+c.Meta.ID+"/i"), rec)
	if err != nil {
		t.Fatalf("recovery identity cannot open the petitioner identity: %v", err)
	}
	var p Petitioner
	if err := json.Unmarshal(pt, &p); err != nil || p != *in.Petitioner {
		t.Errorf("recovered identity = %+v, %v", p, err)
	}
	// And the keyring.
	kb, err := os.ReadFile(filepath.Join(dir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := open(kb, rec); err != nil || !bytes.Contains(pt, []byte(`"storage_key"`)) {
		t.Errorf("recovery identity cannot open the keyring: %v", err)
	}
	// A stranger cannot.
	stranger, _ := age.GenerateX25519Identity()
	if _, err := open(ct, stranger); err == nil {
		t.Error("an unrelated identity opened the content envelope")
	}
	// The vault itself reads it as usual.
	got, err := v.OpenContent(c.Meta.ID)
	if err != nil || got.Title != in.Title {
		t.Errorf("OpenContent = %+v, %v", got, err)
	}
}

func TestCreateAndReadPetition(t *testing.T) {
	clk := newFakeClock()
	v := newTestVault(t, clk)
	in := samplePetition()
	c, err := v.CreatePetition(in, nil, entry("public.submit"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Meta(c.Meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != StatusRegistered || !m.HasIdentity || m.Unit != in.Unit || m.GroupSize != 1 {
		t.Errorf("Meta = %+v", m)
	}
	if m.Deadlines.AcceptBy == nil || !m.Deadlines.AcceptBy.Equal(clk.Now().Add(AcceptWindow)) {
		t.Errorf("accept_by = %v", m.Deadlines.AcceptBy)
	}
	if len(m.Subjects) != 1 || m.Subjects[0] != v.Hasher().Sum(HashSubject, "李四") {
		t.Errorf("subjects not stored as keyed hashes: %v", m.Subjects)
	}
	got, err := v.OpenContent(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != in.Title || got.Content != in.Content || got.Masked == nil || got.Masked.Name != "张*" {
		t.Errorf("OpenContent = %+v", got)
	}
	p, err := v.OpenIdentity(m)
	if err != nil || p == nil || *p != *in.Petitioner {
		t.Errorf("OpenIdentity = %+v, %v", p, err)
	}
	// The audit entry names the petition and was committed with it.
	if c.Entry.Object == nil || c.Entry.Object.ID != m.ID {
		t.Errorf("entry object = %+v", c.Entry.Object)
	}
	if _, err := v.Meta("01ZZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Meta(unknown) = %v", err)
	}
	if _, err := v.Meta("../etc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Meta(bad id) = %v", err)
	}
	// An anonymous petition has no identity envelope.
	anon := samplePetition()
	anon.Petitioner = &Petitioner{}
	ca, err := v.CreatePetition(anon, nil, entry("public.submit"))
	if err != nil {
		t.Fatal(err)
	}
	if ca.Meta.HasIdentity || ca.Content.Masked != nil {
		t.Errorf("empty petitioner stored as an identity: %+v", ca.Meta)
	}
	if p, err := v.OpenIdentity(ca.Meta); p != nil || err != nil {
		t.Errorf("OpenIdentity(anonymous) = %+v, %v", p, err)
	}
}

func TestCreatePetitionInvalid(t *testing.T) {
	clk := newFakeClock()
	v := newTestVault(t, clk)
	size := v.Log().Head().Size
	future := clk.Now().Add(time.Hour)
	old := clk.Now().AddDate(-6, 0, 0)
	for _, tt := range []struct {
		name  string
		edit  func(*NewPetition)
		field string
	}{
		{"bad unit", func(p *NewPetition) { p.Unit = "East" }, "unit"},
		{"bad channel", func(p *NewPetition) { p.Channel = "fax" }, "channel"},
		{"no title", func(p *NewPetition) { p.Title = "" }, "title"},
		{"blank title", func(p *NewPetition) { p.Title = "   " }, "title"},
		{"title with newline", func(p *NewPetition) { p.Title = "a\nb" }, "title"},
		{"long title", func(p *NewPetition) { p.Title = strings.Repeat("字", MaxTitle+1) }, "title"},
		{"no content", func(p *NewPetition) { p.Content = "" }, "content"},
		{"invalid UTF-8", func(p *NewPetition) { p.Content = "abc\xff" }, "content"},
		{"control character", func(p *NewPetition) { p.Content = "abc\x00" }, "content"},
		{"too many subjects", func(p *NewPetition) { p.Subjects = make([]string, MaxSubjects+1) }, "subjects"},
		{"empty subject", func(p *NewPetition) { p.Subjects = []string{""} }, "subjects"},
		{"negative group", func(p *NewPetition) { p.GroupSize = -1 }, "group_size"},
		{"received in the future", func(p *NewPetition) { p.ReceivedAt = &future }, "received_at"},
		{"received long ago", func(p *NewPetition) { p.ReceivedAt = &old }, "received_at"},
		{"long id number", func(p *NewPetition) { p.Petitioner.IDNumber = strings.Repeat("1", 33) }, "petitioner.id_number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := samplePetition()
			tt.edit(&in)
			_, err := v.CreatePetition(in, nil, entry("petition.create"))
			var ie *InvalidError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("CreatePetition = %v, want ErrInvalid on %s", err, tt.field)
			}
		})
	}
	if got := v.Log().Head().Size; got != size {
		t.Errorf("invalid petitions changed the log: size %d, was %d", got, size)
	}
}

var receiptRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

func TestNewReceiptCode(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 2000; i++ {
		code := NewReceiptCode()
		if !receiptRE.MatchString(code) {
			t.Fatalf("receipt code %q has the wrong format", code)
		}
		norm, ok := NormalizeReceiptCode(code)
		if !ok || norm != strings.ReplaceAll(code, "-", "") {
			t.Fatalf("NormalizeReceiptCode(%q) = %q, %v", code, norm, ok)
		}
		if seen[norm] {
			t.Fatalf("receipt code %q repeated", code)
		}
		seen[norm] = true
	}
}

func TestNormalizeReceiptCode(t *testing.T) {
	const want = "ABCDEFGHJKMNPQRSTVWX"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"canonical", "ABCD-EFGH-JKMN-PQRS-TVWX", want},
		{"lower case", "abcd-efgh-jkmn-pqrs-tvwx", want},
		{"mixed case", "AbCd-eFgH-jKmN-pQrS-tVwX", want},
		{"no dashes", "ABCDEFGHJKMNPQRSTVWX", want},
		{"spaces", "ABCD EFGH JKMN PQRS TVWX", want},
		{"leading and trailing space", "  ABCD-EFGH-JKMN-PQRS-TVWX ", want},
		{"dashes anywhere", "A-B-C-D-EFGHJKMNPQRSTVWX--", want},
		{"I and L read as 1", "IiLl-0000-0000-0000-0000", "11110000000000000000"},
		{"O read as 0", "OoOo-1111-1111-1111-1111", "00001111111111111111"},
		{"digits", "0123-4567-89AB-CDEF-GHJK", "0123456789ABCDEFGHJK"},
		{"64 bytes with dashes", strings.Repeat("-", 44) + want, want},
		{"U is not a digit", "UBCD-EFGH-JKMN-PQRS-TVWX", ""},
		{"too short", "ABCD-EFGH-JKMN-PQRS-TVW", ""},
		{"too long", "ABCD-EFGH-JKMN-PQRS-TVWXY", ""},
		{"empty", "", ""},
		{"only dashes", "----", ""},
		{"65 bytes", strings.Repeat("-", 45) + want, ""},
		{"full-width letters", "ＡＢＣＤ-EFGH-JKMN-PQRS-TVWX", ""},
		{"tab", "ABCD\tEFGH-JKMN-PQRS-TVWX", ""},
		{"underscore", "ABCD_EFGH-JKMN-PQRS-TVWX", ""},
		{"punctuation", "ABCD.EFGH-JKMN-PQRS-TVWX", ""},
		{"NUL", "ABCD\x00EFGH-JKMN-PQRS-TVWX", ""},
		{"Turkish dotless i", "ıBCD-EFGH-JKMN-PQRS-TVWX", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeReceiptCode(tt.in)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("NormalizeReceiptCode(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

// refNormalize is an independent statement of NormalizeReceiptCode's rules.
func refNormalize(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var out []byte
	for _, c := range []byte(s) {
		switch {
		case c == '-' || c == ' ':
			continue
		case c == 'i' || c == 'I' || c == 'l' || c == 'L':
			out = append(out, '1')
		case c == 'o' || c == 'O':
			out = append(out, '0')
		case c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'a' && c <= 'z' && c != 'u':
			out = append(out, c-'a'+'A')
		case c >= 'A' && c <= 'Z' && c != 'U':
			out = append(out, c)
		default:
			return "", false
		}
	}
	if len(out) != ReceiptCodeLen {
		return "", false
	}
	return string(out), true
}

func FuzzNormalizeReceiptCode(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-JKMN-PQRS-TVWX", "abcd efgh jkmn pqrs tvwx", "IiLlOo00000000000000", "", "U", "ＡＢＣＤ", NewReceiptCode()} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeReceiptCode(s)
		want, wantOK := refNormalize(s)
		if got != want || ok != wantOK {
			t.Fatalf("NormalizeReceiptCode(%q) = %q, %v; reference %q, %v", s, got, ok, want, wantOK)
		}
		if !ok {
			if got != "" {
				t.Fatalf("rejected code returned %q", got)
			}
			return
		}
		for i := 0; i < len(got); i++ {
			if !strings.ContainsRune(crockford, rune(got[i])) {
				t.Fatalf("normalised code %q has %q", got, got[i])
			}
		}
		if again, ok := NormalizeReceiptCode(got); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, ok)
		}
	})
}

func TestPetitionByReceipt(t *testing.T) {
	v := newTestVault(t, nil)
	c, err := v.CreatePetition(samplePetition(), nil, entry("public.submit"))
	if err != nil {
		t.Fatal(err)
	}
	code := c.ReceiptCode
	if !receiptRE.MatchString(code) {
		t.Fatalf("receipt code %q", code)
	}
	confuse := strings.NewReplacer("0", "o", "1", "l")
	other := []byte(code)
	if other[0] == 'A' {
		other[0] = 'B'
	} else {
		other[0] = 'A'
	}
	for _, tt := range []struct {
		name, code string
		found      bool
	}{
		{"as issued", code, true},
		{"lower case", strings.ToLower(code), true},
		{"no dashes", strings.ReplaceAll(code, "-", ""), true},
		{"spaces", strings.ReplaceAll(code, "-", " "), true},
		{"confused letters", confuse.Replace(code), true},
		{"another code", string(other), false},
		{"malformed", "not a code", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := v.PetitionByReceipt(tt.code)
			if tt.found {
				if err != nil || m.ID != c.Meta.ID {
					t.Errorf("PetitionByReceipt(%q) = %v, %v", tt.code, m, err)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Errorf("PetitionByReceipt(%q) = %v, %v; want ErrNotFound", tt.code, m, err)
			}
		})
	}
}

func TestMaskPetitioner(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   Petitioner
		want Petitioner
	}{
		{"typical",
			Petitioner{Name: "张三", IDNumber: "110101199003074578", Phone: "13812345678", Address: "北京市朝阳区某街道1号", EmployeeNo: "E-1024"},
			Petitioner{Name: "张*", IDNumber: "1101**********4578", Phone: "138****5678", Address: "北京市***", EmployeeNo: "***"}},
		{"empty fields", Petitioner{}, Petitioner{}},
		{"one-character name", Petitioner{Name: "王"}, Petitioner{Name: "*"}},
		{"one-letter name", Petitioner{Name: "A"}, Petitioner{Name: "*"}},
		{"three-character name", Petitioner{Name: "欧阳娜"}, Petitioner{Name: "欧**"}},
		{"four-character name", Petitioner{Name: "欧阳娜娜"}, Petitioner{Name: "欧***"}},
		{"ASCII name", Petitioner{Name: "Li Wei"}, Petitioner{Name: "L*****"}},
		{"accented name", Petitioner{Name: "Zoë"}, Petitioner{Name: "Z**"}},
		{"emoji name", Petitioner{Name: "😀x"}, Petitioner{Name: "😀*"}},
		{"ID number with X", Petitioner{IDNumber: "11010119900307457X"}, Petitioner{IDNumber: "1101**********457X"}},
		{"short ID number", Petitioner{IDNumber: "12345678"}, Petitioner{IDNumber: "1*******"}},
		{"two-digit ID number", Petitioner{IDNumber: "12"}, Petitioner{IDNumber: "1*"}},
		{"one-digit ID number", Petitioner{IDNumber: "7"}, Petitioner{IDNumber: "*"}},
		{"nine-digit ID number", Petitioner{IDNumber: "123456789"}, Petitioner{IDNumber: "1234*6789"}},
		{"landline", Petitioner{Phone: "010-12345678"}, Petitioner{Phone: "010*****5678"}},
		{"international phone", Petitioner{Phone: "+8613812345678"}, Petitioner{Phone: "+86*******5678"}},
		{"short phone", Petitioner{Phone: "1234567"}, Petitioner{Phone: "***"}},
		{"eight-digit phone", Petitioner{Phone: "12345678"}, Petitioner{Phone: "123*5678"}},
		{"full-width phone", Petitioner{Phone: "１３８１２３４５６７８"}, Petitioner{Phone: "１３８****５６７８"}},
		{"short address", Petitioner{Address: "北京"}, Petitioner{Address: "***"}},
		{"three-character address", Petitioner{Address: "北京市"}, Petitioner{Address: "***"}},
		{"ASCII address", Petitioner{Address: "1 Main Street"}, Petitioner{Address: "1 M***"}},
		{"one-character employee no", Petitioner{EmployeeNo: "7"}, Petitioner{EmployeeNo: "***"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			got := MaskPetitioner(&in)
			if *got != tt.want {
				t.Errorf("MaskPetitioner(%+v) = %+v, want %+v", tt.in, *got, tt.want)
			}
			if in != tt.in {
				t.Errorf("MaskPetitioner modified its argument")
			}
			// Masking never keeps a whole non-empty value of two or more
			// characters, and keeps valid UTF-8.
			for _, f := range [][2]string{{in.Name, got.Name}, {in.IDNumber, got.IDNumber}, {in.Phone, got.Phone}, {in.Address, got.Address}, {in.EmployeeNo, got.EmployeeNo}} {
				if f[0] != "" && f[0] == f[1] {
					t.Errorf("value %q not masked", f[0])
				}
				if !utf8.ValidString(f[1]) {
					t.Errorf("masked value %q is not valid UTF-8", f[1])
				}
			}
		})
	}
}

func TestValidUnit(t *testing.T) {
	seg64 := strings.Repeat("a", 64)
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"group", true},
		{"group/east", true},
		{"group/east-1/site-3", true},
		{"0/1/2", true},
		{"-", false}, // a segment starts and ends with a letter or digit
		{seg64, true},
		{strings.Repeat("a", 65), false},
		{"a/b/c/d/e/f/g/h", true},
		{"a/b/c/d/e/f/g/h/i", false},
		{strings.Join([]string{seg64, seg64, seg64[:62]}, "/"), true},       // 64+1+64+1+62 = 192
		{strings.Join([]string{seg64, seg64, seg64, "abcde"}, "/"), true},   // 200 bytes
		{strings.Join([]string{seg64, seg64, seg64, "abcdef"}, "/"), false}, // 201 bytes
		{"", false},
		{"/", false},
		{"/group", false},
		{"group/", false},
		{"group//east", false},
		{"Group", false},
		{"group/East", false},
		{"group east", false},
		{"group_east", false},
		{"group.east", false},
		{"group/../etc", false},
		{"group/./east", false},
		{"group\\east", false},
		{"group\n", false},
		{"\ngroup", false},
		{"group\x00", false},
		{"集团", false},
		{"group/华东", false},
		{"ｇroup", false},
	} {
		if got := ValidUnit(tt.in); got != tt.want {
			t.Errorf("ValidUnit(%q) (%d bytes) = %v, want %v", tt.in, len(tt.in), got, tt.want)
		}
	}
}

// refValidUnit is an independent statement of ValidUnit's rules.
func refValidUnit(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	depth, segLen := 1, 0
	var prev byte = '/'
	for i := 0; i < len(s); i++ {
		c := s[i]
		// A segment starts and ends with a letter or digit.
		if c == '-' && prev == '/' || c == '/' && prev == '-' {
			return false
		}
		prev = c
		switch {
		case c == '/':
			if segLen == 0 {
				return false
			}
			depth, segLen = depth+1, 0
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-':
			segLen++
			if segLen > 64 {
				return false
			}
		default:
			return false
		}
	}
	return segLen > 0 && prev != '-' && depth <= MaxUnitDepth
}

func FuzzValidUnit(f *testing.F) {
	for _, s := range []string{"group", "group/east", "a/b/c/d/e/f/g/h", "a/b/c/d/e/f/g/h/i", "", "/", "a//b", "Group", "group\n", "集团"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ValidUnit(s)
		if want := refValidUnit(s); got != want {
			t.Fatalf("ValidUnit(%q) = %v, reference %v", s, got, want)
		}
		if !got {
			return
		}
		// Every ancestor of a valid unit is valid, and within policy's
		// notion of scope.
		for _, a := range ancestors(s) {
			if !ValidUnit(a) || !policy.Within(s, a) {
				t.Fatalf("ancestor %q of %q", a, s)
			}
		}
	})
}

func TestIDsIncreasingWithinMillisecond(t *testing.T) {
	var g idGen
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	prefix := ""
	prev := ""
	for i := 0; i < 10000; i++ {
		id := g.next(now)
		if !ValidID(id) {
			t.Fatalf("id %q not valid", id)
		}
		if id <= prev {
			t.Fatalf("id %d: %q not after %q", i, id, prev)
		}
		// 10 digits hold 2 pad bits and the 48-bit millisecond time.
		if prefix == "" {
			prefix = id[:10]
		} else if id[:10] != prefix {
			t.Fatalf("time prefix changed within one millisecond: %q vs %q", id[:10], prefix)
		}
		prev = id
	}
	// A clock that goes backwards does not break the order.
	for _, d := range []time.Duration{-time.Hour, 0, time.Millisecond, -time.Second} {
		id := g.next(now.Add(d))
		if id <= prev {
			t.Fatalf("after clock step %v: %q not after %q", d, id, prev)
		}
		prev = id
	}
	// A later millisecond starts a new prefix.
	id := g.next(now.Add(time.Minute))
	if id <= prev || id[:10] == prefix {
		t.Errorf("id a minute later = %q", id)
	}
	// Ids from a fresh generator sort by time across milliseconds.
	var g2 idGen
	a, b := g2.next(now), g2.next(now.Add(time.Millisecond))
	var g3 idGen
	if c := g3.next(now.Add(2 * time.Millisecond)); !(a < b && b < c) {
		t.Errorf("ids not in time order: %s %s %s", a, b, c)
	}
}

func TestIDsConcurrent(t *testing.T) {
	var g idGen
	now := time.Now()
	const workers, per = 8, 500
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				out[w] = append(out[w], g.next(now))
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range out {
		if !slices.IsSorted(ids) {
			t.Error("ids of one goroutine not increasing")
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %s repeated", id)
			}
			seen[id] = true
		}
	}
}

func TestVaultIDsIncreasingWithFrozenClock(t *testing.T) {
	clk := newFakeClock() // never advances
	v := newTestVault(t, clk)
	prev := ""
	for i := 0; i < 5; i++ {
		c, err := v.CreatePetition(samplePetition(), nil, entry("petition.create"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Meta.ID <= prev {
			t.Fatalf("petition id %q not after %q", c.Meta.ID, prev)
		}
		prev = c.Meta.ID
	}
}

func TestValidID(t *testing.T) {
	var g idGen
	id := g.next(time.Now())
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{id, true},
		{"01HQ3Z8M7X0000000000000000", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{strings.ToLower(id), false},
		{id[:25], false},
		{id + "0", false},
		{"01HQ3Z8M7X000000000000000U", false},
		{"01HQ3Z8M7X000000000000000I", false},
		{"01HQ3Z8M7X000000000000000-", false},
		{"", false},
	} {
		if got := ValidID(tt.in); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func isAdmin(u *User) bool { return slices.Contains(u.Roles, policy.RoleAdmin) }

func TestCreateUser(t *testing.T) {
	v := newTestVault(t, nil)
	u, rec, err := v.CreateUser(NewUser{Username: "li.officer", Password: "officer-password-1", Unit: "group/east", Roles: []string{"officer"}}, entry("user.create"))
	if err != nil {
		t.Fatal(err)
	}
	if !ValidID(u.ID) || u.DisplayName != "li.officer" || u.Epoch != 0 || u.Disabled {
		t.Errorf("user = %+v", u)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(u.PasswordHash, "officer-password-1") {
		t.Errorf("password hash %q", u.PasswordHash)
	}
	if rec.Object == nil || rec.Object.Type != "user" || rec.Object.ID != u.ID {
		t.Errorf("entry object = %+v", rec.Object)
	}
	if got, err := v.UserByName("li.officer"); err != nil || got.ID != u.ID {
		t.Errorf("UserByName = %+v, %v", got, err)
	}
	if got, err := v.User(u.ID); err != nil || got.Username != "li.officer" {
		t.Errorf("User = %+v, %v", got, err)
	}
	// The unit and its ancestors now exist.
	if _, err := v.UnitByPath("group/east"); err != nil {
		t.Errorf("unit not registered: %v", err)
	}
	if _, err := v.User("01ZZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, ErrNotFound) {
		t.Errorf("User(unknown) = %v", err)
	}
	if _, err := v.UserByName("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByName(unknown) = %v", err)
	}

	size := v.Log().Head().Size
	for _, tt := range []struct {
		name string
		in   NewUser
		want error
	}{
		{"taken username", NewUser{Username: "li.officer", Password: "another-password-2", Unit: "group", Roles: []string{"officer"}}, ErrConflict},
		{"taken admin", NewUser{Username: "admin", Password: "another-password-2", Unit: "group", Roles: []string{"admin"}}, ErrConflict},
		{"short username", NewUser{Username: "ab", Password: "another-password-2", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
		{"upper-case username", NewUser{Username: "Wang", Password: "another-password-2", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
		{"short password", NewUser{Username: "wang", Password: "short-pw", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
		{"password is username", NewUser{Username: "wang.xiaoming", Password: "Wang.Xiaoming", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
		{"common password", NewUser{Username: "wang", Password: "qwerty123456", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
		{"bad unit", NewUser{Username: "wang", Password: "another-password-2", Unit: "group/", Roles: []string{"officer"}}, ErrInvalid},
		{"no roles", NewUser{Username: "wang", Password: "another-password-2", Unit: "group"}, ErrInvalid},
		{"unknown role", NewUser{Username: "wang", Password: "another-password-2", Unit: "group", Roles: []string{"root"}}, ErrInvalid},
		{"repeated role", NewUser{Username: "wang", Password: "another-password-2", Unit: "group", Roles: []string{"officer", "officer"}}, ErrInvalid},
		{"control character in display name", NewUser{Username: "wang", Password: "another-password-2", DisplayName: "a\x07", Unit: "group", Roles: []string{"officer"}}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := v.CreateUser(tt.in, entry("user.create"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateUser = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.in.Password) {
				t.Errorf("error echoes the password: %v", err)
			}
		})
	}
	if got := v.Log().Head().Size; got != size {
		t.Errorf("refused users changed the log: size %d, was %d", got, size)
	}
}

func TestAuthenticate(t *testing.T) {
	v := newTestVault(t, nil)
	u, _, err := v.CreateUser(NewUser{Username: "zhao", Password: "zhao-password-123", Unit: "group", Roles: []string{"registrar"}}, entry("user.create"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Authenticate("zhao", "zhao-password-123")
	if err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for _, tt := range []struct{ name, user, pass string }{
		{"wrong password", "zhao", "zhao-password-124"},
		{"password case", "zhao", "ZHAO-PASSWORD-123"},
		{"empty password", "zhao", ""},
		{"unknown user", "qian", "zhao-password-123"},
		{"empty user", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Authenticate(tt.user, tt.pass)
			if !errors.Is(err, ErrUnauthenticated) || got != nil {
				t.Errorf("Authenticate(%q, %q) = %+v, %v; want ErrUnauthenticated", tt.user, tt.pass, got, err)
			}
		})
	}
	// A disabled user with the right password is named but refused.
	disabled := true
	if _, _, err := v.UpdateUser(u.ID, UserPatch{Disabled: &disabled}, isAdmin, entry("user.update")); err != nil {
		t.Fatal(err)
	}
	got, err = v.Authenticate("zhao", "zhao-password-123")
	if !errors.Is(err, ErrUnauthenticated) || got == nil || got.ID != u.ID {
		t.Errorf("Authenticate(disabled) = %+v, %v; want the user and ErrUnauthenticated", got, err)
	}
	if got, err := v.Authenticate("zhao", "wrong-password-123"); got != nil || !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate(disabled, wrong password) = %+v, %v", got, err)
	}
}

func TestSessions(t *testing.T) {
	clk := newFakeClock()
	dir := initVault(t, InitOptions{Options: Options{Now: clk.Now}})
	v := openVault(t, dir, Options{Now: clk.Now, SessionTTL: time.Hour})
	u, _, err := v.CreateUser(NewUser{Username: "sun", Password: "sun-password-1234", DisplayName: "孙", Unit: "group/west", Roles: []string{"officer"}}, entry("user.create"))
	if err != nil {
		t.Fatal(err)
	}
	login := func() string {
		t.Helper()
		cur, err := v.User(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		tok, s, rec, err := v.Login(cur, entry("auth.login"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "pvt_") || s.UserID != u.ID || !s.ExpiresAt.Equal(clk.Now().Add(time.Hour)) || rec.Seq == 0 {
			t.Fatalf("Login = %q, %+v, %+v", tok, s, rec)
		}
		return tok
	}
	valid := func(tok string) bool {
		t.Helper()
		got, err := v.SessionUser(tok)
		if err == nil {
			if got.ID != u.ID {
				t.Fatalf("SessionUser = %+v", got)
			}
			return true
		}
		if !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("SessionUser: %v", err)
		}
		return false
	}
	update := func(p UserPatch) audit.Entry {
		t.Helper()
		_, rec, err := v.UpdateUser(u.ID, p, isAdmin, entry("user.update"))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	str := func(s string) *string { return &s }
	boolp := func(b bool) *bool { return &b }
	roles := func(r ...string) *[]string { return &r }

	// Expiry.
	tok := login()
	if !valid(tok) {
		t.Fatal("fresh token refused")
	}
	clk.Advance(time.Hour - time.Second)
	if !valid(tok) {
		t.Error("token refused before expiry")
	}
	clk.Advance(time.Second)
	if valid(tok) {
		t.Error("token accepted at its expiry time")
	}

	// Changes that keep tokens.
	tok = login()
	tok2 := login()
	if tok == tok2 {
		t.Fatal("two logins gave the same token")
	}
	rec := update(UserPatch{DisplayName: str("孙悟空")})
	if rec.Details["tokens_revoked"] != false || !valid(tok) {
		t.Errorf("display name change revoked tokens: %v", rec.Details)
	}
	update(UserPatch{Unit: str("group/west/site-1")})
	if !valid(tok) {
		t.Error("unit change revoked tokens")
	}
	update(UserPatch{Roles: roles("officer")})
	if !valid(tok) {
		t.Error("setting the same roles revoked tokens")
	}
	update(UserPatch{Disabled: boolp(false)})
	if !valid(tok) {
		t.Error("enabling an enabled user revoked tokens")
	}

	// Logout ends one session, not the others.
	if _, err := v.Logout(tok2, entry("auth.logout")); err != nil {
		t.Fatal(err)
	}
	if valid(tok2) || !valid(tok) {
		t.Error("Logout did not end exactly its own session")
	}

	// Changes that revoke tokens bump the epoch.
	for _, tt := range []struct {
		name string
		p    UserPatch
	}{
		{"roles", UserPatch{Roles: roles("officer", "supervisor")}},
		{"password", UserPatch{Password: str("sun-new-password-5678")}},
		{"disable", UserPatch{Disabled: boolp(true)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := v.User(u.ID)
			if before.Disabled {
				update(UserPatch{Disabled: boolp(false)})
				before, _ = v.User(u.ID)
			}
			tok := login()
			if !valid(tok) { // now cached
				t.Fatal("fresh token refused")
			}
			rec := update(tt.p)
			after, _ := v.User(u.ID)
			if after.Epoch != before.Epoch+1 {
				t.Errorf("epoch %d -> %d", before.Epoch, after.Epoch)
			}
			if rec.Details["tokens_revoked"] != true {
				t.Errorf("entry details %v", rec.Details)
			}
			if valid(tok) {
				t.Errorf("token still valid after a %s change", tt.name)
			}
		})
	}
	// Re-enabling does not revive old tokens; a new login works.
	update(UserPatch{Disabled: boolp(false)})
	if valid(tok) {
		t.Error("re-enabling revived a revoked token")
	}
	if _, err := v.Authenticate("sun", "sun-password-1234"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := v.Authenticate("sun", "sun-new-password-5678"); err != nil {
		t.Errorf("new password refused: %v", err)
	}
	if !valid(login()) {
		t.Error("new login refused")
	}

	// Junk tokens.
	for _, tok := range []string{"", "pvt_", "pvt_" + strings.Repeat("a", 52), strings.Repeat("x", 201), "pvt_\x00\xff" + strings.Repeat("a", 30)} {
		if got, err := v.SessionUser(tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("SessionUser(%q) = %+v, %v", tok, got, err)
		}
	}
}

func TestUpdateUserErrors(t *testing.T) {
	v := newTestVault(t, nil)
	admin, err := v.UserByName("admin")
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	boolp := func(b bool) *bool { return &b }
	roles := func(r ...string) *[]string { return &r }
	size := v.Log().Head().Size
	for _, tt := range []struct {
		name string
		id   string
		p    UserPatch
		want error
	}{
		{"missing user", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", UserPatch{DisplayName: str("x")}, ErrNotFound},
		{"disable the last admin", admin.ID, UserPatch{Disabled: boolp(true)}, ErrConflict},
		{"demote the last admin", admin.ID, UserPatch{Roles: roles("officer")}, ErrConflict},
		{"bad display name", admin.ID, UserPatch{DisplayName: str("")}, ErrInvalid},
		{"bad unit", admin.ID, UserPatch{Unit: str("a//b")}, ErrInvalid},
		{"bad roles", admin.ID, UserPatch{Roles: roles()}, ErrInvalid},
		{"weak password", admin.ID, UserPatch{Password: str("admin")}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := v.UpdateUser(tt.id, tt.p, isAdmin, entry("user.update"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("UpdateUser = %v, want %v", err, tt.want)
			}
		})
	}
	if got := v.Log().Head().Size; got != size {
		t.Errorf("refused updates changed the log: size %d, was %d", got, size)
	}
	if u, _ := v.User(admin.ID); u.Disabled || !isAdmin(u) || u.Epoch != admin.Epoch {
		t.Errorf("admin changed by refused updates: %+v", u)
	}
	// With a second admin, the first may step down.
	if _, _, err := v.CreateUser(NewUser{Username: "admin2", Password: "second-admin-pass", Unit: "group", Roles: []string{"admin"}}, entry("user.create")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.UpdateUser(admin.ID, UserPatch{Roles: roles("auditor")}, isAdmin, entry("user.update")); err != nil {
		t.Errorf("demoting one of two admins: %v", err)
	}
	if ok, err := v.AnyAdmin(isAdmin); !ok || err != nil {
		t.Errorf("AnyAdmin = %v, %v", ok, err)
	}
	// SetPassword works offline (no policy hook).
	if err := v.SetPassword("admin", "reset-password-999", entry("user.passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate("admin", "reset-password-999"); err != nil {
		t.Errorf("Authenticate after SetPassword: %v", err)
	}
	if err := v.SetPassword("nobody", "reset-password-999", entry("user.passwd")); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(unknown) = %v", err)
	}
}

func TestUsersPaging(t *testing.T) {
	v := newTestVault(t, nil)
	for i := 0; i < 5; i++ {
		if _, _, err := v.CreateUser(NewUser{Username: fmt.Sprintf("user%d", i), Password: "paging-password-1", Unit: "group", Roles: []string{"officer"}}, entry("user.create")); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		page, next, err := v.Users(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			names = append(names, u.Username)
		}
		if next == "" {
			break
		}
		after = next
	}
	want := []string{"admin", "user0", "user1", "user2", "user3", "user4"}
	if !slices.Equal(names, want) {
		t.Errorf("paged users = %v, want %v", names, want)
	}
}

// ExampleNormalizeReceiptCode shows how a receipt code read over the phone
// is matched.
func ExampleNormalizeReceiptCode() {
	code, ok := NormalizeReceiptCode("7kq0-ab1z-o0il-mnpr-st9x")
	fmt.Println(code, ok)
	_, ok = NormalizeReceiptCode("7KQU-AB1Z")
	fmt.Println(ok)
	// Output:
	// 7KQ0AB1Z0011MNPRST9X true
	// false
}

// ExampleMaskPetitioner shows the masked identity that ordinary reads show.
func ExampleMaskPetitioner() {
	m := MaskPetitioner(&Petitioner{Name: "张三", IDNumber: "110101199003074578", Phone: "13812345678", Address: "北京市朝阳区某街道1号"})
	fmt.Println(m.Name, m.IDNumber, m.Phone, m.Address)
	// Output:
	// 张* 1101**********4578 138****5678 北京市***
}

// Nothing panics on any input (DESIGN.md), including a page size of zero or
// less.
func TestUsersNonPositiveLimit(t *testing.T) {
	v := newTestVault(t, nil)
	for _, limit := range []int{0, -1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Users(\"\", %d) panicked: %v", limit, r)
				}
			}()
			_, _, _ = v.Users("", limit)
		}()
	}
}

func TestListNonPositiveLimit(t *testing.T) {
	v := newTestVault(t, nil)
	admin, err := v.UserByName("admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.CreatePetition(samplePetition(), admin, entry("petition.create")); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("List with Limit %d panicked: %v", limit, r)
				}
			}()
			_, _, _ = v.List(v.Subject(admin), []string{policy.ScopeAll}, Query{Limit: limit}, func(*Meta) bool { return true })
		}()
	}
}

// TestOpenIndexCacheBytes: the index cache asked for is the store's, as the
// "store opened" line reports (the default sizes it to the small store).
func TestOpenIndexCacheBytes(t *testing.T) {
	dir := initVault(t, InitOptions{})
	for _, tt := range []struct {
		ask  int64
		want string
	}{{0, "index_cache_mib=32"}, {200 << 20, "index_cache_mib=200"}} {
		var buf bytes.Buffer
		v := openVault(t, dir, Options{IndexCacheBytes: tt.ask, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if !strings.Contains(buf.String(), tt.want) {
			t.Errorf("IndexCacheBytes %d: log %q, want %s", tt.ask, buf.String(), tt.want)
		}
		v.Close()
	}
}

// TestReleaseMemory: a reopened vault hands back the pages of its table
// files (on Linux) and still serves what it holds.
func TestReleaseMemory(t *testing.T) {
	dir := initVault(t, InitOptions{})
	v := openVault(t, dir, Options{})
	c, err := v.CreatePetition(samplePetition(), nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	v.Close() // its memtable becomes a table file
	v = openVault(t, dir, Options{})
	n := v.ReleaseMemory()
	if runtime.GOOS == "linux" && n <= 0 {
		t.Errorf("released %d bytes of table mappings", n)
	}
	if m, err := v.Meta(c.Meta.ID); err != nil || m.ID != c.Meta.ID {
		t.Errorf("petition after release: %v, %v", m, err)
	}
}
