// Package faultproxy is a TCP proxy that injects network faults between the
// Raft peers of a test consortium: it cuts, delays and drops the traffic of
// each directed link (from one node to another), one way or both ways.
//
// Raft traffic between Charta nodes is mutual TLS, and every node dials the
// single Raft address its peers advertise, so a plain TCP proxy in front of
// a node cannot tell which peer a connection comes from. A Proxy therefore
// terminates the TLS session: it stands in front of one node (the "self"
// node), presents that node's certificate to dialers, requires their client
// certificates, and learns the source node from the charta://node/<id> URI
// in them. It then dials the real listener presenting the source node's
// certificate, so the node's own peer checks (certificate ID against the
// RPC header) still hold. The proxy needs every node's certificate and key,
// which a test harness that issued them has.
//
// Links holds the fault rule of every directed link and is shared by all
// the proxies of a cluster. A rule applies to the bytes that flow from one
// node to the other, whichever side opened the connection:
//
//   - Cut: bytes are not delivered; a connection that would carry them is
//     reset, and new ones whose first direction is cut are refused.
//   - Delay (plus up to Jitter): each chunk is delivered that much later,
//     in order.
//   - Drop: each chunk is lost with this probability, which resets the
//     connection, as a lossy network does to a TCP stream.
//
// A one-way cut (Cut from A to B only) lets B's requests reach A while A's
// answers are lost: the messages B sends still take effect at A.
package faultproxy
