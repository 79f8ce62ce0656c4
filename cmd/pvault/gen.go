package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"pvault/audit"
	"pvault/vault"
)

// genIndexCache is the index cache of the store gen fills: the bound the
// store would size it to for a million petitions.
const genIndexCache = 256 << 20

// cmdGen fills a stopped vault with synthetic petitions for scale checks
// (scripts/scale.sh): realistic 2–4 KiB Chinese texts through the vault's
// own create path (sealed, analysed, indexed, audited), many at a time so
// that they share commits.
func cmdGen(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("gen", stderr)
	vf := addVaultFlags(fs)
	n := fs.Int("n", 10000, "petitions to create")
	workers := fs.Int("workers", 64, "concurrent creators")
	unit := fs.String("unit", "group/scale", "unit of the petitions")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	// The store grows while gen runs, and badger's index cache is sized
	// when the store opens: sized to a small store, it made a fill fall to
	// about 100 petitions/s by 430,000 (400/s again once restarted). gen
	// takes the cache's upper bound from the start.
	v, err := vf.openWith("gen", getenv, func(o *vault.Options) { o.IndexCacheBytes = genIndexCache })
	if err != nil {
		return err
	}
	defer v.Close()
	texts, err := newTextGen()
	if err != nil {
		return err
	}
	admin, err := v.UserByName("admin")
	if err != nil {
		return err
	}
	var next, failed, created atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 23))
			for i := next.Add(1); i <= int64(*n) && ctx.Err() == nil; i = next.Add(1) {
				var in struct {
					Channel, Title, Content string
					Petitioner              *vault.Petitioner
					GroupSize               int `json:"group_size"`
				}
				_ = json.Unmarshal(texts.body(r, *unit), &in)
				np := vault.NewPetition{Unit: *unit, Channel: in.Channel, Title: in.Title, Content: in.Content, Petitioner: in.Petitioner, GroupSize: in.GroupSize}
				e := &audit.Entry{RequestID: audit.NewRequestID(), Action: "petition.create", Actor: vault.Actor(admin), Decision: audit.Allow, Status: 201, Details: map[string]any{"via": "gen"}}
				if _, err := v.CreatePetition(np, admin, e); err != nil {
					failed.Add(1)
				} else {
					created.Add(1)
				}
				if i%10000 == 0 {
					el := time.Since(start)
					fmt.Fprintf(stderr, "gen: %d petitions, %.0f/s\n", i, float64(i)/el.Seconds())
				}
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Fprintf(stdout, "pvault: created %d petitions in %s (%.0f/s), %d failed\n", created.Load(), el.Round(time.Second), float64(created.Load())/el.Seconds(), failed.Load())
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "pvault: interrupted; the vault is consistent and holds what was created")
	}
	return nil
}
