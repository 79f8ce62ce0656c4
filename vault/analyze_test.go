package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"pvault/analysis"
	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// Intake analysis in the vault (issue 7): category, risk, duplicates and
// the critical alert are computed on the decrypted text at creation, and
// only results and keyed hashes are stored. Helpers are prefixed an.

// anClock is a settable clock.
type anClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *anClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *anClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// anVault is an open vault with a registrar and a supervisor.
type anVault struct {
	v     *Vault
	dir   string
	opts  Options
	clock *anClock
	reg   *User
	sup   *User
}

func anEntry(action string) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Decision: audit.Allow, Status: 200}
}

func anOpen(tb testing.TB) *anVault {
	tb.Helper()
	clk := &anClock{t: time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)}
	opts := Options{Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}, Now: clk.Now}
	dir := tb.TempDir()
	if _, err := Init(dir, InitOptions{AdminPassword: "an-admin-password-1", Options: opts}); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	a := &anVault{dir: dir, opts: opts, clock: clk}
	a.reopen(tb)
	tb.Cleanup(func() {
		if a.v != nil {
			a.v.Close()
		}
	})
	var err error
	if a.reg, _, err = a.v.CreateUser(NewUser{Username: "an.reg", Password: "an-password-long-enough", Unit: "group/east",
		Roles: []string{policy.RoleRegistrar}}, anEntry("user.create")); err != nil {
		tb.Fatal(err)
	}
	if a.sup, _, err = a.v.CreateUser(NewUser{Username: "an.sup", Password: "an-password-long-enough", Unit: "group/east",
		Roles: []string{policy.RoleSupervisor}}, anEntry("user.create")); err != nil {
		tb.Fatal(err)
	}
	return a
}

