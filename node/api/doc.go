// Package api is the wire contract of a Charta node's HTTP API: the
// request and response bodies that the node sends and its client decodes,
// the problem document and its codes. The server (package node) and the
// client (package node/client) both import it, so the two cannot drift
// apart; node/openapi.json describes the same shapes for other languages.
//
// Records of the ledger travel as the ledger's own types (ledger.Grant,
// ledger.Entry, ledger.Decision and so on); this package declares only what
// the API adds around them.
package api
