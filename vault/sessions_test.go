package vault

import (
	"errors"
	"slices"
	"testing"
	"time"

	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

// TestSessionCache: a used session is served from memory (it answers while
// the store refuses reads), and any write of a user or session record —
// through the vault's methods or straight to the store — is seen by the
// next request.
func TestSessionCache(t *testing.T) {
	clk := newFakeClock()
	var faulty *storetest.Faulty
	opts := Options{Now: clk.Now, SessionTTL: time.Hour, Store: func(s store.Store) store.Store {
		faulty = storetest.NewFaulty(s)
		return faulty
	}}
	dir := initVault(t, InitOptions{Options: opts})
	v := openVault(t, dir, opts)
	u, _, err := v.CreateUser(NewUser{Username: "zhou", Password: "zhou-password-1234", DisplayName: "周", Unit: "group/west", Roles: []string{"officer"}}, entry("user.create"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _, err := v.Login(u, entry("auth.login"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, sub, err := v.SessionSubject(tok)
	if err != nil || got.ID != u.ID || sub.UserID != u.ID || len(sub.Names) != 2 {
		t.Fatalf("SessionSubject = %+v, %+v, %v", got, sub, err)
	}
	// What a caller changes in its copies does not reach the cache.
	got.Roles[0], sub.Roles[0], sub.Names[0] = "admin", "admin", "x"

	faulty.Fail(storetest.FailView)
	got, _, sub, err = v.SessionSubject(tok)
	faulty.Clear()
	if err != nil {
		t.Fatalf("cached session while the store refuses reads: %v", err)
	}
	if !slices.Equal(got.Roles, []string{"officer"}) || !slices.Equal(sub.Roles, []string{"officer"}) || sub.Names[0] == "x" {
		t.Errorf("cache changed through a caller's copy: %+v %+v", got, sub)
	}
	// A write elsewhere keeps the cache; a token never used is read.
	gen := v.sessions.gen.Load()
	if _, err := v.CreatePetition(samplePetition(), u, entry("petition.create")); err != nil {
		t.Fatal(err)
	}
	if v.sessions.gen.Load() != gen {
		t.Error("a petition write emptied the session cache")
	}
	faulty.Fail(storetest.FailView)
	if _, _, err := v.SessionOf("pvt_" + "unknown-token-never-used-0000"); err == nil || errors.Is(err, ErrUnauthenticated) {
		t.Errorf("unknown token while the store refuses reads: %v, want the store's error", err)
	}
	faulty.Clear()

	valid := func() bool {
		t.Helper()
		_, _, _, err := v.SessionSubject(tok)
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Fatal(err)
		}
		return err == nil
	}
	// A display name change is seen at once (the subject's names).
	name := "周二"
	if _, _, err := v.UpdateUser(u.ID, UserPatch{DisplayName: &name}, isAdmin, entry("user.update")); err != nil {
		t.Fatal(err)
	}
	_, _, sub2, err := v.SessionSubject(tok)
	if err != nil || slices.Equal(sub2.Names, sub.Names) {
		t.Errorf("subject after a display name change: %+v, %v", sub2, err)
	}
	// Expiry is checked on a cached session.
	clk.Advance(time.Hour)
	if valid() {
		t.Error("cached session accepted at its expiry")
	}
	tok, _, _, _ = v.Login(u, entry("auth.login"))
	if !valid() {
		t.Fatal("fresh token refused")
	}
	// A user record disabled straight in the store (no vault method).
	err = v.Store().Update(func(tx store.Tx) error {
		cur, err := tx.Get(userKey(u.ID))
		if err != nil {
			return err
		}
		var uu User
		if err := jsonUnmarshal(cur, &uu); err != nil {
			return err
		}
		uu.Disabled = true
		return tx.Set(userKey(u.ID), mustJSON(uu))
	})
	if err != nil {
		t.Fatal(err)
	}
	if valid() {
		t.Error("cached session of a user disabled in the store still accepted")
	}
	// A session deleted by a commit that then fails is not served either.
	enabled := false
	if _, _, err := v.UpdateUser(u.ID, UserPatch{Disabled: &enabled}, isAdmin, entry("user.update")); err != nil {
		t.Fatal(err)
	}
	cur, _ := v.User(u.ID)
	tok, _, _, _ = v.Login(cur, entry("auth.login"))
	if !valid() {
		t.Fatal("fresh token refused")
	}
	faulty.Fail(storetest.FailSync)
	if _, err := v.Logout(tok, entry("auth.logout")); err == nil {
		t.Fatal("logout reported success with a failing sync")
	}
	faulty.Clear()
	if valid() {
		t.Error("session deleted by an ambiguous commit still served from the cache")
	}
}
