# SPDX-License-Identifier: Apache-2.0
"""Malformed input gives exit code 3 and a message naming the problem,
never a crash: reports (truncated, oversized, unknown version, non-zero
reserved bytes, bad hex) and certificate tables (cut, overlapping, out of
bounds)."""

import os
import struct
import tempfile

import snptest as t

t.need_testdata()
res = t.Results()

vectors = {v["name"]: v for v in t.manifest()["vectors"]}
v2 = t.load_report(vectors["virtee-sev/milan"])
v3 = t.load_report(vectors["oak/milan-oc"])
v5 = t.load_report(vectors["oak/turin"])
vcek = vectors["virtee-sev/milan"]


def patched(base, off, data):
    b = bytearray(base)
    b[off:off + len(data)] = data
    return bytes(b)


reports = [
    ("empty file", b"", "0 bytes, expected 1184"),
    ("one byte", b"\x02", "1 bytes, expected 1184"),
    ("truncated by one", v2[:-1], "1183 bytes, expected 1184"),
    ("one extra byte", v2 + b"\x00", "1185 bytes, expected 1184"),
    ("oversized", v2 * 60, "larger than"),
    ("version 1", patched(v2, 0, struct.pack("<I", 1)), "unknown report version 1"),
    ("version 256", patched(v2, 0, struct.pack("<I", 256)), "unknown report version 256"),
    ("version 0xffffffff", patched(v2, 0, b"\xff\xff\xff\xff"), "unknown report version"),
    ("reserved 0x04c", patched(v2, 0x4C, b"\x01"), "reserved byte 0x04c"),
    ("v2 reserved cpuid byte 0x188", patched(v2, 0x188, b"\x19"), "reserved byte 0x188"),
    ("v3 reserved 0x18b", patched(v3, 0x18B, b"\x01"), "reserved byte 0x18b"),
    ("v3 mitigation vector 0x1f8", patched(v3, 0x1F8, b"\x01"), "reserved byte 0x1f8"),
    ("v5 reserved 0x208", patched(v5, 0x208, b"\x80"), "reserved byte 0x208"),
    ("reserved signature tail 0x49f", patched(v2, 0x49F, b"\x01"), "reserved byte 0x49f"),
    ("reserved 0x1eb", patched(v2, 0x1EB, b"\x01"), "reserved byte 0x1eb"),
    ("signature algorithm 2", patched(v2, 0x34, struct.pack("<I", 2)), "SIGNATURE_ALGO 2"),
    ("policy bit 17 clear", patched(v2, 0x08, struct.pack("<Q", 0x10000)), "bit 17"),
    ("policy reserved bit 40", patched(v2, 0x08, struct.pack("<Q", 0x30000 | 1 << 40)),
     "63:26"),
    ("key info reserved bit", patched(v2, 0x48, struct.pack("<I", 1 << 5)), "key info"),
    ("SIGNING_KEY 3", patched(v2, 0x48, struct.pack("<I", 3 << 2)), "SIGNING_KEY value 3"),
    ("VMPL 4", patched(v2, 0x30, struct.pack("<I", 4)), "VMPL 4"),
    ("hex with a bad digit", (v2.hex()[:-1] + "g").encode(), "expected 1184"),
    ("odd-length hex", v2.hex()[:-1].encode(), "expected 1184"),
    ("too much hex", (v2 + b"\x00").hex().encode(), "too long"),
]

ENTRY = struct.Struct("<16sII")
VCEK_GUID = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
ASK_GUID = bytes.fromhex("4ab7b379bbac4fe4a02f05aef327c782")
ODD_GUID = bytes.fromhex("ecae0c0f950243b1afa20ae2e0d565b6")
with open(t.path(vcek["vcek"]), "rb") as f:
    der = f.read()


def table(entries, blobs_len):
    return b"".join(ENTRY.pack(*e) for e in entries) + b"\x00" * 24 + b"\xAA" * blobs_len


