package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// tlJoin is the export made of lines.
func tlJoin(lines [][]byte) []byte {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// tlClone copies lines (deeply, so edits do not leak between cases).
func tlClone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i := range lines {
		out[i] = append([]byte(nil), lines[i]...)
	}
	return out
}

// tlExportFixture is a real export of a Log of 35 entries with signed
// checkpoints at sizes 10, 20 and 30, opened with the verifier key.
func tlExportFixture(tb testing.TB) ([][]byte, []Checkpoint) {
	tb.Helper()
	l := tlOpen(tb, store.NewMem(), Options{Now: tlNewClock().Now})
	var cps []Checkpoint
	for range 3 {
		tlAppend(tb, l, "e", 10)
		b, err := l.Sign()
		if err != nil {
			tb.Fatal(err)
		}
		cps = append(cps, tlOpenCP(tb, b))
	}
	tlAppend(tb, l, "e", 5)
	lines := tlLines(tb, tlExport(tb, l))
	if len(lines) != 35 {
		tb.Fatalf("export has %d lines", len(lines))
	}
	return lines, cps
}

// tlChain sets the seq and prev of entries to chain them from 0 and returns
// their canonical lines.
func tlChain(tb testing.TB, entries []*Entry) [][]byte {
	tb.Helper()
	var lines [][]byte
	prev := ZeroPrev
	for i, e := range entries {
		e.Seq = int64(i)
		e.Prev = prev
		line, err := e.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, line)
		prev = EncodeHash(LeafHash(line))
	}
	return lines
}

