# SPDX-License-Identifier: Apache-2.0
"""Event log appends that fail (docs/evidence.md 4.3).

1. The hash of the new head fails (tests/helpers/libfail-digest.so makes
   EVP_DigestFinal_ex() fail while a file exists): HTTP answers 500
   event-not-stored with a real message, the log stays usable."""

import errno
import json
import os
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


def status(d):
    with open(d.path("status")) as f:
        return json.load(f)["event_log"]


def fuse_append(d, data):
    fd = os.open(d.path("log", "extend"), os.O_WRONLY)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


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
            fuse_append(d, REC)
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
        st = status(d)
        res.check(st["state"] == "ok" and st["events"] == 0, "the log is intact: %s" % st)
        code, doc = post(d, 2)
        res.check(code == 201 and doc["seq"] == 0, "the next append is stored: %s %s" %
                  (code, doc))
        res.check(d.stop() == 0, "snpd stops cleanly after a failed hash")

res.done()
