#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Second, independent verifier of snpd's evidence binding (snpd-binding-v1).

Written from docs/evidence.md only (not from lib/merkle.c, lib/evlog.c,
lib/binding.c): Merkle inclusion, event log replay, REPORT_DATA. It also
builds trees, proofs and logs so the tests can feed the C side.

    evidence_verify.py --report-data HEX --nonce HEX BINDING.json
prints "ok" (exit 0) or "refused: REASON" (exit 1). Documents are read with
loads(), which refuses what section 6 says a verifier refuses (a member
name twice in one object, ...); check_document() refuses one whose "type"
or "version" is not an evidence document's; verify() takes the binding.
"""
import hashlib
import json
import re
import sys

HASH = 48
NONCE_MAX = 64
LEAVES_MAX = 65536
PATH_MAX = 16
EVENTS_MAX = 65536
DEPTH_MAX = 32
SCHEME = "snpd-binding-v1"
DOC_TYPE = "snpd-evidence"
DOC_VERSION = 1
MARK = SCHEME.encode() + b"\0"
ALGS = {0x000B: ("sha256", 32), 0x000C: ("sha384", 48), 0x000D: ("sha512", 64)}
ALG_BY_NAME = {v[0]: k for k, v in ALGS.items()}


class Refused(Exception):
    pass


def h(*parts):
    m = hashlib.sha384()
    for p in parts:
        m.update(p)
    return m.digest()


def leaf_hash(nonce):
    if not 1 <= len(nonce) <= NONCE_MAX:
        raise Refused("nonce must be 1 to 64 bytes")
    return h(b"\x00", bytes([len(nonce)]), nonce)


def node_hash(left, right):
    return h(b"\x01", left, right)


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """Root of a list of leaf hashes, by the recursive definition."""
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """Inclusion proof of leaf m, leaf upwards."""
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def root_from_proof(leaf, m, n, proof):
    if type(n) is not int or type(m) is not int:
        raise Refused("leaf index and tree size must be integers")
    if n < 1 or n > LEAVES_MAX:
        raise Refused("tree size out of range")
    if m < 0 or m >= n:
        raise Refused("leaf index not below the tree size")
    if len(proof) > PATH_MAX:
        raise Refused("proof path too long")
    fn, sn, r = m, n - 1, leaf
    for p in proof:
        if len(p) != HASH:
            raise Refused("proof entry is not 48 bytes")
        if sn == 0:
            raise Refused("proof path longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Refused("proof path shorter than the tree is deep")
    return r


def encode_record(alg, digest, etype, desc):
    name, size = ALGS[alg]
    return (bytes([1]) + alg.to_bytes(2, "big") + etype.to_bytes(4, "big") +
            bytes([len(digest)]) + digest + bytes([len(desc)]) + desc)


def decode_record(rec):
    """-> dict of the fields, or Refused."""
    if len(rec) < 8:
        raise Refused("event record shorter than its header")
    if len(rec) > 137:
        raise Refused("event record longer than 137 bytes")
    if rec[0] != 1:
        raise Refused("event record version is not 1")
    alg = int.from_bytes(rec[1:3], "big")
    etype = int.from_bytes(rec[3:7], "big")
    if alg not in ALGS:
        raise Refused("unknown digest algorithm")
    name, size = ALGS[alg]
    if rec[7] != size:
        raise Refused("digest length does not match the algorithm")
    if len(rec) < 8 + size + 1:
        raise Refused("event record truncated in the digest")
    digest = rec[8:8 + size]
    dlen = rec[8 + size]
    if dlen > 64:
        raise Refused("description longer than 64 bytes")
    desc = rec[9 + size:]
    if len(desc) != dlen:
        raise Refused("event record length does not match its description")
    if any(b < 0x20 or b > 0x7E for b in desc):
        raise Refused("description is not printable ASCII")
    return {"alg": name, "digest": digest.hex(), "type": etype,
            "description": desc.decode("ascii")}


def chain(records):
    """Heads after each record, from the empty head."""
    head = bytes(HASH)
    heads = []
    for rec in records:
        head = h(b"\x02", head, rec)
        heads.append(head)
    return heads


def report_data(root, tree_size, head, count):
    return (h(b"\x03", b"snpd-binding", b"\x01", tree_size.to_bytes(8, "big"), root,
              count.to_bytes(8, "big"), head) + MARK)


def _hex(v, what, size=None):
    if not isinstance(v, str):
        raise Refused(f"{what} is not a hex string")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise Refused(f"{what} is not hex")
    if len(v) != 2 * len(b):
        raise Refused(f"{what} is not hex")
    if size is not None and len(b) != size:
        raise Refused(f"{what} is not {size} bytes")
    return b


def _unique_members(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Refused(f"member {k!r} appears twice in one object")
        d[k] = v
    return d


def _no_constant(name):
    raise Refused(f"{name} is not JSON")


def _int(s):
    v = int(s)
    if not -2**63 <= v < 2**63:
        raise Refused("an integer beyond 64 bits")
    return v


def _float(s):
    v = float(s)
    if v in (float("inf"), float("-inf")):
        raise Refused("a number beyond a double's range")
    return v


def _check_strings(v):
    if isinstance(v, str):
        if "\0" in v or any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            raise Refused("a string with U+0000 or an unpaired surrogate")
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_strings(k)
            _check_strings(x)
    elif isinstance(v, list):
        for x in v:
            _check_strings(x)


# a string (with its escapes) or a bracket, outside strings
_NESTING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def _depth_within(text, limit):
    """Whether @text nests at most @limit arrays and objects, counted on the
    text before it is parsed (json.loads recurses once per level)."""
    depth = 0
    for m in _NESTING_TOKEN.finditer(text):
        t = m.group()
        if t == "[" or t == "{":
            depth += 1
            if depth > limit:
                return False
        elif t == "]" or t == "}":
            depth -= 1
    return True


def loads(data):
    """An evidence document (bytes or str) -> dict, strictly (section 6):
    one JSON object in UTF-8; one nested deeper than 32 arrays and objects,
    a name twice in one object, at any depth, a non-JSON constant, a number
    out of range, a string with U+0000 or an unpaired surrogate, or
    anything after the object is refused."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if not _depth_within(data, DEPTH_MAX):
            raise Refused(f"nested deeper than {DEPTH_MAX} arrays and objects")
        doc = json.loads(data, object_pairs_hook=_unique_members,
                         parse_constant=_no_constant, parse_int=_int, parse_float=_float)
        _check_strings(doc)
    except UnicodeDecodeError:
        raise Refused("not UTF-8")
    except (ValueError, RecursionError) as e:
        raise Refused(f"not JSON: {e}")
    if not isinstance(doc, dict):
        raise Refused("not a JSON object")
    return doc


