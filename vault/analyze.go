package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"pvault/analysis"
	"pvault/vault/store"
)

// Analysis at intake: category, risk and duplicates are computed on the
// decrypted text and only their results are stored (labels, scores,
// reasons, and keyed MinHash signatures).

// ModelFile holds a retrained classifier, sealed like every record.
const ModelFile = "analysis.model.age"

// Thresholds of the analysis.
const (
	// ReviewBelow marks a model label for human review.
	ReviewBelow = 0.5
	maxPerBand  = 64
	maxSingles  = 8  // candidates sharing one band only that are compared
	maxVerify   = 24 // candidates compared at most, most shared bands first
	maxDups     = 10
)

func (v *Vault) initAnalysis() error {
	v.shingler = analysis.NewShingler(v.hasher.Key(HashShingle))
	m, err := v.loadModel()
	if err != nil {
		return err
	}
	if m == nil {
		if m, err = analysis.DefaultModel(); err != nil {
			return err
		}
	}
	v.model.Store(m)
	if v.opts.ReadOnly {
		return nil
	}
	m.PairRisk() // intake scores both models in one pass where they can share it
	return v.migrateDupIndex()
}

// migrateDupIndex rewrites the duplicate index of an earlier version (one
// value per bucket, legacyDupPrefix) as one key per petition and band, a
// batch of buckets per transaction, so that petitions created before the
// upgrade are still found as duplicates. It is a no-op once done.
func (v *Vault) migrateDupIndex() error {
	const batch = 256
	for {
		var ops []store.Op
		err := v.st.View(func(r store.Reader) error {
			n := 0
			return r.Scan(store.ScanOptions{Prefix: []byte(legacyDupPrefix)}, func(k, val []byte) error {
				if n++; n > batch {
					return store.ErrStop
				}
				if len(k) == len(legacyDupPrefix)+1+8 {
					band, key := int(k[len(legacyDupPrefix)]), binary.BigEndian.Uint64(k[len(legacyDupPrefix)+1:])
					if len(val) >= idLen {
						ops = append(ops, store.Put(dupBucket(band, key), nil))
					}
					for i := 0; i+idLen <= len(val); i += idLen {
						if id := string(val[i : i+idLen]); ValidID(id) {
							ops = append(ops, store.Put(dupKey(band, key, id), nil))
						}
					}
				}
				ops = append(ops, store.Del(bytes.Clone(k)))
				return nil
			})
		})
		if err != nil || len(ops) == 0 {
			return err
		}
		if err := v.st.Update(func(tx store.Tx) error { return store.Apply(tx, ops) }); err != nil {
			return fmt.Errorf("migrate the duplicate index: %w", err)
		}
	}
}

