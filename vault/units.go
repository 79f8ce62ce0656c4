package vault

import (
	"errors"
	"strings"
	"time"

	"pvault/audit"
	"pvault/vault/store"
)

// Unit is an organisational unit. A unit exists once a user or petition
// names it; admins give it a display name and open it to the public portal.
type Unit struct {
	Path      string    `json:"path"`
	Name      string    `json:"name"`
	Public    bool      `json:"public"`
	CreatedAt time.Time `json:"created_at"`
}

func unitKey(path string) []byte { return []byte("unit/" + path) }

// ancestors returns path and every unit above it, root first.
func ancestors(path string) []string {
	var out []string
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			out = append(out, path[:i])
		}
	}
	return out
}

// unitOps returns the writes that register path and its ancestors.
func (v *Vault) unitOps(path string) []store.Op {
	var ops []store.Op
	for _, p := range ancestors(path) {
		ops = append(ops, store.Put(unitKey(p), mustJSON(Unit{Path: p, CreatedAt: v.Now()})))
	}
	return ops
}

// unitOpsIfNew is unitOps for the units not yet registered.
func (v *Vault) unitOpsIfNew(path string) []store.Op {
	var ops []store.Op
	_ = v.st.View(func(r store.Reader) error {
		for _, p := range ancestors(path) {
			if _, err := r.Get(unitKey(p)); errors.Is(err, store.ErrNotFound) {
				ops = append(ops, store.Put(unitKey(p), mustJSON(Unit{Path: p, CreatedAt: v.Now()})))
			}
		}
		return nil
	})
	return ops
}

// Units returns the known units in path order.
func (v *Vault) Units() ([]Unit, error) {
	var out []Unit
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("unit/")}, func(_, val []byte) error {
			var u Unit
			if err := jsonUnmarshal(val, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// UnitByPath returns a unit, or an error wrapping ErrNotFound.
func (v *Vault) UnitByPath(path string) (*Unit, error) {
	var u Unit
	if err := v.st.View(func(r store.Reader) error { return getJSON(r, unitKey(path), &u) }); err != nil {
		return nil, err
	}
	return &u, nil
}

// SetUnit sets the display name and public flag of a unit, registering it
// (and its ancestors) if new, and records e with the change.
func (v *Vault) SetUnit(path, name string, public bool, e *audit.Entry) (*Unit, audit.Entry, error) {
	if !ValidUnit(path) {
		return nil, audit.Entry{}, invalid("path", "not a unit path")
	}
	if err := checkText("name", name, 0, 100, false); err != nil {
		return nil, audit.Entry{}, err
	}
	unlock := v.lock("unit/" + path)
	defer unlock()
	u, err := v.UnitByPath(path)
	if errors.Is(err, ErrNotFound) {
		u = &Unit{Path: path, CreatedAt: v.Now()}
	} else if err != nil {
		return nil, audit.Entry{}, err
	}
	u.Name, u.Public = strings.TrimSpace(name), public
	ops := append(v.unitOpsIfNew(path), store.Put(unitKey(path), mustJSON(u)))
	e.Object = &audit.Object{Type: "unit", ID: path}
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return u, rec, nil
}
