package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"pvault/vault"
	"pvault/vault/store"
)

// `pvault check --data DIR` (issue 10, item 4): a clean vault passes, a
// damaged one exits 1 and names exactly the damaged records. Helpers are
// prefixed hx.

// hxDamageVault opens the stopped vault in dir and applies fn to its store.
func hxDamageVault(tb testing.TB, dir string, fn func(tx store.Tx) error) {
	tb.Helper()
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.Store().Update(fn); err != nil {
		tb.Fatal(err)
	}
	if err := v.Close(); err != nil {
		tb.Fatal(err)
	}
}

func hxCheckReport(tb testing.TB, stdout string) vault.CheckReport {
	tb.Helper()
	var rep vault.CheckReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		tb.Fatalf("check output is not a report: %v\n%s", err, stdout)
	}
	return rep
}

func TestCheckCLI(t *testing.T) {
	dir, ids := opVault(t, 3)

	out := opMustRun(t, nil, "check", "--data", dir)
	if rep := hxCheckReport(t, out); rep.DamageCount != 0 || rep.Petitions != 3 || rep.Envelopes != 6 || !rep.Audit.OK {
		t.Fatalf("clean vault: %+v", rep)
	}
	// The environment names the directory too.
	opMustRun(t, map[string]string{"PVAULT_DATA": dir}, "check")

	// Flip a byte of one petition's content envelope and edit an audit
	// entry, as someone holding the storage key could.
	entry2 := binary.BigEndian.AppendUint64([]byte("a/e/"), 2)
	hxDamageVault(t, dir, func(tx store.Tx) error {
		key := []byte("p/" + ids[1] + "/c")
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		b[len(b)-5] ^= 0x40
		if err := tx.Set(key, b); err != nil {
			return err
		}
		e, err := tx.Get(entry2)
		if err != nil {
			return err
		}
		return tx.Set(entry2, bytes.Replace(e, []byte(`"status":200`), []byte(`"status":500`), 1))
	})

	stdout, stderr, err := opRun(nil, "check", "--data", dir)
	if err == nil {
		t.Fatalf("a damaged vault passed the check:\n%s", stdout)
	}
	if code := exitCode(err); code != 1 {
		t.Errorf("exit code %d, want 1 (%v)", code, err)
	}
	if !strings.Contains(err.Error(), "2 damaged records") {
		t.Errorf("error %q does not count the 2 damaged records", err)
	}
	rep := hxCheckReport(t, stdout)
	var got []string
	for _, d := range rep.Damaged {
		got = append(got, d.Kind+"/"+d.ID+"/"+d.Part)
	}
	slices.Sort(got)
	want := []string{"audit/2/", "petition/" + ids[1] + "/content"}
	if !slices.Equal(got, want) || rep.DamageCount != 2 || rep.Audit.OK || rep.Audit.FirstBadSeq == nil || *rep.Audit.FirstBadSeq != 2 {
		t.Errorf("report names %q (count %d, audit %+v), want exactly %q", got, rep.DamageCount, rep.Audit, want)
	}
	// Nothing secret or damaged is echoed: the report holds ids and kinds.
	for _, leak := range []string{opContent, "张三", "13812345678", "110101199003074578"} {
		if strings.Contains(stdout+stderr, leak) {
			t.Errorf("check output holds %q", leak)
		}
	}
	// The offline audit verification agrees on the entry.
	vout, _, err := opRun(nil, "audit", "verify", "--data", dir)
	if exitCode(err) != 1 || !strings.Contains(vout+err.Error(), "entry 2") {
		t.Errorf("audit verify: %v\n%s", err, vout)
	}
	// The check changed nothing: a second run reports the same.
	stdout2, _, _ := opRun(nil, "check", "--data", dir)
	if rep2 := hxCheckReport(t, stdout2); rep2.DamageCount != rep.DamageCount {
		t.Errorf("a second check reports %d damages, the first %d", rep2.DamageCount, rep.DamageCount)
	}

	t.Run("usage errors", func(t *testing.T) {
		if _, _, err := opRun(nil, "check"); err == nil || !strings.Contains(err.Error(), "--data") {
			t.Errorf("check without --data: %v", err)
		}
		if _, _, err := opRun(nil, "check", "--data", t.TempDir()); err == nil || exitCode(err) == 0 {
			t.Errorf("check of an empty directory: %v", err)
		}
		if _, _, err := opRun(nil, "check", "--nope"); exitCode(err) != 2 {
			t.Errorf("check --nope: exit %d, want 2", exitCode(err))
		}
	})
}
