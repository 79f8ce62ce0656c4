package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"pvault/audit"
	"pvault/vault/store"
)

// Key rotation: a new vault identity (and/or a new set of recovery
// recipients) takes effect at once for new records and the keyring, while a
// background job re-encrypts every stored record, resumably, with progress.
// The previous identity stays (vault.key.old) until nothing needs it.

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is a background job with its progress.
type Job struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	Done       int64      `json:"done"`
	Total      int64      `json:"total"`
	ETASeconds *float64   `json:"eta_seconds"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error,omitempty"`
	// Cursor is the last store key re-encrypted (resume point).
	Cursor string `json:"cursor"`
	// NewIdentity tells whether the job replaced the vault identity.
	NewIdentity bool `json:"new_identity"`
}

func jobKey(id string) []byte { return []byte("job/" + id) }

// RotateOptions choose what a rotation changes.
type RotateOptions struct {
	// KeepIdentity keeps the vault identity (only the recovery recipients
	// change).
	KeepIdentity   bool
	AddRecovery    []string
	RemoveRecovery []string
}

// ErrJobRunning is returned when a rotation is started while one runs.
var ErrJobRunning = errors.New("vault: a key rotation is already running")

// Job returns a job, or an error wrapping ErrNotFound.
func (v *Vault) Job(id string) (*Job, error) {
	var j Job
	if err := v.st.View(func(r store.Reader) error { return getJSON(r, jobKey(id), &j) }); err != nil {
		return nil, err
	}
	if j.State == JobRunning && j.Done > 0 {
		elapsed := v.Now().Sub(j.StartedAt).Seconds()
		eta := elapsed / float64(j.Done) * float64(max(j.Total-j.Done, 0))
		j.ETASeconds = &eta
	}
	return &j, nil
}

func (v *Vault) runningJob() (*Job, error) {
	var found *Job
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("job/")}, func(_, val []byte) error {
			var j Job
			if err := jsonUnmarshal(val, &j); err != nil {
				return err
			}
			if j.State == JobRunning {
				found = &j
				return store.ErrStop
			}
			return nil
		})
	})
	return found, err
}

// StartRotation rotates the vault's keys and starts re-encrypting every
// record in the background; it returns the job at once. The new keys are in
// use when it returns: the keyring is sealed to them, new records use them,
// and reads work with old and new keys throughout. e is recorded with the
// change.
func (v *Vault) StartRotation(o RotateOptions, e *audit.Entry) (*Job, audit.Entry, error) {
	v.rotMu.Lock()
	defer v.rotMu.Unlock()
	if j, err := v.runningJob(); err != nil {
		return nil, audit.Entry{}, err
	} else if j != nil {
		return nil, audit.Entry{}, &ConflictError{Msg: ErrJobRunning.Error() + " (job " + j.ID + ")"}
	}
	ks := v.keyset.Load()
	if v.unfinishedRotation() {
		// A rotation that failed left records sealed to the previous
		// identity (still on disk): finish that one before starting another.
		return v.retryRotation(e)
	}
	recovery := slices.Clone(ks.recovery)
	for _, r := range o.AddRecovery {
		r = strings.TrimSpace(r)
		if _, err := age.ParseX25519Recipient(r); err != nil {
			return nil, audit.Entry{}, invalid("add_recovery", "not an age X25519 recipient")
		}
		if !slices.Contains(recovery, r) {
			recovery = append(recovery, r)
		}
	}
	for _, r := range o.RemoveRecovery {
		i := slices.Index(recovery, strings.TrimSpace(r))
		if i < 0 {
			return nil, audit.Entry{}, invalid("remove_recovery", "not a recovery recipient of this vault")
		}
		recovery = slices.Delete(recovery, i, i+1)
	}
	recips, err := ParseRecipients(recovery)
	if err != nil {
		return nil, audit.Entry{}, invalid("add_recovery", "%v", err)
	}
	now := v.Now()
	cur := ks.current
	next := cur
	ids := ks.identities
	if !o.KeepIdentity {
		if next, err = age.GenerateX25519Identity(); err != nil {
			return nil, audit.Entry{}, err
		}
		// 1. Keep the current identity as the previous one.
		if err := v.writeIdentityAs(cur, true, now); err != nil {
			return nil, audit.Entry{}, err
		}
		ids = []age.Identity{next, cur}
	}
	// 2. The keyring opens with either identity until the job is done.
	ring := *v.ring
	ring.Recovery = recovery
	ringTo := append([]age.Recipient{next.Recipient()}, recips...)
	if next != cur {
		ringTo = append(ringTo, cur.Recipient())
	}
	if err := v.writeKeyring(&ring, ringTo); err != nil {
		return nil, audit.Entry{}, err
	}
	// 3. The new identity becomes the vault identity.
	if next != cur {
		if err := v.writeIdentityAs(next, false, now); err != nil {
			return nil, audit.Entry{}, err
		}
	}
	v.ring = &ring
	var prev *age.X25519Identity
	if next != cur {
		prev = cur
	}
	nks, err := keysetFor(next, prev, recovery)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	_ = ids
	v.keyset.Store(nks)
	total, err := v.countSealed()
	if err != nil {
		return nil, audit.Entry{}, err
	}
	j := &Job{ID: v.ids.next(now), Kind: "key.rotate", State: JobRunning, Total: total, StartedAt: now, NewIdentity: next != cur}
	e.Object = &audit.Object{Type: "job", ID: j.ID}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["new_identity"] = j.NewIdentity
	e.Details["recovery_recipients"] = len(recovery)
	e.Details["records"] = total
	rec, err := v.log.Append(e, []store.Op{store.Put(jobKey(j.ID), mustJSON(j))})
	if err != nil {
		return nil, rec, err
	}
	v.startJob(j)
	return j, rec, nil
}

