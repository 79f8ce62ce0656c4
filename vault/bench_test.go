package vault

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"pvault/audit"
)

// typicalPetition is a Chinese petition whose sealed content is about 3 KiB.
func typicalPetition() NewPetition {
	para := "我们是某建设集团华东分公司第三项目部的农民工，自去年九月起在该项目工地从事钢筋和模板作业，" +
		"项目部以工程款未结算为由，至今拖欠我们三十二人的工资共计四十八万余元。"
	return NewPetition{
		Unit:     "group/east/site-3",
		Channel:  "visit",
		Title:    "关于第三项目部拖欠农民工工资的反映",
		Content:  strings.Repeat(para, 11),
		Requests: "请求集团督促项目部在春节前足额支付拖欠的工资，并对相关责任人作出处理。",
		Petitioner: &Petitioner{
			Name: "张三", IDNumber: "110101199003074578", Phone: "13812345678",
			Address: "江苏省南京市某区某街道1号", EmployeeNo: "",
		},
		Subjects:  []string{"李四", "王五"},
		GroupSize: 32,
	}
}

// typicalContent is the JSON plaintext of typicalPetition's content envelope.
func typicalContent(tb testing.TB) []byte {
	tb.Helper()
	in := typicalPetition()
	b, err := json.Marshal(&Content{Title: in.Title, Content: in.Content, Requests: in.Requests,
		Subjects: in.Subjects, Masked: MaskPetitioner(in.Petitioner)})
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) < 2800 || len(b) > 3400 {
		tb.Fatalf("typical content is %d bytes, want about 3 KiB", len(b))
	}
	return b
}

// benchRecipients returns the vault identity and its recipients plus n-1
// recovery recipients.
func benchRecipients(tb testing.TB, n int) (*age.X25519Identity, []age.Recipient) {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	rs := []age.Recipient{id.Recipient()}
	for i := 1; i < n; i++ {
		r, err := age.GenerateX25519Identity()
		if err != nil {
			tb.Fatal(err)
		}
		rs = append(rs, r.Recipient())
	}
	return id, rs
}

func BenchmarkSeal(b *testing.B) {
	pt := typicalContent(b)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			_, rs := benchRecipients(b, n)
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sealBytes(pt, rs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	pt := typicalContent(b)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			id, rs := benchRecipients(b, n)
			ct, err := sealBytes(pt, rs)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := openBytes(ct, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreatePetition measures an audited petition create through the
// vault on badger with synced commits: serially, where every create waits
// for its own commit, and from many goroutines, where the audit log's group
// commit shares each synced transaction among the waiting creates.
func BenchmarkCreatePetition(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			rec, err := age.GenerateX25519Identity()
			if err != nil {
				b.Fatal(err)
			}
			var commits, entries atomic.Int64
			opts := Options{Argon2: testArgon2, Audit: audit.Options{OnCommit: func(n int, _ time.Duration, err error) {
				if err == nil {
					commits.Add(1)
					entries.Add(int64(n))
				}
			}}}
			dir := initVault(b, InitOptions{Recovery: []string{rec.Recipient().String()}})
			v := openVault(b, dir, opts)
			reg, err := v.UserByName("admin")
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			create := func() error {
				// A different petitioner each time, as in real intake (a
				// repeat petitioner makes the create look up earlier ones).
				in := typicalPetition()
				n := seq.Add(1)
				p := *in.Petitioner
				p.IDNumber = fmt.Sprintf("1101011990%08d", n)
				p.Phone = fmt.Sprintf("139%08d", n)
				in.Petitioner = &p
				e := &audit.Entry{Action: "petition.create", Actor: Actor(reg), Decision: audit.Allow, Status: 201}
				_, err := v.CreatePetition(in, reg, e)
				return err
			}
			commits.Store(0)
			entries.Store(0)
			if mode == "serial" {
				for b.Loop() {
					if err := create(); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(16) // 16 × GOMAXPROCS concurrent requests
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := create(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(entries.Load())/float64(c), "entries/commit")
			}
		})
	}
}

// BenchmarkEnvelope seals and opens typical content the way the vault does:
// the symmetric pvault-key1 stanza for the vault plus one X25519 stanza per
// recovery recipient, opened with the symmetric key. Compare with
// BenchmarkSeal and BenchmarkOpen (X25519 stanzas only) for the saving.
func BenchmarkEnvelope(b *testing.B) {
	pt := typicalContent(b)
	for _, nrec := range []int{0, 1} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			b.Fatal(err)
		}
		var recovery []string
		for range nrec {
			r, err := age.GenerateX25519Identity()
			if err != nil {
				b.Fatal(err)
			}
			recovery = append(recovery, r.Recipient().String())
		}
		ks, err := keysetFor(id, nil, recovery)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("seal/recovery=%d", nrec), func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sealBytes(pt, ks.recipients); err != nil {
					b.Fatal(err)
				}
			}
		})
		ct, err := sealBytes(pt, ks.recipients)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("open/recovery=%d", nrec), func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := openBytes(ct, ks.identities...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
