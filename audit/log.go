package audit

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// Errors of the log.
var (
	// ErrUnavailable is returned by Append when the batch holding the entry
	// could not be committed. Nothing of the request was stored.
	ErrUnavailable = errors.New("audit: log unavailable")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrNotFound is returned for an entry or checkpoint that does not exist.
	ErrNotFound = errors.New("audit: not found")
)

// Key layout of the log inside the store.
var (
	keyHead     = []byte("a/head")
	prefixEntry = []byte("a/e/")
	prefixHash  = []byte("a/h/")
	prefixRID   = []byte("a/rid/")
	prefixIndex = []byte("a/x/")
)

func entryKey(seq int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixEntry...), uint64(seq))
}
func hashKey(i int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixHash...), uint64(i))
}
func ridKey(rid string) []byte { return append(append([]byte(nil), prefixRID...), rid...) }

// Options configure a Log. The zero value of each field means its default.
type Options struct {
	// Logger receives commit failures. nil discards them.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxBatch caps the entries in one commit (default 512).
	MaxBatch int
	// MaxBatchBytes caps the data bytes in one commit (default 4 MiB).
	MaxBatchBytes int
	// GatherWait is the longest a commit waits to gather its batch
	// (default 2 ms): for requests announced with Expect, and for as many
	// entries as the commit before it carried (see run). With 32 clients
	// reading, 2 ms served 4.9 % more reads than 1 ms (five alternating
	// pairs of runs, all five in its favour): commits carried 28 entries
	// instead of 17, and the clients moved in step. Creates gained 4 %;
	// the mixed load and lists did not move, and 3 ms cost lists 3.5 %
	// ("The fourteenth session" in docs/PERFORMANCE.md; an earlier
	// version of the code had favoured 1 ms).
	GatherWait time.Duration
	// OnCommit, when set, is called after each commit attempt.
	OnCommit func(entries int, d time.Duration, err error)
	// Signer signs checkpoints; without one the log issues none. Its name is
	// the checkpoint origin.
	Signer note.Signer
	// VerifierKey is the note verifier key of Signer.
	VerifierKey string
	// CheckpointInterval is the longest time between checkpoints while
	// entries arrive (default 1 s).
	CheckpointInterval time.Duration
	// CheckpointFile, when set, is a file outside the store that holds a copy
	// of the latest checkpoint, so that a store restored underneath the log
	// from an older backup is detected at open.
	CheckpointFile string
	// RequestIDKey, when set (16, 24 or 32 bytes, AES), makes the request
	// ids of entries appended with FreshRequestID name their entry, so
	// that they need no index key (see ridNamer). It must stay the same
	// for the life of the store: ids it named are found only with it.
	RequestIDKey []byte
}

// Head is the state of the log after its last entry.
type Head struct {
	Size int64     `json:"size"`
	Last string    `json:"last"` // base64 leaf hash of entry Size-1
	Time time.Time `json:"time"`
}

// Log is the append-only audit log in a store. Append is safe for concurrent
// use; concurrent appends share one synced transaction (group commit).
type Log struct {
	st         store.Store
	opts       Options
	rids       *ridNamer   // nil: fresh request ids are random and indexed
	ridsMarked atomic.Bool // keyRIDCheck is stored

	reqs    chan *pending
	closing chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool

	mu   sync.RWMutex // guards head
	head Head
	last tlog.Hash

	healthy atomic.Bool

	cpMu     sync.Mutex // serialises checkpoint signing
	cp       atomic.Pointer[signedCheckpoint]
	broken   atomic.Pointer[string] // why the log refuses to append, if it does
	cpNotify chan struct{}
	cpDone   chan struct{}

	expected atomic.Int64 // requests announced with Expect, not yet appended
}

// Expect announces a request that will Append an entry soon: the appender
// may wait a little (Options.GatherWait) for it so that concurrent requests
// share one synced commit. Every Expect must be followed by one Append (or
// Unexpect).
func (l *Log) Expect() { l.expected.Add(1) }

// Unexpect withdraws an Expect without an Append. Append calls it too; the
// count never goes below zero (appends nobody announced only make the
// appender wait less).
func (l *Log) Unexpect() {
	for {
		n := l.expected.Load()
		if n <= 0 || l.expected.CompareAndSwap(n, n-1) {
			return
		}
	}
}

type pending struct {
	e    *Entry
	ops  []store.Op
	done chan result
}

