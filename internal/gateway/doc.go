// Package gateway is charta gateway: a reverse proxy that a consortium
// member runs in front of an AI resource (an inference endpoint, a dataset
// server, a GPU queue) to enforce the ledger's grants where the resource is
// used, and to meter that use into the ledger.
//
// Each request is authenticated as a member (a ledger-registered bearer
// token, resolved through the node's GET /v1/whoami, or an mTLS client
// certificate from the consortium CA), checked against the ledger (the
// node's GET /v1/check, cached), and proxied only when allowed. Metered
// routes count requests, bytes or a quantity an upstream header reports,
// record each count in a local bbolt journal before the response leaves,
// and turn the counts into signed usage.report and pool.consume proposals
// whose IDs come from the journal, so that a restart neither loses nor
// repeats a count. The usage reports of a confidential grant carry their
// metrics only sealed to the grant's parties, sealed once when the batch
// is journaled.
//
// What the gateway promises:
//
//   - a denied request never reaches the upstream;
//   - after a change to the ledger commits, a cached answer is served for at
//     most the decision TTL (Config.DecisionTTL), and usually only until the
//     node's event stream delivers the change;
//   - without a reachable node it fails closed (cached allows that have not
//     expired, otherwise 503), unless FailOpen says otherwise;
//   - a count journaled is reported exactly once, across crashes and
//     restarts.
package gateway
