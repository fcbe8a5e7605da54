package ledger

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Ballot statuses. A ballot is open until it reaches the threshold
// (passed, or failed if its action could not be carried out), until
// enough members vote no that it can no longer pass (rejected), or until
// its deadline (expired, evaluated lazily).
const (
	BallotOpen     = "open"
	BallotPassed   = "passed"
	BallotFailed   = "failed"
	BallotRejected = "rejected"
	BallotExpired  = "expired"
)

// Vote is one member's vote on a ballot.
type Vote struct {
	Member  string `json:"member"`
	Approve bool   `json:"approve"`
	Index   uint64 `json:"index"`
}

// Ballot is a governance proposal that members vote on.
type Ballot struct {
	ID       string          `json:"id"`
	Action   string          `json:"action"`
	Params   json.RawMessage `json:"params"`
	Reason   string          `json:"reason,omitempty"`
	Proposer string          `json:"proposer"`
	OpenedAt time.Time       `json:"opened_at"`
	Deadline time.Time       `json:"deadline"`
	Votes    []Vote          `json:"votes"` // sorted by member
	Status   string          `json:"status"`
	Result   string          `json:"result,omitempty"` // why it failed, in words
	Index    uint64          `json:"index"`
	Decided  uint64          `json:"decided,omitempty"` // index at which it passed, failed or was rejected
}

// StatusAt is the ballot's status at ledger time now: an open ballot past
// its deadline has expired.
func (b *Ballot) StatusAt(now time.Time) string {
	if b.Status == BallotOpen && !now.Before(b.Deadline) {
		return BallotExpired
	}
	return b.Status
}

// BallotOpenBody is the body of ballot.open. Opening a ballot is its proposer's vote for it.
type BallotOpenBody struct {
	ID       string          `json:"id"`
	Action   string          `json:"action"`
	Params   json.RawMessage `json:"params"`
	Deadline time.Time       `json:"deadline"`
	Reason   string          `json:"reason,omitempty"`
}

// BallotVoteBody is the body of ballot.vote.
type BallotVoteBody struct {
	Ballot  string `json:"ballot"`
	Approve bool   `json:"approve"`
}

// AdmitParams are the parameters of a member.admit ballot.
type AdmitParams struct {
	Member string      `json:"member"`
	Name   string      `json:"name,omitempty"`
	Role   Role        `json:"role"`
	Keys   []PublicKey `json:"keys"`
	// EncryptionKey is the new member's X-Wing encryption key, if it
	// has one; it may also register one later (key.encryption.rotate).
	EncryptionKey *EncryptionKey `json:"encryption_key,omitempty"`
	Node          NodeInfo       `json:"node"`
}

// MemberParams are the parameters of member.suspend, member.reinstate and
// member.remove.
type MemberParams struct {
	Member string `json:"member"`
	// LicensorGrants says what happens to the grants the member gave as
	// licensor: continue (the default), suspend, or, on removal only, end.
	// Its grants as licensee are suspended or end in any case.
	LicensorGrants string `json:"licensor_grants,omitempty"`
}

// KeyRevokeParams are the parameters of key.revoke.
type KeyRevokeParams struct {
	Key string `json:"key"`
}

// CharterParams are the parameters of charter.amend: the whole new charter.
type CharterParams struct {
	Charter Charter `json:"charter"`
}

// ballotAction is what a ballot does when it passes. check validates the
// parameters when the ballot opens and again when it passes, since the
// state may have changed in between; execute carries the action out.
type ballotAction struct {
	check   func(a *applyCtx, params json.RawMessage) error
	execute func(a *applyCtx, params json.RawMessage) error
}

// ballotActions is looked up by key only.
var ballotActions = map[string]ballotAction{
	"member.admit":   {checkAdmit, executeAdmit},
	"member.suspend": {checkMemberStatus(MemberSuspended), executeMemberStatus(MemberSuspended)},
	"member.remove":  {checkMemberStatus(MemberRemoved), executeMemberStatus(MemberRemoved)},
	// member.reinstate makes a suspended member active again.
	"member.reinstate": {checkReinstate, executeMemberStatus(MemberActive)},
	"key.revoke":       {checkKeyRevoke, executeKeyRevoke},
	"charter.amend":    {checkCharter, executeCharter},
	"pool.create":      {checkPoolBallot, executePoolBallot},
}