type result struct {
	line []byte
	e    Entry
	err  error
}

// Open loads the head of the log in st and starts its appender.
func Open(st store.Store, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 512
	}
	if opts.MaxBatchBytes == 0 {
		opts.MaxBatchBytes = 4 << 20
	}
	if opts.GatherWait == 0 {
		opts.GatherWait = 2 * time.Millisecond
	}
	l := &Log{st: st, opts: opts, reqs: make(chan *pending, 4096), closing: make(chan struct{}), done: make(chan struct{})}
	if opts.RequestIDKey != nil {
		var err error
		if l.rids, err = newRIDNamer(opts.RequestIDKey); err != nil {
			return nil, err
		}
	}
	if err := l.checkRIDKey(); err != nil {
		return nil, err
	}
	head, err := ReadHead(st)
	if err != nil {
		return nil, err
	}
	l.head = head
	if head.Size > 0 {
		if l.last, err = DecodeHash(head.Last); err != nil {
			return nil, fmt.Errorf("audit: read head: %w", err)
		}
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = time.Second
		l.opts.CheckpointInterval = time.Second
	}
	l.healthy.Store(true)
	if err := l.startupCheck(); err != nil {
		var ce *ChainError
		if !errors.As(err, &ce) && !errors.Is(err, ErrCheckpoint) {
			return nil, err
		}
		msg := err.Error()
		l.broken.Store(&msg)
		l.healthy.Store(false)
		if opts.Logger != nil {
			opts.Logger.Error("audit log does not match its latest checkpoint: refusing to record", "err", msg)
		}
	}
	go l.run()
	if opts.Signer != nil {
		l.cpNotify = make(chan struct{}, 1)
		l.cpDone = make(chan struct{})
		go l.checkpointLoop()
	}
	return l, nil
}

// ReadHead returns the head recorded in st (the zero Head for an empty log).
func ReadHead(st store.Store) (Head, error) {
	var h Head
	err := st.View(func(r store.Reader) error {
		b, err := r.Get(keyHead)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &h)
	})
	if err != nil {
		return Head{}, fmt.Errorf("audit: read head: %w", err)
	}
	return h, nil
}

// Head returns the current head.
func (l *Log) Head() Head {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head
}

// Probe tries a tiny synced write when the last commit failed, so that the
// log reports healthy again once the store works, without waiting for a
// request. It returns whether the log is healthy.
func (l *Log) Probe() bool {
	if l.broken.Load() != nil {
		return false
	}
	if l.healthy.Load() {
		return true
	}
	err := l.st.Update(func(tx store.Tx) error {
		return tx.Set([]byte("a/probe"), []byte(l.opts.Now().UTC().Format(time.RFC3339Nano)))
	})
	if err == nil {
		l.healthy.Store(true)
	}
	return err == nil
}

// Healthy reports whether the last commit succeeded and the log matched its
// latest checkpoint at open.
func (l *Log) Healthy() bool { return l.healthy.Load() && l.broken.Load() == nil }

// Broken returns why the log refuses to record, or "".
func (l *Log) Broken() string {
	if p := l.broken.Load(); p != nil {
		return *p
	}
	return ""
}

// Append records e together with the data writes ops in one synced
// transaction and returns the entry as stored, with its sequence number, time,
// request id and prev filled in. If e.RequestID is not a valid request id
// (see ValidRequestID) or was used by an earlier entry, a fresh one replaces
// it; so does one the log names (Options.RequestIDKey) when e.FreshRequestID
// is set. Append returns only after the commit; on failure it returns an
// error wrapping ErrUnavailable and neither the entry nor ops were stored,
// unless the log found the commit in doubt (written, its sync failed): then
// it refuses every later append until reopened, and e.RequestID is set to
// the id the entry may be stored under.
func (l *Log) Append(e *Entry, ops []store.Op) (Entry, error) {
	if b := l.broken.Load(); b != nil {
		l.Unexpect()
		return Entry{}, fmt.Errorf("%w: %s", ErrUnavailable, *b)
	}
	p := &pending{e: e, ops: ops, done: make(chan result, 1)}
	l.Unexpect()
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return Entry{}, ErrClosed
	}
	l.reqs <- p
	l.closeMu.RUnlock()
	r := <-p.done
	return r.e, r.err
}

