// Package devnet runs a local consortium on one machine: the members'
// keys, a development CA with node certificates, a signed genesis and API
// tokens in one directory, and each member's node as a child process on
// 127.0.0.1. `charta dev`, `charta bench` and the end-to-end tests use it.
//
// The nodes are supervised: one that stops is reported on the exit channel
// and stays down while the others carry on, until it is started again,
// from this process or, through the control socket in the directory, from
// `charta dev stop|start|restart <member>` in another terminal.
package devnet
