package vault

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/analysis"
	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

// bcIDs lists a cached bucket's ids, newest first, as the labels tp made
// them from.
func bcIDs(c *bucketCache, band int, key uint64) ([]string, bool) {
	var ids []string
	ok := c.lookup(band, key, func(id pid) { ids = append(ids, strings.TrimRight(string(id[:]), "\x00")) })
	return ids, ok
}

// tp is a test id with label s (up to 16 bytes).
func tp(s string) pid {
	var id pid
	copy(id[:], s)
	return id
}

func tps(labels ...string) []pid {
	var ids []pid
	for _, s := range labels {
		ids = append(ids, tp(s))
	}
	return ids
}

func TestBucketCache(t *testing.T) {
	var c bucketCache
	if _, ok := bcIDs(&c, 1, 7); ok {
		t.Fatal("lookup in an empty cache")
	}
	reg := c.begin(1, 7)
	if reg == nil || c.begin(1, 7) != nil {
		t.Fatal("begin: want a registration once, then none while loading")
	}
	if _, ok := bcIDs(&c, 1, 7); ok {
		t.Error("a bucket being loaded answered a lookup")
	}
	// Adds while loading are kept: "c" landed before the snapshot (so the
	// store has it too), "d" after.
	var bands [analysis.Bands]uint64
	bands[1] = 7
	c.add(&bands, tp("c"))
	c.add(&bands, tp("d"))
	c.finish(1, 7, reg, tps("c", "b", "a")) // newest first, as the store reads
	ids, ok := bcIDs(&c, 1, 7)
	if !ok || !slices.Equal(ids, []string{"d", "c", "b", "a"}) {
		t.Fatalf("after finish %v %v, want [d c b a]", ids, ok)
	}
	// A petition whose commit the loaded snapshot already held adds itself
	// after the load: it is not listed twice (nor counted twice).
	c.add(&bands, tp("b"))
	c.add(&bands, tp("d"))
	if ids, _ := bcIDs(&c, 1, 7); !slices.Equal(ids, []string{"d", "c", "b", "a"}) {
		t.Fatalf("after adds of ids the bucket holds: %v, want [d c b a]", ids)
	}
	checkCount(t, &c)
	// Other bands of the same petition are not cached: nothing is made up.
	if _, ok := bcIDs(&c, 0, 0); ok {
		t.Error("band 0 cached without a load")
	}
	// Adds keep the newest maxPerBand.
	for i := range maxPerBand {
		c.add(&bands, tp(fmt.Sprintf("n%02d", i)))
	}
	ids, _ = bcIDs(&c, 1, 7)
	if len(ids) != maxPerBand || ids[0] != fmt.Sprintf("n%02d", maxPerBand-1) || ids[len(ids)-1] != "n00" {
		t.Errorf("after %d adds: %d ids, %v … %v", maxPerBand, len(ids), ids[0], ids[len(ids)-1])
	}
	// A failed load is forgotten and can be retried.
	reg = c.begin(2, 9)
	if reg == nil {
		t.Fatal("begin 2/9")
	}
	c.abandon(2, 9, reg)
	if _, ok := bcIDs(&c, 2, 9); ok {
		t.Error("abandoned load still registered")
	}
	old := c.begin(2, 9)
	if old == nil {
		t.Fatal("abandoned load cannot be begun again")
	}
	// A full cache drops a quarter of its buckets, at random.
	for i := range maxCachedBuckets - len(c.m) {
		c.finish(3, uint64(i), c.begin(3, uint64(i)), tps("x"))
	}
	if len(c.m) != maxCachedBuckets {
		t.Fatalf("%d buckets cached, want %d", len(c.m), maxCachedBuckets)
	}
	c.begin(4, 0)
	if n := len(c.m); n != maxCachedBuckets-maxCachedBuckets/4+1 {
		t.Errorf("%d buckets after the cache filled, want %d", n, maxCachedBuckets-maxCachedBuckets/4+1)
	}
	// A load whose registration was dropped, and begun again by another
	// lookup, does not complete the newer registration: adds may have gone
	// to the dropped one.
	// Each round fills the cache with new buckets and begins one more,
	// which drops a random quarter.
	for fresh, round := uint64(0), 0; c.m[bucketID{2, 9}] == old; round++ {
		if round == 200 {
			t.Fatal("a quarter dropped 200 times never took 2/9")
		}
		for len(c.m) < maxCachedBuckets {
			c.begin(5, fresh)
			fresh++
		}
		c.begin(5, fresh)
		fresh++
	}
	newer := c.begin(2, 9)
	c.finish(2, 9, old, tps("x"))
	if _, ok := bcIDs(&c, 2, 9); ok {
		t.Error("a dropped load completed a newer registration")
	}
	c.finish(2, 9, newer, tps("y"))
	if ids, ok := bcIDs(&c, 2, 9); !ok || !slices.Equal(ids, []string{"y"}) {
		t.Errorf("newer registration: %v %v", ids, ok)
	}
	checkCount(t, &c)
}

