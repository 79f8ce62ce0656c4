package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeExport writes a valid export of n realistic entries and returns its
// path and the checkpoint of its full tree.
func writeExport(tb testing.TB, n int) (string, Checkpoint) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "export.ndjson")
	var buf bytes.Buffer
	var tree Tree
	prev := ZeroPrev
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := Entry{
			Seq: int64(i), Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprintf("%032x", i),
			Actor:  &Actor{UserID: "01M8CNZYV5FKRWB6TFGY4V9CT5", Username: "reg1", Roles: []string{"registrar"}, Unit: "group/east"},
			Action: "petition.read", Object: &Object{Type: "petition", ID: "01M8CNZZCE0PXVDAC8XH97RRD3"},
			Decision: Allow, Status: 200, Details: map[string]any{"client": "aa0c0f01fa20c2dbd4b26f266202944b"}, Prev: prev,
		}
		line, err := e.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		h := LeafHash(line)
		tree.Add(h)
		prev = EncodeHash(h)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, Checkpoint{Origin: "pvault/audit", Size: int64(n), Root: tree.Root()}
}

// BenchmarkVerifyExport1M verifies an export of 1,000,000 entries against a
// checkpoint of its full size (the target: under 2 s).
func BenchmarkVerifyExport1M(b *testing.B) {
	path, cp := writeExport(b, 1_000_000)
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := VerifyExport(f, []Checkpoint{cp})
		f.Close()
		if err != nil || !rep.OK {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
}
