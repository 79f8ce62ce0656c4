package vault

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func TestTitleCache(t *testing.T) {
	var c titleCache
	if _, ok := c.get("01JWNBG8M0TYP3S01YJY0M683C"); ok {
		t.Fatal("an empty cache answered")
	}
	const id, other = "01JWNBG8M0TYP3S01YJY0M683C", "01JWNBG8M0ZH73QW5BSHCR777J"
	title := "关于某项目拖欠农民工工资的信访"
	c.put(id, title)
	if got, ok := c.get(id); !ok || got != title {
		t.Fatalf("get = %q, %v; want %q", got, ok, title)
	}
	if _, ok := c.get(other); ok {
		t.Fatal("another id answered")
	}
	// The title rests sealed, and bound to its id: an entry moved to
	// another id does not open.
	c.mu.Lock()
	sealed := c.m[id]
	c.m[other] = sealed
	c.mu.Unlock()
	if bytes.Contains(sealed, []byte(title)) || bytes.Contains(sealed, []byte("拖欠")) {
		t.Fatal("the cached title is in the clear")
	}
	if _, ok := c.get(other); ok {
		t.Fatal("an entry moved to another id opened")
	}
	// Each put seals under a fresh nonce.
	c.put(id, title)
	c.mu.RLock()
	again := c.m[id]
	c.mu.RUnlock()
	if bytes.Equal(again[:titleNonceSize], sealed[:titleNonceSize]) {
		t.Fatal("a nonce was used twice")
	}
	// Two caches have different keys.
	var d titleCache
	d.init()
	if _, err := d.aead.Open(nil, sealed[:titleNonceSize], sealed[titleNonceSize:], []byte(id)); err == nil {
		t.Fatal("another cache's key opened the entry")
	}
	c.reset()
	if _, ok := c.get(id); ok || c.len() != 0 {
		t.Fatal("reset left entries")
	}
}

func TestTitleCacheBound(t *testing.T) {
	var c titleCache
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range maxCachedTitles {
				id := fmt.Sprintf("%02d%024d", g, i)
				c.put(id, fmt.Sprintf("title %d", i))
				if got, ok := c.get(id); ok && got != fmt.Sprintf("title %d", i) {
					t.Errorf("get(%s) = %q", id, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > maxCachedTitles || n < maxCachedTitles/2 {
		t.Fatalf("the cache holds %d titles, bound %d", n, maxCachedTitles)
	}
}
