package client

import (
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// The API's response bodies, declared once in package api for the server
// and this client.
type (
	// Status is a node's view of itself and the cluster: GET /v1/status.
	Status = api.Status
	// ClusterServer is one server of the Raft configuration: GET /v1/cluster.
	ClusterServer = api.ClusterServer
	// Checkpoint is the journal's checkpoint with its cosigned note: GET
	// /v1/checkpoint.
	Checkpoint = api.Checkpoint
	// InclusionProof proves an entry's place in the journal tree: GET
	// /v1/proofs/inclusion. Verify it against a trusted root.
	InclusionProof = api.InclusionProof
	// ConsistencyProof proves that one journal tree extends another: GET
	// /v1/proofs/consistency. Verify it against trusted roots.
	ConsistencyProof = api.ConsistencyProof
	// Lineage is an asset with its ancestors and descendants: GET
	// /v1/assets/{id}/lineage.
	Lineage = api.Lineage
	// PoolUsage is each member's use and remaining quota of a pool: GET
	// /v1/pools/{id}/usage.
	PoolUsage = api.PoolUsage
)

// GrantFilter narrows GET /v1/grants; empty fields do not filter.
type GrantFilter struct {
	Licensee string        // grants with this licensee
	Licensor string        // grants with this licensor
	Asset    string        // grants over this asset
	Status   ledger.Status // grants in this status
}

// Event is one server-sent event of GET /v1/events: a committed journal
// entry.
type Event struct {
	ID    string        // the SSE id: the entry's seq
	Seq   uint64        // the seq parsed from ID
	Type  string        // the SSE event name; empty for the default
	Data  []byte        // the event's data
	Entry *ledger.Entry // Data decoded as a journal entry, or nil if it is not one
}
