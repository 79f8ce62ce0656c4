package vault

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"pvault/analysis"
)

func bcIDs(c *bucketCache, band int, key uint64) ([]string, bool) {
	var ids []string
	ok := c.lookup(band, key, func(id string) { ids = append(ids, id) })
	return ids, ok
}

func TestBucketCache(t *testing.T) {
	var c bucketCache
	if _, ok := bcIDs(&c, 1, 7); ok {
		t.Fatal("lookup in an empty cache")
	}
	if !c.begin(1, 7) || c.begin(1, 7) {
		t.Fatal("begin: want true once, then false while loading")
	}
	if _, ok := bcIDs(&c, 1, 7); ok {
		t.Error("a bucket being loaded answered a lookup")
	}
	// Adds while loading are kept: "c" landed before the snapshot (so the
	// store has it too), "d" after.
	var bands [analysis.Bands]uint64
	bands[1] = 7
	c.add(&bands, "c")
	c.add(&bands, "d")
	c.finish(1, 7, []string{"c", "b", "a"}) // newest first, as the store reads
	ids, ok := bcIDs(&c, 1, 7)
	if !ok || !slices.Equal(ids, []string{"d", "c", "b", "a"}) {
		t.Fatalf("after finish %v %v, want [d c b a]", ids, ok)
	}
	// Other bands of the same petition are not cached: nothing is made up.
	if _, ok := bcIDs(&c, 0, 0); ok {
		t.Error("band 0 cached without a load")
	}
	// Adds keep the newest maxPerBand.
	for i := range maxPerBand {
		c.add(&bands, fmt.Sprintf("n%02d", i))
	}
	ids, _ = bcIDs(&c, 1, 7)
	if len(ids) != maxPerBand || ids[0] != fmt.Sprintf("n%02d", maxPerBand-1) || ids[len(ids)-1] != "n00" {
		t.Errorf("after %d adds: %d ids, %v … %v", maxPerBand, len(ids), ids[0], ids[len(ids)-1])
	}
	// A failed load is forgotten and can be retried.
	if !c.begin(2, 9) {
		t.Fatal("begin 2/9")
	}
	c.abandon(2, 9)
	if _, ok := bcIDs(&c, 2, 9); ok || !c.begin(2, 9) {
		t.Error("abandoned load still registered")
	}
	// A full cache is emptied; a load it dropped finishes without effect.
	for i := range maxCachedBuckets {
		c.begin(3, uint64(i))
	}
	c.finish(2, 9, []string{"x"})
	if _, ok := bcIDs(&c, 1, 7); ok {
		t.Error("cache not emptied when full")
	}
	if _, ok := bcIDs(&c, 2, 9); ok {
		t.Error("a load begun before the cache was emptied was kept")
	}
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
