// Package bench measures Charta against baselines taken in the same run.
//
// RunSuite is `charta bench`: it starts clusters of real node processes
// (through the Cluster that cmd/charta provides with its dev cluster),
// runs the workloads against them — signed writes, checks, batched checks,
// checks under writes, a node on a preloaded state — runs the baselines
// beside them, and states the targets against the baselines. The command
// itself only parses flags and prints the report.
//
// Under it are a load runner, closed-loop or at a fixed rate, that records
// latencies in an HdrHistogram (Run), the process sampler that reads CPU
// time, run-queue wait and resident memory from /proc (ReadProc), the three
// baselines — a raw hashicorp/raft cluster with Charta's Raft and
// raft-boltdb settings and a no-op state machine, one server per process
// (ServeRaftBaseline), a no-op gorilla/mux handler behind the API's server
// settings (NoopHandler, ServeNoop), and single-record bbolt transactions
// on the same disk (BoltTxRate) — and the report: results, the targets as
// ratios against the baselines, a table, a Markdown section and JSON
// (Report).
//
// Figures depend on the machine and on what else runs on it; the ratios
// within one report are what the targets are stated in.
package bench
