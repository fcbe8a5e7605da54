package ledger

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// InfractionObserved is an infraction that a licensor or an asset's owner
// observed and reported (infraction.observe), such as repeated attempts a
// gateway in front of the asset denied. Unlike the kinds the ledger
// detects itself, it is a signed claim of its observer.
const InfractionObserved = "observed_infraction"

// maxObservedReason bounds the reason of an observation.
const maxObservedReason = 1024

// InfractionObserve is the body of infraction.observe: the signer, a
// licensor of Grant or an owner of Asset, reports that Licensee attempted
// Action on Asset Attempts times in the window and was denied, or
// otherwise misused it. Grant is optional: a member that holds no grant
// at all may be observed probing an asset.
type InfractionObserve struct {
	// ID names the observation; the proposal's ID when empty. With the
	// signer it derives the infraction's ID, so a resubmission records
	// nothing twice.
	ID          string    `json:"id,omitempty"`
	Grant       string    `json:"grant,omitempty"`
	Licensee    string    `json:"licensee"` // the member observed
	Asset       string    `json:"asset"`
	Action      Right     `json:"action"`
	Attempts    int64     `json:"attempts"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Reason      string    `json:"reason"`
}

func init() {
	register("infraction.observe", handler{apply: applyInfractionObserve, target: observeTarget})
}

// observeTarget is the grant an observation names, or its asset when it
// names none.
func observeTarget(body json.RawMessage) (Target, error) {
	var b InfractionObserve
	if err := decodeTarget(body, &b); err != nil {
		return Target{}, err
	}
	if b.Grant == "" {
		return Target{Kind: TargetAsset, ID: b.Asset}, nil
	}
	return Target{Kind: TargetGrant, ID: b.Grant}, nil
}

func applyInfractionObserve(a *applyCtx) error {
	var b InfractionObserve
	if err := a.body(&b); err != nil {
		return err
	}
	id := b.ID
	if id == "" {
		id = a.p.ID
	} else if !ValidID(id) {
		return Errorf(CodeInvalid, "body.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", id)
	}
	if _, err := a.member("body.licensee", b.Licensee); err != nil {
		return err
	}
	if b.Licensee == a.p.Signer {
		return Errorf(CodeInvalid, "body.licensee: %s cannot observe itself", b.Licensee)
	}
	var asset Asset
	if !a.tx.getJSON(bucketAssets, []byte(b.Asset), &asset) {
		return Errorf(CodeNotFound, "body.asset: no asset %q", b.Asset)
	}
	if b.Grant == "" {
		if !asset.OwnedBy(a.p.Signer) {
			return Errorf(CodeForbidden, "signer: %s does not own asset %s; an observation that names no grant is its owners' to make", a.p.Signer, b.Asset)
		}
	} else {
		g, err := a.grant("body.grant", b.Grant)
		if err != nil {
			return err
		}
		if !slices.Contains(g.Terms.Assets, b.Asset) {
			return Errorf(CodeInvalid, "body.asset: asset %s is not covered by grant %s", b.Asset, g.ID)
		}
		if !slices.Contains(g.Licensees, b.Licensee) {
			return Errorf(CodeInvalid, "body.licensee: %s is not a licensee of grant %s", b.Licensee, g.ID)
		}
		if !slices.Contains(g.Licensors, a.p.Signer) && !asset.OwnedBy(a.p.Signer) {
			return Errorf(CodeForbidden, "signer: %s is neither a licensor of grant %s nor an owner of asset %s", a.p.Signer, g.ID, b.Asset)
		}
	}
	if !b.Action.Valid() {
		return Errorf(CodeInvalid, "body.action: %q is not a right (one of %s)", b.Action, rightList())
	}
	if b.Attempts < 1 || b.Attempts > MaxQuantity {
		return Errorf(CodeInvalid, "body.attempts: %d is not between 1 and %d", b.Attempts, MaxQuantity)
	}
	w := Window{Start: b.WindowStart.UTC(), End: b.WindowEnd.UTC()}
	if !w.Start.Before(w.End) {
		return Errorf(CodeInvalid, "body.window_end: %s is not after window_start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	}
	if w.End.After(a.ahead()) {
		return Errorf(CodeInvalid, "body.window_end: %s is after ledger time %s", w.End.Format(time.RFC3339), a.ahead().Format(time.RFC3339))
	}
	if strings.TrimSpace(b.Reason) == "" || len(b.Reason) > maxObservedReason {
		return Errorf(CodeInvalid, "body.reason: required, at most %d bytes", maxObservedReason)
	}
	in := Infraction{
		Kind: InfractionObserved, Grant: b.Grant, Members: []string{b.Licensee}, Asset: b.Asset,
		Report: a.p.Signer + ":" + id, Observer: a.p.Signer, Action: b.Action, Attempts: b.Attempts, Window: &w,
		Detail: b.Reason,
	}
	if a.tx.get(bucketInfract, []byte(observedID(&in))) != nil {
		return Errorf(CodeConflict, "body.id: %s already reported observation %s", a.p.Signer, id)
	}
	a.recordInfraction(in)
	return nil
}

// observedID is the ID of an observed infraction: its grant, or its asset
// when it names no grant, then the kind, then observer:observation.
func observedID(in *Infraction) string {
	subject := in.Grant
	if subject == "" {
		subject = in.Asset
	}
	return infractionID(subject, in.Kind, in.Report)
}

// ObservedNote is an open observed infraction as Check reports it beside
// its decision.
type ObservedNote struct {
	ID       string    `json:"id"`
	Grant    string    `json:"grant,omitempty"`
	Observer string    `json:"observer"`
	Action   Right     `json:"action"`
	Attempts int64     `json:"attempts"`
	Window   Window    `json:"window"`
	At       time.Time `json:"at"`
	Detail   string    `json:"detail"`
}

// observedView is what Check reads to report observed infractions. Every
// view the ledger provides implements it; a CheckView that does not is
// taken to have none.
type observedView interface {
	// ObservedInfractions returns the observed infractions against member
	// on asset, in ID order.
	ObservedInfractions(member, asset string) []*Infraction
}

// noteObserved adds to d the observed infractions against req's member on
// req's asset recorded by req.At. They are open: no entry closes one. They
// warn and do not deny, since an observation is its observer's claim, not
// a finding of the ledger; the reason says so, so that whoever reads the
// decision sees them.
func noteObserved(v CheckView, d *Decision, req *CheckRequest) {
	ov, ok := v.(observedView)
	if !ok {
		return
	}
	for _, in := range ov.ObservedInfractions(req.Member, req.Asset) {
		if in.At.After(req.At) {
			continue
		}
		n := ObservedNote{ID: in.ID, Grant: in.Grant, Observer: in.Observer, Action: in.Action, Attempts: in.Attempts, At: in.At, Detail: in.Detail}
		if in.Window != nil {
			n.Window = *in.Window
		}
		d.Observed = append(d.Observed, n)
	}
	if len(d.Observed) == 0 {
		return
	}
	ids := make([]string, len(d.Observed))
	for i, n := range d.Observed {
		ids[i] = n.ID
	}
	d.Reason += "; warning: " + itoa(len(ids)) + " open observed infraction(s) against " + req.Member + " on " + req.Asset + ": " + strings.Join(ids, ", ")
}

// observedInfractions scans the infractions for those observed against
// member on asset, in ID order. The check index keeps them by member and
// asset; a read transaction scans, as infractions are few.
func observedInfractions(t *tx, member, asset string) []*Infraction {
	var out []*Infraction
	t.scan(bucketInfract, nil, func(k, v []byte) bool {
		if !strings.Contains(string(k), "/"+InfractionObserved+"/") {
			return true
		}
		in := new(Infraction)
		mustUnmarshal(bucketInfract, k, v, in)
		if in.Kind == InfractionObserved && in.Asset == asset && slices.Contains(in.Members, member) {
			out = append(out, in)
		}
		return true
	})
	return out
}

// ObservedInfractions implements observedView for Check.
func (v *View) ObservedInfractions(member, asset string) []*Infraction {
	return observedInfractions(v.t, member, asset)
}

// ObservedInfractions implements observedView for Check.
func (v txView) ObservedInfractions(member, asset string) []*Infraction {
	return observedInfractions(v.t, member, asset)
}