// Close stops the appender after committing what was queued.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	l.closeMu.Unlock()
	<-l.done
	if l.opts.Signer != nil {
		<-l.cpDone
		if _, err := l.Sign(); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) run() {
	defer close(l.done)
	lastBatch := 0
	for {
		var first *pending
		select {
		case first = <-l.reqs:
		case <-l.closing:
			// Drain what was queued before Close.
			for {
				select {
				case p := <-l.reqs:
					l.commit([]*pending{p})
				default:
					return
				}
			}
		}
		batch := []*pending{first}
		size := store.OpsSize(first.ops)
		// Gather: take what is queued, and while requests announced with
		// Expect are still on their way, or the batch is smaller than the
		// last one, wait (at most GatherWait): one synced commit then serves
		// them all. The clients one commit answered tend to come back
		// together, before their next requests are announced; committing
		// without them split a steady load of 32 clients into commits of
		// 3.4 entries, each paying for its syncs (see "The eleventh
		// session" in docs/PERFORMANCE.md).
		deadline := time.Now().Add(l.opts.GatherWait)
		var timer *time.Timer
	fill:
		for len(batch) < l.opts.MaxBatch && size < l.opts.MaxBatchBytes {
			select {
			case p := <-l.reqs:
				batch = append(batch, p)
				size += store.OpsSize(p.ops)
				continue
			default:
			}
			wait := time.Until(deadline)
			if (l.expected.Load() <= 0 && len(batch) >= lastBatch) || wait <= 0 {
				break fill
			}
			if timer == nil {
				timer = time.NewTimer(min(wait, 200*time.Microsecond))
			} else {
				timer.Reset(min(wait, 200*time.Microsecond))
			}
			select {
			case p := <-l.reqs:
				batch = append(batch, p)
				size += store.OpsSize(p.ops)
			case <-timer.C:
			case <-l.closing:
				break fill
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if l.commit(batch) {
			lastBatch = len(batch)
		} else {
			lastBatch = 0
		}
	}
}

// commit commits batch and answers its requests. It reports whether the
// batch was stored.
func (l *Log) commit(batch []*pending) bool {
	start := time.Now()
	if b := l.broken.Load(); b != nil {
		// Requests queued behind a commit that left the log in doubt are
		// refused too: nothing more is written until the vault is reopened.
		for _, p := range batch {
			p.done <- result{err: fmt.Errorf("%w: %s", ErrUnavailable, *b)}
		}
		return false
	}
	l.mu.RLock()
	head, last := l.head, l.last
	l.mu.RUnlock()

	results := make([]result, len(batch))
	names := make([]string, len(batch)) // the ids the log named, by entry
	marking := false
	var newLast tlog.Hash
	var newHead Head
	err := l.st.Update(func(tx store.Tx) error {
		n, prev, t := head.Size, last, head.Time
		// The hashes of this batch, and the leaf hash of the entry before
		// it, which the first odd entry needs.
		overlay := make(map[int64]tlog.Hash)
		if n > 0 {
			overlay[tlog.StoredHashIndex(0, n-1)] = last
		}
		reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				if h, ok := overlay[x]; ok {
					out[i] = h
					continue
				}
				h, err := readStoredHash(tx, x)
				if err != nil {
					return nil, err
				}
				out[i] = h
			}
			return out, nil
		})
		usedRID := make(map[string]bool)
		if l.rids != nil && !l.ridsMarked.Load() && len(batch) > 0 {
			// The first ids this store's log names: mark it, so that it
			// is never opened again without the key (Open).
			if err := tx.Set(keyRIDCheck, l.rids.check()); err != nil {
				return err
			}
			marking = true
		}
		var index postings
		for i, p := range batch {
			if err := store.Apply(tx, p.ops); err != nil {
				return err
			}
			e := *p.e
			e.Seq = n
			e.Time = l.opts.Now().UTC()
			if e.Time.Before(t) {
				e.Time = t
			}
			t = e.Time
			e.Prev = ZeroPrev
			if n > 0 {
				e.Prev = EncodeHash(prev)
			}
			fresh := e.FreshRequestID
			e.FreshRequestID = false
			named := false // the id names its entry: no index key
			if (fresh && l.rids != nil) || !ValidRequestID(e.RequestID) || usedRID[e.RequestID] || (!fresh && l.ridTaken(tx, e.RequestID, n)) {
				if l.rids != nil {
					e.RequestID, named = l.rids.name(n), true
				} else {
					e.RequestID = NewRequestID()
				}
				names[i] = e.RequestID // the caller's, should the commit end in doubt
			}
			usedRID[e.RequestID] = true
			line, err := e.Marshal()
			if err != nil {
				return err
			}
			hashes, err := tlog.StoredHashes(n, line, reader)
			if err != nil {
				return err
			}
			base := tlog.StoredHashIndex(0, n)
			for j, h := range hashes {
				overlay[base+int64(j)] = h
			}
			if err := tx.Set(entryKey(n), encodeEntryValue(line, hashes[1:])); err != nil {
				return err
			}
			if !named {
				seqb := binary.BigEndian.AppendUint64(nil, uint64(n))
				if err := tx.Set(ridKey(e.RequestID), seqb); err != nil {
					return err
				}
			}
			entryIndexes(&e, func(ix indexed) { index.add(ix, n) })
			prev = LeafHash(line)
			results[i] = result{line: line, e: e}
			n++
		}
		if err := index.write(tx); err != nil {
			return err
		}
		newLast = prev
		newHead = Head{Size: n, Last: EncodeHash(prev), Time: t}
		hb, err := json.Marshal(newHead)
		if err != nil {
			return err
		}
		return tx.Set(keyHead, hb)
	})
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(len(batch), time.Since(start), err)
	}
	if err != nil {
		l.healthy.Store(false)
		if l.opts.Logger != nil {
			l.opts.Logger.Error("audit commit failed", "entries", len(batch), "err", err)
		}
		// Did the batch land anyway (a failed sync after the write)? Then
		// its durability is unknown: refuse to record until the vault is
		// reopened and its start-up check has looked at the log. Otherwise
		// nothing was written and the next commit may succeed.
		if stored, rerr := ReadHead(l.st); rerr == nil && stored.Size != head.Size {
			msg := "a commit failed after it was written; reopen the vault to check the log"
			l.broken.Store(&msg)
			// The entries may be stored under the ids the log named:
			// their callers answer and log with those.
			for i, p := range batch {
				if names[i] != "" {
					p.e.RequestID, p.e.FreshRequestID = names[i], false
				}
			}
		}
		for _, p := range batch {
			p.done <- result{err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
		}
		return false
	}
	l.healthy.Store(true)
	if marking {
		l.ridsMarked.Store(true)
	}
	l.mu.Lock()
	l.head, l.last = newHead, newLast
	l.mu.Unlock()
	if l.cpNotify != nil {
		select {
		case l.cpNotify <- struct{}{}:
		default:
		}
	}
	for i, p := range batch {
		p.done <- results[i]
	}
	return true
}

