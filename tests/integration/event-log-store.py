# SPDX-License-Identifier: Apache-2.0
"""The stored event log at snpd's start (docs/evidence.md 4.3).

Only a tail that an interrupted append can leave is cut off: a prefix of
one frame (u16be length, record, head after it) whose every present byte
agrees with a record snpd would have written (length in range and equal
to what the record's algorithm and description length say, version,
algorithm, digest length, a type clients may append, printable
description, the head replayed from the chain). Cut at any point, such a
tail is removed with a warning and the acknowledged events are kept.
Anything else at the end (a changed length field of an acknowledged event,
41 -> 137, or other damage) leaves the log broken, with the offset and
what is wrong in the reason, and the file untouched."""

import json
import os
import sys

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()

R1 = ev.encode_record(0x000C, bytes([1]) * 48, 1, b"first")
R2 = ev.encode_record(0x000B, bytes([2]) * 32, 2, b"")  # 41 bytes, the shortest
R3 = ev.encode_record(0x000D, bytes([3]) * 64, 3, b"the third event")
assert len(R2) == 41


def status(d):
    with open(d.path("status")) as f:
        return json.load(f)["event_log"]


def frame(rec, head):
    return len(rec).to_bytes(2, "big") + rec + head


def start_with(d, data, what):
    """Store @data as the log, start snpd, return (status, file bytes after)."""
    path = os.path.join(d.tmp, "eventlog")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    open(d.log, "w").close()
    d.start()
    st = status(d)
    with open(path, "rb") as f:
        after = f.read()
    rc = d.stop()
    res.check(rc == 0, "%s: snpd stops cleanly" % what)
    return st, after


with h.Daemon() as d:
    path = os.path.join(d.tmp, "eventlog")
    head2 = h.write_event_log(path, [R1, R2])
    with open(path, "rb") as f:
        good = f.read()
    heads = ev.chain([R1, R2, R3])
    third = frame(R3, heads[2])
    last = 24 + len(frame(R1, heads[0]))  # offset of the 41-byte event's frame

    # an acknowledged event's length field changed: never cut off
    damaged = bytearray(good)
    damaged[last:last + 2] = (137).to_bytes(2, "big")
    st, after = start_with(d, bytes(damaged), "41 -> 137")
    res.check(st["state"] == "broken" and "offset %d" % last in st.get("reason", "") and
              after == bytes(damaged),
              "the last event's length changed from 41 to 137: broken at offset %d, file "
              "untouched: %s" % (last, st.get("reason")))
    res.check("incomplete append" not in d.read_log(),
              "and not called an incomplete append in snpd's log")

    # interrupted appends, cut anywhere: removed, the events before kept
    for cut in (1, 2, 3, 9, 2 + len(R3) - 1, 2 + len(R3), 2 + len(R3) + 47):
        st, after = start_with(d, good + third[:cut], "a torn tail of %d bytes" % cut)
        log = d.read_log()
        res.check(st["state"] == "ok" and st["events"] == 2 and st["head"] == head2.hex() and
                  after == good and "incomplete append" in log and "never acknowledged" in log,
                  "an interrupted append (%d of %d bytes) is cut off, said so: %s" %
                  (cut, len(third), st.get("reason") or st["events"]))

    # tails no append of snpd leaves: broken, untouched, the offset named
    end = len(good)
    bad_version = bytearray(third)
    bad_version[2] = 2
    bad_alg = bytearray(third)
    bad_alg[3:5] = (0x0099).to_bytes(2, "big")
    reserved = bytearray(third)
    reserved[5] = 0x80
    bad_dlen = bytearray(third)
    bad_dlen[2 + 7] = 48
    short_len = bytearray(frame(R2, heads[1]))  # says 45, the record says 41
    short_len[0:2] = (45).to_bytes(2, "big")
    desc_len = bytearray(third)
    desc_len[2 + 8 + 64] = 3  # "the third event" is 15 characters
    bad_desc = bytearray(third)
    bad_desc[2 + 8 + 64 + 1] = 0x09
    bad_head = bytearray(third)
    bad_head[2 + len(R3)] ^= 0x01
    cases = (
        (b"\x01", 1, "a length byte no record has"),
        (b"\x00\x07", 2, "a length of 7"),
        ((300).to_bytes(2, "big") + b"x" * 10, 12, "a length of 300"),
        (bytes(bad_version), 20, "version 2"),
        (bytes(bad_alg), 20, "an unknown algorithm"),
        (bytes(reserved), 20, "a type reserved for snpd"),
        (bytes(bad_dlen), 20, "a digest length of 48 for sha512"),
        (bytes(short_len), 60, "a length of 45 for a sha256 record of 41"),
        (bytes(desc_len), 2 + 8 + 64 + 5, "a description length that disagrees"),
        (bytes(bad_desc), 2 + 8 + 64 + 5, "a tab in the description"),
        (bytes(bad_head), 2 + len(R3) + 10, "a head that is not the chain's"),
        (bytes(24), 24, "zeros"),
    )
    for tail, cut, what in cases:
        data = good + tail[:cut]
        st, after = start_with(d, data, what)
        res.check(st["state"] == "broken" and "offset %d" % end in st.get("reason", "") and
                  after == data and "incomplete append" not in d.read_log(),
                  "a tail with %s: broken at offset %d, untouched: %s" %
                  (what, end, st.get("reason")))

res.done()