// loadModel reads a retrained model from the data directory, or nil.
func (v *Vault) loadModel() (*analysis.Model, error) {
	b, err := os.ReadFile(filepath.Join(v.dir, ModelFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pt, err := v.open(b)
	if err != nil {
		return nil, err
	}
	return analysis.Load(bytes.NewReader(pt))
}

// Model is the classifier in use.
func (v *Vault) Model() *analysis.Model { return v.model.Load() }

// The duplicate index is one empty key per petition and LSH band:
// "db/" + band + 8-byte bucket key + the petition id with every byte
// inverted, so that a forward scan of a bucket meets its newest petitions
// first and a lookup reads at most maxPerBand keys of it. Each key is written
// once, when the petition is created. A bucket also has a marker, its
// prefix as an empty key, written with its first petition: while most
// buckets a lookup visits are empty (a young vault), it learns that from the
// store's bloom filters without opening a cursor; once most exist (a large
// one), it skips that probe and reads the bucket, marker included, with one
// cursor (see presence in dupcache.go). An index that grows by small keys
// rather than by rewriting its buckets keeps intake fast at a million
// petitions: each create writes 32 keys of 38 bytes instead of rewriting 32
// buckets of up to 1.6 KB.
const dupPrefix = "db/"

// dupBucket is the prefix of a bucket's keys.
func dupBucket(band int, key uint64) []byte {
	k := make([]byte, 0, len(dupPrefix)+1+8+idLen)
	k = append(k, dupPrefix...)
	k = append(k, byte(band))
	return binary.BigEndian.AppendUint64(k, key)
}

// dupKey is the index key of petition id in a bucket.
func dupKey(band int, key uint64, id string) []byte {
	k := dupBucket(band, key)
	for i := range len(id) {
		k = append(k, ^id[i])
	}
	return k
}

// dupKeyID returns the petition id of an index key under prefix, or
// false (the bucket's marker, or a key that holds no id).
func dupKeyID(prefix, k []byte) (pid, bool) {
	inv := k[len(prefix):]
	if len(inv) != idLen {
		return pid{}, false
	}
	var id [idLen]byte
	for i, c := range inv {
		id[i] = ^c
	}
	return decodeULID(id[:])
}

// legacyDupPrefix held the index of earlier versions: one value per bucket
// listing the ids of its newest petitions, rewritten on every create.
const legacyDupPrefix = "dx/"

// idLen is the length of a petition id.
const idLen = 26

func sigKey(id string) []byte { return []byte("ds/" + id) }

// bucketIDs reads the newest maxPerBand ids of a duplicate-index bucket,
// newest first, and whether the bucket has its marker.
func bucketIDs(r store.Reader, prefix []byte) (ids []pid, marked bool, err error) {
	read := 0 // the bucket's keys after its marker: a key that holds no id
	// (never written) is passed over, but counts, so that a damaged bucket
	// is not read to its end
	err = r.Scan(store.ScanOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
		if len(k)-len(prefix) != idLen {
			marked = true
			return nil
		}
		if id, ok := dupKeyID(prefix, k); ok {
			ids = append(ids, id)
		}
		if read++; read == maxPerBand {
			return store.ErrStop
		}
		return nil
	})
	return ids, marked, err
}

// analyze classifies the petition, finds its duplicates and scores its risk,
// setting m's fields, and returns the index writes, the petition's LSH
// bands and its signature (for v.buckets and v.sigs once committed).
func (v *Vault) analyze(m *Meta, text string) ([]store.Op, *[analysis.Bands]uint64, *analysis.Signature, error) {
	model := v.Model()
	feat := model.Featurize(text)
	pred := model.PredictFeatures(feat)
	m.Category = &Category{Label: pred.Label, Confidence: math.Round(pred.Confidence*1000) / 1000, Source: "model", NeedsReview: pred.Confidence < ReviewBelow}
	sig := v.shingler.Sign(text)
	bands := sig.BandKeys()
	type cand struct {
		id  string
		sim float64
	}
	var cands []cand
	var newBucket [analysis.Bands]bool
	unresolved := 0
	err := v.st.View(func(r store.Reader) error {
		seen := map[string]bool{m.ID: true}
		consider := func(id string, force bool) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			other, ok := v.sigs.get(id)
			if !ok {
				b, err := r.Get(sigKey(id))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if s, parsed := analysis.ParseSignature(b); parsed {
					other, ok = &s, true
					v.sigs.put(id, other)
				}
			}
			sim := 0.0
			if ok {
				sim = analysis.Similarity(&sig, other)
			}
			if sim >= analysis.DupThreshold || force {
				cands = append(cands, cand{id, math.Round(sim*1000) / 1000})
			}
			return nil
		}
		// Count how many bands each indexed petition shares with this one:
		// near duplicates (similarity ≥ 0.4) share about five of 32 on
		// average, texts that merely share a theme rarely more than one. The
		// signatures of those sharing two or more are compared, and of the
		// rest only the newest few; at most maxVerify in all.
		type hit struct {
			id    pid
			bands int
		}
		order := make([]hit, 0, 256)
		at := make(map[pid]int, 256) // index in order
		visit := func(id pid) {
			if k, ok := at[id]; ok {
				order[k].bands++
				return
			}
			at[id] = len(order)
			order = append(order, hit{id, 1})
		}
		for b, key := range bands {
			if v.buckets.lookup(b, key, visit) {
				continue
			}
			prefix := dupBucket(b, key)
			probe := !v.presence.mostlyPresent()
			if probe {
				// The bucket's marker answers "empty?" from the store's
				// bloom filters, far cheaper than a cursor, which reads a
				// block of every level. When most buckets turn out to
				// exist (a large vault), the probe is a wasted read and
				// the cursor alone answers.
				_, err := r.Get(prefix)
				absent := errors.Is(err, store.ErrNotFound)
				if err != nil && !absent {
					return err
				}
				v.presence.note(!absent)
				if absent {
					newBucket[b] = true
					continue
				}
			}
			var ids []pid
			var marked bool
			var err error
			if reg := v.buckets.begin(b, key); reg != nil {
				// Loaded into the cache from a snapshot taken after begin.
				err = v.st.View(func(r store.Reader) error {
					ids, marked, err = bucketIDs(r, prefix)
					return err
				})
				if err != nil || !marked {
					v.buckets.abandon(b, key, reg) // only marked buckets are cached
				} else {
					v.buckets.finish(b, key, reg, ids)
				}
			} else {
				ids, marked, err = bucketIDs(r, prefix)
			}
			if err != nil {
				return err
			}
			if !probe {
				v.presence.note(marked || len(ids) > 0)
			}
			if !marked {
				newBucket[b] = true // empty, or its marker missing: written
			}
			for _, id := range ids {
				visit(id)
			}
		}
		slices.SortFunc(order, func(a, b hit) int {
			if a.bands != b.bands {
				return b.bands - a.bands
			}
			return bytes.Compare(b.id[:], a.id[:]) // newest first
		})
		singles := 0
		for n, h := range order {
			if n >= maxVerify {
				break
			}
			if h.bands < 2 {
				if singles++; singles > maxSingles {
					break
				}
			}
			if err := consider(h.id.String(), false); err != nil {
				return err
			}
		}
		// The same petitioner (keyed hash of ID number or phone) is a repeat
		// whatever the wording.
		for _, pk := range m.PetitionerKeys {
			prefix := []byte("x/pk/" + pk + "\x00")
			n := 0
			err := r.Scan(store.ScanOptions{Prefix: prefix, Reverse: true, KeysOnly: true}, func(k, _ []byte) error {
				if n++; n > maxDups {
					return store.ErrStop // the newest repeats are enough
				}
				return consider(string(k[len(prefix):]), true)
			})
			if err != nil {
				return err
			}
		}
		sort.Slice(cands, func(i, j int) bool {
			if cands[i].sim != cands[j].sim {
				return cands[i].sim > cands[j].sim
			}
			return cands[i].id > cands[j].id
		})
		cands = cands[:min(len(cands), maxDups)]
		for _, c := range cands {
			if o, err := v.sharedMeta(r, c.id); err == nil && !Terminal(o.Status) {
				unresolved++
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	m.Duplicates = make([]Duplicate, 0, len(cands))
	for _, c := range cands {
		m.Duplicates = append(m.Duplicates, Duplicate{ID: c.id, Similarity: c.sim})
	}
	risk := analysis.ScoreRisk(analysis.RiskInput{Text: text, GroupSize: m.GroupSize, Repeats: len(cands), Unresolved: unresolved, Features: feat})
	m.Risk = &Risk{Level: risk.Level, Score: risk.Score, Reasons: risk.Reasons}
	ops := []store.Op{store.Put(sigKey(m.ID), sig.Bytes())}
	for b, key := range bands {
		if newBucket[b] {
			ops = append(ops, store.Put(dupBucket(b, key), nil))
		}
		ops = append(ops, store.Put(dupKey(b, key, m.ID), nil))
	}
	return ops, &bands, &sig, nil
}

// Correction is an officer's category label for a petition, kept sealed as
// training data.
type Correction struct {
	Text  string `json:"text"`
	Label string `json:"label"`
}

func correctionKey(id string) []byte { return []byte("cx/" + id) }

// correctionOp seals the text and new label of a petition for retraining.
func (v *Vault) correctionOp(id, label string) (store.Op, error) {
	c, err := v.OpenContent(id)
	if err != nil {
		return store.Op{}, err
	}
	sealed, err := v.sealJSON(mustJSON(Correction{Text: analysis.JoinText(c.Title, c.Content, c.Requests), Label: label}))
	if err != nil {
		return store.Op{}, err
	}
	return store.Put(correctionKey(id), sealed), nil
}

// Corrections returns every stored correction, decrypted.
func (v *Vault) Corrections() ([]Correction, error) {
	var sealed [][]byte
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("cx/")}, func(_, val []byte) error {
			sealed = append(sealed, val)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]Correction, 0, len(sealed))
	for _, s := range sealed {
		pt, err := v.open(s)
		if err != nil {
			return nil, err
		}
		var c Correction
		if err := jsonUnmarshal(pt, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Retrain trains a classifier on the shipped corpus's train split plus the
// officers' corrections, stores it sealed in the data directory and puts it
// in use. It returns the number of corrections used.
func (v *Vault) Retrain() (int, error) {
	ex, err := analysis.Corpus()
	if err != nil {
		return 0, err
	}
	docs := analysis.Docs(analysis.Split(ex, "train"))
	corr, err := v.Corrections()
	if err != nil {
		return 0, err
	}
	for _, c := range corr {
		if slices.Contains(analysis.Categories, c.Label) {
			docs = append(docs, analysis.Doc{Text: c.Text, Label: c.Label})
		}
	}
	// One training run: the temperature fitted for the shipped model (5-fold
	// cross-validation on the same corpus) carries over, as corrections are
	// few next to the corpus.
	m, err := analysis.Train(docs, analysis.TrainOptions{NoCalibrate: true})
	if err != nil {
		return 0, err
	}
	if def, err := analysis.DefaultModel(); err == nil {
		m.Temperature = def.Temperature
	}
	sealed, err := v.seal(m.Bytes())
	if err != nil {
		return 0, err
	}
	if err := writeFileSync(filepath.Join(v.dir, ModelFile), sealed, 0o600); err != nil {
		return 0, err
	}
	m.PairRisk()
	v.model.Store(m)
	return len(corr), nil
}

// SaveModel writes a model (for the CLI).
func SaveModel(m *analysis.Model, w io.Writer) error { return m.Save(w) }
