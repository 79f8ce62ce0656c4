// Package storetest is a conformance suite for implementations of
// [store.Store], in the manner of sumdb's storage test: every implementation
// runs the same [Run], so the in-memory store used by tests cannot drift from
// the badger store used in production.
//
// The suite checks the contract documented in package store and nothing more:
// Get of a missing key, round trips of empty values and binary keys, Delete,
// all-or-nothing Updates, reads of an Update's own writes, reads of committed
// state only, ordered and bounded Scans, [store.Apply], concurrent Updates and
// the behaviour after Close. It does no I/O of its own and times nothing.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"pvault/vault/store"
)

// errBoom is what failing callbacks return.
var errBoom = errors.New("storetest: callback failed")

// Run runs the conformance suite as subtests of t.
//
// newStore must return a new, empty, open store each time it is called. It
// should register the store's cleanup with t.Cleanup; that cleanup must
// tolerate a store the suite has already closed.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tt := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"SetGet", testSetGet},
		{"Overwrite", testOverwrite},
		{"GetReturnsCopy", testGetReturnsCopy},
		{"GetView", testGetView},
		{"Delete", testDelete},
		{"UpdateAtomic", testUpdateAtomic},
		{"UpdateReadsOwnWrites", testUpdateReadsOwnWrites},
		{"ViewSeesCommittedOnly", testViewSeesCommittedOnly},
		{"ViewSeesWholeUpdates", testViewSeesWholeUpdates},
		{"Scan", testScan},
		{"ScanLongFFKeys", testScanLongFFKeys},
		{"ScanStop", testScanStop},
		{"ScanError", testScanError},
		{"Apply", testApply},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Close", testClose},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, newStore(t)) })
	}
}

