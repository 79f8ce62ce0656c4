package vault

import (
	"bytes"
	"strings"
	"testing"

	"pvault/vault/store"
)

func TestSealedCacheBounds(t *testing.T) {
	var c sealedCache
	ct := bytes.Repeat([]byte{7}, 4<<10)
	c.put("a", ct)
	ct[0] = 8 // the cache keeps its own copy
	if got, ok := c.get("a"); !ok || got.ct[0] != 7 || len(got.ct) != 4<<10 {
		t.Fatalf("get(a) = %v, %v", got, ok)
	}
	c.put("a", ct[:100]) // replaced: counted once
	if c.bytes != 100 {
		t.Errorf("bytes = %d after replacing, want 100", c.bytes)
	}
	c.put("big", make([]byte, maxSealedEnvelope+1))
	if _, ok := c.get("big"); ok {
		t.Error("an envelope over maxSealedEnvelope was cached")
	}
	for i := 0; c.bytes+maxSealedEnvelope <= maxSealedBytes; i++ {
		c.put(strings.Repeat("x", i+1), make([]byte, maxSealedEnvelope))
	}
	before := c.bytes
	c.put("last", make([]byte, maxSealedEnvelope))
	if c.bytes != maxSealedEnvelope || len(c.m) != 1 || before <= maxSealedEnvelope {
		t.Errorf("full cache not emptied: %d bytes, %d entries (before %d)", c.bytes, len(c.m), before)
	}
	c.drop("last")
	c.drop("missing")
	if c.bytes != 0 || len(c.m) != 0 {
		t.Errorf("after drop: %d bytes, %d entries", c.bytes, len(c.m))
	}
}

func TestContentKeyID(t *testing.T) {
	for k, want := range map[string]string{"p/abc/c": "abc", "p/abc/m": "", "p//c": "", "p/a/b/c": "", "x/abc/c": "", "p/abc/e/c": ""} {
		id, ok := contentKeyID([]byte(k))
		if ok != (want != "") || id != want {
			t.Errorf("contentKeyID(%q) = %q, %v", k, id, ok)
		}
	}
}

// TestSealedCacheReads: a read caches the envelope; a write of the content
// key drops it; an envelope that no longer opens is dropped and the store
// read instead.
func TestSealedCacheReads(t *testing.T) {
	v := newTestVault(t, nil)
	in := samplePetition()
	p, err := v.CreatePetition(in, nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	id := p.Meta.ID
	check := func() {
		t.Helper()
		c, err := v.OpenContent(id)
		if err != nil || c.Content != in.Content {
			t.Fatalf("OpenContent = %+v, %v", c, err)
		}
	}
	check()
	cached, ok := v.sealed.get(id)
	if !ok {
		t.Fatal("a read did not cache the envelope")
	}
	stored := cached.ct
	// A write of the content key through the vault's store drops it.
	if err := v.st.Update(func(tx store.Tx) error { return tx.Set(contentKey(id), stored) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.sealed.get(id); ok {
		t.Error("writing the content key left the cached envelope")
	}
	check()
	// An envelope that does not open (sealed to a key since rotated out,
	// say) is dropped, and the store's opens.
	v.sealed.put(id, []byte("age-encryption.org/v1\n-> X25519 stale\n--- x\n"))
	check()
	if got, ok := v.sealed.get(id); !ok || !bytes.Equal(got.ct, stored) {
		t.Error("the stale envelope was not replaced by the store's")
	}
	for range 2 {
		raw, err := v.OpenContentRaw(id)
		if err != nil || raw.Raw == nil {
			t.Fatalf("OpenContentRaw from the cache: %+v, %v", raw, err)
		}
		raw.Release()
		if e, ok := v.sealed.get(id); !ok || !e.utf8OK.Load() {
			t.Error("a raw read did not note the plaintext's UTF-8 checked")
		}
	}
}

// TestSealedCacheInvalidUTF8: a record with invalid UTF-8 (the vault writes
// none) is decoded by encoding/json, never copied raw, and its envelope is
// not noted as checked, however often it is read from the cache.
func TestSealedCacheInvalidUTF8(t *testing.T) {
	v := newTestVault(t, nil)
	p, err := v.CreatePetition(samplePetition(), nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	id := p.Meta.ID
	ct, err := v.sealJSON([]byte(`{"title":"t","content":"bad ` + "\xff" + ` byte","requests":"","subjects":[],"masked":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.st.Update(func(tx store.Tx) error { return tx.Set(contentKey(id), ct) }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := v.OpenContentRaw(id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Raw != nil || c.Content != "bad � byte" {
			t.Fatalf("OpenContentRaw = raw %v, content %q; want it decoded", c.Raw, c.Content)
		}
		if e, ok := v.sealed.get(id); !ok || e.utf8OK.Load() {
			t.Fatalf("cached %v, noted checked %v", ok, ok && e.utf8OK.Load())
		}
	}
}
