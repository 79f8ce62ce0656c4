package vault

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"pvault/audit"
	"pvault/vault/store"
)

// TOTP settings: RFC 6238 with SHA-1, 6 digits, 30-second steps, one step of
// clock skew either way; a code is accepted once.
const (
	totpPeriod = 30
	totpSkew   = 1
)

// BeginTOTP gives u a new, not yet active TOTP secret and records e with it.
// It returns the secret (base32) and its otpauth:// URL for authenticator
// apps.
func (v *Vault) BeginTOTP(u *User, e *audit.Entry) (secret, url string, rec audit.Entry, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "pvault " + v.ring.Name, AccountName: u.Username, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", audit.Entry{}, err
	}
	v.usersMu.Lock()
	defer v.usersMu.Unlock()
	cur, err := v.User(u.ID)
	if err != nil {
		return "", "", audit.Entry{}, err
	}
	cur.TOTPPending = key.Secret()
	cur.UpdatedAt = v.Now()
	e.Object = &audit.Object{Type: "user", ID: u.ID}
	rec, err = v.log.Append(e, []store.Op{store.Put(userKey(cur.ID), mustJSON(cur))})
	if err != nil {
		return "", "", rec, err
	}
	return key.Secret(), key.URL(), rec, nil
}

// totpCounter returns the time step a code belongs to (within the skew), or
// -1 if it matches none.
func totpCounter(secret, code string, now time.Time) int64 {
	if len(code) != 6 || secret == "" {
		return -1
	}
	step := now.Unix() / totpPeriod
	found := int64(-1)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(step+d), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return -1
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = step + d
		}
	}
	return found
}

// ConfirmTOTP activates u's pending secret when code is valid for it, and
// records e. It returns an error wrapping ErrInvalid for a wrong code and
// ErrConflict when no enrolment is pending.
func (v *Vault) ConfirmTOTP(u *User, code string, e *audit.Entry) (audit.Entry, error) {
	v.usersMu.Lock()
	defer v.usersMu.Unlock()
	cur, err := v.User(u.ID)
	if err != nil {
		return audit.Entry{}, err
	}
	if cur.TOTPPending == "" {
		return audit.Entry{}, conflict("no second-factor enrolment is pending")
	}
	ctr := totpCounter(cur.TOTPPending, code, v.Now())
	if ctr < 0 {
		return audit.Entry{}, invalid("code", "not the current code of the new secret")
	}
	cur.TOTPSecret, cur.TOTPPending, cur.TOTPLast = cur.TOTPPending, "", ctr
	cur.UpdatedAt = v.Now()
	e.Object = &audit.Object{Type: "user", ID: u.ID}
	return v.log.Append(e, []store.Op{store.Put(userKey(cur.ID), mustJSON(cur))})
}

// ResetTOTP removes a user's second factor (an admin's recovery step) and
// revokes their tokens.
func (v *Vault) ResetTOTP(id string, e *audit.Entry) (audit.Entry, error) {
	v.usersMu.Lock()
	defer v.usersMu.Unlock()
	cur, err := v.User(id)
	if err != nil {
		return audit.Entry{}, err
	}
	cur.TOTPSecret, cur.TOTPPending, cur.TOTPLast = "", "", 0
	cur.Epoch++
	cur.UpdatedAt = v.Now()
	e.Object = &audit.Object{Type: "user", ID: id}
	return v.log.Append(e, []store.Op{store.Put(userKey(cur.ID), mustJSON(cur))})
}

// CheckTOTP checks a login's second-factor code for u: valid now and not
// used before. It returns the time step to record with the login.
func (v *Vault) CheckTOTP(u *User, code string) (int64, error) {
	ctr := totpCounter(u.TOTPSecret, code, v.Now())
	if ctr < 0 || ctr <= u.TOTPLast {
		return 0, fmt.Errorf("%w: second-factor code", ErrUnauthenticated)
	}
	return ctr, nil
}