// tlParseAll parses every line of an export.
func tlParseAll(tb testing.TB, lines [][]byte) []*Entry {
	tb.Helper()
	var out []*Entry
	for i, line := range lines {
		e, err := ParseEntry(line)
		if err != nil {
			tb.Fatalf("line %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// tlHandEntries are n entries built by hand, 1 ms apart, distinct request ids.
func tlHandEntries(n int) []*Entry {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var out []*Entry
	for i := range n {
		out = append(out, &Entry{Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprintf("hand-%d", i),
			Action: "petition.read", Decision: Allow, Status: 200})
	}
	return out
}

// tlCheckpointOf is the checkpoint of the first n lines.
func tlCheckpointOf(lines [][]byte, n int) Checkpoint {
	var tr Tree
	for _, l := range lines[:n] {
		tr.Add(LeafHash(l))
	}
	return Checkpoint{Origin: tlOrigin, Size: int64(n), Root: tr.Root()}
}

func tlVerifyExport(tb testing.TB, data []byte, cps []Checkpoint) *ExportReport {
	tb.Helper()
	rep, err := VerifyExport(bytes.NewReader(data), cps)
	if err != nil {
		tb.Fatalf("VerifyExport: %v", err)
	}
	if rep == nil {
		tb.Fatal("VerifyExport returned a nil report")
	}
	return rep
}

func tlWantOK(tb testing.TB, rep *ExportReport, lines int64, checked int) {
	tb.Helper()
	if !rep.OK || rep.FirstBad != -1 || rep.Problem != "" || rep.Lines != lines || rep.Checked != checked {
		tb.Errorf("report = %+v, want ok with %d lines and %d checkpoints", rep, lines, checked)
	}
}

func TestVerifyExportGood(t *testing.T) {
	lines, cps := tlExportFixture(t)
	data := tlJoin(lines)
	wantRoot := tlHash(t, tlMerkleRoot(t, lines))

	rep := tlVerifyExport(t, data, cps)
	tlWantOK(t, rep, 35, 3)
	if rep.Root != wantRoot {
		t.Errorf("root = %s, want %s", EncodeHash(rep.Root), EncodeHash(wantRoot))
	}
	// Checkpoints in any order, repeated, or none at all.
	rev := slices.Clone(cps)
	slices.Reverse(rev)
	tlWantOK(t, tlVerifyExport(t, data, rev), 35, 3)
	tlWantOK(t, tlVerifyExport(t, data, append(slices.Clone(cps), cps[1])), 35, 4)
	tlWantOK(t, tlVerifyExport(t, data, cps[2:]), 35, 1)
	tlWantOK(t, tlVerifyExport(t, data, nil), 35, 0)
	// A checkpoint of the whole export.
	tlWantOK(t, tlVerifyExport(t, data, append(slices.Clone(cps), tlCheckpointOf(lines, 35))), 35, 4)
	// An export that stops after the last checkpoint but before the log's
	// end is fine.
	tlWantOK(t, tlVerifyExport(t, tlJoin(lines[:30]), cps), 30, 3)
	tlWantOK(t, tlVerifyExport(t, tlJoin(lines[:32]), cps), 32, 3)
	// A missing final newline is tolerated.
	tlWantOK(t, tlVerifyExport(t, bytes.TrimSuffix(data, []byte("\n")), cps), 35, 3)
	// The Checker, which fully parses each line, agrees on the root.
	c := NewChecker()
	for _, l := range lines {
		if err := c.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	if c.Root() != rep.Root {
		t.Errorf("Checker root %s, VerifyExport root %s", EncodeHash(c.Root()), EncodeHash(rep.Root))
	}
	// Also when read from a file (VerifyExport sizes its tables from Stat).
	path := t.TempDir() + "/export.ndjson"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frep, err := VerifyExport(f, cps)
	if err != nil {
		t.Fatal(err)
	}
	tlWantOK(t, frep, 35, 3)
}

func TestVerifyExportEmpty(t *testing.T) {
	empty := Checkpoint{Origin: tlOrigin, Size: 0, Root: tlog.Hash(sha256.Sum256(nil))}
	rep := tlVerifyExport(t, nil, nil)
	tlWantOK(t, rep, 0, 0)
	if rep.Root != empty.Root {
		t.Errorf("empty root = %s", EncodeHash(rep.Root))
	}
	tlWantOK(t, tlVerifyExport(t, nil, []Checkpoint{empty}), 0, 1)

	lines, cps := tlExportFixture(t)
	_ = lines
	rep = tlVerifyExport(t, nil, cps)
	if rep.OK || rep.FirstBad != 0 || rep.Lines != 0 {
		t.Errorf("empty export with checkpoints: %+v, want first bad 0", rep)
	}
}

func TestVerifyExportAttacks(t *testing.T) {
	lines, cps := tlExportFixture(t)
	const k = 12

	edit := func(i int, old, new string) func([][]byte) [][]byte {
		return func(ls [][]byte) [][]byte {
			if !bytes.Contains(ls[i], []byte(old)) {
				t.Fatalf("line %d lacks %q", i, old)
			}
			ls[i] = bytes.Replace(ls[i], []byte(old), []byte(new), 1)
			return ls
		}
	}
	// rechain re-links every entry after an edit, as a forger who controls
	// the server would: the export is self-consistent and only the
	// checkpoints can tell.
	rechain := func(f func([]*Entry) []*Entry) func([][]byte) [][]byte {
		return func(ls [][]byte) [][]byte { return tlChain(t, f(tlParseAll(t, ls))) }
	}
	setRe := func(i int, re, repl string) func([][]byte) [][]byte {
		rx := regexp.MustCompile(re)
		return func(ls [][]byte) [][]byte {
			if !rx.Match(ls[i]) {
				t.Fatalf("line %d does not match %s", i, re)
			}
			ls[i] = rx.ReplaceAll(ls[i], []byte(repl))
			return ls
		}
	}
	forged := &Entry{Time: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), RequestID: "forged", Action: "petition.read", Decision: Allow, Status: 200}

	for _, tt := range []struct {
		name     string
		lines    int // export length before the change (default all 35)
		change   func([][]byte) [][]byte
		cps      []Checkpoint
		firstBad int64
	}{
		{name: "allow→deny in entry k", change: edit(k, `"decision":"allow"`, `"decision":"deny"`), firstBad: k},
		{name: "status edited in entry 0", change: edit(0, `"status":200`, `"status":500`), firstBad: 0},
		{name: "request id edited", change: edit(k, `"request_id":"e-12"`, `"request_id":"e-99"`), firstBad: k},
		{name: "time edited forward", change: func(ls [][]byte) [][]byte {
			e := tlParseAll(t, ls[k:k+1])[0]
			e.Time = e.Time.Add(time.Nanosecond)
			ls[k], _ = e.Marshal()
			return ls
		}, firstBad: k},
		{name: "edit beyond the checkpoints", change: edit(32, `"allow"`, `"deny"`), firstBad: 32},
		{name: "insert a copy of an earlier line", change: func(ls [][]byte) [][]byte {
			return slices.Insert(ls, k, ls[k-3])
		}, firstBad: k},
		{name: "insert a copy of the previous line", change: func(ls [][]byte) [][]byte {
			return slices.Insert(ls, k, ls[k-1])
		}, firstBad: k},
		{name: "insert a forged line that links to its predecessor", change: func(ls [][]byte) [][]byte {
			e := *forged
			e.Time = tlParseAll(t, ls[k-1:k])[0].Time
			e.Seq, e.Prev = k, EncodeHash(LeafHash(ls[k-1]))
			b, _ := e.Marshal()
			return slices.Insert(ls, k, b)
		}, firstBad: k + 1},
		{name: "insert at the start", change: func(ls [][]byte) [][]byte {
			e := *forged
			e.Prev = ZeroPrev
			b, _ := e.Marshal()
			return slices.Insert(ls, 0, b)
		}, firstBad: 1},
		{name: "delete a line", change: func(ls [][]byte) [][]byte { return slices.Delete(ls, k, k+1) }, firstBad: k},
		{name: "delete the first line", change: func(ls [][]byte) [][]byte { return ls[1:] }, firstBad: 0},
		{name: "delete the last line a checkpoint covers", change: func(ls [][]byte) [][]byte { return slices.Delete(ls, 29, 30) }, firstBad: 29},
		{name: "reorder two lines", change: func(ls [][]byte) [][]byte { ls[k], ls[k+1] = ls[k+1], ls[k]; return ls }, firstBad: k},
		{name: "reorder distant lines", change: func(ls [][]byte) [][]byte { ls[3], ls[27] = ls[27], ls[3]; return ls }, firstBad: 3},
		{name: "truncate below a checkpoint", change: func(ls [][]byte) [][]byte { return ls[:25] }, firstBad: 25},
		{name: "truncate at a checkpoint below another", change: func(ls [][]byte) [][]byte { return ls[:20] }, firstBad: 20},
		{name: "truncate one short of a checkpoint", change: func(ls [][]byte) [][]byte { return ls[:29] }, firstBad: 29},
		{name: "truncate below every checkpoint", change: func(ls [][]byte) [][]byte { return ls[:3] }, firstBad: 3},
		{name: "truncate to nothing", change: func(ls [][]byte) [][]byte { return nil }, firstBad: 0},
		{name: "edit the last line a checkpoint covers (root mismatch)", lines: 30, change: edit(29, `"allow"`, `"deny"`), firstBad: 29},
		{name: "edit the last line of a middle checkpoint, export ends there", lines: 20, change: edit(19, `"allow"`, `"deny"`), firstBad: 19},
		{name: "rechained edit (only a checkpoint can tell)", change: rechain(func(es []*Entry) []*Entry {
			es[k].Decision = Deny
			return es
		}), firstBad: 19},
		{name: "rechained deletion", change: rechain(func(es []*Entry) []*Entry { return slices.Delete(es, k, k+1) }), firstBad: 19},
		{name: "rechained insertion", change: rechain(func(es []*Entry) []*Entry {
			e := *forged
			e.Time = es[k].Time
			return slices.Insert(es, k, &e)
		}), firstBad: 19},
		{name: "rechained reorder", change: rechain(func(es []*Entry) []*Entry {
			es[k].RequestID, es[k+1].RequestID = es[k+1].RequestID, es[k].RequestID
			es[k].Object, es[k+1].Object = es[k+1].Object, es[k].Object
			return es
		}), firstBad: 19},
		{name: "rechained edit of entry 0", change: rechain(func(es []*Entry) []*Entry {
			es[0].Status = 201
			return es
		}), firstBad: 9},
		{name: "rechained edit below only the last checkpoint", change: rechain(func(es []*Entry) []*Entry {
			es[25].Status = 201
			return es
		}), firstBad: 29},
		{name: "garbage line", change: func(ls [][]byte) [][]byte { ls[k] = []byte("garbage"); return ls }, firstBad: k},
		{name: "garbage line inserted", change: func(ls [][]byte) [][]byte { return slices.Insert(ls, k, []byte(`{"seq":12}`)) }, firstBad: k},
		{name: "blank line inserted", change: func(ls [][]byte) [][]byte { return slices.Insert(ls, k, []byte{}) }, firstBad: k},
		{name: "line cut short", change: func(ls [][]byte) [][]byte { ls[k] = ls[k][:len(ls[k])/2]; return ls }, firstBad: k},
		{name: "CRLF line ending", change: func(ls [][]byte) [][]byte { ls[k] = append(ls[k], '\r'); return ls }, firstBad: k},
		{name: "seq with a leading zero", change: edit(7, `{"seq":7,`, `{"seq":07,`), firstBad: 7},
		{name: "negative seq", change: edit(0, `{"seq":0,`, `{"seq":-0,`), firstBad: 0},
		{name: "prev not base64", change: func(ls [][]byte) [][]byte {
			ls[k] = append(ls[k][:len(ls[k])-46], strings.Repeat("!", 43)+`="}`...)
			return ls
		}, firstBad: k},
		{name: "empty request id", change: setRe(k, `"request_id":"[^"]*"`, `"request_id":""`), firstBad: k},
		{name: "request id of 65 bytes", change: setRe(k, `"request_id":"[^"]*"`, `"request_id":"`+strings.Repeat("r", 65)+`"`), firstBad: k},
		{name: "actor field missing", change: setRe(k, `"actor":null,`, ``), firstBad: k},
		{name: "prev field missing", change: setRe(k, `,"prev":"[^"]*"`, ``), firstBad: k},
		{name: "prev of 31 bytes", change: setRe(k, `"prev":"[^"]*"`, `"prev":"`+base64.StdEncoding.EncodeToString(make([]byte, 31))+`"`), firstBad: k},
		{name: "time without Z", change: setRe(k, `"time":"([^"]*)Z"`, `"time":"${1}+00:00"`), firstBad: k},
		{name: "time with a space", change: setRe(k, `"time":"(\d{4}-\d\d-\d\d)T`, `"time":"${1} `), firstBad: k},
		{name: "time with slashes", change: setRe(k, `"time":"(\d{4})-(\d\d)-`, `"time":"${1}/${2}/`), firstBad: k},
		{name: "time with a letter", change: setRe(k, `"time":"2`, `"time":"X`), firstBad: k},
		{name: "time with an empty fraction", change: setRe(k, `"time":"([^".]*)(\.\d+)?Z"`, `"time":"${1}.Z"`), firstBad: k},
		{name: "time with a 10-digit fraction", change: setRe(k, `"time":"([^".]*)(\.\d+)?Z"`, `"time":"${1}.1234567891Z"`), firstBad: k},
		{name: "time with a letter in the fraction", change: setRe(k, `"time":"([^".]*)(\.\d+)?Z"`, `"time":"${1}.12a4Z"`), firstBad: k},
		{name: "time with a comma", change: setRe(k, `"time":"([^".]*)(\.\d+)?Z"`, `"time":"${1},5Z"`), firstBad: k},
		{name: "time too short", change: setRe(k, `"time":"[^"]*"`, `"time":"2026-03-01Z"`), firstBad: k},
		{name: "checkpoint with a wrong root", cps: []Checkpoint{{Origin: tlOrigin, Size: 20, Root: tlog.Hash{1}}}, firstBad: 19},
		{name: "two checkpoints of one size, one wrong", cps: append(slices.Clone(cps), Checkpoint{Origin: tlOrigin, Size: 20, Root: tlog.Hash{1}}), firstBad: 19},
		{name: "checkpoint beyond the export", cps: append(slices.Clone(cps), Checkpoint{Origin: tlOrigin, Size: 36, Root: tlog.Hash{1}}), firstBad: 35},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls := tlClone(lines)
			if tt.lines > 0 {
				ls = ls[:tt.lines]
			}
			if tt.change != nil {
				ls = tt.change(ls)
			}
			use := cps
			if tt.cps != nil {
				use = tt.cps
			}
			rep := tlVerifyExport(t, tlJoin(ls), use)
			if rep.OK {
				t.Fatalf("tampered export verified: %+v", rep)
			}
			if rep.FirstBad != tt.firstBad {
				t.Errorf("FirstBad = %d, want %d (%s)", rep.FirstBad, tt.firstBad, rep.Problem)
			}
			if want := fmt.Sprintf("entry %d (line %d)", tt.firstBad, tt.firstBad+1); !strings.HasPrefix(rep.Problem, want) {
				t.Errorf("Problem = %q, want it to start with %q", rep.Problem, want)
			}
			// The problem never echoes line contents.
			if strings.Contains(rep.Problem, "garbage") || strings.Contains(rep.Problem, "petition.read") {
				t.Errorf("Problem echoes the export: %q", rep.Problem)
			}
		})
	}
}

func TestVerifyExportHandBuilt(t *testing.T) {
	ms := time.Millisecond
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		edit     func([]*Entry)
		firstBad int64 // -1: must verify
	}{
		{"untouched", func([]*Entry) {}, -1},
		{"duplicate request id", func(es []*Entry) { es[6].RequestID = es[2].RequestID }, 6},
		{"duplicate request id of the previous entry", func(es []*Entry) { es[3].RequestID = es[2].RequestID }, 3},
		{"time goes backwards", func(es []*Entry) { es[5].Time = es[4].Time.Add(-ms) }, 5},
		{"time goes back a second", func(es []*Entry) { es[5].Time = es[4].Time.Add(-time.Second) }, 5},
		{"time goes back a nanosecond", func(es []*Entry) { es[5].Time = es[4].Time.Add(-1) }, 5},
		{"time goes back a year", func(es []*Entry) { es[5].Time = es[4].Time.AddDate(-1, 0, 0) }, 5},
		{"equal times are fine", func(es []*Entry) { es[5].Time = es[4].Time }, -1},
		// Canonical times drop trailing zeros: .5 is later than .45.
		{".45 after .5 goes backwards", func(es []*Entry) {
			es[4].Time = base.Add(time.Second + 500*ms)
			es[5].Time = base.Add(time.Second + 450*ms)
			for i := 6; i < len(es); i++ {
				es[i].Time = base.Add(2 * time.Second)
			}
		}, 5},
		{".5 after .45 is fine", func(es []*Entry) {
			es[4].Time = base.Add(time.Second + 450*ms)
			es[5].Time = base.Add(time.Second + 500*ms)
			for i := 6; i < len(es); i++ {
				es[i].Time = base.Add(2 * time.Second)
			}
		}, -1},
		{"whole second after a fraction is fine", func(es []*Entry) {
			es[4].Time = base.Add(time.Second + 999999999)
			es[5].Time = base.Add(2 * time.Second)
			for i := 6; i < len(es); i++ {
				es[i].Time = base.Add(2 * time.Second)
			}
		}, -1},
		{"whole second before a fraction goes backwards", func(es []*Entry) {
			es[4].Time = base.Add(2*time.Second + 1)
			es[5].Time = base.Add(2 * time.Second)
		}, 5},
		{"nanosecond steps", func(es []*Entry) {
			for i := range es {
				es[i].Time = base.Add(time.Duration(i))
			}
		}, -1},
		{"time in another zone is stored as UTC", func(es []*Entry) {
			for i := range es {
				es[i].Time = es[i].Time.In(time.FixedZone("CST", 8*3600))
			}
		}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es := tlHandEntries(10)
			tt.edit(es)
			lines := tlChain(t, es)
			rep := tlVerifyExport(t, tlJoin(lines), []Checkpoint{tlCheckpointOf(lines, 10)})
			if tt.firstBad < 0 {
				tlWantOK(t, rep, 10, 1)
				return
			}
			if rep.OK || rep.FirstBad != tt.firstBad {
				t.Errorf("report = %+v, want first bad %d", rep, tt.firstBad)
			}
			// The Checker finds the same entry.
			c := NewChecker()
			var ce *ChainError
			for _, l := range lines {
				if err := c.Add(l); err != nil {
					if !errors.As(err, &ce) {
						t.Fatalf("Checker error %v is not a ChainError", err)
					}
					break
				}
			}
			if ce == nil || ce.Seq != tt.firstBad {
				t.Errorf("Checker stopped at %+v, want entry %d", ce, tt.firstBad)
			}
		})
	}

	// A first entry whose prev is not zero.
	es := tlHandEntries(3)
	lines := tlChain(t, es)
	es[0].Prev = EncodeHash(tlog.Hash{9})
	lines[0], _ = es[0].Marshal()
	if rep := tlVerifyExport(t, tlJoin(lines), nil); rep.OK || rep.FirstBad != 0 {
		t.Errorf("non-zero first prev: %+v, want first bad 0", rep)
	}
}

