package ledger

import (
	"testing"
	"time"
)

// validUntilView is a CheckView of one asset owned by alpha, with beta
// licensed through g-sub, a sublicence of g-root.
type validUntilView struct{ grants map[string]*Grant }

func (v validUntilView) Member(id string) (*Member, bool) {
	return &Member{ID: id, Role: RoleMember, Status: MemberActive}, true
}

func (v validUntilView) Asset(id string) (*Asset, bool) {
	return &Asset{ID: id, Kind: AssetModel, Owners: []Owner{{Member: "alpha", ShareBP: 10000}}}, true
}

func (v validUntilView) Grant(id string) (*Grant, bool) { g, ok := v.grants[id]; return g, ok }

func (v validUntilView) GrantsFor(licensee, asset string) []*Grant {
	if licensee != "beta" {
		return nil
	}
	return []*Grant{v.grants["g-sub"]}
}

// TestCheck_ValidUntil is the earliest not_after along the allowing
// grant's chain, and nil when nothing in it ends or the use is denied.
func TestCheck_ValidUntil(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	early, late := at.Add(24*time.Hour), at.Add(48*time.Hour)
	grant := func(id, licensor, licensee, parent string, notAfter *time.Time) *Grant {
		return &Grant{ID: id, Licensors: []string{licensor}, Licensees: []string{licensee}, Status: StatusActive,
			Terms: Terms{Assets: []string{"model-x"}, Rights: []Right{RightUse, RightSublicense}, Parent: parent,
				Constraints: Constraints{NotAfter: notAfter}}}
	}
	req := CheckRequest{Member: "beta", Asset: "model-x", Action: RightUse, At: at}
	for _, c := range []struct {
		name      string
		root, sub *time.Time
		want      *time.Time
	}{
		{"neither ends", nil, nil, nil},
		{"the grant ends", nil, &late, &late},
		{"its parent ends first", &early, &late, &early},
		{"the grant ends first", &late, &early, &early},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := validUntilView{grants: map[string]*Grant{
				"g-root": grant("g-root", "alpha", "gamma", "", c.root),
				"g-sub":  grant("g-sub", "gamma", "beta", "g-root", c.sub),
			}}
			d, err := Check(v, req)
			if err != nil || !d.Allowed {
				t.Fatalf("%v %+v", err, d)
			}
			if (d.ValidUntil == nil) != (c.want == nil) || (c.want != nil && !d.ValidUntil.Equal(*c.want)) {
				t.Fatalf("valid_until %v, want %v", d.ValidUntil, c.want)
			}
		})
	}
	// A denial carries none, even when a grant ends.
	v := validUntilView{grants: map[string]*Grant{"g-root": grant("g-root", "alpha", "gamma", "", &late), "g-sub": grant("g-sub", "gamma", "beta", "g-root", &late)}}
	d, err := Check(v, CheckRequest{Member: "beta", Asset: "model-x", Action: RightTrain, At: at})
	if err != nil || d.Allowed || d.ValidUntil != nil {
		t.Fatalf("denied: %v %+v", err, d)
	}
}