// BallotActions lists the actions a ballot can carry, sorted.
func BallotActions() []string {
	out := make([]string, 0, len(ballotActions))
	for k := range ballotActions {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func init() {
	register("ballot.open", handler{apply: applyBallotOpen})
}

func applyBallotOpen(a *applyCtx) error {
	var b BallotOpenBody
	if err := a.body(&b); err != nil {
		return err
	}
	if !ValidID(b.ID) {
		return Errorf(CodeInvalid, "body.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", b.ID)
	}
	act, ok := ballotActions[b.Action]
	if !ok {
		return Errorf(CodeInvalid, "body.action: unknown action %q (want one of %v)", b.Action, BallotActions())
	}
	if a.tx.get(bucketBallots, []byte(b.ID)) != nil {
		return Errorf(CodeConflict, "body.id: ballot %s already exists", b.ID)
	}
	maxDeadline := a.now.Add(time.Duration(a.charter.BallotMaxDays) * 24 * time.Hour)
	if !b.Deadline.After(a.now) || b.Deadline.After(maxDeadline) {
		return Errorf(CodeInvalid, "body.deadline: %s must be after ledger time and within %d days", b.Deadline.UTC().Format(time.RFC3339), a.charter.BallotMaxDays)
	}
	if err := act.check(a, b.Params); err != nil {
		return err
	}
	ballot := &Ballot{
		ID: b.ID, Action: b.Action, Params: b.Params, Reason: b.Reason, Proposer: a.p.Signer,
		OpenedAt: a.now, Deadline: b.Deadline.UTC(), Status: BallotOpen, Index: a.index,
	}
	a.event("ballot.opened", b.ID)
	// Opening a ballot is its proposer's vote for it.
	return a.castVote(ballot, a.p.Signer, true)
}

func init() {
	register("ballot.vote", handler{apply: applyBallotVote})
}

func applyBallotVote(a *applyCtx) error {
	var b BallotVoteBody
	if err := a.body(&b); err != nil {
		return err
	}
	var ballot Ballot
	if !a.tx.getJSON(bucketBallots, []byte(b.Ballot), &ballot) {
		return Errorf(CodeNotFound, "body.ballot: no ballot %q", b.Ballot)
	}
	if s := ballot.StatusAt(a.now); s != BallotOpen {
		return Errorf(CodeRejected, "body.ballot: ballot %s is %s", b.Ballot, s)
	}
	i, found := slices.BinarySearchFunc(ballot.Votes, a.p.Signer, func(v Vote, m string) int { return strings.Compare(v.Member, m) })
	if found {
		return Errorf(CodeConflict, "body.ballot: %s already voted on ballot %s at index %d", a.p.Signer, b.Ballot, ballot.Votes[i].Index)
	}
	return a.castVote(&ballot, a.p.Signer, b.Approve)
}

// castVote records a vote, then decides the ballot if the vote settles it.
func (a *applyCtx) castVote(b *Ballot, member string, approve bool) error {
	m, err := a.activeMember("signer", member)
	if err != nil {
		return err
	}
	if m.Role != RoleMember {
		return Errorf(CodeForbidden, "signer: %s is an %s and does not vote", member, m.Role)
	}
	i, _ := slices.BinarySearchFunc(b.Votes, member, func(v Vote, m string) int { return strings.Compare(v.Member, m) })
	b.Votes = slices.Insert(b.Votes, i, Vote{Member: member, Approve: approve, Index: a.index})

	voters := a.voters()
	yes, no := 0, 0
	for _, v := range b.Votes {
		if !slices.Contains(voters, v.Member) {
			continue // a voter since suspended or removed no longer counts
		}
		if v.Approve {
			yes++
		} else {
			no++
		}
	}
	th := a.charter.Threshold
	passes := func(approvals int) bool {
		return uint64(approvals)*uint64(th.Den) >= uint64(th.Num)*uint64(len(voters))
	}
	switch {
	case passes(yes):
		b.Decided = a.index
		act := ballotActions[b.Action]
		err := act.check(a, b.Params)
		if err == nil {
			err = act.execute(a, b.Params)
		}
		if err != nil {
			// The vote stands; the action could not be carried out.
			b.Status, b.Result = BallotFailed, messageOf(err)
			a.event("ballot.failed", b.ID)
		} else {
			b.Status = BallotPassed
			a.event("ballot.passed", b.ID)
		}
	case !passes(len(voters) - no):
		b.Status, b.Decided = BallotRejected, a.index
		a.event("ballot.rejected", b.ID)
	}
	a.tx.putJSON(bucketBallots, []byte(b.ID), b)
	return nil
}

// voters returns the active members with the member role, sorted.
func (a *applyCtx) voters() []string {
	var out []string
	a.tx.scan(bucketMembers, nil, func(_, v []byte) bool {
		var m Member
		mustUnmarshal(bucketMembers, nil, v, &m)
		if m.Status == MemberActive && m.Role == RoleMember {
			out = append(out, m.ID)
		}
		return true
	})
	return out
}

func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return Errorf(CodeInvalid, "body.params: required")
	}
	if err := DecodeStrict(raw, v); err != nil {
		return Errorf(CodeInvalid, "body.params: %s", messageOf(err))
	}
	return nil
}