def check_document(doc):
    """Refuse a document (a dict from loads()) that does not say it is an
    evidence document of version 1 (section 6): "type" must be the string
    "snpd-evidence" and "version" the integer 1, neither may be missing."""
    if not isinstance(doc, dict):
        raise Refused("not a JSON object")
    if doc.get("type") != DOC_TYPE or not isinstance(doc.get("type"), str):
        raise Refused(f'"type": expected "{DOC_TYPE}" (an snpd evidence document)')
    if type(doc.get("version")) is not int or doc["version"] != DOC_VERSION:
        raise Refused(f'"version": expected {DOC_VERSION} (an snpd evidence document)')


def verify(rd, nonce, binding):
    """Check a binding section against REPORT_DATA and our nonce.
    Returns the decoded events; raises Refused(reason)."""
    if len(rd) != 64:
        raise Refused("REPORT_DATA is not 64 bytes")
    if not isinstance(binding, dict) or binding.get("scheme") != SCHEME:
        raise Refused("scheme is not snpd-binding-v1")
    if rd[48:] != MARK:
        raise Refused("REPORT_DATA does not carry the snpd-binding-v1 mark")
    if _hex(binding.get("nonce"), "nonce") != nonce:
        raise Refused("the proof is for another nonce")
    log = binding.get("log")
    if not isinstance(log, dict) or not isinstance(log.get("events"), list):
        raise Refused("log missing")
    count = log.get("count")
    if type(count) is not int or count < 0:
        raise Refused("log count is not a number")
    head = _hex(log.get("head"), "log head", HASH)
    if len(log["events"]) > EVENTS_MAX:
        raise Refused(f"log has more than {EVENTS_MAX} events")
    records, events = [], []
    for i, ev in enumerate(log["events"]):
        if not isinstance(ev, dict):
            raise Refused(f"event {i} is not an object")
        rec = _hex(ev.get("record"), f"event {i} record")
        try:
            dec = decode_record(rec)
        except Refused as e:
            raise Refused(f"event {i}: {e}")
        seq = ev.get("seq", i)
        if type(seq) is not int or seq != i:
            raise Refused(f"event {i}: seq out of order")
        for k, v in dec.items():
            if k not in ev:
                continue
            got = ev[k]
            if k == "digest" and isinstance(got, str):
                got = got.lower()
            if type(got) is not type(v) or got != v:
                raise Refused(f"event {i}: field {k} does not match its record")
        records.append(rec)
        events.append(dec)
    heads = chain(records)
    for i, ev in enumerate(log["events"]):
        if "head" in ev and _hex(ev["head"], f"event {i} head", HASH) != heads[i]:
            raise Refused(f"event {i}: stored head does not match the replay")
    if len(records) != count:
        raise Refused(f"log has {len(records)} events, the report is bound to {count}")
    if (heads[-1] if heads else bytes(HASH)) != head:
        raise Refused("replayed log head does not match the bound head")
    proof = binding.get("proof")
    if not isinstance(proof, list):
        raise Refused("proof is not a list")
    proof = [_hex(p, "proof entry", HASH) for p in proof]
    root = root_from_proof(leaf_hash(nonce), binding.get("leaf_index"),
                           binding.get("tree_size"), proof)
    if report_data(root, binding["tree_size"], head, count) != rd:
        raise Refused("REPORT_DATA does not match the nonce, proof and log head")
    return events


