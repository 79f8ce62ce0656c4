// Package vault is pvault's domain: petitions sealed with age, users and
// sessions, units, and the indexes that serve lists.
//
// Guarantees: petition content and petitioner identity exist on disk only as
// standard age files sealed to the vault recipient and every recovery
// recipient; metadata and indexes hold ids, states, times and keyed hashes,
// never petition text or identity fields, and the store itself is encrypted
// at rest with a key from the keyring. Every change the vault makes is
// committed by the audit log in the same synced transaction as the audit
// entry of the request that made it, so nothing changes unrecorded and a 2xx
// means the change is durable. The vault does not decide who may do what: the
// api asks the policy before calling it.
package vault

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"pvault/analysis"
	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// Errors of the vault.
var (
	// ErrNotFound is returned for a record that does not exist.
	ErrNotFound = errors.New("vault: not found")
	// ErrConflict is returned for a change that conflicts with the current
	// state (a taken username, the last admin, an illegal workflow step).
	ErrConflict = errors.New("vault: conflict")
	// ErrUnauthenticated is returned for bad credentials or an invalid,
	// expired or revoked token.
	ErrUnauthenticated = errors.New("vault: not authenticated")
)

// ConflictError explains an ErrConflict.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func conflict(format string, a ...any) error { return &ConflictError{Msg: fmt.Sprintf(format, a...)} }

// Options configure Open. The zero value of each field means its default.
type Options struct {
	// Passphrase unseals a passphrase-protected vault identity.
	Passphrase string
	// Logger receives operational messages (never secrets or petition data).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Argon2 sets the cost of new password hashes.
	Argon2 Argon2Params
	// SessionTTL is how long a login token lasts (default 8 h).
	SessionTTL time.Duration
	// Audit configures the audit log.
	Audit audit.Options
	// Store wraps the opened store (tests inject faults with it).
	Store func(store.Store) store.Store
	// ReadOnly opens the store for offline inspection; writes fail.
	ReadOnly bool
	// IndexCacheBytes bounds the store's cache of decrypted table indexes
	// (0: sized to the store when it opens; see store.BadgerOptions). A
	// process that will grow the store a great deal sets it (pvault gen).
	IndexCacheBytes int64
	// Calendar holds holidays and make-up working days (default: weekends
	// only, China Standard Time).
	Calendar *Calendar
	// Deadlines are the legal time limits (default: 信访工作条例).
	Deadlines DeadlineRules
}

// Vault is an open vault.
type Vault struct {
	dir    string
	opts   Options
	st     store.Store
	log    *audit.Log
	ring   *Keyring
	hasher *Hasher
	keyset atomic.Pointer[keyset]
	// sessions caches the sessions of recent requests (sessions.go).
	sessions *sessionCache
	// buckets caches the busiest buckets of the duplicate index (dupcache.go).
	buckets bucketCache
	sigs    sigCache
	// metas caches decoded metadata by its stored bytes (metacache.go).
	metas metaCache
	// recent caches decoded metadata by petition id (metacache.go).
	recent *recentMetas
	// titles caches petition titles, sealed, for list pages (titlecache.go).
	titles titleCache
	// sealed caches content envelopes for reads (sealedcache.go).
	sealed *sealedCache
	// presence chooses how uncached buckets are looked up (analyze.go).
	presence presence
	ids      idGen
	logger   *slog.Logger
	// tables reports the store's tables and index cache.
	tables func() store.TableStats
	// releaseTables hands back the pages of the store's table files.
	releaseTables func() int64
	// releasePages hands back the pages of the store's mapped files.
	releasePages func() store.Released
	// collectOffline reclaims the store's replaced values (CollectGarbage).
	collectOffline func() (int, error)

	model      atomic.Pointer[analysis.Model]
	shingler   *analysis.Shingler
	cal        *Calendar
	rules      DeadlineRules
	usersMu    sync.Mutex // serialises user changes (unique names, last admin)
	rotMu      sync.Mutex // serialises key changes
	jobs       sync.WaitGroup
	stopping   chan struct{}
	closeOnce  sync.Once
	locks      [64]sync.Mutex
	lockSeed   maphash.Seed
	dummyHash  string
	signingKey ed25519.PrivateKey
}