func checkAdmit(a *applyCtx, raw json.RawMessage) error {
	var p AdmitParams
	if err := decodeParams(raw, &p); err != nil {
		return err
	}
	if !ValidMemberID(p.Member) {
		return Errorf(CodeInvalid, "body.params.member: %q is not a member ID", p.Member)
	}
	if a.tx.get(bucketMembers, []byte(p.Member)) != nil {
		return Errorf(CodeConflict, "body.params.member: %s is already a member", p.Member)
	}
	if p.Role != RoleMember && p.Role != RoleAuditor {
		return Errorf(CodeInvalid, "body.params.role: %q is not member or auditor", p.Role)
	}
	if len(p.Keys) == 0 {
		return Errorf(CodeInvalid, "body.params.keys: at least one key is required")
	}
	if err := p.Node.Validate("body.params.node"); err != nil {
		return err
	}
	for i, k := range p.Keys {
		if err := k.Validate(); err != nil {
			return Errorf(CodeInvalid, "body.params.keys[%d]: %s", i, messageOf(err))
		}
		if a.tx.get(bucketKeys, []byte(KeyID(p.Member, k))) != nil {
			return Errorf(CodeConflict, "body.params.keys[%d]: already registered", i)
		}
	}
	if p.EncryptionKey != nil {
		return a.checkEncryptionKey("body.params.encryption_key", *p.EncryptionKey)
	}
	return nil
}

func executeAdmit(a *applyCtx, raw json.RawMessage) error {
	var p AdmitParams
	decodeParams(raw, &p)
	m := Member{ID: p.Member, Name: p.Name, Role: p.Role, Status: MemberActive, Node: p.Node, Since: a.index, UpdatedAt: a.index}
	for _, k := range p.Keys {
		kid := KeyID(p.Member, k)
		m.Keys = append(m.Keys, kid)
		a.tx.putJSON(bucketKeys, []byte(kid), KeyRecord{ID: kid, Member: p.Member, Public: k, ValidFrom: a.index})
	}
	if p.EncryptionKey != nil {
		m.EncryptionKeys = []EncryptionKeyRecord{newEncryptionKeyRecord(*p.EncryptionKey, a.index)}
	}
	a.tx.putJSON(bucketMembers, []byte(m.ID), m)
	a.event("member.admitted", m.ID)
	return nil
}

func checkMemberStatus(to MemberStatus) func(*applyCtx, json.RawMessage) error {
	return func(a *applyCtx, raw json.RawMessage) error {
		var p MemberParams
		if err := decodeParams(raw, &p); err != nil {
			return err
		}
		m, err := a.member("body.params.member", p.Member)
		if err != nil {
			return err
		}
		if m.Status == MemberRemoved || m.Status == to {
			return Errorf(CodeRejected, "body.params.member: %s is already %s", p.Member, m.Status)
		}
		return checkLicensorGrants(to, p.LicensorGrants)
	}
}

