#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""GET /v1/evidence answers the same bytes as FUSE evidence/<nonce>, for a
small document (a short event log: snpd copies it into one buffer, so that
MHD sends headers and body in one sendmsg()) and a large one (600 events,
over 64 KiB: the iovec of the batch's shared pieces). The two members are
put in one batch (the device is held by the simulator's state lock while a
first batch is on it and the two join the next one); each document must
be one compact JSON serialization, and the HTTP one with the FUSE member's
own binding fields (nonce, leaf_index, proof) must be the FUSE document,
byte for byte. Without FUSE, two HTTP members are compared."""

import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()
CONFIG = "[Daemon]\nEventLogMax=4096\n"
COPY_MAX = 64 * 1024  # HTTP_EVIDENCE_COPY_MAX in http/http.c
OWN = ("nonce", "leaf_index", "proof")


def write_log(path, n):
    """The stored format of docs/evidence.md 4.3, for this boot."""
    return h.write_event_log(path, (ev.encode_record(0x000C, hashlib.sha384(b"%d" % i).digest(),
                                                     1 + i % 5, b"body event %d" % i) for i in range(n)))


def via_http(d, nonce, out, key):
    try:
        c = h.UnixHTTPConnection(d.api, timeout=120)
        c.request("GET", "/v1/evidence?nonce=" + nonce)
        r = c.getresponse()
        out[key] = (r.status, r.read())
        c.close()
    except (OSError, http.client.HTTPException) as e:
        out[key] = (0, repr(e).encode())


def via_fuse(d, nonce, out, key):
    try:
        with open(d.path("evidence", nonce), "rb") as f:
            out[key] = (200, f.read())
    except OSError as e:
        out[key] = (0, repr(e).encode())


def compact(data):
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() != data:
        return None
    return doc


def run(events, what):
    tmp = tempfile.mkdtemp(prefix="snpd-test-")
    write_log(os.path.join(tmp, "eventlog"), events)
    with h.Daemon(tmp=tmp, config=CONFIG) as d:
        d.start(timeout=120)
        fuse = os.path.isdir(d.path("evidence"))
        out = {}
        dev = h.DeviceHeld(d)
        first = threading.Thread(target=via_http, args=(d, "aa" * 32, out, "first"))
        ths = [threading.Thread(target=via_http, args=(d, "bb" * 32, out, "http")),
               threading.Thread(target=via_fuse if fuse else via_http,
                                args=(d, "cc" * 32, out, "other"))]
        try:
            # each wait's first look is before the requests that make it hold
            joined = h.wait_evidence_across(res, d, "%s: a first batch on the held device" % what,
                                            lambda e: e["in_flight"] == 1, first.start)
            joined = joined and h.wait_evidence_across(
                res, d, "%s: both members wait in the next batch" % what,
                lambda e: e["pending"] == 2 and e["in_flight"] == 1,
                lambda: [th.start() for th in ths])
        finally:
            dev.release()
        for th in [first] + ths:
            if th.ident is not None:  # started
                th.join()
        res.check(joined, "%s: both members waited in one batch" % what)
        (s1, a), (s2, b) = out.get("http", (0, b"")), out.get("other", (0, b""))
        res.check(s1 == 200 and s2 == 200, "%s: HTTP %d, %s %d" %
                  (what, s1, "FUSE" if fuse else "HTTP", s2))
        da, db = compact(a), compact(b)
        res.check(da is not None and db is not None,
                  "%s: both documents are one compact JSON serialization (%d, %d bytes)" %
                  (what, len(a), len(b)))
        if da is not None and db is not None:
            for k in OWN:
                da["binding"][k] = db["binding"][k]
            same = json.dumps(da, separators=(",", ":"), ensure_ascii=False).encode() == b
            res.check(same and da["binding"]["log"]["count"] == events,
                      "%s: the HTTP document is the %s one but for the member's own "
                      "binding fields, byte for byte (%d events)" %
                      (what, "FUSE" if fuse else "other HTTP", events))
        res.check(d.stop() == 0, "%s: snpd stops cleanly" % what)
    shutil.rmtree(tmp, ignore_errors=True)
    return len(a)


n = run(3, "small")
res.check(0 < n <= COPY_MAX, "the small document is one buffer's (%d <= %d bytes)" %
          (n, COPY_MAX))
n = run(600, "large")
res.check(n > COPY_MAX, "the large document keeps the iovec (%d > %d bytes)" % (n, COPY_MAX))
res.done()
