#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Members that leave a waiting evidence batch (daemon/batch.c,
snpd_batcher_cancel()): the batch's tree is hashed as members join, and a
member that leaves has the last one moved into its leaf. With the device
held, 9 clients join one waiting batch in a known order; the first, the
middle and the last of them hang up; the 6 others then each get a document
that the independent Python verifier accepts for its own nonce, in a tree
of 6 with leaf indexes 0..5. Conditions are polled, no timing is asserted."""

import base64
import json
import os
import sys

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()
N = 9
GONE = (0, N // 2, N - 1)


def nonce(i):
    return bytes([0x5a, i]) * 16


def answer(conn):
    try:
        r = conn.getresponse()
        return r.status, r.read()
    except OSError as e:
        return repr(e), b""


with h.Daemon(config="[Daemon]\nBatchWindowMSec=0\nBatchMax=64\n") as d:
    d.start()
    dev = h.DeviceHeld(d)
    # the first client's batch goes to the held device at once and stays there
    first = h.UnixHTTPConnection(d.api, timeout=120)
    ev0 = h.evidence_status(d)
    # each wait's first look is before the request (or hang-up) that makes
    # it hold, and must see it not hold then (wait_evidence_across)
    h.wait_evidence_across(res, d, "the first nonce is on the held device",
                           lambda e: e["in_flight"] == 1,
                           lambda: first.request("GET", "/v1/evidence?nonce=" +
                                                 nonce(100).hex()))
    # the others join the next batch, which waits, one by one in this order
    conns = []
    for i in range(N):
        c = h.UnixHTTPConnection(d.api, timeout=120)
        h.wait_evidence_across(res, d, "client %d joins the waiting batch" % i,
                               lambda e, i=i: e["members"] == ev0["members"] + 2 + i,
                               lambda i=i, c=c: c.request("GET", "/v1/evidence?nonce=" +
                                                          nonce(i).hex()))
        conns.append(c)
    s = h.evidence_status(d)
    res.check(s["pending"] == N and s["in_flight"] == 1,
              "%d members wait behind the batch on the held device: %r" % (N, s))

    def hang_up():
        for i in GONE:
            conns[i].sock.close()
            conns[i].close()

    h.wait_evidence_across(res, d, "the first, middle and last member hang up",
                           lambda e: e["cancelled"] == ev0["cancelled"] + len(GONE), hang_up)
    s = h.evidence_status(d)
    res.check(s["pending"] == N - len(GONE),
              "the first, middle and last member hung up and left the batch: %r" % s)
    dev.release()

    code, _ = answer(first)
    res.check(code == 200, "the batch on the device was answered: %r" % (code,))
    indexes = []
    for i in range(N):
        if i in GONE:
            continue
        code, body = answer(conns[i])
        why = "HTTP %r" % (code,)
        if code == 200:
            doc = json.loads(body)
            b = doc["binding"]
            indexes.append(b["leaf_index"])
            try:
                ev.verify(base64.b64decode(doc["report"])[0x50:0x90], nonce(i), b)
                why = None if b["tree_size"] == N - len(GONE) else "tree_size %r" % b["tree_size"]
            except ev.Refused as e:
                why = str(e)
        res.check(why is None, "client %d's document is accepted for its nonce (%s)" % (i, why))
    res.check(sorted(indexes) == list(range(N - len(GONE))),
              "the members left hold leaves 0..%d: %r" % (N - len(GONE) - 1, indexes))
    for c in conns:
        c.close()
    first.close()
    res.check(d.stop() == 0, "clean exit")
res.done()
