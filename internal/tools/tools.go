//go:build tools

// Package tools pins modules that the project depends on before any
// package imports them, so that go mod tidy keeps them.
package tools

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	_ "github.com/gorilla/mux"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-metrics"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/transparency-dev/merkle"
	_ "go.etcd.io/bbolt"
)