// InitOptions configure Init.
type InitOptions struct {
	// Name of the vault (checkpoint origin Name/audit; default "pvault").
	Name string
	// RootUnit of the first admin (default "group").
	RootUnit string
	// AdminPassword for user admin; empty means generate one.
	AdminPassword string
	// Passphrase, when set, stores the vault identity encrypted with it.
	Passphrase string
	// Recovery are age recipients (age1…) sealed into every envelope.
	Recovery []string
	// Options for opening the new vault.
	Options Options
}

// Init creates a vault in dir, which must be missing or empty: the vault
// identity, the keyring, the encrypted store, the default policy, the root
// unit and the first admin (user "admin"). It returns the admin password
// (generated when opts.AdminPassword is empty). It returns an error wrapping
// ErrExists if dir holds anything, or ErrInvalid for bad options.
func Init(dir string, opts InitOptions) (string, error) {
	if opts.Name == "" {
		opts.Name = "pvault"
	}
	if opts.RootUnit == "" {
		opts.RootUnit = "group"
	}
	if !validName(opts.Name) {
		return "", invalid("name", "letters, digits, '.', '-' and '_' only, at most 64")
	}
	if !ValidUnit(opts.RootUnit) {
		return "", invalid("root_unit", "not a unit path")
	}
	recovery, err := ParseRecipients(opts.Recovery)
	if err != nil {
		return "", &InvalidError{Field: "recovery_recipient", Msg: err.Error()}
	}
	password := opts.AdminPassword
	if password == "" {
		password = randomToken(15) // 120 bits, 24 characters
	}
	if err := CheckPassword(password, "admin"); err != nil {
		return "", fmt.Errorf("admin password: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("%w: %s", ErrExists, dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	now := time.Now()
	if opts.Options.Now != nil {
		now = opts.Options.Now()
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	k, err := newKeyring(opts.Name, opts.Recovery, now)
	if err != nil {
		return "", err
	}
	sealed, err := sealKeyring(k, append([]age.Recipient{id.Recipient()}, recovery...))
	if err != nil {
		return "", err
	}
	if err := writeFileSync(filepath.Join(dir, KeyringFile), sealed, 0o600); err != nil {
		return "", err
	}
	// The identity is written last: a directory without it is not a vault.
	if err := writeIdentity(dir, id, opts.Passphrase, now); err != nil {
		return "", err
	}
	o := opts.Options
	o.Passphrase = opts.Passphrase
	v, err := Open(dir, o)
	if err != nil {
		return "", err
	}
	defer v.Close()
	if err := v.bootstrap(opts.RootUnit, password); err != nil {
		return "", err
	}
	return password, nil
}

// Open opens the vault in dir. It returns an error wrapping ErrNoVault when
// dir holds no vault, ErrPassphrase when the identity is sealed and the
// passphrase is missing or wrong, and ErrWrongKey when the identity or
// keyring does not match the vault.
func Open(dir string, opts Options) (*Vault, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	id, err := loadIdentity(dir, opts.Passphrase)
	if err != nil {
		return nil, err
	}
	// The previous identity, kept while a rotation re-encrypts.
	old, err := loadIdentityFiles(filepath.Join(dir, OldIdentityFile), filepath.Join(dir, OldSealedIdentityFile), dir, opts.Passphrase)
	if err != nil && !errors.Is(err, ErrNoVault) {
		return nil, fmt.Errorf("previous vault identity: %w", err)
	}
	ids := []age.Identity{id}
	if old != nil {
		ids = append(ids, old)
	}
	kb, err := os.ReadFile(filepath.Join(dir, KeyringFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s missing", ErrNoVault, KeyringFile)
	} else if err != nil {
		return nil, err
	}
	k, err := openKeyring(kb, ids...)
	if err != nil {
		return nil, err
	}
	if _, err := ParseRecipients(k.Recovery); err != nil {
		return nil, err
	}
	bs, err := store.OpenBadger(store.BadgerOptions{
		Dir:            filepath.Join(dir, StoreDir),
		EncryptionKey:  k.StorageKey,
		Logger:         opts.Logger,
		ReadOnly:       opts.ReadOnly,
		IndexCacheSize: opts.IndexCacheBytes,
	})
	if errors.Is(err, store.ErrBadKey) {
		return nil, fmt.Errorf("%w: the keyring does not open the store", ErrWrongKey)
	}
	if err != nil {
		return nil, err
	}
	ts := bs.TableStats()
	opts.Logger.Info("store opened", "tables", ts.Tables, "keys", ts.Keys, "disk_mib", ts.DiskBytes>>20,
		"index_mib", ts.IndexBytes>>20, "bloom_mib", ts.BloomBytes>>20, "index_cache_mib", ts.IndexCache>>20)
	var st store.Store = bs
	if opts.Store != nil {
		st = opts.Store(bs)
	}
	sessions := &sessionCache{}
	recent := &recentMetas{}
	sealed := &sealedCache{}
	st = authWatch{Store: st, gen: &sessions.gen, metas: recent, sealed: sealed}
	v := &Vault{
		sessions:   sessions,
		recent:     recent,
		sealed:     sealed,
		dir:        dir,
		opts:       opts,
		st:         st,
		ring:       k,
		hasher:     newHasher(k.HMACKey),
		logger:     opts.Logger,
		lockSeed:   maphash.MakeSeed(),
		stopping:   make(chan struct{}),
		signingKey: k.signingKey(),
		cal:        opts.Calendar,
		rules:      opts.Deadlines.withDefaults(),
		tables:     bs.TableStats,

		releaseTables:  bs.ReleaseTablePages,
		releasePages:   bs.ReleasePages,
		collectOffline: bs.CollectOffline,
	}
	ks, err := keysetFor(id, old, k.Recovery)
	if err != nil {
		st.Close()
		return nil, err
	}
	v.keyset.Store(ks)
	v.dummyHash = hashPassword(randomToken(16), opts.Argon2)
	if err := v.initAnalysis(); err != nil {
		st.Close()
		return nil, err
	}
	ao := opts.Audit
	if ao.Logger == nil {
		ao.Logger = opts.Logger
	}
	if ao.Now == nil {
		ao.Now = opts.Now
	}
	if ao.Signer == nil {
		signer, vkey, err := audit.NewSigner(k.Name+"/audit", v.signingKey)
		if err != nil {
			st.Close()
			return nil, err
		}
		ao.Signer, ao.VerifierKey = signer, vkey
		if opts.ReadOnly {
			ao.Signer = nil
		}
	}
	if ao.CheckpointFile == "" {
		ao.CheckpointFile = filepath.Join(dir, CheckpointFile)
	}
	if ao.RequestIDKey == nil {
		// Fresh request ids name their entries (audit.Options): a key
		// derived from the keyed-hash root, stable for the vault's life.
		rk := hkdfKey(k.HMACKey, nil, "pvault audit request id")
		ao.RequestIDKey = rk[:]
	}
	if v.log, err = audit.Open(st, ao); err != nil {
		st.Close()
		return nil, err
	}
	return v, nil
}

// Close stops background jobs (they resume at the next open), the audit log
// and the store.
func (v *Vault) Close() error {
	v.closeOnce.Do(func() { close(v.stopping) })
	v.jobs.Wait()
	v.titles.reset()
	err := v.log.Close()
	if cerr := v.st.Close(); err == nil {
		err = cerr
	}
	return err
}

// Log is the vault's audit log.
func (v *Vault) Log() *audit.Log { return v.log }

// Store is the vault's store (for offline tools and tests).
func (v *Vault) Store() store.Store { return v.st }

// TableStats reports the store's tables and the index cache that holds
// their decrypted indexes. The cache is sized when the vault opens; when
// the indexes outgrow it (a vault that grew a great deal while it ran),
// lookups decrypt indexes again and slow down until the vault restarts.
func (v *Vault) TableStats() store.TableStats { return v.tables() }

// ReleaseMemory hands back to the kernel what opening the vault used and
// no longer needs: the pages of the table files read for their indexes
// (see store.Badger.ReleaseTablePages) and the garbage of the Go heap. A
// server calls it once, after opening. It returns the bytes of table
// mappings advised.
func (v *Vault) ReleaseMemory() int64 {
	n := v.releaseTables()
	debug.FreeOSMemory()
	return n
}

// ReleasePages hands back to the kernel the pages of the store's files
// mapped into the process (see store.Badger.ReleasePages). badger writes
// its value log and tables and reads its tables through memory maps, and
// keeps every file mapped, so the pages each write or read touches stay in
// the process's resident memory: the value log's (the audit entries of
// list pages, new petitions' content) grew by about 10 MB a second under a
// load of list pages, the tables a compaction wrote by hundreds of MB, and
// the tables the duplicate lookups of creates read to 1.4–1.5 GB at a
// million petitions. The pages written are reclaimed; the pages read stay
// in the page cache, out of the process. It also lets go of the buffers
// idle in badger's pool of table builders, which held up to 896 MiB after
// a burst of compactions at a million petitions. A server calls it every
// second.
func (v *Vault) ReleasePages() store.Released { return v.releasePages() }

// CollectGarbage reclaims the disk space of replaced records, chiefly the
// content envelopes a key rotation re-sealed, which the store's value log
// keeps until then, and returns how many value-log files it rewrote. It is
// for a stopped vault (pvault gc): the store must serve no reads meanwhile
// (see store.Badger.CollectOffline).
func (v *Vault) CollectGarbage() (int, error) { return v.collectOffline() }

// Hasher computes the vault's keyed hashes.
func (v *Vault) Hasher() *Hasher { return v.hasher }

// Name is the vault's name.
func (v *Vault) Name() string { return v.ring.Name }

// SigningKey is the checkpoint signing key.
func (v *Vault) SigningKey() ed25519.PrivateKey { return v.signingKey }

// Recipient is the vault's own age recipient.
func (v *Vault) Recipient() string { return v.keyset.Load().current.Recipient().String() }

// Rules are the deadline rules in force.
func (v *Vault) Rules() DeadlineRules { return v.rules }

// Now is the vault's clock.
func (v *Vault) Now() time.Time { return v.opts.Now().UTC() }

func (v *Vault) stripe(id string) int {
	return int(maphash.String(v.lockSeed, id) % uint64(len(v.locks)))
}

func (v *Vault) lock(id string) func() {
	m := &v.locks[v.stripe(id)]
	m.Lock()
	return m.Unlock
}

// bootstrap writes the first admin, the root unit and the default policy.
func (v *Vault) bootstrap(rootUnit, password string) error {
	now := v.Now()
	u := &User{
		ID: v.ids.next(now), Username: "admin", DisplayName: "Administrator", Unit: rootUnit,
		Roles: []string{"admin"}, CreatedAt: now, UpdatedAt: now,
		PasswordHash: hashPassword(password, v.opts.Argon2),
	}
	ops, err := v.userOps(nil, u)
	if err != nil {
		return err
	}
	ops = append(ops, v.unitOps(rootUnit)...)
	ops = append(ops, store.Put(policyKey, mustJSON(policy.DefaultRules())))
	_, err = v.log.Append(&audit.Entry{
		RequestID: audit.NewRequestID(),
		Action:    "vault.init",
		Object:    &audit.Object{Type: "vault", ID: v.ring.Name},
		Decision:  audit.Allow,
		Status:    200,
		Details:   map[string]any{"admin_user_id": u.ID, "root_unit": rootUnit},
	}, ops)
	return err
}

// Record appends an audit entry with no data writes: for reads, denials and
// failures. It returns the entry as stored.
func (v *Vault) Record(e *audit.Entry) (audit.Entry, error) { return v.log.Append(e, nil) }

func getJSON(r store.Reader, key []byte, dst any) error {
	return getRecord(r, key, func(b []byte) error { return json.Unmarshal(b, dst) })
}

// getRecord reads the record at key and decodes it with decode: ErrNotFound
// when it is missing, an error wrapping ErrCorrupt when it does not decode.
// decode is given the store's own buffer and must not keep it.
func getRecord(r store.Reader, key []byte, decode func([]byte) error) error {
	var malformed bool
	err := store.GetView(r, key, func(b []byte) error {
		malformed = decode(b) != nil
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if malformed {
		return fmt.Errorf("%w: record %q malformed", ErrCorrupt, key)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonUnmarshal(b []byte, dst any) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("%w: record malformed", ErrCorrupt)
	}
	return nil
}