// unfinishedRotation reports whether the previous identity is still on disk:
// a rotation has not finished re-encrypting.
func (v *Vault) unfinishedRotation() bool {
	for _, f := range []string{OldIdentityFile, OldSealedIdentityFile} {
		if _, err := os.Stat(filepath.Join(v.dir, f)); err == nil {
			return true
		}
	}
	return false
}

// retryRotation restarts the re-encryption of the last rotation that did not
// finish (its previous identity is still held), from the start.
func (v *Vault) retryRotation(e *audit.Entry) (*Job, audit.Entry, error) {
	var last *Job
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("job/")}, func(_, val []byte) error {
			var j Job
			if err := jsonUnmarshal(val, &j); err != nil {
				return err
			}
			if j.Kind == "key.rotate" && (last == nil || j.StartedAt.After(last.StartedAt)) {
				last = &j
			}
			return nil
		})
	})
	if err != nil {
		return nil, audit.Entry{}, err
	}
	now := v.Now()
	if last == nil {
		last = &Job{ID: v.ids.next(now), Kind: "key.rotate", NewIdentity: true}
	}
	total, err := v.countSealed()
	if err != nil {
		return nil, audit.Entry{}, err
	}
	last.State, last.Done, last.Total, last.Cursor, last.Error, last.FinishedAt, last.StartedAt = JobRunning, 0, total, "", "", nil, now
	e.Object = &audit.Object{Type: "job", ID: last.ID}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["retry"] = true
	rec, err := v.log.Append(e, []store.Op{store.Put(jobKey(last.ID), mustJSON(last))})
	if err != nil {
		return nil, rec, err
	}
	v.startJob(last)
	return last, rec, nil
}

// writeIdentityAs writes id as the vault identity (or the previous one),
// passphrase-protected when the vault is.
func (v *Vault) writeIdentityAs(id *age.X25519Identity, previous bool, now time.Time) error {
	plain, sealed := IdentityFile, SealedIdentityFile
	if previous {
		plain, sealed = OldIdentityFile, OldSealedIdentityFile
	}
	pass := ""
	if _, err := os.Stat(filepath.Join(v.dir, SealedIdentityFile)); err == nil {
		pass = v.opts.Passphrase
	}
	return writeIdentityFiles(filepath.Join(v.dir, plain), filepath.Join(v.dir, sealed), id, pass, now)
}

func (v *Vault) writeKeyring(k *Keyring, to []age.Recipient) error {
	b, err := sealKeyring(k, to)
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(v.dir, KeyringFile), b, 0o600)
}

// sealedPrefixes are the store ranges holding sealed records.
var sealedPrefixes = []string{"cx/", "p/"} // in key order

// isSealed reports whether a key holds a sealed record: petition content,
// identity, events (whose text is sealed inside), corrections.
func isSealed(k []byte) bool {
	s := string(k)
	switch {
	case strings.HasPrefix(s, "cx/"):
		return true
	case strings.HasPrefix(s, "p/"):
		return strings.HasSuffix(s, "/c") || strings.HasSuffix(s, "/i") || strings.Contains(s, "/e/")
	}
	return false
}

