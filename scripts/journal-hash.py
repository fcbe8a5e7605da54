#!/usr/bin/env python3
"""Recompute the entry hashes and the Merkle root of a Charta journal export.

Written from docs/journal.md alone, with the Python standard library only, so
that it checks the documentation as much as the journal.

    journal-hash.py [EXPORT]       (default: standard input)

EXPORT is JSON Lines: an optional header line with a "format" field, then one
journal entry per line in journal order. For each entry the script checks
envelope_hash against the envelope, prev_hash against the previous entry and hash against its own recomputation, and prints
"<seq> <hash>". It ends with "root <size> <RFC 6962 root>". On the first
mismatch it prints the problem on stderr and exits 1.
"""

import base64
import hashlib
import json
import re
import sys

ZERO = bytes(32)


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def u64(n):
    return n.to_bytes(8, "big")


def i64(n):
    return n.to_bytes(8, "big", signed=True)


RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def unix_nanos(s):
    """Unix time in nanoseconds of an RFC 3339 time with up to 9 fractional digits."""
    m = RFC3339.match(s)
    if not m:
        raise ValueError("ledger_time %r is not RFC 3339" % s)
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = int((m.group(7) or "").ljust(9, "0"))
    # Days since 1970-01-01 in the proleptic Gregorian calendar (no datetime,
    # whose microseconds cannot hold nanoseconds).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    secs = days * 86400 + hour * 3600 + minute * 60 + second
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return secs * 10**9 + frac


def string(s):
    b = s.encode("utf-8")
    return u64(len(b)) + b


OUTCOME_STRINGS = ("status", "type", "id", "signer", "code", "message", "with")


def hash_v2(e, fixed):
    o = e["outcome"]
    parts = [b"\x00\x02", fixed]
    parts += [string(o.get(k, "")) for k in OUTCOME_STRINGS]
    events = o.get("events") or []
    parts.append(u64(len(events)))
    for ev in events:
        parts += [string(ev.get("kind", "")), string(ev.get("subject", ""))]
    return sha256(*parts)


def go_json_string(s):
    """A JSON string as Go's encoding/json writes it (docs/journal.md, format 1)."""
    out = json.dumps(s, ensure_ascii=False)
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(raw, esc)
    return out


def hash_v1(e, fixed):
    o = e["outcome"]
    fields = []
    for k in ("status", "type", "id", "signer", "code", "message"):
        if o.get(k):
            fields.append('"%s":%s' % (k, go_json_string(o[k])))
    if o.get("events"):
        evs = ['{"kind":%s,"subject":%s}' % (go_json_string(ev.get("kind", "")), go_json_string(ev.get("subject", "")))
               for ev in o["events"]]
        fields.append('"events":[%s]' % ",".join(evs))
    outcome = "{" + ",".join(fields) + "}"
    return sha256(fixed, outcome.encode("utf-8"))


def entry_hash(e):
    prev = bytes.fromhex(e["prev_hash"])
    fixed = prev + u64(e["index"]) + i64(unix_nanos(e["ledger_time"])) + bytes.fromhex(e["envelope_hash"])
    v = e.get("v", 1)
    if v == 2:
        return hash_v2(e, fixed)
    if v == 1:
        return hash_v1(e, fixed)
    raise ValueError("entry %d: unknown format v=%r" % (e["seq"], v))


def merkle_root(leaves):
    """RFC 6962 Merkle tree hash of a list of leaf inputs."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00", leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01", merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def fail(msg):
    sys.stderr.write("journal-hash: %s\n" % msg)
    sys.exit(1)


def main(argv):
    src = open(argv[1], encoding="utf-8") if len(argv) > 1 else sys.stdin
    prev = ZERO
    leaves = []
    for line in src:
        if not line.strip():
            continue
        e = json.loads(line)
        if "format" in e:
            continue  # the export's header
        seq = e["seq"]
        if seq != len(leaves):
            fail("entry %d is at position %d" % (seq, len(leaves)))
        env = base64.b64decode(e.get("envelope") or "")
        if not env:
            fail("entry %d is withheld in this export (no envelope, no outcome details); "
                 "export with an auditor's or the node operator's token" % seq)
        if sha256(env).hex() != e["envelope_hash"]:
            fail("entry %d: envelope does not match envelope_hash" % seq)
        if bytes.fromhex(e["prev_hash"]) != prev:
            fail("entry %d: prev_hash is not the hash of entry %d" % (seq, seq - 1))
        h = entry_hash(e)
        if h.hex() != e["hash"]:
            fail("entry %d: hash %s, recomputed %s" % (seq, e["hash"], h.hex()))
        print(seq, h.hex())
        leaves.append(h)
        prev = h
    print("root", len(leaves), merkle_root(leaves).hex())


if __name__ == "__main__":
    main(sys.argv)