good_table = table([(VCEK_GUID, 72, len(der)), (ODD_GUID, 72 + len(der), 8)], 0)
good_table = good_table[:72] + der + struct.pack("<II", 8, 0x00A00F10)
tables = [
    ("empty table file", b"", "no all-zero terminator"),
    ("cut inside the first entry", good_table[:20], "no all-zero terminator"),
    ("cut before the terminator", good_table[:48], "no all-zero terminator"),
    ("blob beyond the buffer", good_table[:-1], "beyond the"),
    ("overlapping blobs", table([(VCEK_GUID, 72, 100), (ASK_GUID, 100, 100)], 200),
     "overlap"),
    ("offset into the table", table([(VCEK_GUID, 10, 10)], 40), "points into the table"),
    ("zero length", table([(VCEK_GUID, 48, 0)], 8), "length 0"),
    ("offset+length wraps", table([(VCEK_GUID, 48, 0xFFFFFFF0)], 64), "beyond the"),
    ("duplicate VCEK", table([(VCEK_GUID, 72, 4), (VCEK_GUID, 76, 4)], 8), "twice"),
]

with tempfile.TemporaryDirectory() as tmp:
    f = os.path.join(tmp, "input")
    for name, data, msg in reports:
        with open(f, "wb") as fh:
            fh.write(data)
        for cmd in (["show", f], ["show", "--json", f],
                    t.verify_args(vcek, f)):
            rc, out, err = t.snpctl(cmd)
            res.check(rc == 3 and msg in err,
                      "report %s: %s -> rc %d, %r" % (name, cmd[0], rc, err.strip()))
        rc, out, err = t.snpctl(["show", "-"], stdin=data)
        res.check(rc == 3 and msg in err, "report %s via stdin -> rc %d" % (name, rc))

    for name, data, msg in tables:
        with open(f, "wb") as fh:
            fh.write(data)
        rc, out, err = t.snpctl(["certs", f])
        res.check(rc == 3 and msg in err,
                  "cert table %s -> rc %d, %r" % (name, rc, err.strip()))
        rc, out, err = t.snpctl(["verify", "--cert-table", f, t.path(vcek["report"])])
        res.check(rc == 3 and msg in err, "verify --cert-table %s -> rc %d" % (name, rc))

    # a well-formed table with an unknown GUID is accepted and listed
    with open(f, "wb") as fh:
        fh.write(good_table)
    rc, out, err = t.snpctl(["certs", f])
    res.check(rc == 0 and "vcek" in out and "unknown" in out,
              "table with an unknown GUID is tolerated (rc %d): %r" % (rc, out))
    ext = os.path.join(tmp, "x")
    os.mkdir(ext)
    rc, out, err = t.snpctl(["certs", "--extract", ext, f])
    with open(os.path.join(ext, "vcek.der"), "rb") as fh:
        res.check(rc == 0 and fh.read() == der, "certs --extract writes the VCEK back")

    # unreadable files and bad options: exit 3 with a message
    for cmd, msg in ((["show", os.path.join(tmp, "missing")], "No such file"),
                     (["show"], "exactly one"),
                     (["verify", "--vcek", os.path.join(tmp, "missing"), t.path(vcek["report"])],
                      "No such file"),
                     (["verify", "--nonce", "xyz", f], "not hex"),
                     (["verify", "--measurement", "00", f], "expected 48"),
                     (["verify", "--vmpl", "4", f], "0..3"),
                     (["verify", "--min-tcb", "snp=300", f], "--min-tcb"),
                     (["verify", "--at", "yesterday", f], "--at"),
                     (["verify", "--product", "rome", f], "unknown product"),
                     (["nosuchcommand"], "Unknown command")):
        rc, out, err = t.snpctl(cmd)
        res.check(rc == 3 and msg in err, "%s -> rc %d, %r" % (" ".join(cmd[:2]), rc,
                                                                err.strip()))

res.done()
