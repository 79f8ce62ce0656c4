package vault

import (
	"errors"
	"testing"

	"filippo.io/age"
)

// TestKeysetOpens: the vault's keyset opens envelopes of the current format
// (the pvault-key1 stanza beside recovery stanzas), envelopes of the earlier
// format (an X25519 stanza for the vault identity only, which is tried after
// the symmetric key), and nothing sealed for someone else.
func TestKeysetOpens(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	rec, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	ks, err := keysetFor(id, nil, []string{rec.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("我们在三号工地干活，项目部已经拖欠我们三个月工资。")
	current, err := sealBytes(pt, ks.recipients)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := sealBytes(pt, []age.Recipient{id.Recipient(), rec.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := sealBytes(pt, []age.Recipient{other.Recipient(), rec.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	for name, ct := range map[string][]byte{"current format": current, "earlier format": legacy} {
		got, err := openBytes(ct, ks.identities...)
		if err != nil || string(got) != string(pt) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if _, err := openBytes(foreign, ks.identities...); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an envelope for another identity: %v, want ErrCorrupt", err)
	}
	// The symmetric key is tried first: it is the first identity, and the
	// X25519 identity is wrapped so that age does not move it ahead.
	if _, ok := ks.identities[0].(symIdentity); !ok {
		t.Errorf("first identity is %T, want the symmetric key", ks.identities[0])
	}
	for i, x := range ks.identities {
		if _, native := x.(*age.X25519Identity); native {
			t.Errorf("identity %d is a bare *age.X25519Identity, which age would try before the symmetric key", i)
		}
	}
	// A recovery identity opens the current format with the stock library.
	if !opOpens(current, rec) {
		t.Error("the recovery identity does not open the envelope")
	}
}
