// Package deploytest tests Charta's container deployment end to end: the
// FROM-scratch Dockerfile, docker-compose.yml and scripts/compose-init.sh,
// on a real Docker engine.
//
// The test builds the static binary and an image from the working tree,
// starts the three-member consortium under its own compose project name (so
// it never touches another stack), drives it with the Go client, stops a
// node, and removes every container, network and volume it made.
//
// Without a reachable Docker engine and a compose command (docker-compose
// or the docker compose plugin) the test is skipped; set
// CHARTA_REQUIRE_DOCKER=1 to make that a failure instead, as CI should
// where Docker is known to work.
package deploytest
