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
what is wrong in the reason, and the file untouched.

A log that does not exist yet, created by two snpd at once (strace holds
their syncs so that their creations overlap): one has it, the other
finds it in use, and what the first appends is in the file at the path."""

import json
import os
import shutil
import sys
import time

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
WRITERS = "[Daemon]\nLogWriters=0\n"


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
    st = h.fuse_status(d, "event_log")
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


def strace_delay(sec):
    """A wrapper that holds snpd's first fsync() and first fdatasync() for @sec s."""
    return ["strace", "-f", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
            "-e", "inject=fsync,fdatasync:delay_enter=%ds:when=1" % sec, "--"]


def in_sync(d):
    """Whether a thread of snpd @d is in fsync (74) or fdatasync (75)."""
    pid = d.snpd_pid()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                if f.read().split()[0] in ("74", "75"):
                    return True
    except OSError:
        pass
    return False


def replay(path):
    """The records of the stored log at @path."""
    with open(path, "rb") as f:
        data = f.read()
    recs, off = [], 24
    while off + 2 <= len(data):
        n = int.from_bytes(data[off:off + 2], "big")
        recs.append(data[off + 2:off + 2 + n])
        off += 2 + n + 48
    return recs


# Two snpd start at once on a log that does not exist yet. The first one's
# sync of the new file is held (strace) until the second one has made its
# own and waits in its sync, held longer: whoever names a file first wins,
# the other finds it in use, and what the winner appends is in the file
# at the path (never in a file that lost its name).
if not shutil.which("strace"):
    res.check(True, "SKIP the creation race: no strace")
else:
    # LeakSanitizer cannot run under ptrace: it would fail the exit of a
    # sanitizer build's snpd under strace
    traced = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0"}
    with h.Daemon(config=WRITERS, wrapper=strace_delay(2), env=traced) as a:
        path = os.path.join(a.tmp, "eventlog")
        with h.Daemon(config=WRITERS, args=["--event-log", path], wrapper=strace_delay(3),
                      env=traced) as b:
            a.start(wait=False)
            end = time.monotonic() + 30
            while not in_sync(a) and time.monotonic() < end and a.proc.poll() is None:
                time.sleep(0.01)
            res.check(in_sync(a), "the first snpd waits in its first sync")
            b.start(wait=False)
            a.wait_for("READY=1")
            b.wait_for("READY=1")
            sts = {"first": h.fuse_status(a, "event_log"), "second": h.fuse_status(b, "event_log")}
            ok = [k for k, st in sts.items() if st["state"] == "ok"]
            other = [st for k, st in sts.items() if k not in ok]
            res.check(len(ok) == 1 and len(other) == 1 and
                      "in use by another snpd" in other[0].get("reason", ""),
                      "one snpd creates the log, the other finds it in use: %s" %
                      {k: (st["state"], st.get("reason")) for k, st in sts.items()})
            winner = a if ok == ["first"] else b
            c = h.UnixHTTPConnection(winner.api)
            c.request("POST", "/v1/log/events",
                      body=json.dumps({"alg": "sha256", "digest": "ab" * 32, "type": 7}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            res.check(r.status == 201, "the winner appends an event: %d" % r.status)
            rcs = (b.stop(), a.stop())
            res.check(rcs == (0, 0), "both stop cleanly: %r" % (rcs,))
        recs = replay(path)
        res.check(len(recs) == 1 and ev.decode_record(recs[0])["type"] == 7,
                  "the event is in the file at the path: %d events" % len(recs))
        a.wrapper, a.env = [], None
        a.start()
        st = h.fuse_status(a, "event_log")
        res.check(st["state"] == "ok" and st["events"] == 1,
                  "a restart reads it: %s %s" % (st["state"], st["events"]))
        res.check(a.stop() == 0, "snpd stops cleanly after the race")

res.done()