// testGetView: store.GetView lends the value for the call, reports a
// missing key as ErrNotFound and returns the callback's error.
func testGetView(t *testing.T, s store.Store) {
	set(t, s, map[string]string{"k": "value"})
	err := s.View(func(r store.Reader) error {
		var got string
		if err := store.GetView(r, []byte("k"), func(v []byte) error { got = string(v); return nil }); err != nil {
			return err
		}
		if got != "value" {
			t.Errorf("GetView lent %q, want %q", got, "value")
		}
		called := false
		if err := store.GetView(r, []byte("missing"), func([]byte) error { called = true; return nil }); !errors.Is(err, store.ErrNotFound) || called {
			t.Errorf("GetView(missing) = %v (callback called: %v), want ErrNotFound", err, called)
		}
		if err := store.GetView(r, []byte("k"), func([]byte) error { return errBoom }); !errors.Is(err, errBoom) {
			t.Errorf("GetView with a failing callback = %v, want its error", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// set writes key/value pairs in one Update.
func set(tb testing.TB, s store.Store, kv map[string]string) {
	tb.Helper()
	err := s.Update(func(tx store.Tx) error {
		for k, v := range kv {
			if err := tx.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("Update(set %d keys): %v", len(kv), err)
	}
}

// reset makes kv the whole content of s.
func reset(tb testing.TB, s store.Store, kv map[string]string) {
	tb.Helper()
	err := s.Update(func(tx store.Tx) error {
		var keys [][]byte
		err := tx.Scan(store.ScanOptions{KeysOnly: true}, func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for k, v := range kv {
			if err := tx.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("Update(reset): %v", err)
	}
}

// dump returns the whole content of s, read with a forward Scan.
func dump(tb testing.TB, s store.Store) map[string]string {
	tb.Helper()
	m := make(map[string]string)
	err := s.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			m[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		tb.Fatalf("View(dump): %v", err)
	}
	return m
}

// wantContent fails tb unless s holds exactly want, checked both by a full
// Scan and by a Get of every wanted key.
func wantContent(tb testing.TB, s store.Store, want map[string]string) {
	tb.Helper()
	got := dump(tb, s)
	if !mapsEqual(got, want) {
		tb.Errorf("store holds %s, want %s", fmtMap(got), fmtMap(want))
	}
	for k, v := range want {
		if got, err := get(s, k); err != nil || got != v {
			tb.Errorf("Get(%q) = %q, %v; want %q, nil", k, got, err, v)
		}
	}
}

// get reads key in a View.
func get(s store.Store, key string) (string, error) {
	var v []byte
	err := s.View(func(r store.Reader) error {
		var err error
		v, err = r.Get([]byte(key))
		return err
	})
	return string(v), err
}

// wantMissing fails tb unless Get of key returns an error wrapping
// store.ErrNotFound.
func wantMissing(tb testing.TB, s store.Store, key string) {
	tb.Helper()
	if v, err := get(s, key); !errors.Is(err, store.ErrNotFound) {
		tb.Errorf("Get(%q) = %q, %v; want error wrapping store.ErrNotFound", key, v, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// fmtMap formats m with sorted, quoted keys so failures are readable.
func fmtMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		v := m[k]
		if len(v) > 32 {
			v = v[:32] + "..."
		}
		fmt.Fprintf(&b, "%q: %q", k, v)
	}
	b.WriteByte('}')
	return b.String()
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "missing")
	// Neighbours of the key must not be mistaken for it.
	set(t, s, map[string]string{"missin": "1", "missingx": "2", "missing\x00": "3"})
	wantMissing(t, s, "missing")
	err := s.Update(func(tx store.Tx) error {
		_, err := tx.Get([]byte("missing"))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get in Update = %v, want error wrapping store.ErrNotFound", err)
	}
}

func testSetGet(t *testing.T, s store.Store) {
	for _, tt := range []struct {
		name       string
		key, value string
	}{
		{"ascii", "key", "value"},
		{"empty value", "empty", ""},
		{"zero byte key", "\x00", "zero"},
		{"zero bytes inside key", "a\x00\x00b", "v"},
		{"0xfe key", "\xfe", "v"},
		{"0xff key", "\xff\xff", "v"},
		{"binary key and value", "k\x00\x01\xfe\xff", "\x00\xff\x00"},
		{"long key", string(bytes.Repeat([]byte{'k'}, 1000)), "v"},
		{"large value", "large", string(bytes.Repeat([]byte("0123456789abcdef"), 4096))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set(t, s, map[string]string{tt.key: tt.value})
			var got []byte
			err := s.View(func(r store.Reader) error {
				var err error
				got, err = r.Get([]byte(tt.key))
				return err
			})
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.key, err)
			}
			if !bytes.Equal(got, []byte(tt.value)) {
				t.Errorf("Get(%q) = %q (%d bytes), want %q (%d bytes)", tt.key, got, len(got), tt.value, len(tt.value))
			}
		})
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	for _, v := range []string{"one", "two", "", "three"} {
		set(t, s, map[string]string{"k": v})
		wantContent(t, s, map[string]string{"k": v})
	}
}

func testGetReturnsCopy(t *testing.T, s store.Store) {
	buf := []byte("original")
	err := s.Update(func(tx store.Tx) error { return tx.Set([]byte("k"), buf) })
	if err != nil {
		t.Fatal(err)
	}
	// The store must not keep the caller's buffer past the Update.
	copy(buf, "XXXXXXXX")
	var got []byte
	err = s.View(func(r store.Reader) error {
		var err error
		got, err = r.Get([]byte("k"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Fatalf("Get after the caller reused its buffer = %q, want %q", got, "original")
	}
	// Nor may Get hand out its own memory.
	copy(got, "YYYYYYYY")
	if v, err := get(s, "k"); err != nil || v != "original" {
		t.Errorf("Get after the caller changed a returned value = %q, %v; want %q", v, err, "original")
	}
}

func testDelete(t *testing.T, s store.Store) {
	set(t, s, map[string]string{"a": "1", "a/b": "2", "b": "3", "\x00": "4"})
	for _, k := range []string{"a", "\x00"} {
		if err := s.Update(func(tx store.Tx) error { return tx.Delete([]byte(k)) }); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		wantMissing(t, s, k)
	}
	wantContent(t, s, map[string]string{"a/b": "2", "b": "3"})
	if err := s.Update(func(tx store.Tx) error { return tx.Delete([]byte("never-set")) }); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil", err)
	}
	set(t, s, map[string]string{"a": "again"})
	wantContent(t, s, map[string]string{"a": "again", "a/b": "2", "b": "3"})
}

func testUpdateAtomic(t *testing.T, s store.Store) {
	before := map[string]string{"keep": "1", "over": "old", "del": "x", "p/1": "a", "p/2": "b"}
	for _, tt := range []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"set new key", func(tx store.Tx) error { return tx.Set([]byte("new"), []byte("n")) }},
		{"overwrite", func(tx store.Tx) error { return tx.Set([]byte("over"), []byte("new")) }},
		{"overwrite with empty", func(tx store.Tx) error { return tx.Set([]byte("over"), nil) }},
		{"delete", func(tx store.Tx) error { return tx.Delete([]byte("del")) }},
		{"set then delete new key", func(tx store.Tx) error {
			if err := tx.Set([]byte("new"), []byte("n")); err != nil {
				return err
			}
			if err := tx.Set([]byte("new2"), []byte("n")); err != nil {
				return err
			}
			return tx.Delete([]byte("new"))
		}},
		{"delete then set", func(tx store.Tx) error {
			if err := tx.Delete([]byte("del")); err != nil {
				return err
			}
			return tx.Set([]byte("del"), []byte("y"))
		}},
		{"overwrite twice", func(tx store.Tx) error {
			if err := tx.Set([]byte("over"), []byte("1")); err != nil {
				return err
			}
			return tx.Set([]byte("over"), []byte("2"))
		}},
		{"delete everything", func(tx store.Tx) error {
			for k := range before {
				if err := tx.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"mixed apply", func(tx store.Tx) error {
			return store.Apply(tx, []store.Op{
				store.Put([]byte("new"), []byte("n")),
				store.Del([]byte("p/1")),
				store.Put([]byte("p/2"), []byte("changed")),
				store.Put([]byte("p/3"), []byte("c")),
				store.Del([]byte("keep")),
			})
		}},
		{"many keys", func(tx store.Tx) error {
			for i := range 200 {
				if err := tx.Set(fmt.Appendf(nil, "many/%03d", i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset(t, s, before)
			err := s.Update(func(tx store.Tx) error {
				if err := tt.fn(tx); err != nil {
					return fmt.Errorf("writes before the failure: %w", err)
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Errorf("Update = %v, want the callback's error", err)
			}
			wantContent(t, s, before)
			// The same writes commit when fn succeeds: the store is usable
			// after a failed Update.
			if err := s.Update(tt.fn); err != nil {
				t.Fatalf("Update after a failed one: %v", err)
			}
			if got := dump(t, s); mapsEqual(got, before) {
				t.Errorf("successful Update changed nothing: store holds %s", fmtMap(got))
			}
		})
	}
}

func testUpdateReadsOwnWrites(t *testing.T, s store.Store) {
	set(t, s, map[string]string{"old": "1", "gone": "x", "p/1": "a", "p/3": "c"})
	err := s.Update(func(tx store.Tx) error {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		wantGet := func(key, want string) {
			t.Helper()
			got, err := tx.Get([]byte(key))
			if err != nil || string(got) != want {
				t.Errorf("Get(%q) in Update = %q, %v; want %q, nil", key, got, err, want)
			}
		}
		wantScan := func(opts store.ScanOptions, want ...string) {
			t.Helper()
			var got []string
			err := tx.Scan(opts, func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Scan(%+v) in Update = %q, %v; want %q, nil", opts, got, err, want)
			}
		}

		must(tx.Set([]byte("new"), []byte("n")))
		wantGet("new", "n")
		must(tx.Set([]byte("old"), []byte("2")))
		wantGet("old", "2")
		must(tx.Set([]byte("old"), []byte("3")))
		wantGet("old", "3")
		must(tx.Delete([]byte("gone")))
		if v, err := tx.Get([]byte("gone")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of a key deleted in this Update = %q, %v; want store.ErrNotFound", v, err)
		}

		must(tx.Set([]byte("p/2"), []byte("b")))
		must(tx.Delete([]byte("p/1")))
		must(tx.Set([]byte("p/3"), []byte("C")))
		must(tx.Set([]byte("p/0"), []byte("z")))
		wantScan(store.ScanOptions{Prefix: []byte("p/")}, "p/0=z", "p/2=b", "p/3=C")
		wantScan(store.ScanOptions{Prefix: []byte("p/"), Reverse: true}, "p/3=C", "p/2=b", "p/0=z")
		wantScan(store.ScanOptions{Prefix: []byte("p/"), Start: []byte("p/1")}, "p/2=b", "p/3=C")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantContent(t, s, map[string]string{"new": "n", "old": "3", "p/0": "z", "p/2": "b", "p/3": "C"})
}

func testViewSeesCommittedOnly(t *testing.T, s store.Store) {
	set(t, s, map[string]string{"k": "committed"})
	wantContent(t, s, map[string]string{"k": "committed"})

	// A View running while an Update is open, or after it failed, must see
	// none of that Update's writes. A store may run the View concurrently or
	// make it wait; either way it must not see them.
	type result struct {
		k, fresh string
		err      error
	}
	seen := make(chan result, 1)
	err := s.Update(func(tx store.Tx) error {
		if err := tx.Set([]byte("k"), []byte("uncommitted")); err != nil {
			return err
		}
		if err := tx.Set([]byte("fresh"), []byte("uncommitted")); err != nil {
			return err
		}
		go func() {
			var r result
			r.err = s.View(func(rd store.Reader) error {
				k, err := rd.Get([]byte("k"))
				if err != nil {
					return err
				}
				r.k = string(k)
				if v, err := rd.Get([]byte("fresh")); err == nil {
					r.fresh = string(v)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return nil
			})
			seen <- r
		}()
		// More writes while the View may be running.
		for i := range 20 {
			if err := tx.Set(fmt.Appendf(nil, "more/%d", i), []byte("uncommitted")); err != nil {
				return err
			}
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the callback's error", err)
	}
	r := <-seen
	if r.err != nil || r.k != "committed" || r.fresh != "" {
		t.Errorf("View during a failing Update saw k=%q fresh=%q err=%v; want k=%q, no fresh, nil",
			r.k, r.fresh, r.err, "committed")
	}
	wantContent(t, s, map[string]string{"k": "committed"})
}

// testViewSeesWholeUpdates runs readers against a writer whose every Update
// sets "x" and "y" to the same value; no View may see them differ.
func testViewSeesWholeUpdates(t *testing.T, s store.Store) {
	const updates = 40
	set(t, s, map[string]string{"x": "0", "y": "0"})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var x, y []byte
				err := s.View(func(r store.Reader) error {
					var err error
					if x, err = r.Get([]byte("x")); err != nil {
						return err
					}
					// Read y through a Scan so both read paths are covered.
					return r.Scan(store.ScanOptions{Prefix: []byte("y")}, func(_, v []byte) error {
						y = bytes.Clone(v)
						return store.ErrStop
					})
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
				if !bytes.Equal(x, y) {
					t.Errorf("View saw x=%q y=%q, a partly applied Update", x, y)
					return
				}
			}
		})
	}
	for i := 1; i <= updates; i++ {
		v := []byte(strconv.Itoa(i))
		err := s.Update(func(tx store.Tx) error {
			if err := tx.Set([]byte("x"), v); err != nil {
				return err
			}
			return tx.Set([]byte("y"), v)
		})
		if err != nil {
			t.Errorf("Update %d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	want := strconv.Itoa(updates)
	wantContent(t, s, map[string]string{"x": want, "y": want})
}

// scanKeys are the keys of testScan in key order; each holds "v:" + key.
var scanKeys = []string{
	"\x00",
	"\x00\x00",
	"a",
	"a/b",
	"a/b\x00",
	"a/b/c",
	"a/b/c/d",
	"a/bc",
	"a/b\xfe",
	"a/b\xff",
	"a0",
	"a\xfe",
	"a\xff",
	"b",
	"\xfe",
	"\xff",
}

// keyRange returns scanKeys[from] to scanKeys[to], both included, walking
// down when from > to.
func keyRange(from, to int) []string {
	var ks []string
	if from <= to {
		for i := from; i <= to; i++ {
			ks = append(ks, scanKeys[i])
		}
		return ks
	}
	for i := from; i >= to; i-- {
		ks = append(ks, scanKeys[i])
	}
	return ks
}

// scanCase is one Scan and the keys it must visit, in order.
type scanCase struct {
	name string
	opts store.ScanOptions
	want []string
}

func runScanCases(t *testing.T, s store.Store, cases []scanCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := s.View(func(r store.Reader) error {
				return r.Scan(tt.opts, func(k, v []byte) error {
					got = append(got, string(k))
					switch {
					case tt.opts.KeysOnly && v != nil:
						t.Errorf("KeysOnly Scan gave %q the value %q, want nil", k, v)
					case !tt.opts.KeysOnly && string(v) != "v:"+string(k):
						t.Errorf("Scan gave %q the value %q, want %q", k, v, "v:"+string(k))
					}
					return nil
				})
			})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Scan(prefix %q, start %q, reverse %v) visited\n\t%q\nwant\n\t%q",
					tt.opts.Prefix, tt.opts.Start, tt.opts.Reverse, got, tt.want)
			}
		})
	}
}

func setScanKeys(tb testing.TB, s store.Store, keys []string) {
	tb.Helper()
	kv := make(map[string]string, len(keys))
	for _, k := range keys {
		kv[k] = "v:" + k
	}
	set(tb, s, kv)
}

func testScan(t *testing.T, s store.Store) {
	if !slices.IsSorted(scanKeys) {
		t.Fatal("storetest: scanKeys out of order")
	}
	setScanKeys(t, s, scanKeys)
	last := len(scanKeys) - 1
	p := func(s string) []byte { return []byte(s) }
	runScanCases(t, s, []scanCase{
		{"all", store.ScanOptions{}, keyRange(0, last)},
		{"all reverse", store.ScanOptions{Reverse: true}, keyRange(last, 0)},
		{"all keys only", store.ScanOptions{KeysOnly: true}, keyRange(0, last)},
		{"all reverse keys only", store.ScanOptions{Reverse: true, KeysOnly: true}, keyRange(last, 0)},

		// "a/b" is a byte prefix: it holds "a/b" itself, "a/b\x00" and "a/bc".
		{"prefix a/b", store.ScanOptions{Prefix: p("a/b")}, keyRange(3, 9)},
		{"prefix a/b reverse", store.ScanOptions{Prefix: p("a/b"), Reverse: true}, keyRange(9, 3)},
		{"prefix a/b/", store.ScanOptions{Prefix: p("a/b/")}, keyRange(5, 6)},
		{"prefix a/b/ reverse", store.ScanOptions{Prefix: p("a/b/"), Reverse: true}, keyRange(6, 5)},
		{"prefix a/b/c", store.ScanOptions{Prefix: p("a/b/c")}, keyRange(5, 6)},
		{"prefix a", store.ScanOptions{Prefix: p("a")}, keyRange(2, 12)},
		{"prefix a reverse", store.ScanOptions{Prefix: p("a"), Reverse: true}, keyRange(12, 2)},
		{"prefix a/", store.ScanOptions{Prefix: p("a/")}, keyRange(3, 9)},
		{"prefix is a key without children", store.ScanOptions{Prefix: p("a0")}, []string{"a0"}},
		{"prefix a0 reverse", store.ScanOptions{Prefix: p("a0"), Reverse: true}, []string{"a0"}},
		{"prefix matches nothing", store.ScanOptions{Prefix: p("a/z")}, nil},
		{"prefix matches nothing reverse", store.ScanOptions{Prefix: p("a/z"), Reverse: true}, nil},
		{"prefix past every key", store.ScanOptions{Prefix: p("\xff\xff")}, nil},
		{"prefix past every key reverse", store.ScanOptions{Prefix: p("\xff\xff"), Reverse: true}, nil},
		{"prefix before every key", store.ScanOptions{Prefix: p("\x00\x00\x00")}, nil},
		{"prefix 0x00", store.ScanOptions{Prefix: p("\x00")}, keyRange(0, 1)},
		{"prefix 0x00 reverse", store.ScanOptions{Prefix: p("\x00"), Reverse: true}, keyRange(1, 0)},
		{"prefix ending 0xfe", store.ScanOptions{Prefix: p("a/b\xfe")}, []string{"a/b\xfe"}},
		{"prefix ending 0xfe reverse", store.ScanOptions{Prefix: p("a/b\xfe"), Reverse: true}, []string{"a/b\xfe"}},
		{"prefix ending 0xff", store.ScanOptions{Prefix: p("a\xff")}, []string{"a\xff"}},
		{"prefix ending 0xff reverse", store.ScanOptions{Prefix: p("a\xff"), Reverse: true}, []string{"a\xff"}},
		{"prefix 0xff", store.ScanOptions{Prefix: p("\xff")}, []string{"\xff"}},
		{"prefix 0xff reverse", store.ScanOptions{Prefix: p("\xff"), Reverse: true}, []string{"\xff"}},
		{"prefix keys only", store.ScanOptions{Prefix: p("a/b/"), KeysOnly: true}, keyRange(5, 6)},
		{"prefix reverse keys only", store.ScanOptions{Prefix: p("a/b/"), Reverse: true, KeysOnly: true}, keyRange(6, 5)},

		// Start is inclusive, and may fall between keys.
		{"start at a key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b/c")}, keyRange(5, 9)},
		{"start between keys", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b/c/a")}, keyRange(6, 9)},
		{"start at prefix", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b")}, keyRange(3, 9)},
		{"start at last key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b\xff")}, keyRange(9, 9)},
		{"start past last key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b\xff\x00")}, nil},
		{"start without prefix", store.ScanOptions{Start: p("a0")}, keyRange(10, last)},
		{"start keys only", store.ScanOptions{Prefix: p("a/b"), Start: p("a/bc"), KeysOnly: true}, keyRange(7, 9)},
		{"reverse start at a key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/bc"), Reverse: true}, keyRange(7, 3)},
		{"reverse start between keys", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b/c/e"), Reverse: true}, keyRange(6, 3)},
		{"reverse start at prefix", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b"), Reverse: true}, keyRange(3, 3)},
		{"reverse start at last key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b\xff"), Reverse: true}, keyRange(9, 3)},
		{"reverse start past last key", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b\xff\x00"), Reverse: true}, keyRange(9, 3)},
		{"reverse start without prefix", store.ScanOptions{Start: p("a0"), Reverse: true}, keyRange(10, 0)},
		{"reverse start at first key", store.ScanOptions{Start: p("\x00"), Reverse: true}, keyRange(0, 0)},
		{"reverse start keys only", store.ScanOptions{Prefix: p("a/b"), Start: p("a/b/c"), Reverse: true, KeysOnly: true}, keyRange(5, 3)},
	})
}

// testScanLongFFKeys covers keys that continue a prefix with a run of 0xff
// bytes, such as big-endian counters near their maximum or binary hashes.
func testScanLongFFKeys(t *testing.T, s store.Store) {
	ff := func(n int) string { return string(bytes.Repeat([]byte{0xff}, n)) }
	keys := []string{
		"p",
		"p" + ff(1),
		"p" + ff(4),
		"p" + ff(5),
		"p" + ff(5) + "\x00",
		"p" + ff(8),
		"q",
		ff(8),
	}
	setScanKeys(t, s, keys)
	runScanCases(t, s, []scanCase{
		{"prefix", store.ScanOptions{Prefix: []byte("p")}, keys[0:6]},
		{"prefix reverse", store.ScanOptions{Prefix: []byte("p"), Reverse: true}, reversed(keys[0:6])},
		{"all reverse", store.ScanOptions{Reverse: true}, reversed(keys)},
		{"prefix reverse start", store.ScanOptions{Prefix: []byte("p"), Start: []byte("p" + ff(8)), Reverse: true}, reversed(keys[0:6])},
	})
}

func reversed(ks []string) []string {
	r := slices.Clone(ks)
	slices.Reverse(r)
	return r
}

func testScanStop(t *testing.T, s store.Store) {
	keys := []string{"s/1", "s/2", "s/3", "s/4", "s/5"}
	setScanKeys(t, s, keys)
	for _, tt := range []struct {
		name    string
		reverse bool
		stopAt  int // number of keys visited, the last one returning ErrStop
		want    []string
	}{
		{"first key", false, 1, keys[:1]},
		{"middle", false, 3, keys[:3]},
		{"last key", false, 5, keys},
		{"reverse first key", true, 1, []string{"s/5"}},
		{"reverse middle", true, 2, []string{"s/5", "s/4"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := s.View(func(r store.Reader) error {
				opts := store.ScanOptions{Prefix: []byte("s/"), Reverse: tt.reverse}
				return r.Scan(opts, func(k, _ []byte) error {
					got = append(got, string(k))
					if len(got) == tt.stopAt {
						return store.ErrStop
					}
					return nil
				})
			})
			if err != nil {
				t.Errorf("Scan stopped with ErrStop = %v, want nil", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Scan visited %q, want %q", got, tt.want)
			}
		})
	}
}

func testScanError(t *testing.T, s store.Store) {
	keys := []string{"s/1", "s/2", "s/3"}
	setScanKeys(t, s, keys)
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			var got []string
			var scanErr error
			err := s.View(func(r store.Reader) error {
				scanErr = r.Scan(store.ScanOptions{Prefix: []byte("s/"), Reverse: reverse}, func(k, _ []byte) error {
					got = append(got, string(k))
					if len(got) == 2 {
						return errBoom
					}
					return nil
				})
				return scanErr
			})
			if !errors.Is(scanErr, errBoom) {
				t.Errorf("Scan = %v, want the callback's error", scanErr)
			}
			if !errors.Is(err, errBoom) {
				t.Errorf("View = %v, want the callback's error", err)
			}
			if len(got) != 2 {
				t.Errorf("Scan visited %q after the callback failed, want it to stop at 2 keys", got)
			}
		})
	}
	// A Scan failing inside an Update fails the Update, which applies nothing.
	err := s.Update(func(tx store.Tx) error {
		if err := tx.Set([]byte("s/new"), []byte("n")); err != nil {
			return err
		}
		return tx.Scan(store.ScanOptions{Prefix: []byte("s/")}, func(_, _ []byte) error { return errBoom })
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("Update with a failing Scan = %v, want the callback's error", err)
	}
	wantMissing(t, s, "s/new")
}

func testApply(t *testing.T, s store.Store) {
	before := map[string]string{"a": "1", "b": "2"}
	k := func(s string) []byte { return []byte(s) }
	for _, tt := range []struct {
		name string
		ops  []store.Op
		want map[string]string
	}{
		{"no ops", nil, before},
		{"put", []store.Op{store.Put(k("c"), k("3")), store.Put(k("a"), k("10"))},
			map[string]string{"a": "10", "b": "2", "c": "3"}},
		{"put empty value", []store.Op{store.Put(k("e"), nil)},
			map[string]string{"a": "1", "b": "2", "e": ""}},
		{"put binary key", []store.Op{store.Put(k("\x00\xfe\xff"), k("\x00"))},
			map[string]string{"a": "1", "b": "2", "\x00\xfe\xff": "\x00"}},
		{"del", []store.Op{store.Del(k("a"))}, map[string]string{"b": "2"}},
		{"del missing key", []store.Op{store.Del(k("zz"))}, before},
		{"put then del", []store.Op{store.Put(k("c"), k("3")), store.Del(k("c"))}, before},
		{"del then put", []store.Op{store.Del(k("a")), store.Put(k("a"), k("11"))},
			map[string]string{"a": "11", "b": "2"}},
		{"later put wins", []store.Op{store.Put(k("a"), k("x")), store.Put(k("a"), k("y"))},
			map[string]string{"a": "y", "b": "2"}},
		{"literal ops", []store.Op{{Key: k("c"), Value: k("3")}, {Key: k("b"), Delete: true}},
			map[string]string{"a": "1", "c": "3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset(t, s, before)
			// Applied in an Update that then fails, the ops leave no trace.
			err := s.Update(func(tx store.Tx) error {
				if err := store.Apply(tx, tt.ops); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("Update(Apply, fail) = %v, want the callback's error", err)
			}
			wantContent(t, s, before)

			err = s.Update(func(tx store.Tx) error { return store.Apply(tx, tt.ops) })
			if err != nil {
				t.Fatalf("Update(Apply) = %v", err)
			}
			wantContent(t, s, tt.want)
		})
	}
}

// testConcurrentUpdates runs Updates from many goroutines at once. Each
// goroutine increments its own counter and logs every increment under a key of
// its own; every Update must be applied exactly once.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	const goroutines, increments = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctr := fmt.Appendf(nil, "ctr/%d", g)
			for i := range increments {
				err := s.Update(func(tx store.Tx) error {
					n := 0
					v, err := tx.Get(ctr)
					switch {
					case err == nil:
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					case !errors.Is(err, store.ErrNotFound):
						return err
					}
					if err := tx.Set(ctr, strconv.AppendInt(nil, int64(n+1), 10)); err != nil {
						return err
					}
					return tx.Set(fmt.Appendf(nil, "log/%d/%03d", g, i), nil)
				})
				if err != nil {
					t.Errorf("goroutine %d, Update %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	want := make(map[string]string)
	for g := range goroutines {
		want[fmt.Sprintf("ctr/%d", g)] = strconv.Itoa(increments)
		for i := range increments {
			want[fmt.Sprintf("log/%d/%03d", g, i)] = ""
		}
	}
	wantContent(t, s, want)
}

func testClose(t *testing.T, s store.Store) {
	set(t, s, map[string]string{"k": "v"})
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	err := s.View(func(r store.Reader) error {
		_, err := r.Get([]byte("k"))
		return err
	})
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want error wrapping store.ErrClosed", err)
	}
	err = s.Update(func(tx store.Tx) error { return tx.Set([]byte("k"), []byte("after close")) })
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want error wrapping store.ErrClosed", err)
	}
}
