package vault

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"

	"pvault/audit"
	"pvault/vault/store"
)

// Damage is one damaged record found by Check.
type Damage struct {
	Kind    string `json:"kind"` // petition, index, user, audit, store
	ID      string `json:"id,omitempty"`
	Part    string `json:"part,omitempty"` // meta, content, identity, event, …
	Problem string `json:"problem"`
}

// CheckReport summarises a Check.
type CheckReport struct {
	Petitions   int          `json:"petitions"`
	Envelopes   int          `json:"envelopes"`
	Events      int          `json:"events"`
	IndexKeys   int          `json:"index_keys"`
	Users       int          `json:"users"`
	Audit       audit.Result `json:"audit"`
	Damaged     []Damage     `json:"damaged"`
	DamageCount int          `json:"damage_count"`
}

// Check reads every record of the vault and reports exactly what is
// damaged: metadata that does not parse, envelopes that fail age
// authentication, events, index entries that point nowhere, petitions
// missing from their indexes, users, and the audit log (VerifyStore). It
// changes nothing. At most 1,000 damages are listed; all are counted.
func (v *Vault) Check() (*CheckReport, error) {
	rep := &CheckReport{Damaged: []Damage{}}
	add := func(d Damage) {
		rep.DamageCount++
		if len(rep.Damaged) < 1000 {
			rep.Damaged = append(rep.Damaged, d)
		}
	}
	metas := map[string]*Meta{}
	badMeta := map[string]bool{} // reported once, not again through its indexes
	err := v.st.View(func(r store.Reader) error {
		// Petitions: metadata, envelopes, events.
		err := r.Scan(store.ScanOptions{Prefix: []byte("p/")}, func(k, val []byte) error {
			key := string(k)
			rest := strings.TrimPrefix(key, "p/")
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				add(Damage{Kind: "store", Part: "key", Problem: "stray key in the petition range"})
				return nil
			}
			id, part := rest[:i], rest[i+1:]
			switch {
			case part == "m":
				rep.Petitions++
				var m Meta
				if err := json.Unmarshal(val, &m); err != nil || m.ID != id {
					add(Damage{Kind: "petition", ID: id, Part: "meta", Problem: "metadata does not parse"})
					badMeta[id] = true
					return nil
				}
				metas[id] = &m
			case part == "c" || part == "i":
				rep.Envelopes++
				name := map[string]string{"c": "content", "i": "identity"}[part]
				if _, err := v.open(val); err != nil {
					add(Damage{Kind: "petition", ID: id, Part: name, Problem: "envelope fails age authentication"})
				}
			case strings.HasPrefix(part, "e/"):
				rep.Events++
				var ev Event
				if err := json.Unmarshal(val, &ev); err != nil {
					add(Damage{Kind: "petition", ID: id, Part: "event", Problem: "event does not parse"})
					return nil
				}
				if len(ev.Sealed) > 0 {
					if _, err := v.open(ev.Sealed); err != nil {
						add(Damage{Kind: "petition", ID: id, Part: "event", Problem: "event text fails age authentication"})
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id, m := range metas {
			if _, err := r.Get(contentKey(id)); errors.Is(err, store.ErrNotFound) {
				add(Damage{Kind: "petition", ID: id, Part: "content", Problem: "content envelope missing"})
			}
			if m.HasIdentity {
				if _, err := r.Get(identityKey(id)); errors.Is(err, store.ErrNotFound) {
					add(Damage{Kind: "petition", ID: id, Part: "identity", Problem: "identity envelope missing"})
				}
			}
			for _, k := range indexKeys(m) {
				if _, err := r.Get(k); errors.Is(err, store.ErrNotFound) {
					add(Damage{Kind: "index", ID: id, Part: indexName(k), Problem: "petition missing from its index"})
				}
			}
		}
		// Index entries must point at petitions whose metadata agrees.
		err = r.Scan(store.ScanOptions{Prefix: []byte("x/"), KeysOnly: true}, func(k, _ []byte) error {
			rep.IndexKeys++
			key := string(k)
			if strings.HasPrefix(key, "x/pk/") {
				return nil // petitioner keys are checked through metadata
			}
			if len(key) < 26 {
				add(Damage{Kind: "index", Part: indexName(k), Problem: "malformed index key"})
				return nil
			}
			id := key[len(key)-26:]
			m, ok := metas[id]
			if !ok && badMeta[id] {
				return nil
			}
			if !ok {
				add(Damage{Kind: "index", ID: id, Part: indexName(k), Problem: "index entry points at no petition"})
				return nil
			}
			want := false
			for _, x := range indexKeys(m) {
				if string(x) == key {
					want = true
					break
				}
			}
			if !want {
				add(Damage{Kind: "index", ID: id, Part: indexName(k), Problem: "index entry disagrees with the petition's metadata"})
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Receipt codes must lead to the petition that holds their hash.
		err = r.Scan(store.ScanOptions{Prefix: []byte("rc/")}, func(k, val []byte) error {
			rep.IndexKeys++
			h := strings.TrimPrefix(string(k), "rc/")
			m, ok := metas[string(val)]
			switch {
			case !ok && badMeta[string(val)]:
			case !ok:
				add(Damage{Kind: "index", ID: string(val), Part: "rc", Problem: "receipt code points at no petition"})
			case subtle.ConstantTimeCompare([]byte(m.ReceiptHash), []byte(h)) != 1:
				add(Damage{Kind: "index", ID: string(val), Part: "rc", Problem: "receipt code points at another petition"})
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Users.
		return r.Scan(store.ScanOptions{Prefix: []byte("u/")}, func(k, val []byte) error {
			rep.Users++
			var u User
			if err := json.Unmarshal(val, &u); err != nil || "u/"+u.ID != string(k) {
				add(Damage{Kind: "user", ID: strings.TrimPrefix(string(k), "u/"), Problem: "user record does not parse"})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	res, err := audit.VerifyStore(v.st)
	if err != nil {
		return nil, err
	}
	rep.Audit = res
	if !res.OK {
		add(Damage{Kind: "audit", ID: itoa64(res.FirstBadSeq), Problem: res.Problem})
	}
	return rep, nil
}

func indexName(k []byte) string {
	parts := strings.SplitN(string(k), "/", 3)
	if len(parts) < 2 {
		return "index"
	}
	return "x/" + parts[1]
}

func itoa64(p *int64) string {
	if p == nil {
		return ""
	}
	b, _ := json.Marshal(*p)
	return string(b)
}
