# SPDX-License-Identifier: Apache-2.0
"""BatchWindowMSec= is kept to the millisecond (issue 19 item 6): the
batcher's timer was armed with sd-event's default accuracy (0 = 250 ms),
so sd-event coalesced its wake-up onto a 250 ms grid and a lone client
asking for evidence in a loop waited ~250 ms per answer whatever the
window. With BatchWindowMSec=1 and the simulator (no device-time model),
nine evidence requests in a row, one at a time: the median must stay far
below that grid (under 150 ms; it is a few ms). Every answer is bound to
its own nonce, and each was a batch of one."""

import json
import time

import snpd_harness as h
import snptest as t

res = t.Results()
CONFIG = "[Daemon]\nBatchWindowMSec=1\n"
RUNS = 9


def evidence(d, nonce):
    c = h.UnixHTTPConnection(d.api, timeout=60)
    c.request("GET", "/v1/evidence?nonce=" + nonce)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


h.need_fuse()
with h.Daemon(config=CONFIG) as d:
    d.start()
    evidence(d, "00" * 32)  # the first answer builds caches: not measured
    times, bound = [], 0
    for i in range(RUNS):
        nonce = "%064x" % (i + 1)
        t0 = time.monotonic()
        status, doc = evidence(d, nonce)
        times.append(time.monotonic() - t0)
        b = doc.get("binding", {})
        bound += status == 200 and b.get("nonce") == nonce and b.get("tree_size") == 1
    res.check(bound == RUNS, "%d of %d answers bound to their own nonce, batches of one" %
              (bound, RUNS))
    times.sort()
    med = times[RUNS // 2]
    print("evidence latency, one client at a time: min %.1f ms, median %.1f ms, max %.1f ms" %
          (times[0] * 1e3, med * 1e3, times[-1] * 1e3))
    # not a speed target: the broken timer gives ~250 ms each, the fixed a few ms
    res.check(med < 0.150, "median %.1f ms, under 150 ms (not on sd-event's 250 ms grid)" %
              (med * 1e3))
res.done()
