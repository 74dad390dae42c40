# SPDX-License-Identifier: Apache-2.0
"""Socket activation: systemd-socket-activate passes a unix and a TCP
listening socket (sd_listen_fds_with_names); snpd serves on them instead of
binding its own, and the first request waits in the socket's backlog."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
ssa = shutil.which("systemd-socket-activate")
if not ssa:
    print("SKIP: systemd-socket-activate not installed")
    raise SystemExit(h.SKIP)
res = t.Results()

with tempfile.TemporaryDirectory() as tmp:
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    sock = os.path.join(tmp, "activated.sock")
    port = h.free_port()
    conf = os.path.join(tmp, "snpd.conf")
    with open(conf, "w") as f:
        # never the real KDS; the simulated ARK trusted explicitly
        f.write("[Daemon]\nKdsOffline=yes\nCacheDir=%s/cache\nTrustArk=%s/ark.pem\n"
                "[HTTP]\nSocket=%s/unused.sock\n" % (tmp, sim, tmp))
    log = open(os.path.join(tmp, "log"), "wb")
    p = subprocess.Popen([ssa, "-l", sock, "-l", "127.0.0.1:%d" % port, "--fdname=api:tcp",
                          h.SNPD, "--config", conf, "--backend", "sim:" + sim, "--no-fs"],
                         stdout=log, stderr=log)
    try:
        end = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < end:
            time.sleep(0.05)
        # the first connection may arrive before snpd has started: the
        # socket belongs to the service manager and queues it
        conn = h.UnixHTTPConnection(sock)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        res.check(r.status == 200 and r.read() == b"ok\n", "unix socket from the manager")
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/v1/report?nonce=0102", headers={"Accept": "application/octet-stream"})
        r = c.getresponse()
        data = r.read()
        res.check(r.status == 200 and data[0x50:0x52] == b"\x01\x02", "TCP socket from the manager")
        c.request("POST", "/v1/keys/x")
        r = c.getresponse()
        r.read()
        res.check(r.status == 403, "keys refused on the activated TCP socket too")
        res.check(not os.path.exists(os.path.join(tmp, "unused.sock")),
                  "no fallback bind when sockets are passed")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        log.close()
    with open(os.path.join(tmp, "log")) as f:
        text = f.read()
    res.check("passed by the service manager" in text, "the log says the sockets were passed")

res.done()