func (v *Vault) countSealed() (int64, error) {
	var n int64
	err := v.st.View(func(r store.Reader) error {
		for _, p := range sealedPrefixes {
			if err := r.Scan(store.ScanOptions{Prefix: []byte(p), KeysOnly: true}, func(k, _ []byte) error {
				if isSealed(k) {
					n++
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// ResumeJobs restarts a rotation that was running when the vault stopped.
func (v *Vault) ResumeJobs() error {
	j, err := v.runningJob()
	if err != nil || j == nil {
		return err
	}
	v.startJob(j)
	return nil
}

func (v *Vault) startJob(j *Job) {
	v.jobs.Add(1)
	go func() {
		defer v.jobs.Done()
		if err := v.runRotation(j); err != nil {
			v.logger.Error("key rotation failed", "job", j.ID, "err", err)
		}
	}()
}

// WaitJobs waits for background jobs to stop.
func (v *Vault) WaitJobs() { v.jobs.Wait() }

// rotationBatch is how many records one commit re-encrypts.
const rotationBatch = 128

// runRotation re-encrypts every sealed record after the job's cursor, in
// batches, each committed with an audit entry and the job's progress.
func (v *Vault) runRotation(j *Job) error {
	for {
		select {
		case <-v.stopping:
			return nil
		default:
		}
		type rec struct {
			key []byte
			val []byte
		}
		var batch []rec
		err := v.st.View(func(r store.Reader) error {
			for _, p := range sealedPrefixes {
				if len(batch) >= rotationBatch {
					return nil
				}
				opts := store.ScanOptions{Prefix: []byte(p)}
				if j.Cursor != "" && strings.HasPrefix(j.Cursor, p) {
					opts.Start = []byte(j.Cursor)
				} else if j.Cursor != "" && j.Cursor > p+"\xff" {
					continue // this range is done
				}
				err := r.Scan(opts, func(k, val []byte) error {
					if string(k) == j.Cursor || !isSealed(k) {
						return nil
					}
					batch = append(batch, rec{bytes.Clone(k), bytes.Clone(val)})
					if len(batch) >= rotationBatch {
						return store.ErrStop
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return v.failJob(j, err)
		}
		if len(batch) == 0 {
			return v.finishRotation(j)
		}
		// Lock the petitions of the batch so no concurrent change is lost.
		var ids []string
		for _, r := range batch {
			ids = append(ids, petitionOfKey(r.key))
		}
		unlock := v.lockMany(ids)
		var ops []store.Op
		for _, r := range batch {
			cur, err := v.currentValue(r.key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				unlock()
				return v.failJob(j, err)
			}
			nv, err := v.reseal(r.key, cur)
			if err != nil {
				unlock()
				return v.failJob(j, fmt.Errorf("record %q: %w", r.key, err))
			}
			ops = append(ops, store.Put(r.key, nv))
		}
		j.Done += int64(len(batch))
		j.Total = max(j.Total, j.Done) // records written during the job are counted too
		j.Cursor = string(batch[len(batch)-1].key)
		ops = append(ops, store.Put(jobKey(j.ID), mustJSON(j)))
		_, err = v.log.Append(&audit.Entry{RequestID: audit.NewRequestID(), Action: "key.reencrypt", Object: &audit.Object{Type: "job", ID: j.ID},
			Decision: audit.Allow, Status: 200, Details: map[string]any{"records": len(batch), "done": j.Done, "total": j.Total}}, ops)
		unlock()
		if err != nil {
			return err // the log is failing closed; the job resumes later
		}
	}
}

func (v *Vault) currentValue(k []byte) ([]byte, error) {
	var out []byte
	err := v.st.View(func(r store.Reader) error {
		var err error
		out, err = r.Get(k)
		return err
	})
	return out, err
}

// reseal re-encrypts one record to the current recipients.
func (v *Vault) reseal(k, val []byte) ([]byte, error) {
	if strings.Contains(string(k), "/e/") {
		var ev Event
		if err := json.Unmarshal(val, &ev); err != nil {
			return nil, ErrCorrupt
		}
		if len(ev.Sealed) == 0 {
			return val, nil
		}
		pt, err := v.open(ev.Sealed)
		if err != nil {
			return nil, err
		}
		if ev.Sealed, err = v.sealJSON(pt); err != nil {
			return nil, err
		}
		return mustJSON(ev), nil
	}
	pt, err := v.open(val)
	if err != nil {
		return nil, err
	}
	return v.sealJSON(pt) // every record re-sealed is JSON: padded, if it was sealed before padding
}

func petitionOfKey(k []byte) string {
	s := string(k)
	if rest, ok := strings.CutPrefix(s, "p/"); ok {
		if i := strings.IndexByte(rest, '/'); i > 0 {
			return rest[:i]
		}
	}
	return strings.TrimPrefix(s, "cx/")
}

// lockMany locks the stripes of ids in a fixed order (no deadlock with
// callers holding one stripe) and returns the unlock function.
func (v *Vault) lockMany(ids []string) func() {
	idx := map[int]bool{}
	for _, id := range ids {
		idx[v.stripe(id)] = true
	}
	order := make([]int, 0, len(idx))
	for i := range idx {
		order = append(order, i)
	}
	sort.Ints(order)
	for _, i := range order {
		v.locks[i].Lock()
	}
	return func() {
		for _, i := range order {
			v.locks[i].Unlock()
		}
	}
}

func (v *Vault) failJob(j *Job, err error) error {
	j.State = JobFailed
	j.Error = "re-encryption failed; see the server log"
	now := v.Now()
	j.FinishedAt = &now
	_, aerr := v.log.Append(&audit.Entry{RequestID: audit.NewRequestID(), Action: "key.rotate_failed", Object: &audit.Object{Type: "job", ID: j.ID},
		Decision: audit.Allow, Status: 500}, []store.Op{store.Put(jobKey(j.ID), mustJSON(j))})
	return errors.Join(err, aerr)
}

// finishRotation seals the keyring to the new keys only, re-seals the
// retrained model, destroys the previous identity and closes the job.
func (v *Vault) finishRotation(j *Job) error {
	v.rotMu.Lock()
	defer v.rotMu.Unlock()
	ks := v.keyset.Load()
	ringTo, err := ParseRecipients(ks.recovery)
	if err != nil {
		return v.failJob(j, err)
	}
	if err := v.writeKeyring(v.ring, append([]age.Recipient{ks.current.Recipient()}, ringTo...)); err != nil {
		return v.failJob(j, err)
	}
	if b, err := os.ReadFile(filepath.Join(v.dir, ModelFile)); err == nil {
		if pt, err := v.open(b); err == nil {
			if nb, err := v.seal(pt); err == nil {
				_ = writeFileSync(filepath.Join(v.dir, ModelFile), nb, 0o600)
			}
		}
	}
	for _, f := range []string{OldIdentityFile, OldSealedIdentityFile} {
		shred(filepath.Join(v.dir, f))
	}
	final, err := keysetFor(ks.current, nil, ks.recovery)
	if err != nil {
		return v.failJob(j, err)
	}
	// Reads that fetched a record before its re-encryption may still open
	// it with the previous key for a short while; then it is forgotten.
	if ks.previous != nil {
		grace, _ := keysetFor(ks.current, ks.previous, ks.recovery)
		v.keyset.Store(grace)
		time.AfterFunc(time.Minute, func() {
			v.rotMu.Lock()
			defer v.rotMu.Unlock()
			if v.keyset.Load() == grace {
				v.keyset.Store(final)
			}
		})
	} else {
		v.keyset.Store(final)
	}
	now := v.Now()
	j.State = JobDone
	j.FinishedAt = &now
	_, err = v.log.Append(&audit.Entry{RequestID: audit.NewRequestID(), Action: "key.rotate_done", Object: &audit.Object{Type: "job", ID: j.ID},
		Decision: audit.Allow, Status: 200, Details: map[string]any{"records": j.Done}}, []store.Op{store.Put(jobKey(j.ID), mustJSON(j))})
	return err
}

// shred overwrites a file with zeros, syncs and removes it.
func shred(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	if fi, err := f.Stat(); err == nil {
		_, _ = f.Write(make([]byte, fi.Size()))
		_ = f.Sync()
	}
	f.Close()
	_ = os.Remove(path)
}

// ChangePassphrase re-encrypts the vault identity (and a previous one) under
// a new passphrase, or stores it plain when newPass is empty. Records are
// not touched.
func (v *Vault) ChangePassphrase(newPass string) error {
	v.rotMu.Lock()
	defer v.rotMu.Unlock()
	ks := v.keyset.Load()
	now := v.Now()
	write := func(id *age.X25519Identity, plain, sealed string) error {
		if err := writeIdentityFiles(filepath.Join(v.dir, plain), filepath.Join(v.dir, sealed), id, newPass, now); err != nil {
			return err
		}
		if newPass == "" {
			shred(filepath.Join(v.dir, sealed))
		} else {
			shred(filepath.Join(v.dir, plain))
		}
		return nil
	}
	if err := write(ks.current, IdentityFile, SealedIdentityFile); err != nil {
		return err
	}
	if ks.previous != nil {
		if err := write(ks.previous, OldIdentityFile, OldSealedIdentityFile); err != nil {
			return err
		}
	}
	v.opts.Passphrase = newPass
	return nil
}