// checkCount checks the cache's count of the ids it holds.
func checkCount(t *testing.T, c *bucketCache) {
	t.Helper()
	n := 0
	for _, b := range c.m {
		n += len(b.ids)
	}
	if n != c.n {
		t.Errorf("cache counts %d ids, holds %d", c.n, n)
	}
}

// TestBucketCacheIDBound: full buckets fill the cache's id budget before
// its bucket count, and it then drops buckets too.
func TestBucketCacheIDBound(t *testing.T) {
	var c bucketCache
	full := make([]pid, maxPerBand)
	for i := range full {
		full[i] = tp(fmt.Sprintf("id%02d", i))
	}
	var bands [analysis.Bands]uint64
	for i := 0; c.n < maxCachedIDs; i++ {
		c.finish(0, uint64(i), c.begin(0, uint64(i)), full)
		bands[0] = uint64(i)
		c.add(&bands, tp("new")) // trims the oldest: the count stays
	}
	checkCount(t, &c)
	before := len(c.m)
	if before >= maxCachedBuckets {
		t.Fatalf("%d buckets: the id budget was not reached first", before)
	}
	c.begin(1, 0)
	if len(c.m) != before-before/4+1 {
		t.Errorf("%d buckets after the id budget was reached, want %d", len(c.m), before-before/4+1)
	}
	if c.n >= maxCachedIDs {
		t.Errorf("still %d ids", c.n)
	}
	checkCount(t, &c)
	c.abandon(1, 0, c.m[bucketID{1, 0}])
	checkCount(t, &c)
}

