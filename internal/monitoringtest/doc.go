// Package monitoringtest checks what a real consortium shows Prometheus:
// it runs three node processes, sends them traffic, and runs promtool
// check metrics on every node's /metrics, leader and followers. It also
// runs promtool's checks and unit tests of docs/monitoring/alerts.yml and
// checks that the Grafana dashboard and the alerts use only metrics the
// nodes export.
//
// The tests need promtool (Debian's prometheus package, or
// CHARTA_PROMTOOL). They skip without it unless CHARTA_REQUIRE_PROMTOOL=1.
package monitoringtest
