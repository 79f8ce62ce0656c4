package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

var policyKey = []byte("cfg/policy")

// PolicyRules returns the stored rule set, or the default rules when none was
// stored.
func (v *Vault) PolicyRules() ([][]string, error) {
	var rules [][]string
	err := v.st.View(func(r store.Reader) error { return getJSON(r, policyKey, &rules) })
	if errors.Is(err, ErrNotFound) {
		return policy.DefaultRules(), nil
	}
	return rules, err
}

// RulesHash is the SHA-256 (hex) of a rule set's JSON, recorded in the audit
// entry of a policy change.
func RulesHash(rules [][]string) string {
	h := sha256.Sum256(mustJSON(rules))
	return hex.EncodeToString(h[:])
}

// SetPolicyRules stores rules (already validated by the caller) and records
// e with the change, with the hashes of the old and new rule sets.
func (v *Vault) SetPolicyRules(old, rules [][]string, e *audit.Entry) (audit.Entry, error) {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["old_rules_sha256"] = RulesHash(old)
	e.Details["new_rules_sha256"] = RulesHash(rules)
	e.Object = &audit.Object{Type: "policy", ID: "rules"}
	return v.log.Append(e, []store.Op{store.Put(policyKey, mustJSON(rules))})
}
