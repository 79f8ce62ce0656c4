package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEntries are the entries whose canonical encoding is pinned in
// testdata/entry/<name>.json (exact Marshal output, no newline) and whose
// RFC 6962 leaf hash is pinned in testdata/entry/<name>.leaf (base64).
func goldenEntries() []struct {
	name string
	e    *Entry
} {
	cst := time.FixedZone("CST", 8*3600)
	prev1, _ := DecodeHash("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")
	return []struct {
		name string
		e    *Entry
	}{
		{"first", &Entry{
			Seq:       0,
			Time:      time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC),
			RequestID: "0123456789abcdef0123456789abcdef",
			Action:    "auth.login_failed",
			Decision:  Deny,
			Status:    401,
			Details:   map[string]any{"username_hmac": "5f2b9c0e7d1a4b3c8e6f0a1b2c3d4e5f"},
			Prev:      ZeroPrev,
		}},
		{"petition_read", &Entry{
			Seq: 1,
			// A local time with nanoseconds: encoded in UTC.
			Time:      time.Date(2024, 3, 1, 16, 0, 1, 123456789, cst),
			RequestID: "req-2",
			Actor:     &Actor{UserID: "01HQ3Z8M7X0000000000000000", Username: "li.officer", Roles: []string{"officer", "supervisor"}, Unit: "group/east"},
			Action:    "petition.read",
			Object:    &Object{Type: "petition", ID: "01HQ3Z8M7X0000000000000001"},
			Decision:  Allow,
			Status:    200,
			// Keys out of order: encoded sorted, nested maps too.
			Details: map[string]any{"z": 1, "a": []any{"x", "y"}, "m": map[string]any{"k": true, "b": nil}},
			Prev:    EncodeHash(prev1),
		}},
		{"reveal_reason", &Entry{
			Seq:       2,
			Time:      time.Date(2024, 12, 31, 23, 59, 59, 500000000, time.UTC),
			RequestID: "req-3",
			// nil roles are encoded as [], nil details as {}.
			Actor:    &Actor{UserID: "01HQ3Z8M7X0000000000000002", Username: "wang", Unit: "group"},
			Action:   "petition.reveal_identity",
			Object:   &Object{Type: "petition", ID: "01HQ3Z8M7X0000000000000001"},
			Decision: Deny,
			Status:   403,
			// The stated reason verbatim, with characters JSON escapes.
			Reason: "核实身份以便回访 <script>&\"\n\u2028",
			Prev:   EncodeHash(tlog.RecordHash([]byte("x"))),
		}},
		{"large_seq", &Entry{
			Seq:       1 << 40,
			Time:      time.Date(2099, 1, 2, 3, 4, 5, 6, time.UTC),
			RequestID: "f",
			Action:    "public.track",
			Object:    &Object{Type: "receipt", ID: ""},
			Decision:  Allow,
			Status:    404,
			Details:   map[string]any{},
			Prev:      EncodeHash(tlog.RecordHash(nil)),
		}},
	}
}

