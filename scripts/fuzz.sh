#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time each (default
# 30s). New interesting inputs land in the package's testdata/fuzz/, which
# is committed, so `make test` replays them as regression tests. Minimising
# a new input is capped at 5s: some targets (seal) run tens of inputs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($t)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -fuzzminimizetime 5s "$pkg"
  done
done
