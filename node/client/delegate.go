package client

import (
	"context"

	"github.com/charta/charta/ledger"
)

// DelegateKey proposes key.delegate: key becomes one of the signing
// member's keys, able to sign only within scope (see ledger.KeyScope). The
// client's signer must be an ordinary key of the member; a delegated key
// cannot delegate.
func (c *Client) DelegateKey(ctx context.Context, id string, key ledger.PublicKey, scope ledger.KeyScope) (*ledger.Result, error) {
	return c.Propose(ctx, "key.delegate", id, ledger.KeyDelegate{Key: key, Scope: scope})
}

// RevokeDelegatedKey proposes key.revoke: the signing member ends one of
// its delegated keys at once. An ordinary key is revoked by ballot.
func (c *Client) RevokeDelegatedKey(ctx context.Context, id, keyID string) (*ledger.Result, error) {
	return c.Propose(ctx, "key.revoke", id, ledger.KeyRevoke{Key: keyID})
}

// ObserveInfraction proposes infraction.observe, as a licensor of the
// observation's grant or an owner of its asset (or a key they delegated
// that type to).
func (c *Client) ObserveInfraction(ctx context.Context, id string, o ledger.InfractionObserve) (*ledger.Result, error) {
	return c.Propose(ctx, "infraction.observe", id, o)
}

// ConsumeFor proposes pool.consume of amount from member's quota in pool:
// a pool owner metering a member's use (member "" is the signer itself).
func (c *Client) ConsumeFor(ctx context.Context, id, pool, member string, amount int64, ref string) (*ledger.Result, error) {
	return c.Propose(ctx, "pool.consume", id, ledger.PoolConsume{Pool: pool, Member: member, Amount: amount, Ref: ref})
}
