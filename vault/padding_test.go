package vault

import (
	"encoding/json"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestPaddedLen(t *testing.T) {
	classes := map[int]bool{}
	prev := 0
	for n := 0; n <= 1<<17; n++ {
		p := paddedLen(n)
		if p < n || p < minPadded {
			t.Fatalf("paddedLen(%d) = %d", n, p)
		}
		if p < prev {
			t.Fatalf("paddedLen(%d) = %d < paddedLen(%d) = %d", n, p, n-1, prev)
		}
		if paddedLen(p) != p {
			t.Fatalf("paddedLen(paddedLen(%d)) = %d, want %d (a padded record is not padded again)", n, paddedLen(p), p)
		}
		if n > minPadded && float64(p-n) > 0.0625*float64(n) {
			t.Fatalf("paddedLen(%d) = %d: more than 6.25 %% padding", n, p)
		}
		prev = p
		classes[p] = true
	}
	// Padmé: at most 16 classes per doubling up to 2¹⁶, so 128 KiB of
	// lengths fall into fewer than 150 classes.
	if len(classes) > 150 {
		t.Errorf("%d size classes up to 128 KiB", len(classes))
	}
	for _, c := range []struct{ n, want int }{{0, 512}, {512, 512}, {513, 544}, {3000, 3072}, {3100, 3200}, {20000, 20480}} {
		if got := paddedLen(c.n); got != c.want {
			t.Errorf("paddedLen(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	b := padJSON([]byte(`{"a":1}`))
	if len(b) != minPadded || strings.TrimRight(string(b), " ") != `{"a":1}` {
		t.Errorf("padJSON = %q", b)
	}
}

// TestEnvelopeLengthsPadded: records whose lengths differ within a size
// class have envelopes of one length, and stock age with a recovery
// identity opens them to the JSON followed by spaces.
func TestEnvelopeLengthsPadded(t *testing.T) {
	rec, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := initVault(t, InitOptions{Recovery: []string{rec.Recipient().String()}})
	v := openVault(t, dir, Options{})
	raw := func(key string) []byte { return storedValue(t, v, key) }
	open := func(ct []byte) []byte {
		t.Helper()
		pt, err := ageDecrypt(ct, rec)
		if err != nil {
			t.Fatal(err)
		}
		return pt
	}
	var contentLens, identityLens, jsonLens []int
	for i, k := range []int{925, 935, 945} {
		in := samplePetition()
		in.Content = strings.Repeat("工", k)
		in.Petitioner.Address = strings.Repeat("路", 3*i+1)
		c, err := v.CreatePetition(in, nil, entry("petition.create"))
		if err != nil {
			t.Fatal(err)
		}
		ct := raw("p/" + c.Meta.ID + "/c")
		pt := open(ct)
		body := strings.TrimRight(string(pt), " ")
		var got Content
		if err := json.Unmarshal(pt, &got); err != nil || got.Content != in.Content {
			t.Fatalf("recovered content: %v", err)
		}
		if len(pt) != paddedLen(len(body)) {
			t.Errorf("content plaintext of %d bytes padded to %d, want %d", len(body), len(pt), paddedLen(len(body)))
		}
		contentLens, jsonLens = append(contentLens, len(ct)), append(jsonLens, len(body))
		idb := raw("p/" + c.Meta.ID + "/i")
		var p Petitioner
		if err := json.Unmarshal(open(idb), &p); err != nil || p.Address != in.Petitioner.Address {
			t.Fatalf("recovered identity %+v: %v", p, err)
		}
		identityLens = append(identityLens, len(idb))
		if got, err := v.OpenContent(c.Meta.ID); err != nil || got.Content != in.Content {
			t.Errorf("OpenContent: %v", err)
		}
	}
	if paddedLen(jsonLens[0]) != paddedLen(jsonLens[2]) || jsonLens[0] == jsonLens[2] {
		t.Fatalf("the test's contents (%v bytes of JSON) are not distinct lengths of one class", jsonLens)
	}
	if contentLens[0] != contentLens[1] || contentLens[1] != contentLens[2] {
		t.Errorf("content envelopes of %v bytes of JSON are %v bytes long: the lengths show", jsonLens, contentLens)
	}
	if identityLens[0] != identityLens[1] || identityLens[1] != identityLens[2] {
		t.Errorf("identity envelopes of different addresses are %v bytes long", identityLens)
	}

	// A record sealed before padding is padded when a rotation re-seals it.
	old, err := v.seal([]byte(`{"text":"旧的答复"}`))
	if err != nil {
		t.Fatal(err)
	}
	resealed, err := v.reseal([]byte("cx/x"), old)
	if err != nil {
		t.Fatal(err)
	}
	if pt := open(resealed); len(pt) != minPadded || strings.TrimRight(string(pt), " ") != `{"text":"旧的答复"}` {
		t.Errorf("re-sealed record opens to %d bytes %q…", len(pt), pt[:min(len(pt), 40)])
	}
}