// TestVerifyExportAcceptsWhatTheLogWrites: whatever request id a caller
// passes, the log either keeps it or replaces it, and its export verifies.
func TestVerifyExportAcceptsWhatTheLogWrites(t *testing.T) {
	for _, tt := range []struct {
		name string
		rid  string
	}{
		{"64-byte request id", strings.Repeat("r", 64)},
		{"65-byte request id", strings.Repeat("r", 65)},
		{"request id with a quote", `a"b`},
		{"request id with a backslash", `a\b`},
		{"request id with non-ASCII", "请求-1"},
		{"request id with HTML", "<id>&"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := tlOpen(t, store.NewMem(), Options{})
			tlAppend(t, l, "ok", 2)
			e, err := l.Append(&Entry{RequestID: tt.rid, Action: "petition.read", Decision: Allow, Status: 200}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.RequestID != tt.rid && !ValidRequestID(e.RequestID) {
				t.Errorf("the log replaced request id %q by an invalid %q", tt.rid, e.RequestID)
			}
			tlAppend(t, l, "ok", 2)
			b, err := l.Sign()
			if err != nil {
				t.Fatal(err)
			}
			if res, err := l.Verify(); err != nil || !res.OK {
				t.Fatalf("VerifyStore = %+v, %v", res, err)
			}
			rep := tlVerifyExport(t, tlExport(t, l), []Checkpoint{tlOpenCP(t, b)})
			if !rep.OK {
				t.Errorf("the log's own export does not verify: %+v", rep)
			}
		})
	}
}

