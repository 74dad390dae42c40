# SPDX-License-Identifier: Apache-2.0
"""200 concurrent readers, each with its own nonce, all get distinct valid
reports bound to their nonce; a client over its rate limit gets EAGAIN and
the daemon keeps serving."""

import errno
import os
import threading
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
READERS = 200

# one uid may have a quarter of QueueSize= waiting: room for all 200 readers
with h.Daemon(config="[Daemon]\nRateLimit=0\nQueueSize=1024\n") as d:
    d.start()
    with open(d.path("certs", "vcek.pem"), "rb") as f:
        vcek = f.read()
    results = [None] * READERS
    go = threading.Barrier(READERS)

    def reader(i):
        nonce = i.to_bytes(4, "big") + os.urandom(28)
        try:
            fd = os.open(d.path("report"), os.O_RDWR)
            try:
                os.write(fd, nonce)
                go.wait(timeout=60)
                data = h.read_all(fd, 65536)
            finally:
                os.close(fd)
            results[i] = (nonce, data, None)
        except Exception as e:  # reported below
            results[i] = (nonce, b"", e)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    errors = [r[2] for r in results if r[2]]
    res.check(not errors, "%d readers, errors: %r" % (READERS, errors[:3]))
    bound = valid = 0
    for nonce, data, _ in results:
        if len(data) != 1184:
            continue
        if data[0x50:0x50 + 32] == nonce and data[0x70:0x90] == bytes(32):
            bound += 1
        if t.oracle_report_signature(data, vcek):
            valid += 1
    res.check(bound == READERS, "%d of %d reports bound to their reader's nonce" % (bound,
                                                                                READERS))
    res.check(valid == READERS, "%d of %d signatures verify" % (valid, READERS))
    res.check(len({r[1] for r in results}) == READERS, "all reports distinct")

# RateBurst=3 at once, then one a second: read until refused (within 10
# reads unless each takes about a second); what was let through before
# must fit the bucket, 3 + 1 per whole second since the first read
with h.Daemon(config="[Daemon]\nRateLimit=1\nRateBurst=3\n") as d:
    d.start()
    got = []
    t0 = time.monotonic()
    for i in range(10):
        try:
            with open(d.path("nonce", "%02x" % i), "rb") as f:
                got.append(len(f.read()))
        except OSError as e:
            got.append(errno.errorcode.get(e.errno))
            break
    elapsed = time.monotonic() - t0
    res.check(got[-1] == "EBUSY" and got[:3] == [1184] * 3 and
              all(n == 1184 for n in got[:-1]) and len(got) - 1 <= 3 + int(elapsed),
              "RateBurst=3 then EBUSY: %d reads in %.1f s (at most %d allowed): %r" %
              (len(got) - 1, elapsed, 3 + int(elapsed), got))
    with open(d.path("status"), "rb") as f:
        status = f.read().decode()
    res.check('"rate_limited": ' in status and '"rate_limited": 0,' not in status,
              "status counts rate-limited requests")
    with open(d.path("measurement"), "rb") as f:
        res.check(len(f.read()) == 97, "static files need no device and keep serving")

res.done()
