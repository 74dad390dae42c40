# SPDX-License-Identifier: Apache-2.0
"""Event log appends that fail (docs/evidence.md 4.3).

1. The hash of the new head fails (tests/helpers/libfail-digest.so makes
   EVP_DigestFinal_ex() fail while a file exists): HTTP answers 500
   event-not-stored with a real message, the log stays usable.
2. The write fails, the file system being full (a small tmpfs), and is
   taken back: HTTP 500 event-not-stored, not event-log-broken; FUSE
   EIO with the reason in snpd's log at notice; the log is intact, and
   once there is room again appends go on.
3. The take-back fails too (the file made append-only, chattr +a, so
   ftruncate() is EPERM): the log is broken and the reason quotes the
   ftruncate() error.
4. log/extend refusals (EINVAL) are in snpd's log at notice, rate-limited."""

import errno
import json
import os
import subprocess
import sys

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()

CONFIG = "[Daemon]\nLogWriters=0\nEventLogMax=1000\n"
PRELOAD = os.path.join(h.BUILDDIR, "tests", "helpers", ".libs", "libfail-digest.so")


def post(d, n):
    """POST a 137-byte event (sha512, 64 characters): (status, problem or body)."""
    c = h.UnixHTTPConnection(d.api)
    c.request("POST", "/v1/log/events",
              body=json.dumps({"alg": "sha512", "digest": "%02x" % (n & 0xFF) * 64, "type": 5,
                               "description": ("event %d " % n).ljust(64, "x")}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = json.loads(r.read() or b"{}")
    c.close()
    return r.status, body


def log_lines(d, what):
    return [x for x in d.read_log().splitlines() if what in x]


REC = ev.encode_record(0x000D, bytes([7]) * 64, 1, b"by FUSE".ljust(64, b"x"))  # as post()

# 1. the hash fails
if not os.path.exists(PRELOAD):
    res.check(False, "tests/helpers/libfail-digest.so is built (make check builds it)")
else:
    with h.Daemon(config=CONFIG, env={"LD_PRELOAD": h.preload_env(PRELOAD)}) as d:
        trigger = os.path.join(d.tmp, "fail-digest")
        d.env["SNP_TEST_FAIL_DIGEST"] = trigger
        d.start()
        open(trigger, "w").close()
        code, doc = post(d, 1)
        fuse = None
        try:
            h.fuse_append(d, REC)
        except OSError as e:
            fuse = e.errno
        os.unlink(trigger)
        detail = doc.get("detail", "")
        res.check(code == 500 and doc.get("type") == "urn:snpd:problem:event-not-stored" and
                  detail.startswith("cannot compute the log's new head") and
                  "nothing was appended" in detail and detail.isprintable(),
                  "a failed hash: 500 event-not-stored with a real message: %s %s" %
                  (code, doc))
        res.check(fuse == errno.EIO, "FUSE: EIO (%s)" % fuse)
        st = h.fuse_status(d, "event_log")
        res.check(st["state"] == "ok" and st["events"] == 0, "the log is intact: %s" % st)
        code, doc = post(d, 2)
        res.check(code == 201 and doc["seq"] == 0, "the next append is stored: %s %s" %
                  (code, doc))
        res.check(d.stop() == 0, "snpd stops cleanly after a failed hash")

# 2. and 3. a full file system
with h.Daemon(config=CONFIG) as d:
    small = os.path.join(d.tmp, "small")
    os.mkdir(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", small],
                   check=True)
    try:
        path = os.path.join(small, "eventlog")
        filler = os.path.join(small, "filler")
        d.args = ["--event-log", path]
        d.start()

        def fill():
            fd = os.open(filler, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 1024)
            except OSError as e:
                return e.errno
            finally:
                os.close(fd)

        def append_until_failure(first):
            n = first
            while n < first + 100:
                code, doc = post(d, n)
                if code != 201:
                    return n, code, doc
                n += 1
            return n, None, None

        res.check(fill() == errno.ENOSPC, "the file system is full")
        n, code, doc = append_until_failure(0)
        size = os.path.getsize(path)
        res.check(n > 0 and code == 500 and
                  doc.get("type") == "urn:snpd:problem:event-not-stored" and
                  "No space left on device" in doc.get("detail", "") and
                  "intact" in doc.get("detail", ""),
                  "a write that fails (ENOSPC after %d appends): 500 event-not-stored: %s %s" %
                  (n, code, doc))
        st = h.fuse_status(d, "event_log")
        res.check(st["state"] == "ok" and st["events"] == n and size == 24 + n * 187,
                  "the write was taken back, the log intact (%d events, %d bytes): %s" %
                  (n, size, st.get("reason")))
        lines = log_lines(d, "was taken back")
        res.check(len(lines) == 1 and lines[0].startswith("<4>") and
                  "No space left on device" in lines[0],
                  "snpd's log warns of it: %s" % lines)
        open(d.log, "w").close()
        try:
            h.fuse_append(d, REC)
            fuse = None
        except OSError as e:
            fuse = e.errno
        lines = log_lines(d, "log/extend by uid 0 refused")
        res.check(fuse == errno.EIO and len(lines) == 1 and lines[0].startswith("<5>") and
                  "No space left on device" in lines[0],
                  "FUSE: EIO, and the reason in snpd's log at notice: %s %s" % (fuse, lines))
        os.unlink(filler)
        code, doc = post(d, n)
        res.check(code == 201 and doc["seq"] == n, "with room again the append is stored: "
                  "%s %s" % (code, doc))

        # the take-back fails too: ftruncate() of an append-only file is EPERM
        fill()
        p = subprocess.run(["chattr", "+a", path], capture_output=True, text=True)
        if p.returncode != 0:
            res.check(True, "SKIP a failed take-back: chattr +a: %s" % p.stderr.strip())
        else:
            try:
                m, code, doc = append_until_failure(n + 1)
                st = h.fuse_status(d, "event_log")
                res.check(code == 503 and doc.get("type") == "urn:snpd:problem:event-log-broken"
                          and st["state"] == "broken" and
                          "Operation not permitted" in st.get("reason", "") and
                          "No space left on device" in st.get("reason", ""),
                          "a take-back that fails: broken, the reason quotes ftruncate(): %s %s"
                          % (code, st.get("reason")))
            finally:
                subprocess.run(["chattr", "-a", path])
        res.check(d.stop() == 0, "snpd stops cleanly after the full file system")
    finally:
        d.stop()
        subprocess.run(["umount", "-l", small])

# 4. log/extend refusals: at notice, rate-limited
with h.Daemon(config=CONFIG) as d:
    d.start()
    open(d.log, "w").close()
    bad = 0
    for i in range(40):
        try:
            h.fuse_append(d, REC[:-1])
        except OSError as e:
            bad += e.errno == errno.EINVAL
    lines = log_lines(d, "log/extend by uid 0 refused")
    res.check(bad == 40, "40 truncated records: EINVAL (%d)" % bad)
    res.check(lines and lines[0].startswith("<5>") and "truncated" in lines[0] and
              len(lines) <= 10,
              "their reasons are in snpd's log at notice, at most 10 of them (%d): %s" %
              (len(lines), lines[:1]))
    res.check(d.stop() == 0, "snpd stops cleanly")

res.done()
