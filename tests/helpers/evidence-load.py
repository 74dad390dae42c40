#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A quick measurement of evidence batching (not the benchmark of bench/):
start a private snpd on the simulator, let CLIENTS clients (half over
HTTP, half over FUSE evidence/) ask for evidence at once, check every
answer with the independent verifier, and print clients, device reports,
largest batch and the wall time. Run from a build tree:

  SNPD=daemon/snpd SNPCTL=cli/snpctl SNP_TOP_BUILDDIR=. SNP_TOP_SRCDIR=.. \\
      /usr/bin/python3 ../tests/helpers/evidence-load.py [CLIENTS] [WINDOW_MS]
"""

import base64
import json
import os
import sys
import threading
import time

top = os.environ.get("SNP_TOP_SRCDIR", ".")
sys.path.insert(0, os.path.join(top, "tests", "integration"))
sys.path.insert(0, os.path.join(top, "tests", "helpers"))
import evidence_verify as ev  # noqa: E402
import snpd_harness as h  # noqa: E402

clients = int(sys.argv[1]) if len(sys.argv) > 1 else 256
window = int(sys.argv[2]) if len(sys.argv) > 2 else 0
config = ("[Daemon]\nBatchWindowMSec=%d\nBatchMax=4096\nQueueSize=4096\n"
          "[HTTP]\nMaxConnectionsPerClient=%d\nMaxConnections=%d\n" %
          (window, clients + 8, clients + 8))
with h.Daemon(config=config) as d:
    d.start()
    nonces = [os.urandom(32) for _ in range(clients)]
    docs = [None] * clients
    go = threading.Barrier(clients + 1)

    def one(i):
        go.wait()
        if i % 2:
            with open(d.path("evidence", nonces[i].hex()), "rb") as f:
                docs[i] = json.loads(f.read())
        else:
            c = h.UnixHTTPConnection(d.api, timeout=300)
            c.request("GET", "/v1/evidence?nonce=" + nonces[i].hex())
            r = c.getresponse()
            docs[i] = json.loads(r.read()) if r.status == 200 else None

    def status():
        with open(d.path("status")) as f:
            return json.load(f)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    before = status()
    go.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    after = status()
    ok = sum(1 for n, x in zip(nonces, docs) if x and ev.verify(
        base64.b64decode(x["report"])[0x50:0x90], n, x["binding"]) is not None)
    reports = after["broker"]["completed"] - before["broker"]["completed"]
    print("clients %d (HTTP %d, FUSE %d), verified %d, device reports %d, largest batch %d, "
          "BatchWindowMSec=%d, %.2f s" % (clients, (clients + 1) // 2, clients // 2, ok,
                                          reports, after["evidence"]["largest"], window, took))
