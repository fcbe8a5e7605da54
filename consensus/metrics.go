package consensus

import (
	"errors"
	"fmt"
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// raftMetrics is the one go-metrics sink of the process. hashicorp/raft
// reports through go-metrics' process-wide default registry, which cannot
// be set per node; so the Prometheus sink is created once, installed as
// that default, and registered as a collector in every Registerer a node
// is given. Several nodes in one process (tests) therefore share Raft's
// metrics; a production process runs one node.
var raftMetrics struct {
	once sync.Once
	sink *gmprom.PrometheusSink
	err  error
}

// registerRaftMetrics exports Raft's metrics to reg.
func registerRaftMetrics(reg prometheus.Registerer) error {
	raftMetrics.once.Do(func() {
		// The sink registers itself into the registry it is given; use a
		// private one and register it with the callers' registries below.
		sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: prometheus.NewRegistry()})
		if err != nil {
			raftMetrics.err = err
			return
		}
		conf := gometrics.DefaultConfig("charta")
		conf.EnableHostname = false
		conf.EnableHostnameLabel = false
		conf.EnableRuntimeMetrics = false // the Go collector of client_golang covers these
		if _, err := gometrics.NewGlobal(conf, sink); err != nil {
			raftMetrics.err = err
			return
		}
		raftMetrics.sink = sink
	})
	if raftMetrics.err != nil {
		return fmt.Errorf("consensus: raft metrics: %w", raftMetrics.err)
	}
	if err := reg.Register(raftMetrics.sink); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("consensus: register raft metrics: %w", err)
		}
	}
	return nil
}
