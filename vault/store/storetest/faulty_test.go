package storetest_test

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

// With no fault active, a Faulty store keeps the whole store contract.
func TestFaultyConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := storetest.NewFaulty(store.NewMem())
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func fyPut(s store.Store, k, v string) error {
	return s.Update(func(tx store.Tx) error { return tx.Set([]byte(k), []byte(v)) })
}

func fyGet(s store.Store, k string) (string, error) {
	var v []byte
	err := s.View(func(r store.Reader) error {
		var err error
		v, err = r.Get([]byte(k))
		return err
	})
	return string(v), err
}

func TestFaultyUpdateFaults(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fault   storetest.Fault
		runsFn  bool
		applied bool
	}{
		{"begin", storetest.FailBegin, false, false},
		{"commit", storetest.FailCommit, true, false},
		{"sync", storetest.FailSync, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.NewFaulty(store.NewMem())
			if err := fyPut(s, "k", "old"); err != nil {
				t.Fatal(err)
			}
			s.Fail(tt.fault)
			ran := false
			err := s.Update(func(tx store.Tx) error {
				ran = true
				return tx.Set([]byte("k"), []byte("new"))
			})
			if !errors.Is(err, storetest.ErrInjected) {
				t.Errorf("Update = %v, want ErrInjected", err)
			}
			if ran != tt.runsFn {
				t.Errorf("callback ran = %v, want %v", ran, tt.runsFn)
			}
			want := "old"
			if tt.applied {
				want = "new"
			}
			if got, err := fyGet(s, "k"); err != nil || got != want {
				t.Errorf("after the fault k = %q, %v; want %q", got, err, want)
			}
			// A callback's own error comes back as it is, fault or not.
			boom := errors.New("boom")
			if err := s.Update(func(store.Tx) error { return boom }); tt.runsFn && !errors.Is(err, boom) {
				t.Errorf("Update with a failing callback = %v, want boom", err)
			}
			s.Clear()
			if err := fyPut(s, "k", "later"); err != nil {
				t.Errorf("Update after Clear = %v", err)
			}
			if got, _ := fyGet(s, "k"); got != "later" {
				t.Errorf("k = %q after Clear, want later", got)
			}
			st := s.Stats()
			if st.FailedUpdates != 2 || st.Updates != 2 {
				t.Errorf("stats %+v, want 2 failed and 2 committed updates", st)
			}
		})
	}
}

func TestFaultyReadFaults(t *testing.T) {
	s := storetest.NewFaulty(store.NewMem())
	if err := fyPut(s, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Fail(storetest.FailView)
	ran := false
	if err := s.View(func(store.Reader) error { ran = true; return nil }); !errors.Is(err, storetest.ErrInjected) || ran {
		t.Errorf("View under FailView = %v (callback ran: %v)", err, ran)
	}
	s.Fail(storetest.FailGet)
	if _, err := fyGet(s, "k"); !errors.Is(err, storetest.ErrInjected) {
		t.Errorf("Get under FailGet = %v", err)
	}
	err := s.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error { return nil })
	})
	if !errors.Is(err, storetest.ErrInjected) {
		t.Errorf("Scan under FailGet = %v", err)
	}
	// Reads inside an Update are not read faults; writes go on.
	if err := s.Update(func(tx store.Tx) error {
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		return tx.Set([]byte("k2"), []byte("v2"))
	}); err != nil {
		t.Errorf("Update under FailGet = %v", err)
	}
	s.Clear()
	if got, err := fyGet(s, "k2"); err != nil || got != "v2" {
		t.Errorf("k2 = %q, %v", got, err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err == nil {
		t.Errorf("Backup of a Mem store succeeded")
	}
}

func TestFaultyFailN(t *testing.T) {
	s := storetest.NewFaulty(store.NewMem())
	s.FailN(storetest.FailCommit|storetest.FailView, 2)
	if err := fyPut(s, "a", "1"); !errors.Is(err, storetest.ErrInjected) {
		t.Errorf("1st Update = %v", err)
	}
	if _, err := fyGet(s, "a"); !errors.Is(err, storetest.ErrInjected) {
		t.Errorf("View = %v, want the 2nd fault", err)
	}
	if s.Active() != 0 {
		t.Errorf("faults %v still active after 2", s.Active())
	}
	if err := fyPut(s, "a", "1"); err != nil {
		t.Errorf("3rd Update = %v", err)
	}
	if got, err := fyGet(s, "a"); err != nil || got != "1" {
		t.Errorf("a = %q, %v", got, err)
	}
}

// Faults may be switched while other goroutines use the store (run with -race).
func TestFaultyConcurrentSwitch(t *testing.T) {
	s := storetest.NewFaulty(store.NewMem())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := string(rune('a'+g)) + string(rune('0'+i%10))
				if err := fyPut(s, k, "v"); err != nil && !errors.Is(err, storetest.ErrInjected) {
					t.Errorf("Update: %v", err)
				}
				if _, err := fyGet(s, k); err != nil && !errors.Is(err, storetest.ErrInjected) && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get: %v", err)
				}
			}
		})
	}
	for i := range 100 {
		s.Fail(storetest.Fault(1 << (i % 5)))
	}
	s.Clear()
	wg.Wait()
	if st := s.Stats(); st.Updates+st.FailedUpdates != 800 {
		t.Errorf("stats %+v: %d updates, want 800", st, st.Updates+st.FailedUpdates)
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[storetest.Fault]string{
		0:                                        "none",
		storetest.FailCommit:                     "commit",
		storetest.FailBegin | storetest.FailGet:  "begin|get",
		storetest.Updates:                        "begin|commit|sync",
		storetest.Reads | storetest.Fault(1<<10): "view|get|0x400",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint32(f), got, want)
		}
	}
}

func TestFaultyOnFault(t *testing.T) {
	s := storetest.NewFaulty(store.NewMem())
	var seen []storetest.Fault
	s.OnFault(func(f storetest.Fault) {
		// Under FailSync the writes have landed when the hook runs.
		if f == storetest.FailSync {
			if got, err := fyGet(s, "k"); err != nil || got != "v" {
				t.Errorf("in OnFault under FailSync: k = %q, %v", got, err)
			}
		}
		seen = append(seen, f)
	})
	s.FailN(storetest.FailSync, 1)
	if err := fyPut(s, "k", "v"); !errors.Is(err, storetest.ErrInjected) {
		t.Errorf("Update = %v", err)
	}
	s.Fail(storetest.FailGet)
	fyGet(s, "k")
	s.OnFault(nil)
	fyGet(s, "k")
	if want := []storetest.Fault{storetest.FailSync, storetest.FailGet}; !slices.Equal(seen, want) {
		t.Errorf("OnFault saw %v, want %v", seen, want)
	}
}