func TestVerifyExportZeroSizeCheckpoint(t *testing.T) {
	lines, cps := tlExportFixture(t)
	empty := Checkpoint{Origin: tlOrigin, Size: 0, Root: tlog.Hash(sha256.Sum256(nil))}
	// A checkpoint of the empty tree is consistent with every log, and must
	// not stop the others from being checked.
	rep := tlVerifyExport(t, tlJoin(lines), append([]Checkpoint{empty}, cps...))
	tlWantOK(t, rep, 35, 4)
	// A zero-size checkpoint whose root is not the empty tree's is not
	// consistent with any log.
	bogus := Checkpoint{Origin: tlOrigin, Size: 0, Root: tlog.Hash{1}}
	if rep := tlVerifyExport(t, nil, []Checkpoint{bogus}); rep.OK {
		t.Errorf("size-0 checkpoint with a non-empty root accepted: %+v", rep)
	}
}

// TestVerifyExportChunks crosses the verifier's 4 MiB read chunks.
func TestVerifyExportChunks(t *testing.T) {
	const n = 15000 // about 5 MB
	path, cp := writeExport(t, n)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= exportChunkSize {
		t.Fatalf("export of %d bytes does not cross a chunk", len(data))
	}
	// starts[i] is the offset of line i.
	starts := []int{0}
	for i, c := range data[:len(data)-1] {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	if len(starts) != n {
		t.Fatalf("%d lines", len(starts))
	}
	var tr Tree
	for i := range n/2 + 1 {
		tr.Add(LeafHash(data[starts[i] : starts[i+1]-1]))
	}
	mid := Checkpoint{Origin: tlOrigin, Size: n/2 + 1, Root: tr.Root()}
	tlWantOK(t, tlVerifyExport(t, data, []Checkpoint{mid, cp}), n, 2)
	// Short reads at the start.
	rep, err := VerifyExport(io.MultiReader(iotest.OneByteReader(bytes.NewReader(data[:1000])), bytes.NewReader(data[1000:])), []Checkpoint{cp})
	if err != nil {
		t.Fatal(err)
	}
	tlWantOK(t, rep, n, 1)

	// The line that crosses the first chunk boundary, and its neighbours.
	b := bytes.Count(data[:exportChunkSize], []byte("\n"))
	for _, k := range []int{0, b - 1, b, b + 1, n - 2} {
		t.Run(fmt.Sprintf("edit %d", k), func(t *testing.T) {
			buf := bytes.Clone(data)
			line := buf[starts[k]:]
			i := bytes.Index(line, []byte(`"status":200`))
			if i < 0 {
				t.Fatal("no status field")
			}
			line[i+len(`"status":20`)] = '1'
			rep := tlVerifyExport(t, buf, []Checkpoint{cp})
			if rep.OK || rep.FirstBad != int64(k) {
				t.Errorf("report = %+v, want first bad %d", rep, k)
			}
		})
	}
	t.Run("line longer than a chunk", func(t *testing.T) {
		var buf bytes.Buffer
		buf.Write(data[:starts[3]])
		buf.Write(bytes.Repeat([]byte("x"), exportChunkSize+exportChunkSize/2))
		buf.WriteByte('\n')
		buf.Write(data[starts[3]:starts[10]])
		rep := tlVerifyExport(t, buf.Bytes(), nil)
		if rep.OK || rep.FirstBad != 3 {
			t.Errorf("report = %+v, want first bad 3", rep)
		}
	})
	t.Run("truncated mid-line", func(t *testing.T) {
		rep := tlVerifyExport(t, data[:starts[b]+10], []Checkpoint{cp})
		if rep.OK || rep.FirstBad != int64(b) {
			t.Errorf("truncated export: %+v, want first bad %d", rep, b)
		}
	})
}

func TestVerifyExportReadError(t *testing.T) {
	lines, cps := tlExportFixture(t)
	boom := errors.New("disk on fire")
	for _, r := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(bytes.NewReader(tlJoin(lines[:5])), iotest.ErrReader(boom)),
	} {
		rep, err := VerifyExport(r, cps)
		if !errors.Is(err, boom) {
			t.Errorf("VerifyExport = %+v, %v; want the read error", rep, err)
		}
	}
}

