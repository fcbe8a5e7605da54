// Package node serves Charta's HTTP API v1 over a replicated ledger.
//
// A Server answers reads from the local ledger at the consistency a client
// asks for (stale, leader or linearizable, plus min_index for
// read-your-writes), authenticates bearer tokens against the ledger's token
// table and the node's own operator token, hides grants, bundles and their
// statements from members that are not party to them (404, so existence does
// not leak), and takes signed proposals: it checks them before they reach the
// log, forwards them to the leader when it is not the leader, and answers
// with the outcome the ledger recorded.
//
// Every error leaves the server as an RFC 9457 application/problem+json
// document built in one place (problem.go). Internal errors are logged with
// the request ID and never echoed.
//
// The package depends on consensus only through the Consensus interface,
// which a small adapter over consensus.Node satisfies.
package node
