#!/usr/bin/env bash
# compose-init.sh DIR: prepares the configuration of the three-member
# consortium that docker-compose.yml runs (services alpha, beta and gamma).
#
# It writes, under DIR:
#   <member>.key, <member>.pub   each founder's signing key (0600) and public key
#   certs/ca.crt, certs/ca.key   the consortium's development CA for node mTLS
#   certs/<member>.crt|.key      each node's certificate, valid for the service
#                                name, localhost and 127.0.0.1
#   genesis.json                 the genesis document, signed by every founder,
#                                with raft=<member>:7000 and api=http://<member>:8080
#   nodes/<member>/              what member's node needs, and nothing more:
#                                genesis.json, certs/ca.crt, certs/<member>.crt
#                                and certs/<member>.key. docker-compose.yml
#                                mounts it read-only at /config.
#
# The signing keys and the CA key are never mounted into a container: the
# nodes do not need them, only clients and the operator do. Each node sees
# its own TLS key only.
#
# It is idempotent: when DIR/genesis.json exists it does nothing, so a second
# run never replaces the identity of a running consortium. genesis.json is
# written last; a run interrupted before it starts over on the next run.
#
# Environment:
#   CHARTA_BIN          the charta binary to run (default bin/charta of this checkout)
#   CHARTA_KEY_SCHEME   signature scheme of the founders' keys (default: charta's)
#   CHARTA_NAME         consortium name (default "Charta compose consortium")
#   CHARTA_MEMBERS      space-separated founder/service names (default "alpha beta gamma")
set -euo pipefail

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1

root=$(cd "$(dirname "$0")/.." && pwd)
charta=${CHARTA_BIN:-$root/bin/charta}
if [ ! -x "$charta" ]; then
  echo "compose-init: $charta is not an executable; run 'make build' or set CHARTA_BIN" >&2
  exit 1
fi
members=${CHARTA_MEMBERS:-alpha beta gamma}
name=${CHARTA_NAME:-Charta compose consortium}
scheme_flag=()
if [ -n "${CHARTA_KEY_SCHEME:-}" ]; then
  scheme_flag=(--scheme "$CHARTA_KEY_SCHEME")
fi

if [ -e "$dir/genesis.json" ]; then
  echo "compose-init: $dir/genesis.json exists; nothing to do"
  exit 0
fi

mkdir -p "$dir/certs"
# A partial earlier run may have left keys and certificates behind: start
# from scratch so that every file belongs to the same consortium.
rm -rf "$dir"/certs/*.crt "$dir"/certs/*.key "$dir/genesis.json.tmp" "$dir/nodes"

founders=()
for m in $members; do
  rm -f "$dir/$m.key" "$dir/$m.pub"
  "$charta" keygen --member "$m" "${scheme_flag[@]}" --out "$dir/$m.key" >/dev/null
  founders+=(--founder "$m=$dir/$m.pub,raft=$m:7000,api=http://$m:8080")
done

"$charta" cert ca --dir "$dir/certs" --name "$name CA" >/dev/null
for m in $members; do
  "$charta" cert node --dir "$dir/certs" --id "$m" --hosts "$m,localhost,127.0.0.1" >/dev/null
done

"$charta" genesis init --name "$name" --out "$dir/genesis.json.tmp" "${founders[@]}" >/dev/null
for m in $members; do
  "$charta" genesis sign --key "$dir/$m.key" "$dir/genesis.json.tmp" >/dev/null
done

for m in $members; do
  mkdir -p "$dir/nodes/$m/certs"
  cp "$dir/genesis.json.tmp" "$dir/nodes/$m/genesis.json"
  cp "$dir/certs/ca.crt" "$dir/certs/$m.crt" "$dir/nodes/$m/certs/"
  cp -p "$dir/certs/$m.key" "$dir/nodes/$m/certs/"
  # The member key signs the node's clock readings (ledger time) and its
  # checkpoint cosignatures.
  cp -p "$dir/$m.key" "$dir/nodes/$m/member.key"
  chmod 0644 "$dir/nodes/$m/genesis.json" "$dir/nodes/$m/certs/ca.crt" "$dir/nodes/$m/certs/$m.crt"
  chmod 0600 "$dir/nodes/$m/certs/$m.key" "$dir/nodes/$m/member.key"
done
# Last: its presence marks a complete set-up.
mv "$dir/genesis.json.tmp" "$dir/genesis.json"

echo "compose-init: wrote keys, certificates and a genesis signed by: $members, into $dir"