func BenchmarkVerifyExport10k(b *testing.B) {
	path, cp := writeExport(b, 10000)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rep, err := VerifyExport(bytes.NewReader(data), []Checkpoint{cp})
		if err != nil || !rep.OK {
			b.Fatal(rep, err)
		}
	}
}

// TestFreshRequestID: an id the caller just made with NewRequestID is kept
// without a lookup and comes back unmarked; an invalid one is still
// replaced, and a caller's id already in the log is replaced as before.
func TestFreshRequestID(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	rid := NewRequestID()
	e, err := l.Append(&Entry{RequestID: rid, FreshRequestID: true, Action: "petition.read", Decision: Allow, Status: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.RequestID != rid || e.FreshRequestID {
		t.Errorf("fresh id: got %q (marked %v), want %q unmarked", e.RequestID, e.FreshRequestID, rid)
	}
	again, err := l.Append(&Entry{RequestID: rid, Action: "petition.read", Decision: Allow, Status: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.RequestID == rid {
		t.Error("a caller's id already in the log was kept")
	}
	bad, err := l.Append(&Entry{RequestID: "bad id", FreshRequestID: true, Action: "petition.read", Decision: Allow, Status: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidRequestID(bad.RequestID) {
		t.Errorf("an invalid id marked fresh was kept: %q", bad.RequestID)
	}
	if res, err := l.Verify(); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}

	// Marked fresh, an id is not looked up: one already in the log (which
	// a fresh id never is) is kept, which shows the lookup was skipped, and
	// verification reports the repeat, so a misuse would not go unseen.
	l2 := tlOpen(t, store.NewMem(), Options{})
	if _, err := l2.Append(&Entry{RequestID: rid, Action: "petition.read", Decision: Allow, Status: 200}, nil); err != nil {
		t.Fatal(err)
	}
	skipped, err := l2.Append(&Entry{RequestID: rid, FreshRequestID: true, Action: "petition.read", Decision: Allow, Status: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if skipped.RequestID != rid {
		t.Errorf("an id marked fresh was looked up and replaced by %q", skipped.RequestID)
	}
	if res, err := l2.Verify(); err != nil || res.OK || !strings.Contains(res.Problem, "request id repeated") {
		t.Errorf("Verify of a log with a repeated request id = %+v, %v", res, err)
	}
}