def make(nonces, index, records):
    """Evidence for nonces[index] over a batch and a log: (rd, binding)."""
    leaves = [leaf_hash(n) for n in nonces]
    heads = chain(records)
    head = heads[-1] if heads else bytes(HASH)
    rd = report_data(mth(leaves), len(nonces), head, len(records))
    events = []
    for i, rec in enumerate(records):
        ev = {"seq": i, "record": rec.hex()}
        ev.update(decode_record(rec))
        ev["head"] = heads[i].hex()
        events.append(ev)
    binding = {"scheme": SCHEME, "nonce": nonces[index].hex(), "leaf_index": index,
               "tree_size": len(nonces), "proof": [p.hex() for p in path(index, leaves)],
               "log": {"count": len(records), "head": head.hex(), "events": events}}
    return rd, binding


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report-data", required=True)
    ap.add_argument("--nonce", required=True)
    ap.add_argument("binding", help="JSON: the binding section, or a document with one")
    a = ap.parse_args(argv)
    with open(a.binding, "rb") if a.binding != "-" else sys.stdin.buffer as f:
        data = f.read()
    try:
        doc = loads(data)
        if "binding" in doc:
            check_document(doc)
            doc = doc["binding"]
        events = verify(bytes.fromhex(a.report_data), bytes.fromhex(a.nonce), doc)
    except Refused as e:
        print(f"refused: {e}")
        return 1
    print("ok")
    for i, ev in enumerate(events):
        print(f"event {i}: type {ev['type']} {ev['alg']}:{ev['digest']} {ev['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