// TestBucketCacheConcurrentCreates: petitions on the same matter created
// at the same time, while their buckets are being loaded into the cache,
// are all found by the next one (the newest maxDups of them, as the store
// holds them).
func TestBucketCacheConcurrentCreates(t *testing.T) {
	a := anOpen(t)
	first := a.create(t, anPetition(anWageTitle, anWage, "", ""))
	const n = 40
	_ = first
	var again []string // the ids of the petitions with anWageAgain's text
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := anWage
			if i%2 == 1 {
				text = anWageAgain
			}
			c, err := a.v.CreatePetition(anPetition(anWageTitle, text, "", ""), a.reg, anEntry("petition.create"))
			if err != nil {
				t.Error(err)
				return
			}
			if text == anWageAgain {
				mu.Lock()
				again = append(again, c.Meta.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	last := a.create(t, anPetition(anWageTitle, anWageAgain, "", ""))
	// The same text (similarity 1) ranks above the edited one: the newest
	// maxDups petitions with anWageAgain's text, by id.
	sort.Sort(sort.Reverse(sort.StringSlice(again)))
	want := again[:maxDups]
	got := anDupIDs(last.Duplicates)
	if !slices.Equal(got, want) {
		t.Errorf("duplicates of the last petition\n got %v\nwant %v", got, want)
	}
}

// TestSigCache: a committed create's signature is cached, a failed one's is
// not; signatures read from the store are cached; a full cache drops a
// quarter.
func TestSigCache(t *testing.T) {
	var c sigCache
	var s analysis.Signature
	for i := range maxCachedSigs {
		c.put(fmt.Sprint(i), &s)
	}
	if len(c.m) != maxCachedSigs {
		t.Fatalf("%d cached", len(c.m))
	}
	c.put("one more", &s)
	if n := len(c.m); n != maxCachedSigs-maxCachedSigs/4+1 {
		t.Errorf("%d cached after the cache filled, want %d", n, maxCachedSigs-maxCachedSigs/4+1)
	}
	if got, ok := c.get("one more"); !ok || got != &s {
		t.Error("the newest signature was dropped")
	}

	var faulty *storetest.Faulty
	opts := Options{Store: func(st store.Store) store.Store {
		faulty = storetest.NewFaulty(st)
		return faulty
	}}
	dir := initVault(t, InitOptions{Options: opts})
	v := openVault(t, dir, opts)
	first, err := v.CreatePetition(anPetition(anWageTitle, anWage, "", ""), nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.sigs.get(first.Meta.ID); !ok {
		t.Error("a committed create's signature is not cached")
	}
	faulty.Fail(storetest.FailCommit)
	_, err = v.CreatePetition(anPetition(anWageTitle, anWageAgain, "", ""), nil, entry("petition.create"))
	faulty.Clear()
	if err == nil {
		t.Fatal("create succeeded through a failing commit")
	}
	for id := range v.sigs.m {
		if id != first.Meta.ID {
			t.Errorf("a failed create's signature %s was cached", id)
		}
	}
	// Emptied, the cache fills from the store's reads.
	v.sigs = sigCache{}
	again, err := v.CreatePetition(anPetition(anWageTitle, anWageAgain, "", ""), nil, entry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Meta.Duplicates) == 0 || again.Meta.Duplicates[0].ID != first.Meta.ID {
		t.Fatalf("duplicates %+v, want %s", again.Meta.Duplicates, first.Meta.ID)
	}
	if _, ok := v.sigs.get(first.Meta.ID); !ok {
		t.Error("a signature read from the store is not cached")
	}
}

// TestBucketIDsDamaged: keys of an id's length that hold no id are passed
// over, yet counted, so that a damaged bucket is read no further than a
// full one; the marker is found whatever follows it.
func TestBucketIDsDamaged(t *testing.T) {
	st := store.NewMem()
	var g idGen
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	good := []string{g.next(now), g.next(now)}
	err := st.Update(func(tx store.Tx) error {
		if err := tx.Set(dupBucket(3, 42), nil); err != nil { // the marker
			return err
		}
		// Lower-case letters invert below every id's first digit: these
		// sort before the good keys.
		for i := range maxPerBand + 10 {
			bad := fmt.Sprintf("z%025d", i)
			if err := tx.Set(dupKey(3, 42, bad), nil); err != nil {
				return err
			}
		}
		for _, id := range good {
			if err := tx.Set(dupKey(3, 42, id), nil); err != nil {
				return err
			}
		}
		return tx.Set(dupKey(3, 43, good[0]), nil) // another bucket, unmarked
	})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(r store.Reader) error {
		ids, marked, err := bucketIDs(r, dupBucket(3, 42))
		if err != nil || !marked || len(ids) != 0 {
			t.Errorf("damaged bucket: ids %v, marked %v, %v; want none, marked, read no further than %d keys", ids, marked, err, maxPerBand)
		}
		ids, marked, err = bucketIDs(r, dupBucket(3, 43))
		if err != nil || marked || len(ids) != 1 || ids[0].String() != good[0] {
			t.Errorf("unmarked bucket: ids %v, marked %v, %v", ids, marked, err)
		}
		return nil
	})
}
