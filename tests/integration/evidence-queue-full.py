# SPDX-License-Identifier: Apache-2.0
"""An evidence batch that cannot go to the device is answered, not lost.

With BatchWindowMSec=0 a nonce that joins while no batch is on the device
sends its batch from inside the join. When the broker's queue is full
(QueueSize=1: one raw report on the device, one waiting), that send fails
at once. Its member used to be answered right there, before HTTP had
suspended the connection or FUSE had queued the read: the answer was lost
and the client waited until it gave up. Now the failure is answered from
a later dispatch: the HTTP client gets 503, the FUSE reader EBUSY, and
the raw reports still complete. The simulated device takes 6 s per
message so that the queue stays full while the evidence is asked; no
timing is asserted (a client that is never answered fails by its own
timeout)."""

import json
import os
import subprocess
import threading
import time

import snpd_harness as h
import snptest as t

res = t.Results()
h.need_fuse()

CONFIG = "[Daemon]\nQueueSize=1\nBatchWindowMSec=0\nRateLimit=0\n"


def raw_report(d, out, i):
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/report?nonce=" + os.urandom(32).hex())
    r = c.getresponse()
    r.read()
    out[i] = r.status
    c.close()


def broker(d):
    with open(d.path("status")) as f:
        return json.load(f)["broker"]


with h.Daemon(config=CONFIG, env={"SNP_SIM_DEVICE_US": "6000000"}) as d:
    d.start()
    raw = {}
    threads = [threading.Thread(target=raw_report, args=(d, raw, 0))]
    threads[0].start()
    ok = h.wait_until(lambda: broker(d)["device_busy"])
    threads.append(threading.Thread(target=raw_report, args=(d, raw, 1)))
    threads[1].start()
    ok = ok and h.wait_until(lambda: broker(d)["queue_depth"] == 1)
    res.check(ok, "one raw report on the device, one waiting: the queue (QueueSize=1) is full")
    full0 = broker(d)["queue_full"]

    # HTTP: the join sends the batch, the broker refuses it
    c = h.UnixHTTPConnection(d.api, timeout=30)
    try:
        c.request("GET", "/v1/evidence?nonce=" + os.urandom(32).hex())
        r = c.getresponse()
        status, body = r.status, r.read()
    except OSError as e:  # socket.timeout included: never answered
        status, body = None, repr(e).encode()
    c.close()
    res.check(status == 503, "HTTP evidence while the queue is full: answered 503 (%s %s)"
              % (status, body[:120]))

    # FUSE: the read that joins gets the error instead of waiting for ever
    path = os.path.join(d.mnt, "evidence", os.urandom(32).hex())
    try:
        p = subprocess.run(["cat", path], capture_output=True, timeout=30)
        fuse = (p.returncode, p.stderr.decode(errors="replace").strip())
    except subprocess.TimeoutExpired:
        fuse = (None, "not answered in 30 s")
    res.check(fuse[0] not in (0, None) and "busy" in fuse[1].lower(),
              "FUSE evidence while the queue is full: the read fails with EBUSY (%s, %s)"
              % fuse)
    res.check(broker(d)["queue_full"] >= full0 + 2,
              "both batches were refused by the full queue (queue_full %d -> %d)"
              % (full0, broker(d)["queue_full"]))

    for th in threads:
        th.join()
    res.check(raw == {0: 200, 1: 200}, "the raw reports were answered (%r)" % raw)

    # and evidence works again once the queue has room
    c = h.UnixHTTPConnection(d.api, timeout=120)
    c.request("GET", "/v1/evidence?nonce=" + os.urandom(32).hex())
    r = c.getresponse()
    r.read()
    res.check(r.status == 200, "evidence afterwards: %d" % r.status)
    c.close()

res.done()