// reopen closes the vault (if open) and opens it again.
func (a *anVault) reopen(tb testing.TB) {
	tb.Helper()
	if a.v != nil {
		if err := a.v.Close(); err != nil {
			tb.Fatalf("Close: %v", err)
		}
		a.v = nil
	}
	v, err := Open(a.dir, a.opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	a.v = v
}

func (a *anVault) create(tb testing.TB, in NewPetition) *Meta {
	tb.Helper()
	a.clock.Add(time.Minute)
	c, err := a.v.CreatePetition(in, a.reg, anEntry("petition.create"))
	if err != nil {
		tb.Fatalf("CreatePetition: %v", err)
	}
	return c.Meta
}

func anPetition(title, content, idNumber, phone string) NewPetition {
	return NewPetition{Unit: "group/east/site-3", Channel: "letter", Title: title, Content: content,
		Petitioner: &Petitioner{Name: "某某", IDNumber: idNumber, Phone: phone}, GroupSize: 1}
}

const (
	anWageTitle = "三号工地拖欠钢筋班组工资"
	anWage      = "我们是三号工地钢筋班组的工人，从去年十月干到今年一月，项目部和包工头一直拖欠工资，一共欠十一万六千元。" +
		"我们到项目部询问过，对方说等工程款到账就发，到现在一分钱都没有拿到。请集团督促项目部尽快结清工资。"
	// anWageAgain is anWage resubmitted with small edits.
	anWageAgain = "我们是三号工地钢筋班组的工人，从去年十月一直干到今年一月，项目部和包工头拖欠工资，一共欠十一万六千元。" +
		"我们到项目部问过好几回，对方说等工程款到账就发，到现在一分钱都没有拿到。恳请集团督促项目部尽快结清工资。"
	anNoise     = "小区旁边的搅拌站每天凌晨三点开始作业，噪音很大，灰尘也多，家里窗户都不敢开，希望有关部门管一管。"
	anCanteen   = "职工食堂的饭菜价格今年涨了不少，分量却越来越少，希望工会了解一下情况，听听职工的意见。"
	anThreat    = "工资拖了整整半年，家里已经揭不开锅，再不给钱我就从项目部楼顶跳下去。"
	anPersonID  = "510104199001011234"
	anPersonID2 = "110101198507074321"
)

func TestAnalyzeAtIntake(t *testing.T) {
	a := anOpen(t)
	first := a.create(t, anPetition(anWageTitle, anWage, anPersonID, "13800000001"))
	if c := first.Category; c == nil || c.Source != "model" || c.Label != "wage_arrears" || c.Confidence <= 0 || c.Confidence > 1 {
		t.Errorf("category %+v, want wage_arrears from the model", c)
	} else if c.NeedsReview != (c.Confidence < ReviewBelow) {
		t.Errorf("needs_review %v at confidence %v", c.NeedsReview, c.Confidence)
	}
	if r := first.Risk; r == nil || !slices.Contains([]string{"low", "medium", "high", "critical"}, r.Level) || r.Score < 0 || r.Score > 100 || r.Reasons == nil {
		t.Errorf("risk %+v", r)
	}
	if first.Duplicates == nil || len(first.Duplicates) != 0 {
		t.Errorf("first petition duplicates %v, want an empty list", first.Duplicates)
	}

	// The same matter again, lightly edited, by someone else: linked by
	// content, and its risk is raised.
	again := a.create(t, anPetition(anWageTitle, anWageAgain, anPersonID2, "13900000002"))
	if len(again.Duplicates) != 1 || again.Duplicates[0].ID != first.ID || again.Duplicates[0].Similarity < analysis.DupThreshold || again.Duplicates[0].Similarity > 1 {
		t.Errorf("resubmission duplicates %+v, want [%s ≥ %.2f]", again.Duplicates, first.ID, analysis.DupThreshold)
	}
	if again.Risk.Score <= first.Risk.Score || !slices.Contains(again.Risk.Reasons, "2nd petition on the same matter") {
		t.Errorf("resubmission risk %+v, first %+v: want a higher score and the repeat reason", again.Risk, first.Risk)
	}
	if rank := map[string]int{"low": 0, "medium": 1, "high": 2, "critical": 3}; rank[again.Risk.Level] < rank["high"] {
		t.Errorf("resubmission of an open matter at level %s, want high or more", again.Risk.Level)
	}

	// The same petitioner (ID number) about something else: linked whatever
	// the wording.
	same := a.create(t, anPetition("搅拌站凌晨施工扰民", anNoise, anPersonID, "13700000003"))
	ids := anDupIDs(same.Duplicates)
	if !slices.Contains(ids, first.ID) {
		t.Errorf("same petitioner: duplicates %+v, want %s", same.Duplicates, first.ID)
	}
	if slices.Contains(ids, again.ID) {
		t.Errorf("same petitioner: %s linked, but it is someone else's and about wages", again.ID)
	}
	if same.Category == nil || same.Category.Label != "construction_nuisance" {
		t.Errorf("noise petition category %+v", same.Category)
	}
	// The same phone with another ID number links too; spacing and a +86
	// prefix do not matter.
	byPhone := a.create(t, anPetition("食堂饭菜涨价", anCanteen, "", "+86 139-0000-0002"))
	if !slices.Contains(anDupIDs(byPhone.Duplicates), again.ID) {
		t.Errorf("same phone: duplicates %+v, want %s", byPhone.Duplicates, again.ID)
	}

	// An unrelated petition by someone new is linked to nothing.
	other := a.create(t, anPetition("食堂饭菜涨价分量少", anCanteen, "330102199203035678", "13600000004"))
	if len(other.Duplicates) != 1 || other.Duplicates[0].ID != byPhone.ID {
		// byPhone has the same text: the only near duplicate.
		t.Errorf("canteen petition duplicates %+v, want only %s (same text)", other.Duplicates, byPhone.ID)
	}
	unrelated := a.create(t, anPetition("咨询职工疗养报名", "想咨询一下今年职工疗养的报名时间和条件，退休职工能不能参加。", "440101197001011111", "13500000005"))
	if len(unrelated.Duplicates) != 0 {
		t.Errorf("unrelated petition duplicates %+v, want none", unrelated.Duplicates)
	}
	if unrelated.Risk.Level != "low" || unrelated.Risk.Score != 0 {
		t.Errorf("unrelated petition risk %+v, want low 0", unrelated.Risk)
	}

	// What the caller got is what is stored.
	for _, m := range []*Meta{first, again, same, other} {
		got, err := a.v.Meta(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Category != *m.Category || got.Risk.Score != m.Risk.Score || !slices.Equal(got.Risk.Reasons, m.Risk.Reasons) ||
			!slices.Equal(got.Duplicates, m.Duplicates) {
			t.Errorf("stored analysis of %s differs: %+v %+v %+v", m.ID, got.Category, got.Risk, got.Duplicates)
		}
	}
}

func anDupIDs(ds []Duplicate) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// TestAnalyzeRepeatsRaiseRisk: each further petition on the same matter
// raises the score and names its rank.
func TestAnalyzeRepeatsRaiseRisk(t *testing.T) {
	a := anOpen(t)
	prev := -1
	for i, want := range []string{"", "2nd petition on the same matter", "3rd petition on the same matter", "4th petition on the same matter"} {
		m := a.create(t, anPetition(anWageTitle, anWage, "", ""))
		if len(m.Duplicates) != i {
			t.Errorf("petition %d: %d duplicates, want %d", i+1, len(m.Duplicates), i)
		}
		if want != "" && !slices.Contains(m.Risk.Reasons, want) {
			t.Errorf("petition %d: reasons %q, want %q", i+1, m.Risk.Reasons, want)
		}
		if m.Risk.Score <= prev && m.Risk.Score < 100 {
			t.Errorf("petition %d: score %d, not above %d", i+1, m.Risk.Score, prev)
		}
		prev = m.Risk.Score
	}
}

func TestAnalyzeCriticalAlert(t *testing.T) {
	a := anOpen(t)
	calm := a.create(t, anPetition("咨询职工疗养报名", "想咨询一下今年职工疗养的报名时间和条件。", "", ""))
	crit := a.create(t, anPetition("半年工资未发", anThreat, anPersonID, ""))
	if crit.Risk.Level != "critical" || crit.Risk.Score < 50 {
		t.Fatalf("risk %+v, want critical", crit.Risk)
	}
	alerts, err := a.v.Alerts(AlertCritical, func(*Alert) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].PetitionID != crit.ID || alerts[0].Unit != "group/east/site-3" || alerts[0].Kind != AlertCritical ||
		!alerts[0].Since.Equal(crit.CreatedAt) {
		t.Errorf("critical alerts %+v, want one for %s since its creation", alerts, crit.ID)
	}
	evs, err := a.v.Events(crit.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != "alert" || evs[0].Action != AlertCritical || evs[0].ActorKind != "system" || !evs[0].Time.Equal(crit.CreatedAt) {
		t.Errorf("events %+v, want one alert event at creation", evs)
	}
	if evs, _ := a.v.Events(calm.ID); len(evs) != 0 {
		t.Errorf("a calm petition has events %+v", evs)
	}
	if all, _ := a.v.Alerts("", func(a *Alert) bool { return a.PetitionID == calm.ID }); len(all) != 0 {
		t.Errorf("a calm petition has alerts %+v", all)
	}
}

// anMarkers are texts that must never be stored in clear.
var anMarkers = []string{"ANMARK-c0ffee-41", "安测标记壬癸子丑"}

// anShingleBytes returns, for each character bigram of text, its bytes in
// UTF-8 and as the cipher input block of the shingler (two little-endian
// code points).
func anShingleBytes(text string) [][]byte {
	var out [][]byte
	rs := []rune(text)
	for i := 1; i < len(rs); i++ {
		if rs[i-1] < 0x80 || rs[i] < 0x80 {
			continue // short ASCII pairs would match by chance
		}
		out = append(out, []byte(string(rs[i-1:i+1])))
		var in [8]byte
		binary.LittleEndian.PutUint32(in[0:], uint32(rs[i-1]))
		binary.LittleEndian.PutUint32(in[4:], uint32(rs[i]))
		out = append(out, in[:])
	}
	return out
}

func TestAnalyzeStoredSignaturesHoldNoText(t *testing.T) {
	a := anOpen(t)
	content := anWage + anMarkers[0] + anMarkers[1]
	m := a.create(t, anPetition(anWageTitle, content, anPersonID, "13800000001"))
	text := analysis.JoinText(anWageTitle, content, "")
	needles := anShingleBytes(text)
	for _, mk := range anMarkers {
		needles = append(needles, []byte(mk))
	}
	sigs, bands, markers := 0, 0, 0
	err := a.v.Store().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, val []byte) error {
			isSig, isBand := bytes.HasPrefix(k, []byte("ds/")), bytes.HasPrefix(k, []byte(dupPrefix))
			for _, mk := range anMarkers {
				if bytes.Contains(k, []byte(mk)) || bytes.Contains(val, []byte(mk)) {
					t.Errorf("marker %q in clear under %q", mk, anPrintable(k))
				}
			}
			if !isSig && !isBand {
				return nil
			}
			for _, n := range needles {
				if bytes.Contains(k, n) || bytes.Contains(val, n) {
					t.Errorf("%q holds a shingle of the text in clear: %q", anPrintable(k), n)
				}
			}
			switch {
			case isSig:
				sigs++
				if string(k) != "ds/"+m.ID || len(val) != 4*analysis.SigLen {
					t.Errorf("signature key %q with %d bytes", k, len(val))
				}
			case isBand:
				// An index key: "db/" + band + 8-byte bucket + inverted id,
				// or a bucket's marker (the same without the id); empty.
				if len(k) == 3+1+8 && len(val) == 0 && int(k[3]) < analysis.Bands {
					markers++
					return nil
				}
				bands++
				id, ok := dupKeyID(k[:3+1+8], k)
				if len(k) != 3+1+8+26 || len(val) != 0 || !ok || id.String() != m.ID || int(k[3]) >= analysis.Bands {
					t.Errorf("index key %x (%d bytes) with %d value bytes", k, len(k), len(val))
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if sigs != 1 || bands != analysis.Bands || markers != analysis.Bands {
		t.Errorf("%d signatures, %d band keys and %d markers, want 1, %d and %d", sigs, bands, markers, analysis.Bands, analysis.Bands)
	}
	// The signature is keyed: the vault's shingler reproduces it, a
	// shingler under any other key does not.
	var stored []byte
	a.v.Store().View(func(r store.Reader) error {
		stored, _ = r.Get(sigKey(m.ID))
		return nil
	})
	mine := a.v.shingler.Sign(text)
	if !bytes.Equal(stored, mine.Bytes()) {
		t.Error("stored signature is not the vault shingler's signature of the text")
	}
	guess := analysis.NewShingler(make([]byte, 16)).Sign(text)
	if bytes.Equal(stored, guess.Bytes()) || analysis.Similarity(&mine, &guess) > 0.1 {
		t.Error("stored signature matches one made under a zero key")
	}
	// The readable results hold none of the text either.
	got, _ := a.v.Meta(m.ID)
	for _, r := range got.Risk.Reasons {
		for _, mk := range anMarkers {
			if strings.Contains(r, mk) {
				t.Errorf("risk reason %q holds a marker", r)
			}
		}
	}
}

func anPrintable(k []byte) string {
	if utf8.Valid(k) {
		return string(k)
	}
	return string(k[:min(len(k), 4)]) + "…"
}

func TestAnalyzeCategorizeAndRetrain(t *testing.T) {
	if testing.Short() {
		t.Skip("retraining takes seconds")
	}
	a := anOpen(t)
	content := anWage + anMarkers[0]
	m := a.create(t, anPetition(anWageTitle, content, "", ""))
	// A first correction, then a second that replaces it.
	for _, label := range []string{"contract_payment", "discipline"} {
		got, _, err := a.v.Act(m.ID, ActionInput{Action: ActCategorize, Label: label}, a.sup, anEntry("petition.categorize"))
		if err != nil {
			t.Fatalf("categorize %s: %v", label, err)
		}
		if *got.Category != (Category{Label: label, Confidence: 1, Source: "officer"}) {
			t.Errorf("category after categorize %+v", got.Category)
		}
	}
	stored, _ := a.v.Meta(m.ID)
	if stored.Category.Source != "officer" || stored.Category.Label != "discipline" {
		t.Errorf("stored category %+v", stored.Category)
	}
	want := analysis.JoinText(anWageTitle, content, "")
	corr, err := a.v.Corrections()
	if err != nil {
		t.Fatal(err)
	}
	if len(corr) != 1 || corr[0] != (Correction{Text: want, Label: "discipline"}) {
		t.Fatalf("corrections %+v, want one: the text relabelled discipline", corr)
	}
	// Sealed: nothing of the text or the label's record in clear.
	err = a.v.Store().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, val []byte) error {
			if bytes.Contains(k, []byte(anMarkers[0])) || bytes.Contains(val, []byte(anMarkers[0])) {
				t.Errorf("marker in clear under %q", anPrintable(k))
			}
			if bytes.HasPrefix(k, []byte("cx/")) && (bytes.Contains(val, []byte("discipline")) || !bytes.HasPrefix(val, []byte("age-encryption.org/v1\n"))) {
				t.Errorf("correction %q is not sealed", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}

	// Retraining uses the correction: the model's digest is that of the
	// shipped train split plus the corrected text.
	ex, err := analysis.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	docs := append(analysis.Docs(analysis.Split(ex, "train")), analysis.Doc{Text: want, Label: "discipline"})
	before := a.v.Model().Digest
	n, err := a.v.Retrain()
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Retrain used %d corrections, want 1", n)
	}
	after := a.v.Model()
	// The digest names the documents and the options (calibrated or not).
	trainedOn := func(docs []analysis.Doc) bool {
		for _, o := range []analysis.TrainOptions{{}, {NoCalibrate: true}} {
			if after.Digest == analysis.DocsDigest(docs, o) {
				return true
			}
		}
		return false
	}
	if after.Digest == before || !trainedOn(docs) || trainedOn(docs[:len(docs)-1]) {
		t.Errorf("retrained model digest %s, want that of the train split plus the correction", after.Digest)
	}
	if !(after.Temperature > 0) || !slices.Equal(after.Labels, analysis.Categories) && len(after.Labels) != len(analysis.Categories) {
		t.Errorf("retrained model: temperature %v, labels %q", after.Temperature, after.Labels)
	}
	// The model is kept sealed in the data directory and used after a
	// restart.
	b, err := os.ReadFile(filepath.Join(a.dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
		t.Errorf("%s is not an age file", ModelFile)
	}
	a.reopen(t)
	if got := a.v.Model().Digest; got != after.Digest {
		t.Errorf("after reopening, model digest %s, want the retrained %s", got, after.Digest)
	}
	// New petitions are classified by the retrained model.
	p := a.create(t, anPetition(anWageTitle, anWageAgain, "", ""))
	if want := a.v.Model().Predict(analysis.JoinText(anWageTitle, anWageAgain, "")); p.Category.Label != want.Label {
		t.Errorf("category %+v, want the retrained model's %s", p.Category, want.Label)
	}
}

// --- benchmark -----------------------------------------------------------

// anSentences are the sentences of the train split of the shipped corpus.
func anSentences(tb testing.TB) []string {
	tb.Helper()
	ex, err := analysis.Corpus()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range analysis.Split(ex, "train") {
		for _, s := range strings.FieldsFunc(e.Text, func(r rune) bool { return strings.ContainsRune("。！？\n", r) }) {
			if utf8.RuneCountInString(s) >= 8 {
				out = append(out, s+"。")
			}
		}
	}
	return out
}

// anSyntheticText joins random train-split sentences to 300 characters: a
// text on the same themes as real petitions but a copy of none.
func anSyntheticText(rng *rand.Rand, sentences []string) string {
	var b []rune
	for len(b) < 300 {
		b = append(b, []rune(sentences[rng.IntN(len(sentences))])...)
	}
	return string(b[:300])
}

// anRandomText is 300 random common CJK characters: similar to nothing.
func anRandomText(rng *rand.Rand) string {
	b := make([]rune, 300)
	for i := range b {
		b[i] = rune(0x4E00 + rng.IntN(3500))
	}
	return string(b)
}

// anTypical are typical incoming petitions: the eval split's texts cut or
// repeated to 300 characters.
func anTypical(tb testing.TB) []string {
	tb.Helper()
	ex, err := analysis.Corpus()
	if err != nil {
		tb.Fatal(err)
	}
	var texts []string
	for _, e := range analysis.Split(ex, "eval") {
		r := []rune(e.FullText())
		for len(r) < 300 {
			r = append(r, r...)
		}
		texts = append(texts, string(r[:300]))
	}
	return texts
}

// anPreload writes n synthetic signatures and their band index keys straight
// to the store, as CreatePetition would index them, in transactions of
// 1,000 petitions (fewer when a batch is too big for one transaction).
func anPreload(tb testing.TB, v *Vault, n int, text func() string) {
	tb.Helper()
	const batch = 1_000
	now := v.Now().Add(-time.Hour)
	type entry struct {
		id  string
		sig analysis.Signature
	}
	var write func(es []entry) error
	write = func(es []entry) error {
		err := v.Store().Update(func(tx store.Tx) error {
			for _, e := range es {
				if err := tx.Set([]byte("ds/"+e.id), e.sig.Bytes()); err != nil {
					return err
				}
				for band, key := range e.sig.BandKeys() {
					if _, err := tx.Get(dupBucket(band, key)); errors.Is(err, store.ErrNotFound) {
						if err := tx.Set(dupBucket(band, key), nil); err != nil {
							return err
						}
					}
					if err := tx.Set(dupKey(band, key, e.id), nil); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil && len(es) > 1 {
			if err := write(es[:len(es)/2]); err != nil {
				return err
			}
			return write(es[len(es)/2:])
		}
		return err
	}
	for done := 0; done < n; done += batch {
		es := make([]entry, min(batch, n-done))
		for i := range es {
			es[i] = entry{v.ids.next(now), v.shingler.Sign(text())}
		}
		if err := write(es); err != nil {
			tb.Fatalf("preload at %d: %v", done, err)
		}
	}
}

// anSettle waits (up to two minutes) until the store's size has not
// changed for three seconds: the bulk load's compactions are done.
func anSettle(tb testing.TB, v *Vault) {
	tb.Helper()
	last, same := int64(-1), 0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && same < 3; {
		time.Sleep(time.Second)
		if n := v.Store().Size(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
}

// anCandidates is the mean number of index entries the band lookups of
// texts visit (at most maxPerBand a band).
func anCandidates(tb testing.TB, v *Vault, texts []string) float64 {
	tb.Helper()
	total := 0
	err := v.Store().View(func(r store.Reader) error {
		for _, t := range texts {
			sig := v.shingler.Sign(t)
			for b, key := range sig.BandKeys() {
				n := 0
				err := r.Scan(store.ScanOptions{Prefix: dupBucket(b, key), KeysOnly: true}, func(_, _ []byte) error {
					if n++; n > maxPerBand {
						return store.ErrStop
					}
					total++
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return float64(total) / float64(len(texts))
}

// BenchmarkIntakeAnalysis measures classification, risk scoring and the
// duplicate lookup of one petition (Vault.analyze) with 100,000 petitions
// indexed. Issue 7 asks for at least 2,000 petitions/s on one core
// (≤ 500 µs/op): run with -cpu 1. The index holds texts made of corpus
// sentences (as real petitions share their themes and phrasing), except in
// "random", whose texts are similar to nothing (the floor of the lookup's
// cost). "themes" analyses the evaluation split's petitions in turn, 225
// texts, so that after the first round the busy buckets they share with the
// index are in the bucket cache, as they are in steady intake on recurring
// themes. "themes-fresh" analyses a new text made of the index's own
// sentences each time (generation, about 2 µs, inside the timing): nearly
// every bucket of each is full, the worst case for the lookup.
//
// PVAULT_BENCH_INDEX=1000000 indexes that many petitions instead (issue 7's
// "stays fast with 1,000,000": about 10 minutes and 3 GB of disk a case).
func BenchmarkIntakeAnalysis(b *testing.B) {
	indexed := 100_000
	if s := os.Getenv("PVAULT_BENCH_INDEX"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("PVAULT_BENCH_INDEX=%q: want a positive number of petitions", s)
		}
		indexed = n
	}
	for _, tt := range []struct {
		name  string
		index func(*rand.Rand, []string) string
		query func(*rand.Rand, []string, int) string // the i-th text analysed
	}{
		{"themes", anSyntheticText, nil},
		{"themes-fresh", anSyntheticText, func(rng *rand.Rand, s []string, _ int) string { return anSyntheticText(rng, s) }},
		{"random", func(rng *rand.Rand, _ []string) string { return anRandomText(rng) }, func(rng *rand.Rand, _ []string, _ int) string { return anRandomText(rng) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			a := anOpen(b)
			v := a.v
			sentences := anSentences(b)
			rng := rand.New(rand.NewPCG(7, 11))
			anPreload(b, v, indexed, func() string { return tt.index(rng, sentences) })
			// Reopen so that the bulk load's memtables are flushed and its
			// compactions do not run inside the timed loop.
			a.reopen(b)
			v = a.v
			anSettle(b, v)
			query := tt.query
			if query == nil {
				typical := anTypical(b)
				query = func(_ *rand.Rand, _ []string, i int) string { return typical[i%len(typical)] }
			}
			fresh := rand.New(rand.NewPCG(13, 17))
			var sample []string
			for i := range 200 {
				sample = append(sample, query(fresh, sentences, i))
			}
			cands := anCandidates(b, v, sample)
			dups := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m := &Meta{ID: v.ids.next(v.Now()), GroupSize: 1}
				if _, _, _, err := v.analyze(m, query(fresh, sentences, i)); err != nil {
					b.Fatal(err)
				}
				dups += len(m.Duplicates)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "petitions/s")
			b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
			b.ReportMetric(cands, "index-hits/op")
		})
	}
}

// TestAnalyzeMigratesLegacyIndex: a vault written by an earlier version
// keeps its duplicate index as one value per bucket ("dx/" + band + key,
// ids appended); opening it rewrites that as one key per petition and band,
// and petitions from before the upgrade are still found as duplicates.
func TestAnalyzeMigratesLegacyIndex(t *testing.T) {
	a := anOpen(t)
	first := a.create(t, anPetition(anWageTitle, anWage, "", ""))
	other := a.create(t, anPetition("职工食堂饭菜涨价", anCanteen, "", ""))
	// Turn the index back into the legacy layout.
	var buckets int
	err := a.v.Store().Update(func(tx store.Tx) error {
		legacy := map[string][]byte{}
		var keys [][]byte
		err := tx.Scan(store.ScanOptions{Prefix: []byte(dupPrefix), KeysOnly: true}, func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			prefix := k[:len(dupPrefix)+1+8]
			if len(k) == len(prefix) {
				return nil // a marker
			}
			id, ok := dupKeyID(prefix, k)
			if !ok {
				t.Fatalf("index key %x", k)
			}
			lk := legacyDupPrefix + string(prefix[len(dupPrefix):])
			legacy[lk] = append(legacy[lk], id.String()...)
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) != 2*analysis.Bands+len(legacy) {
			t.Fatalf("%d index keys for %d buckets, want %d", len(keys), len(legacy), 2*analysis.Bands+len(legacy))
		}
		buckets = len(legacy)
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for k, v := range legacy {
			if err := tx.Set([]byte(k), v); err != nil {
				return err
			}
		}
		// A damaged legacy bucket (not a whole number of ids) is dropped.
		return tx.Set([]byte(legacyDupPrefix+"\x00damaged!"), []byte("0123456789"))
	})
	if err != nil {
		t.Fatal(err)
	}
	a.reopen(t)
	count := func(prefix string) int {
		n := 0
		a.v.Store().View(func(r store.Reader) error {
			return r.Scan(store.ScanOptions{Prefix: []byte(prefix), KeysOnly: true}, func(_, _ []byte) error { n++; return nil })
		})
		return n
	}
	if n, l := count(dupPrefix), count(legacyDupPrefix); n != 2*analysis.Bands+buckets || l != 0 {
		t.Errorf("after migration %d index keys and %d legacy buckets, want %d and 0", n, l, 2*analysis.Bands+buckets)
	}
	again := a.create(t, anPetition(anWageTitle, anWageAgain, "", ""))
	if ids := anDupIDs(again.Duplicates); len(ids) != 1 || ids[0] != first.ID {
		t.Errorf("duplicates after migration %v, want [%s] (not %s)", ids, first.ID, other.ID)
	}
	// Opening again finds nothing more to migrate.
	before := count(dupPrefix)
	a.reopen(t)
	if n := count(dupPrefix); n != before || before < 3*analysis.Bands+buckets {
		t.Errorf("%d index keys after a second open, %d before", n, before)
	}
}

// TestAnalyzeBucketNewestFirst: a bucket holding more than maxPerBand
// petitions is read newest first, so an old near duplicate behind many newer
// petitions of the same theme is not looked at, and the newest are.
func TestAnalyzeBucketNewestFirst(t *testing.T) {
	a := anOpen(t)
	sig := a.v.shingler.Sign(analysis.JoinText(anWageTitle, anWage, ""))
	bands := sig.BandKeys()
	var ids []string
	err := a.v.Store().Update(func(tx store.Tx) error {
		for range maxPerBand + 5 {
			id := a.v.ids.next(a.v.Now())
			ids = append(ids, id)
			if err := tx.Set(dupKey(0, bands[0], id), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	a.v.Store().View(func(r store.Reader) error {
		prefix := dupBucket(0, bands[0])
		return r.Scan(store.ScanOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
			s := "(not an id)"
			if id, ok := dupKeyID(prefix, k); ok {
				s = id.String()
			}
			seen = append(seen, s)
			return nil
		})
	})
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("bucket order %v, want newest first %v", seen, want)
	}
}

// TestAnalyzeLookupModes: uncached buckets are looked up with a marker probe
// first while most turn out to be empty, and with the cursor alone once most
// exist. Both find the same duplicates, and both leave a marker on every
// bucket a petition lands in, so that a later probe finds it.
func TestAnalyzeLookupModes(t *testing.T) {
	setMode := func(v *Vault, direct bool) {
		v.presence.seen.Store(2000)
		v.presence.present.Store(0)
		if direct {
			v.presence.present.Store(2000)
		}
		v.buckets = bucketCache{} // every bucket read from the store
	}
	for _, first := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", first), func(t *testing.T) {
			a := anOpen(t)
			setMode(a.v, first)
			orig := a.create(t, anPetition(anWageTitle, anWage, "", ""))
			if a.v.presence.mostlyPresent() != first {
				t.Fatalf("mode changed by one create")
			}
			if n := a.v.presence.seen.Load(); n != 2000+analysis.Bands {
				t.Errorf("%d bucket lookups counted, want %d", n-2000, analysis.Bands)
			}
			// Every bucket orig landed in has its marker.
			sig := a.v.shingler.Sign(analysis.JoinText(anWageTitle, anWage, ""))
			a.v.Store().View(func(r store.Reader) error {
				for b, key := range sig.BandKeys() {
					if _, err := r.Get(dupBucket(b, key)); err != nil {
						t.Errorf("band %d: marker: %v", b, err)
					}
				}
				return nil
			})
			// The other mode, from the store, finds orig.
			setMode(a.v, !first)
			again := a.create(t, anPetition(anWageTitle, anWageAgain, "", ""))
			if len(again.Duplicates) != 1 || again.Duplicates[0].ID != orig.ID {
				t.Errorf("resubmission: duplicates %+v, want %s", again.Duplicates, orig.ID)
			}
			setMode(a.v, first)
			other := a.create(t, anPetition("食堂涨价", anCanteen, "", ""))
			if len(other.Duplicates) != 0 {
				t.Errorf("unrelated petition: duplicates %+v", other.Duplicates)
			}
			setMode(a.v, first)
			third := a.create(t, anPetition(anWageTitle, anWageAgain, "", ""))
			if len(third.Duplicates) != 2 {
				t.Errorf("third submission: duplicates %+v, want orig and again", third.Duplicates)
			}
		})
	}
}

// TestPresence: the rate follows what lookups find and decays.
func TestPresence(t *testing.T) {
	var p presence
	if p.mostlyPresent() {
		t.Fatal("empty presence says mostly present")
	}
	for range 100 {
		p.note(true)
	}
	if !p.mostlyPresent() {
		t.Fatal("100 present: not mostly present")
	}
	for range presenceWindow {
		p.note(false)
	}
	if p.mostlyPresent() {
		t.Fatal("a window of absent buckets: still mostly present")
	}
	if s := p.seen.Load(); s > presenceWindow {
		t.Fatalf("seen %d grew past the window", s)
	}
}

// BenchmarkBucketLookupModes compares the two ways analyze looks up an
// uncached bucket, on one vault of 100,000 petitions and the texts of
// IntakeAnalysis/themes-fresh (most buckets exist): "probe" reads the
// bucket's marker first, "direct" only the bucket. The modes alternate in
// one process, so the comparison is not lost in the spread between runs that
// each preload their own vault. Run with -cpu 1.
func BenchmarkBucketLookupModes(b *testing.B) {
	a := anOpen(b)
	sentences := anSentences(b)
	rng := rand.New(rand.NewPCG(7, 11))
	anPreload(b, a.v, 100_000, func() string { return anSyntheticText(rng, sentences) })
	a.reopen(b)
	v := a.v
	anSettle(b, v)
	for range 2 {
		for _, direct := range []bool{false, true} {
			name := "probe"
			if direct {
				name = "direct"
			}
			b.Run(name, func(b *testing.B) {
				texts := rand.New(rand.NewPCG(13, 17))
				for b.Loop() {
					// Pin the mode: a lookup's own notes would move it.
					v.presence.seen.Store(2000)
					v.presence.present.Store(0)
					if direct {
						v.presence.present.Store(2000)
					}
					m := &Meta{ID: v.ids.next(v.Now()), GroupSize: 1}
					if _, _, _, err := v.analyze(m, anSyntheticText(texts, sentences)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