func checkReinstate(a *applyCtx, raw json.RawMessage) error {
	var p MemberParams
	if err := decodeParams(raw, &p); err != nil {
		return err
	}
	m, err := a.member("body.params.member", p.Member)
	if err != nil {
		return err
	}
	if m.Status != MemberSuspended {
		return Errorf(CodeRejected, "body.params.member: %s is %s; only a suspended member can be reinstated", p.Member, m.Status)
	}
	if p.LicensorGrants != "" {
		return Errorf(CodeInvalid, "body.params.licensor_grants: reinstatement brings back every grant the suspension suspended; it takes no licensor_grants")
	}
	return nil
}

func executeMemberStatus(to MemberStatus) func(*applyCtx, json.RawMessage) error {
	return func(a *applyCtx, raw json.RawMessage) error {
		var p MemberParams
		decodeParams(raw, &p)
		m, err := a.member("body.params.member", p.Member)
		if err != nil {
			return err
		}
		m.Status, m.UpdatedAt = to, a.index
		a.tx.putJSON(bucketMembers, []byte(m.ID), m)
		event := "member." + string(to)
		switch to {
		case MemberSuspended:
			a.suspendForMember(m.ID, p.LicensorGrants)
		case MemberActive:
			event = "member.reinstated"
			a.resumeForMember(m.ID)
		case MemberRemoved:
			a.endForMember(m.ID, p.LicensorGrants)
		}
		if to == MemberRemoved {
			a.tx.scan(bucketTokens, nil, func(k, v []byte) bool {
				var t Token
				mustBeStored(bucketTokens, k, decodeToken(v, &t))
				if t.Member == m.ID {
					a.tx.del(bucketTokens, k)
				}
				return true
			})
		}
		a.event(event, m.ID)
		return nil
	}
}

func checkKeyRevoke(a *applyCtx, raw json.RawMessage) error {
	var p KeyRevokeParams
	if err := decodeParams(raw, &p); err != nil {
		return err
	}
	k, err := a.key(p.Key)
	if err != nil {
		return err
	}
	if !k.ValidAt(a.index) {
		return Errorf(CodeRejected, "body.params.key: %s is no longer valid", p.Key)
	}
	return nil
}

func executeKeyRevoke(a *applyCtx, raw json.RawMessage) error {
	var p KeyRevokeParams
	decodeParams(raw, &p)
	k, err := a.key(p.Key)
	if err != nil {
		return err
	}
	k.ValidUntil, k.EndedBy = a.index, "revoked"
	a.tx.putJSON(bucketKeys, []byte(k.ID), k)
	a.event("key.revoked", k.ID)
	return nil
}

func checkCharter(a *applyCtx, raw json.RawMessage) error {
	var p CharterParams
	if err := decodeParams(raw, &p); err != nil {
		return err
	}
	if err := p.Charter.Validate(); err != nil {
		return err
	}
	if f, now := p.Charter.JournalFormat, a.charter.journalFormat(); f != 0 && f < now {
		return Errorf(CodeInvalid, "charter.journal_format: %d would take the journal back from format %d", f, now)
	}
	for i, id := range p.Charter.SealAuditors {
		if slices.Contains(a.charter.SealAuditors, id) {
			continue // named already: an amendment of something else keeps it
		}
		m, err := a.member("charter.seal_auditors["+itoa(i)+"]", id)
		if err != nil {
			return err
		}
		if _, ok := m.CurrentEncryptionKey(); m.Role != RoleAuditor || m.Status != MemberActive || !ok {
			return Errorf(CodeInvalid, "charter.seal_auditors[%d]: %s must be an active auditor with an encryption key", i, id)
		}
	}
	return nil
}

func executeCharter(a *applyCtx, raw json.RawMessage) error {
	var p CharterParams
	decodeParams(raw, &p)
	if p.Charter.JournalFormat == 0 {
		// Left out: the journal keeps its format.
		p.Charter.JournalFormat = a.charter.JournalFormat
	}
	a.tx.putJSON(bucketMeta, metaCharter, p.Charter)
	a.setCharter = &p.Charter
	a.event("charter.amended", "")
	return nil
}
