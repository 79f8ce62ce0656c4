package vault

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
)

// sameHeaderAsAge checks that decryptHeader and age.DecryptHeader agree on
// hdr: the same file key, or both fail.
func sameHeaderAsAge(t *testing.T, hdr []byte, ids ...age.Identity) {
	t.Helper()
	want, werr := age.DecryptHeader(hdr, ids...)
	got, gerr := decryptHeader(hdr, ids)
	switch {
	case werr != nil && gerr == nil:
		t.Fatalf("decryptHeader accepted what age refuses (%v): %q", werr, hdr)
	case werr == nil && gerr != nil:
		t.Fatalf("decryptHeader refused what age accepts: %v: %q", gerr, hdr)
	case werr == nil && !bytes.Equal(got, want):
		t.Fatalf("file keys differ for %q", hdr)
	case werr != nil:
		var wm, gm *age.NoIdentityMatchError
		if errors.As(werr, &wm) != errors.As(gerr, &gm) {
			t.Fatalf("errors differ in kind: age %v, decryptHeader %v", werr, gerr)
		}
	}
}

// headerOf returns the header of an age file.
func headerOf(t testing.TB, ct []byte) []byte {
	t.Helper()
	hdr, err := age.ExtractHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}

// TestDecryptHeaderMatchesAge: the in-place header path gives age's answer
// on the vault's envelopes, on stock X25519 files, and on headers changed in
// every way the parser distinguishes: those it does not take itself go to
// age.
func TestDecryptHeaderMatchesAge(t *testing.T) {
	v := newTestVault(t, nil)
	ids := v.keyset.Load().identities
	x, _ := age.GenerateX25519Identity()
	y, _ := age.GenerateX25519Identity()
	all := append(append([]age.Identity(nil), ids...), x)
	vaultCT, err := v.seal([]byte("拖欠工资"))
	if err != nil {
		t.Fatal(err)
	}
	stockCT, err := sealBytes([]byte("hello"), []age.Recipient{x.Recipient(), y.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range [][]byte{vaultCT, stockCT} {
		hdr := headerOf(t, ct)
		if _, _, _, ok := parseHeader(hdr); !ok {
			t.Fatalf("age's own header not parsed in place: %q", hdr)
		}
		sameHeaderAsAge(t, hdr, all...)
		sameHeaderAsAge(t, hdr, y)
		s := string(hdr)
		firstStanza := strings.Index(s, "\n-> ") + 1
		for name, bad := range map[string]string{
			"two spaces":         strings.Replace(s, "-> ", "->  ", 1),
			"no argument":        s[:firstStanza] + "->\n" + s[firstStanza:],
			"empty last arg":     strings.Replace(s, "\n", " \n", 2),
			"tab":                strings.Replace(s, "-> ", "->\t", 1),
			"CR":                 strings.Replace(s, "\n", "\r\n", 2),
			"no MAC newline":     strings.TrimSuffix(s, "\n"),
			"bytes after":        s + "x",
			"MAC padded":         strings.TrimSuffix(s, "\n") + "=\n",
			"MAC short":          s[:len(s)-3] + "\n",
			"MAC two spaces":     strings.Replace(s, "--- ", "---  ", 1),
			"no stanza":          ageIntro + s[strings.Index(s, "---"):],
			"bad intro":          strings.Replace(s, "v1", "v2", 1),
			"flipped MAC":        s[:len(s)-5] + string(s[len(s)-5]^1) + s[len(s)-4:],
			"flipped type":       strings.Replace(s, "-> X25519", "-> X25518", 1),
			"body line too long": strings.Replace(s, "\n---", "AAAA\n---", 1),
		} {
			t.Run(name, func(t *testing.T) {
				sameHeaderAsAge(t, []byte(bad), all...)
			})
		}
	}
	// Bodies of exactly 48·n bytes end in an empty line; long bodies span
	// lines. Both are taken in place and match age.
	for _, n := range []int{0, 1, 47, 48, 49, 96, 300} {
		body := bytes.Repeat([]byte{0xA5}, n)
		s := &age.Stanza{Type: "grease", Args: []string{"a", "b!"}, Body: body}
		hdr := stanzaHeader(t, x, s)
		stanzas, _, _, ok := parseHeader(hdr)
		if !ok || len(stanzas) != 2 || !bytes.Equal(stanzas[0].Body, body) || stanzas[0].Type != "grease" || strings.Join(stanzas[0].Args, ",") != "a,b!" {
			t.Fatalf("%d-byte body: ok %v, %+v", n, ok, stanzas)
		}
		sameHeaderAsAge(t, hdr, x)
	}
}

// graceRecipient adds a stanza of its own before an X25519 one.
type graceRecipient struct {
	s *age.Stanza
	r age.Recipient
}

func (g graceRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	ss, err := g.r.Wrap(fileKey)
	return append([]*age.Stanza{g.s}, ss...), err
}

// stanzaHeader is the header of a file to x with an extra stanza s first.
func stanzaHeader(t *testing.T, x *age.X25519Identity, s *age.Stanza) []byte {
	t.Helper()
	ct, err := sealBytes([]byte("x"), []age.Recipient{graceRecipient{s, x.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	return headerOf(t, ct)
}

// FuzzDecryptHeader: on any input, decryptHeader and age.DecryptHeader
// agree.
func FuzzDecryptHeader(f *testing.F) {
	v := newTestVault(f, nil)
	x, _ := age.GenerateX25519Identity()
	ids := append(append([]age.Identity(nil), v.keyset.Load().identities...), x)
	for _, pt := range []string{"", "拖欠工资"} {
		ct, err := v.seal([]byte(pt))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(headerOf(f, ct))
	}
	ct, err := sealBytes([]byte("hi"), []age.Recipient{x.Recipient()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(headerOf(f, ct))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		sameHeaderAsAge(t, hdr, ids...)
	})
}

// FuzzDecryptHeaderMAC: headers whose MAC is right for the file key, so
// that the parsing itself is compared with age's: the input is a header
// through "---", and the MAC under a fixed file key is appended. Random
// bytes never carry a valid MAC, so FuzzDecryptHeader alone would not
// reach these.
func FuzzDecryptHeaderMAC(f *testing.F) {
	fileKey := []byte("sixteen byte key")
	id := age.NewInjectedFileKeyIdentity(fileKey)
	x, _ := age.GenerateX25519Identity()
	ct, err := sealBytes([]byte("hi"), []age.Recipient{x.Recipient()})
	if err != nil {
		f.Fatal(err)
	}
	hdr := headerOf(f, ct)
	withoutMAC := hdr[:bytes.LastIndex(hdr, []byte("---"))+3]
	f.Add(withoutMAC)
	f.Add([]byte(ageIntro + "-> X25519 abc\n" + strings.Repeat("A", 43) + "\r\n---"))
	f.Add([]byte(ageIntro + "-> a\n" + strings.Repeat("A", 64) + "\n\n---"))
	f.Fuzz(func(t *testing.T, h []byte) {
		key := hkdfKey(fileKey, nil, "header")
		mac := hmacSum(key[:], h)
		full := append(append(bytes.Clone(h), ' '), ageB64.EncodeToString(mac[:])+"\n"...)
		sameHeaderAsAge(t, full, id)
	})
}

// TestDecryptHeaderLimits: headers age refuses for their size or a carriage
// return in a body line are refused too, even with a valid MAC.
func TestDecryptHeaderLimits(t *testing.T) {
	fileKey := []byte("sixteen byte key")
	id := age.NewInjectedFileKeyIdentity(fileKey)
	withMAC := func(h string) []byte {
		key := hkdfKey(fileKey, nil, "header")
		mac := hmacSum(key[:], []byte(h))
		return []byte(h + " " + ageB64.EncodeToString(mac[:]) + "\n")
	}
	for name, h := range map[string]string{
		"3 MiB argument":  ageIntro + "-> X " + strings.Repeat("a", 3<<20) + "\n\n---",
		"50,000 lines":    ageIntro + "-> X\n" + strings.Repeat(strings.Repeat("A", 64)+"\n", 50000) + "\n---",
		"CR in body":      ageIntro + "-> X25519 abc\n" + strings.Repeat("A", 43) + "\r\n---",
		"CR mid-line":     ageIntro + "-> X\n" + strings.Repeat("A", 32) + "\r" + strings.Repeat("A", 31) + "\n\n---",
		"canonical (ok)":  ageIntro + "-> X\n" + strings.Repeat("A", 64) + "\n\n---",
		"short last line": ageIntro + "-> X\n" + strings.Repeat("A", 64) + "\nAAAA\n---",
	} {
		t.Run(name, func(t *testing.T) { sameHeaderAsAge(t, withMAC(h), id) })
	}
	if _, err := decryptHeader(withMAC(ageIntro+"-> X\n"+strings.Repeat("A", 64)+"\n\n---"), []age.Identity{id}); err != nil {
		t.Errorf("canonical header refused: %v", err)
	}
}