// readEntry reads and parses entry seq.
func readEntry(r getter, seq int64) (*Entry, error) {
	v, err := r.Get(entryKey(seq))
	if err != nil {
		return nil, fmt.Errorf("audit: read entry %d: %w", seq, err)
	}
	line, err := entryLine(v)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d: %w", seq, err)
	}
	return ParseEntry(line)
}

// ridTaken reports whether an entry before seq n holds request id rid:
// one indexed under it, or the entry it names (ridNamer). An entry that
// cannot be read counts as taken: the caller then makes a fresh id.
func (l *Log) ridTaken(tx store.Tx, rid string, n int64) bool {
	if _, err := tx.Get(ridKey(rid)); err == nil {
		return true
	}
	seq, ok := l.rids.seq(rid)
	if !ok || seq >= n {
		return false
	}
	e, err := readEntry(tx, seq)
	return err != nil || e.RequestID == rid
}

// ValidRequestID reports whether s can be a request id: 1–64 characters of
// [A-Za-z0-9._-]. Entries never carry others.
func ValidRequestID(s string) bool { return validRID(s) }

func validRID[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NewRequestID returns a fresh random request id (128 bits, hex).
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Filter selects entries for Entries. Empty fields match everything.
type Filter struct {
	Start     int64
	Limit     int
	Actor     string // username
	Action    string
	Object    string // object id
	RequestID string
}

// Entries returns up to f.Limit entries with seq ≥ f.Start matching f, in
// sequence order, and the seq to start the next page from (0 when done).
func (l *Log) Entries(f Filter) ([]*Entry, int64, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Start = max(f.Start, 0)
	var out []*Entry
	var next int64
	size := l.Head().Size
	err := l.st.View(func(r store.Reader) error {
		load := func(seq int64) (*Entry, error) {
			return readEntry(r, seq)
		}
		match := func(e *Entry) bool {
			if f.Actor != "" && (e.Actor == nil || e.Actor.Username != f.Actor) {
				return false
			}
			if f.Action != "" && e.Action != f.Action {
				return false
			}
			if f.Object != "" && (e.Object == nil || e.Object.ID != f.Object) {
				return false
			}
			if f.RequestID != "" && e.RequestID != f.RequestID {
				return false
			}
			return true
		}
		if f.RequestID != "" {
			// Indexed, or named by the log (match checks the entry
			// holds it).
			var seq int64
			b, err := r.Get(ridKey(f.RequestID))
			switch {
			case err == nil:
				seq = int64(binary.BigEndian.Uint64(b))
			case errors.Is(err, store.ErrNotFound):
				s, ok := l.rids.seq(f.RequestID)
				if !ok {
					return nil
				}
				seq = s
			default:
				return err
			}
			if seq < f.Start || seq >= size {
				return nil
			}
			e, err := load(seq)
			if err != nil {
				return err
			}
			if match(e) {
				out = append(out, e)
			}
			return nil
		}
		var field, value string
		switch {
		case f.Object != "":
			field, value = "object", f.Object
		case f.Actor != "":
			field, value = "actor", f.Actor
		case f.Action != "":
			field, value = "action", f.Action
		}
		if field == "" {
			for seq := f.Start; seq < size; seq++ {
				if len(out) == f.Limit {
					next = seq
					return nil
				}
				e, err := load(seq)
				if err != nil {
					return err
				}
				out = append(out, e)
			}
			return nil
		}
		// A key's seq is the last of its posting: the first key at or
		// after Start holds the first entry at or after it.
		start := indexKey(field, value, f.Start)
		return r.Scan(store.ScanOptions{Prefix: indexPrefix(field, value), Start: start}, func(k, v []byte) error {
			return eachPosted(k, v, func(seq int64) error {
				if seq < f.Start {
					return nil
				}
				if seq >= size {
					return store.ErrStop
				}
				e, err := load(seq)
				if err != nil {
					return err
				}
				if !match(e) {
					return nil
				}
				if len(out) == f.Limit {
					next = seq
					return store.ErrStop
				}
				out = append(out, e)
				return nil
			})
		})
	})
	return out, next, err
}

// Export writes the canonical lines of entries start ≤ seq < end, each
// followed by a newline. end ≤ 0 or beyond the head means the head.
func (l *Log) Export(w io.Writer, start, end int64) error {
	size := l.Head().Size
	if end <= 0 || end > size {
		end = size
	}
	if start < 0 {
		start = 0
	}
	if start >= end {
		return nil
	}
	return l.st.View(func(r store.Reader) error {
		next := start
		return r.Scan(store.ScanOptions{Prefix: prefixEntry, Start: entryKey(start)}, func(k, v []byte) error {
			seq := int64(binary.BigEndian.Uint64(k[len(prefixEntry):]))
			if seq >= end {
				return store.ErrStop
			}
			if seq != next {
				return fmt.Errorf("audit: entry %d missing", next)
			}
			next++
			line, err := entryLine(v)
			if err != nil {
				return fmt.Errorf("audit: entry %d: %w", seq, err)
			}
			if _, err := w.Write(append(line[:len(line):len(line)], '\n')); err != nil {
				return err
			}
			return nil
		})
	})
}

// Each calls fn for every entry with the given action (all entries when
// action is ""), in sequence order, stopping at the first error.
func (l *Log) Each(action string, fn func(*Entry) error) error {
	size := l.Head().Size
	return l.st.View(func(r store.Reader) error {
		if action == "" {
			return r.Scan(store.ScanOptions{Prefix: prefixEntry}, func(k, v []byte) error {
				line, err := entryLine(v)
				if err != nil {
					return err
				}
				e, err := ParseEntry(line)
				if err != nil {
					return err
				}
				return fn(e)
			})
		}
		return r.Scan(store.ScanOptions{Prefix: indexPrefix("action", action)}, func(k, v []byte) error {
			return eachPosted(k, v, func(seq int64) error {
				if seq >= size {
					return store.ErrStop
				}
				e, err := readEntry(r, seq)
				if err != nil {
					return err
				}
				if e.Action != action {
					return nil
				}
				return fn(e)
			})
		})
	})
}
