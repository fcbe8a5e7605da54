package ledger

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchIndex builds the state the entitlement benchmark asks for: 64
// members, 10,000 assets and 100,000 active grants, each licensing one
// asset to one member in a few countries for a few purposes.
func benchIndex(b *testing.B) (*checkIndex, []CheckRequest) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	u := &indexUpdate{next: &checkIndex{}}
	put := func(bucket []byte, k string, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		u.apply(string(bucket), k, j)
	}
	const members, assets, grants = 64, 10_000, 100_000
	member := func(i int) string { return fmt.Sprintf("m%02d", i) }
	for i := range members {
		put(bucketMembers, member(i), &Member{ID: member(i), Role: "member", Status: "active"})
	}
	for i := range assets {
		id := fmt.Sprintf("asset-%05d", i)
		put(bucketAssets, id, &Asset{ID: id, Kind: "model", Owners: []Owner{{Member: member(i % members), ShareBP: 10000}}})
	}
	countries := []string{"DE", "FR", "US", "JP", "BR", "IN", "GB", "CA"}
	purposes := []string{"research", "commercial", "evaluation"}
	na := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var reqs []CheckRequest
	for i := range grants {
		asset := fmt.Sprintf("asset-%05d", rng.IntN(assets))
		licensee := member(rng.IntN(members))
		g := &Grant{
			ID: fmt.Sprintf("g-%06d", i), Version: 1, Licensors: []string{"owner"}, Licensees: []string{licensee},
			Status: StatusActive,
			Terms: Terms{
				Assets: []string{asset}, Rights: []Right{RightUse, RightTrain},
				Constraints: Constraints{
					NotAfter:  &na,
					Territory: Territory{Allow: []string{countries[rng.IntN(4)], countries[4+rng.IntN(4)]}},
					Purposes:  []string{purposes[rng.IntN(3)]},
				},
			},
		}
		g.Terms.Normalize()
		put(bucketGrants, g.ID, g)
		u.apply(string(bucketByHolder), licensee+"\x00"+asset+"\x00"+g.ID, []byte{})
		if i%100 == 0 {
			reqs = append(reqs, CheckRequest{
				Member: licensee, Asset: asset, Action: RightTrain,
				Territory: countries[rng.IntN(len(countries))], Purpose: purposes[rng.IntN(3)],
				At: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC),
			})
		}
	}
	return u.next, reqs
}

// BenchmarkCheck measures entitlement checks on the in-memory index, the
// path the API serves, with every core asking at once.
func BenchmarkCheck(b *testing.B) {
	ix, reqs := benchIndex(b)
	allowed := 0
	for _, r := range reqs {
		d, err := Check(ix, r)
		if err != nil {
			b.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(reqs) {
		b.Fatalf("benchmark requests are all one answer (%d of %d allowed)", allowed, len(reqs))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := Check(ix, reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
