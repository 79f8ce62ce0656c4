package policy

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// benchWorld is a vault-sized population: 500 units in a tree of depth 3,
// 10,000 users with random units and roles, and petitions in random units
// registered by, assigned to and naming random users.
type benchWorld struct {
	units     []string
	subjects  []*Subject
	petitions []*Object
	actions   []string
}

func newBenchWorld(tb testing.TB) *benchWorld {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	w := &benchWorld{}

	// group, group/dNN, group/dNN/sNN: 1 + 20 + 479 = 500 units.
	w.units = append(w.units, "group")
	for d := range 20 {
		w.units = append(w.units, fmt.Sprintf("group/d%02d", d))
	}
	for s := 0; len(w.units) < 500; s++ {
		w.units = append(w.units, fmt.Sprintf("group/d%02d/s%02d", s%20, s/20))
	}
	if len(w.units) != 500 {
		tb.Fatalf("%d units", len(w.units))
	}

	roleSets := [][]string{
		nil,
		{RoleAdmin}, {RoleRegistrar}, {RoleOfficer}, {RoleSupervisor}, {RoleAuditor},
		{RoleRegistrar, RoleOfficer}, {RoleSupervisor, RoleAuditor},
	}
	for i := range 10_000 {
		w.subjects = append(w.subjects, &Subject{
			UserID:   fmt.Sprintf("u%05d", i),
			Username: fmt.Sprintf("user%05d", i),
			Unit:     w.units[rng.IntN(len(w.units))],
			Roles:    roleSets[rng.IntN(len(roleSets))],
			Names:    []string{fmt.Sprintf("hu%05d", i), fmt.Sprintf("hd%05d", i)},
		})
	}
	for i := range 10_000 {
		var subjects []string
		for range 1 + rng.IntN(3) {
			subjects = append(subjects, fmt.Sprintf("hu%05d", rng.IntN(len(w.subjects))))
		}
		w.petitions = append(w.petitions, &Object{
			Type:         "petition",
			ID:           fmt.Sprintf("p%05d", i),
			Unit:         w.units[rng.IntN(len(w.units))],
			RegisteredBy: w.subjects[rng.IntN(len(w.subjects))].UserID,
			Assignee:     w.subjects[rng.IntN(len(w.subjects))].UserID,
			Subjects:     subjects,
		})
	}
	w.actions = []string{PetitionRead, PetitionList, PetitionReveal, "petition.reply", "petition.accept", PetitionCreate, StatsRead, UnitList}
	return w
}

// query returns the i-th decision of the cycle: users, petitions and actions
// advance with co-prime strides so the combinations keep changing.
func (w *benchWorld) query(i int) (*Subject, string, *Object) {
	return w.subjects[i%len(w.subjects)], w.actions[i%len(w.actions)], w.petitions[(i*7919)%len(w.petitions)]
}

func BenchmarkDecide(b *testing.B) {
	w := newBenchWorld(b)
	e := newEnforcer(b, DefaultRules())
	b.ReportAllocs()
	allowed, i := 0, 0
	for b.Loop() {
		sub, act, obj := w.query(i)
		if e.Decide(sub, act, obj).Allowed {
			allowed++
		}
		i++
	}
	if i > 0 {
		b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	w := newBenchWorld(b)
	e := newEnforcer(b, DefaultRules())
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1_000_003))
		for pb.Next() {
			sub, act, obj := w.query(i)
			e.Decide(sub, act, obj)
			i++
		}
	})
}

func BenchmarkScopes(b *testing.B) {
	w := newBenchWorld(b)
	e := newEnforcer(b, DefaultRules())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sub, act, _ := w.query(i)
		e.Scopes(sub, act)
		i++
	}
}
