#!/usr/bin/env bash
# Enforces the import direction cmd → node → consensus → ledger, and keeps
# the ledger pure: no transport, no consensus, no clock-reading packages
# beyond what its determinism rules allow.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0

deny() { # package pattern, forbidden regexp, why
  local pkgs=$1 re=$2 why=$3 bad
  bad=$( { go list -deps $pkgs | grep "^$mod/"; go list -f '{{join .Imports "\n"}}' $pkgs; } 2>/dev/null | sort -u | grep -E "$re" || true)
  if [ -n "$bad" ]; then
    echo "check-deps: $pkgs must not depend on: $(echo $bad | tr '\n' ' ') ($why)" >&2
    fail=1
  fi
}

# Transitive dependencies inside the module, and direct imports of each package
# (circl and bbolt use math/rand internally for things that never reach state).
deny "./ledger/..." "^net/http$|^math/rand|hashicorp/raft|gorilla/mux|^$mod/(consensus|node|cmd|internal)" "ledger is the pure, deterministic domain"
deny "./consensus/..." "^$mod/(node|cmd)" "consensus sits below node"
deny "./node/client/..." "^$mod/(consensus|cmd)|hashicorp/raft" "the client needs only ledger types"
deny "./node/api/..." "^$mod/(consensus|cmd|internal)|^$mod/node$|hashicorp/raft|gorilla/mux" "the wire contract needs only ledger types"

# time.Now and friends must not appear in ledger's non-test code.
if grep -nE 'time\.(Now|Since|Until|After|Tick|NewTimer|NewTicker)\(' $(ls ledger/*.go ledger/*/*.go 2>/dev/null | grep -v '_test.go$' | grep -v '^ledger/ledgertest/') ; then
  echo "check-deps: ledger reads the clock (see above); time enters only through the log" >&2
  fail=1
fi
[ $fail = 0 ] && echo "check-deps: ok"
exit $fail
