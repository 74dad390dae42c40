# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpora of the fuzz targets from the genuine AMD test data.

Usage: make-seeds.py TESTDATA REPORT_DIR CERT_TABLE_DIR

TESTDATA is ../shared/testdata/real (read through its manifest.json). The
seeds go to temporary directories that tests/fuzz/fuzz.sh creates; nothing
from TESTDATA is written into the project.

Report seeds: every report of the manifest as given (binary or hex text),
and each hex report also decoded.

Certificate-table seeds: tables in the GHCB layout (24-byte entries of
GUID, offset, length; an all-zero terminator; the blobs after it) built from
the DER certificates of a few vectors, plus a few malformed tables so the
fuzzer starts next to every refusal.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import struct
import sys
import uuid

GUID = {
    "ark": uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae").bytes,
    "ask": uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782").bytes,
    "vcek": uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd").bytes,
    "vlek": uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1").bytes,
    "crl": uuid.UUID("92f81bc3-5811-4d3d-97ff-d19f88dc67ea").bytes,
    "other": uuid.UUID("00112233-4455-6677-8899-aabbccddeeff").bytes,
}

PEM_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def certs_of(path):
    """Every certificate of a PEM bundle, or the single DER certificate."""
    with open(path, "rb") as f:
        data = f.read()
    blocks = PEM_RE.findall(data)
    if blocks:
        return [base64.b64decode(b"".join(b.split())) for b in blocks]
    return [data]


def table(entries, pad_to=0):
    """entries: [(guid, blob)] -> entries, terminator, blobs back to back."""
    off = 24 * (len(entries) + 1)
    head, body = b"", b""
    for guid, blob in entries:
        head += guid + struct.pack("<II", off + len(body), len(blob))
        body += blob
    out = head + bytes(24) + body
    if pad_to and len(out) % pad_to:
        out += bytes(pad_to - len(out) % pad_to)
    return out


def write(d, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    testdata, report_dir, table_dir = sys.argv[1:]
    with open(os.path.join(testdata, "manifest.json")) as f:
        vectors = json.load(f)["vectors"]

    n_reports = 0
    seen = set()
    for v in vectors:
        if "report" not in v or v["report"] in seen:
            continue
        seen.add(v["report"])
        with open(os.path.join(testdata, v["report"]), "rb") as f:
            data = f.read()
        write(report_dir, data)
        n_reports += 1
        if v.get("report_format") == "hex":
            write(report_dir, binascii.unhexlify(b"".join(data.split())))
            n_reports += 1

    # One chain per product and endorsement: leaf, intermediate, root.
    chains = {}
    for v in vectors:
        if v["name"].startswith("NEG") or "report" not in v:
            continue
        key = (v["product"], v.get("endorsement", "VCEK"))
        if key in chains:
            continue
        leaf = certs_of(os.path.join(testdata, v["vcek"]))[0]
        ca = []
        for p in v["ca"]:
            ca += [c for c in certs_of(os.path.join(testdata, p)) if c != leaf]
        if len(ca) < 2:
            continue
        # KDS bundles list ASK (or ASVK) first, then ARK
        chains[key] = (leaf, ca[0], ca[1])

    tables = []
    for (product, endorsement), (leaf, ask, ark) in sorted(chains.items()):
        kind = "vlek" if endorsement == "VLEK" else "vcek"
        tables.append(table([(GUID[kind], leaf)]))
        tables.append(table([(GUID["ark"], ark), (GUID["ask"], ask), (GUID[kind], leaf)]))
        tables.append(table([(GUID[kind], leaf), (GUID["ask"], ask), (GUID["ark"], ark)],
                            pad_to=4096))
    if chains:
        leaf, ask, ark = next(iter(sorted(chains.items())))[1]
        tables.append(table([(GUID["ark"], ark), (GUID["ask"], ask),
                             (GUID["vcek"], leaf), (GUID["crl"], b"\x30\x03\x02\x01\x00"),
                             (GUID["other"], b"unknown blob")]))
        good = table([(GUID["ark"], ark), (GUID["vcek"], leaf)])
        # malformed: cut before the terminator, overlapping, duplicate GUID
        tables.append(good[:40])
        tables.append(good[:24] + GUID["vcek"] + good[16:24] + bytes(24) + good[72:])
        tables.append(table([(GUID["vcek"], b"a"), (GUID["vcek"], b"b")]))
    tables.append(bytes(24))
    tables.append(table([(GUID["other"], b"x")]))
    for t in tables:
        write(table_dir, t)

    print("seeds: %d reports, %d certificate tables" % (n_reports, len(tables)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