func TestGoldenEntries(t *testing.T) {
	for _, tt := range goldenEntries() {
		t.Run(tt.name, func(t *testing.T) {
			line, err := tt.e.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			leaf := LeafHash(line)
			jsonFile := filepath.Join("testdata", "entry", tt.name+".json")
			leafFile := filepath.Join("testdata", "entry", tt.name+".leaf")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(jsonFile), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonFile, line, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(leafFile, []byte(EncodeHash(leaf)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(jsonFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(line, want) {
				t.Errorf("Marshal =\n%s\nwant (%s)\n%s", line, jsonFile, want)
			}
			wantLeaf, err := os.ReadFile(leafFile)
			if err != nil {
				t.Fatal(err)
			}
			if got := EncodeHash(leaf); got != strings.TrimSpace(string(wantLeaf)) {
				t.Errorf("LeafHash = %s, want %s", got, strings.TrimSpace(string(wantLeaf)))
			}
			// The leaf hash is SHA-256(0x00 || line), computed independently.
			indep := sha256.Sum256(append([]byte{0}, want...))
			if EncodeHash(indep) != strings.TrimSpace(string(wantLeaf)) {
				t.Errorf("golden leaf hash is not SHA-256(0x00 || line)")
			}

			// The golden bytes parse and re-encode to themselves.
			e, err := ParseEntry(want)
			if err != nil {
				t.Fatalf("ParseEntry(golden) = %v", err)
			}
			again, err := e.Marshal()
			if err != nil || !bytes.Equal(again, want) {
				t.Errorf("Marshal(ParseEntry(golden)) = %s, %v", again, err)
			}
			if e.Seq != tt.e.Seq || !e.Time.Equal(tt.e.Time) || e.RequestID != tt.e.RequestID ||
				e.Action != tt.e.Action || e.Decision != tt.e.Decision || e.Status != tt.e.Status ||
				e.Reason != tt.e.Reason || e.Prev != tt.e.Prev {
				t.Errorf("ParseEntry(golden) = %+v, want %+v", e, tt.e)
			}
			if e.Time.Location() != time.UTC {
				t.Errorf("parsed time in %v, want UTC", e.Time.Location())
			}
		})
	}
}

// TestMarshalRules checks the documented encoding rules on the golden
// vectors' text, independently of the files.
func TestMarshalRules(t *testing.T) {
	vs := goldenEntries()
	enc := func(e *Entry) string {
		t.Helper()
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) || bytes.ContainsAny(b, "\n\r\t") {
			t.Fatalf("Marshal output not a single compact line: %q", b)
		}
		return string(b)
	}
	first := enc(vs[0].e)
	wantFirst := `{"seq":0,"time":"2024-03-01T08:00:00Z","request_id":"0123456789abcdef0123456789abcdef","actor":null,"action":"auth.login_failed","object":null,"decision":"deny","status":401,"reason":"","details":{"username_hmac":"5f2b9c0e7d1a4b3c8e6f0a1b2c3d4e5f"},"prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`
	if first != wantFirst {
		t.Errorf("Marshal(first) =\n%s\nwant\n%s", first, wantFirst)
	}
	read := enc(vs[1].e)
	for _, sub := range []string{
		`"time":"2024-03-01T08:00:01.123456789Z"`,
		`"actor":{"user_id":"01HQ3Z8M7X0000000000000000","username":"li.officer","roles":["officer","supervisor"],"unit":"group/east"}`,
		`"details":{"a":["x","y"],"m":{"b":null,"k":true},"z":1}`,
	} {
		if !strings.Contains(read, sub) {
			t.Errorf("Marshal(petition_read) = %s\nwant it to contain %s", read, sub)
		}
	}
	reveal := enc(vs[2].e)
	for _, sub := range []string{`"roles":[]`, `"details":{}`, `"time":"2024-12-31T23:59:59.5Z"`, `\u003cscript\u003e\u0026\"\n\u2028`} {
		if !strings.Contains(reveal, sub) {
			t.Errorf("Marshal(reveal_reason) = %s\nwant it to contain %s", reveal, sub)
		}
	}
	// Marshal does not change its receiver.
	e := vs[2].e
	if e.Actor.Roles != nil || e.Details != nil {
		t.Errorf("Marshal modified its receiver: %+v", e)
	}
}

func TestParseEntryRejectsNonCanonical(t *testing.T) {
	goodB, err := goldenEntries()[1].e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	good := string(goodB)
	revealB, err := goldenEntries()[2].e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	reveal := string(revealB)
	if _, err := ParseEntry(goodB); err != nil {
		t.Fatalf("ParseEntry(canonical) = %v", err)
	}

	indented := func() string {
		var buf bytes.Buffer
		if err := json.Indent(&buf, goodB, "", "  "); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	// Same object through a map: keys in alphabetical, not canonical, order.
	reordered := func() string {
		var m map[string]any
		if err := json.Unmarshal(goodB, &m); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	swapSeqTime := strings.Replace(good, `{"seq":1,"time":"2024-03-01T08:00:01.123456789Z",`, `{"time":"2024-03-01T08:00:01.123456789Z","seq":1,`, 1)
	cut := func(s, field string) string {
		// Remove ,"field":<value> where value runs to the next ,"
		i := strings.Index(s, `,"`+field+`":`)
		if i < 0 {
			t.Fatalf("no field %s in %s", field, s)
		}
		j := strings.Index(s[i+1:], `,"`)
		if j < 0 {
			return s[:i] + "}"
		}
		return s[:i] + s[i+1+j:]
	}
	rep := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in %s", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}

	// Variants that are not even JSON; every other one is valid JSON that
	// only breaks a canonical-encoding rule.
	syntaxError := map[string]bool{"empty": true, "seq leading zero": true, "two entries": true, "truncated": true}
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"null", "null"},
		{"empty object", "{}"},
		{"array", "[" + good + "]"},
		{"trailing newline", good + "\n"},
		{"trailing CRLF", good + "\r\n"},
		{"leading space", " " + good},
		{"trailing space", good + " "},
		{"space after colon", rep(good, `"seq":1`, `"seq": 1`)},
		{"space after comma", rep(good, `,"time"`, `, "time"`)},
		{"indented", indented()},
		{"reordered fields", reordered()},
		{"seq and time swapped", swapSeqTime},
		{"unknown field at end", good[:len(good)-1] + `,"extra":1}`},
		{"unknown field at start", `{"extra":"x",` + good[1:]},
		{"unknown actor field", rep(good, `"unit":"group/east"}`, `"unit":"group/east","email":"x"}`)},
		{"upper-case key", rep(good, `"seq"`, `"Seq"`)},
		{"duplicate key", rep(good, `"seq":1,`, `"seq":1,"seq":1,`)},
		{"time +00:00", rep(good, `08:00:01.123456789Z"`, `08:00:01.123456789+00:00"`)},
		{"time +08:00", rep(good, `08:00:01.123456789Z"`, `16:00:01.123456789+08:00"`)},
		{"time lower-case z", rep(good, `123456789Z"`, `123456789z"`)},
		{"time trailing zero", rep(reveal, `59.5Z"`, `59.50Z"`)},
		{"time no fraction zero", rep(wantFirstLine(t), `08:00:00Z"`, `08:00:00.000Z"`)},
		{"missing details", rep(good, `,"details":{"a":["x","y"],"m":{"b":null,"k":true},"z":1}`, "")},
		{"missing empty details", rep(reveal, `,"details":{}`, "")},
		{"details null", rep(reveal, `"details":{}`, `"details":null`)},
		{"missing prev", cut(good, "prev")},
		{"missing reason", cut(good, "reason")},
		{"roles null", rep(reveal, `"roles":[]`, `"roles":null`)},
		{"details keys unsorted", rep(good, `"details":{"a":["x","y"],"m":{"b":null,"k":true},"z":1}`, `"details":{"z":1,"a":["x","y"],"m":{"b":null,"k":true}}`)},
		{"details nested keys unsorted", rep(good, `"m":{"b":null,"k":true}`, `"m":{"k":true,"b":null}`)},
		{"details spaced", rep(good, `"details":{"a"`, `"details":{ "a"`)},
		{"escaped plain character", rep(good, `"petition.read"`, `"\u0070etition.read"`)},
		{"unescaped <", rep(reveal, `\u003cscript\u003e`, `<script>`)},
		{"unescaped &", rep(reveal, `\u0026`, `&`)},
		{"escaped solidus", rep(good, `"group/east"`, `"group\/east"`)},
		{"seq as float", rep(good, `"seq":1,`, `"seq":1.0,`)},
		{"seq with exponent", rep(good, `"seq":1,`, `"seq":1e0,`)},
		{"seq as string", rep(good, `"seq":1,`, `"seq":"1",`)},
		{"seq leading zero", rep(good, `"seq":1,`, `"seq":01,`)},
		{"status negative zero", rep(good, `"status":200`, `"status":-0`)},
		{"invalid UTF-8", rep(good, `"req-2"`, "\"req-\xff\"")},
		{"two entries", good + good},
		{"truncated", good[:len(good)-1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("variant equals the canonical encoding")
			}
			if json.Valid([]byte(tt.in)) == syntaxError[tt.name] {
				t.Fatalf("json.Valid(variant) = %v: the variant does not test what it is named for", !syntaxError[tt.name])
			}
			e, err := ParseEntry([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseEntry(%q) = %+v, %v; want ErrMalformed", tt.in, e, err)
			}
			if err != nil && strings.Contains(err.Error(), "req-2") {
				t.Errorf("error echoes entry bytes: %v", err)
			}
		})
	}
}

func wantFirstLine(t testing.TB) string {
	t.Helper()
	b, err := goldenEntries()[0].e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHashText(t *testing.T) {
	h := LeafHash([]byte("entry"))
	got, err := DecodeHash(EncodeHash(h))
	if err != nil || got != h {
		t.Fatalf("DecodeHash(EncodeHash(h)) = %x, %v", got, err)
	}
	if ZeroPrev != EncodeHash(tlog.Hash{}) {
		t.Errorf("ZeroPrev = %s, want the zero hash", ZeroPrev)
	}
	for _, s := range []string{"", "AAAA", EncodeHash(h) + "AAAA", EncodeHash(h)[:43], "!" + EncodeHash(h)[1:]} {
		if _, err := DecodeHash(s); err == nil {
			t.Errorf("DecodeHash(%q) succeeded", s)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, v := range goldenEntries() {
		b, err := v.e.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append(b, '\n'))
		f.Add(bytes.Replace(b, []byte(`Z"`), []byte(`+00:00"`), 1))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"seq":0,"time":"0001-01-01T00:00:00Z","request_id":"","actor":null,"action":"","object":null,"decision":"","status":0,"reason":"","details":{"n":1.50e3,"s":"\ud800"},"prev":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEntry error %v does not wrap ErrMalformed", err)
			}
			if e != nil {
				t.Fatalf("ParseEntry returned an entry with an error")
			}
			return
		}
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed entry: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Marshal(ParseEntry(b)) = %q, want %q", again, b)
		}
		if _, err := ParseEntry(again); err != nil {
			t.Fatalf("ParseEntry(Marshal(e)) = %v", err)
		}
		if LeafHash(again) != LeafHash(b) {
			t.Fatal("leaf hash differs")
		}
	})
}

func BenchmarkEntryMarshal(b *testing.B) {
	e := goldenEntries()[1].e
	for b.Loop() {
		if _, err := e.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEntry(b *testing.B) {
	line, err := goldenEntries()[1].e.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ParseEntry(line); err != nil {
			b.Fatal(err)
		}
	}
}
