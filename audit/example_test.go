package audit_test

import (
	"fmt"
	"time"

	"pvault/audit"
	"pvault/vault/store"
)

// An entry's canonical bytes are what the log hashes and exports; ParseEntry
// accepts exactly those bytes and nothing else.
func ExampleParseEntry() {
	e := &audit.Entry{
		Seq:       0,
		Time:      time.Date(2024, 3, 1, 16, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		RequestID: "r1",
		Actor:     &audit.Actor{UserID: "u1", Username: "li", Roles: []string{"officer"}, Unit: "group/east"},
		Action:    "petition.read",
		Object:    &audit.Object{Type: "petition", ID: "p1"},
		Decision:  audit.Allow,
		Status:    200,
		Details:   map[string]any{"z": 1, "a": "x"},
		Prev:      audit.ZeroPrev,
	}
	line, err := e.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))

	parsed, err := audit.ParseEntry(line)
	fmt.Println(parsed.Action, parsed.Time, err)

	_, err = audit.ParseEntry(append(line, '\n'))
	fmt.Println(err)
	// Output:
	// {"seq":0,"time":"2024-03-01T08:00:00Z","request_id":"r1","actor":{"user_id":"u1","username":"li","roles":["officer"],"unit":"group/east"},"action":"petition.read","object":{"type":"petition","id":"p1"},"decision":"allow","status":200,"reason":"","details":{"a":"x","z":1},"prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	// petition.read 2024-03-01 08:00:00 +0000 UTC <nil>
	// audit: malformed entry
}

// Tree computes the RFC 6962 root of the entries' leaf hashes.
func ExampleTree() {
	var t audit.Tree
	fmt.Println(t.Size(), audit.EncodeHash(t.Root()))
	for _, s := range []string{"a", "b", "c"} {
		t.Add(audit.LeafHash([]byte(s)))
	}
	fmt.Println(t.Size(), audit.EncodeHash(t.Root()))
	// Output:
	// 0 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
	// 3 NmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=
}

// A Log appends entries with their data writes and verifies its chain.
func ExampleLog() {
	st := store.NewMem()
	l, err := audit.Open(st, audit.Options{})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	for i, action := range []string{"auth.login", "petition.create"} {
		e, err := l.Append(&audit.Entry{Action: action, Decision: audit.Allow, Status: 200},
			[]store.Op{store.Put([]byte(fmt.Sprintf("d/%d", i)), []byte("sealed"))})
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Seq, e.Action, e.Prev == audit.ZeroPrev)
	}
	res, err := l.Verify()
	fmt.Println(res.OK, res.Size, err)
	// Output:
	// 0 auth.login true
	// 1 petition.create false
	// true 2 <nil>
}
