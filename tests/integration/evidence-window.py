# SPDX-License-Identifier: Apache-2.0
"""BatchWindowMSec= is kept to the millisecond (issue 19 item 6): the
batcher's timer was armed with sd-event's default accuracy (0 = 250 ms),
so sd-event coalesced its wake-up onto a 250 ms grid and a lone client
asking for evidence in a loop waited ~250 ms per answer whatever the
window. With BatchWindowMSec=1 and the simulator (no device-time model),
nine evidence requests in a row, one at a time, each after a raw report
request of the same daemon (no batch, no timer): the median of what
evidence took beyond the raw report must stay far below that grid (under
100 ms; it is about 1 ms, and ~245 ms with the coalesced timer). The
comparison is within each pair, so a slow machine slows both sides alike.
Every answer is bound to its own nonce, and each was a batch of one."""

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


def raw_report(d, nonce):
    c = h.UnixHTTPConnection(d.api, timeout=60)
    c.request("GET", "/v1/report?nonce=" + nonce,
              headers={"Accept": "application/octet-stream"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status == 200 and data[0x50:0x90].hex() == nonce


h.need_fuse()
with h.Daemon(config=CONFIG) as d:
    d.start()
    evidence(d, "00" * 32)  # the first answer builds caches: not measured
    times, extra, bound, raw_ok = [], [], 0, 0
    for i in range(RUNS):
        nonce = "%064x" % (i + 1)
        t0 = time.monotonic()
        raw_ok += raw_report(d, "%0128x" % (i + 1))
        t1 = time.monotonic()
        status, doc = evidence(d, nonce)
        t2 = time.monotonic()
        times.append(t2 - t1)
        extra.append((t2 - t1) - (t1 - t0))
        b = doc.get("binding", {})
        bound += status == 200 and b.get("nonce") == nonce and b.get("tree_size") == 1
    res.check(bound == RUNS and raw_ok == RUNS,
              "%d of %d answers bound to their own nonce, batches of one (raw reports: %d)" %
              (bound, RUNS, raw_ok))
    times.sort()
    extra.sort()
    med = extra[RUNS // 2]
    print("evidence latency, one client at a time: min %.1f ms, median %.1f ms, max %.1f ms; "
          "beyond the raw report before it: median %.1f ms" %
          (times[0] * 1e3, times[RUNS // 2] * 1e3, times[-1] * 1e3, med * 1e3))
    # not a speed target: the broken timer adds ~245 ms to each, the fixed ~1 ms
    res.check(med < 0.100, "evidence takes %.1f ms beyond a raw report (median), under 100 ms "
              "(not on sd-event's 250 ms grid)" % (med * 1e3))
res.done()
