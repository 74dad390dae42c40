# SPDX-License-Identifier: Apache-2.0
"""The audit trail of derived keys outside journald (stderr): one notice
per release and per refusal, FUSE and HTTP (unix and TCP), with the peer's
uid, gid and pid, the profile and the transport, never the key; a peer
that asks in a loop is rate-limited, and what was held back is counted."""

import os
import re
import subprocess
import time
import http.client

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()
port = h.free_port()
BURST = 20  # SNPD_AUDIT_BURST
WINDOW = 10  # SNPD_AUDIT_WINDOW_SEC

CONFIG = """[HTTP]
Listen=127.0.0.1:%d

[Key:disk]
Fields=measurement
ApiUsers=0
""" % port

LINE = re.compile(r"(key-release|key-refusal): key '([^']*)' (?:released|refused) to uid (-?\d+) "
                  r"gid (-?\d+) pid (-?\d+) over (\S+?)(?::| \(|$)")


def records(log):
    return [m.groups() for m in (LINE.search(x) for x in log.splitlines()) if m]


def post_as(uid, path, sock):
    """POST over the unix socket as @uid; the HTTP status and the pid that asked."""
    code = ("import socket,os,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "s.connect(sys.argv[1])\n"
            "s.sendall(b'POST %s HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n"
            "Connection: close\\r\\n\\r\\n')\n"
            "d=b''\n"
            "while True:\n"
            "    b=s.recv(4096)\n"
            "    if not b: break\n"
            "    d+=b\n"
            "print(os.getpid(), d.split()[1].decode())\n" % path)
    p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
                        os.environ.get("PYTHON3", "python3"), "-c", code, sock],
                       capture_output=True, text=True)
    pid, status = p.stdout.split()
    return int(status), int(pid)


with h.Daemon(config=CONFIG) as d:
    d.start()
    # a release over FUSE
    p = subprocess.Popen(["cat", d.path("keys", "disk")], stdout=subprocess.PIPE)
    key = p.stdout.read()
    p.wait()
    res.check(len(key) == 32, "root reads keys/disk")
    # HTTP: a release to uid 0, a refusal to uid 65534, a refusal over TCP
    st, pid_ok = post_as(0, "/v1/keys/disk", d.api)
    res.check(st == 200, "POST /v1/keys/disk as root: %d" % st)
    st, pid_no = post_as(65534, "/v1/keys/disk", d.api)
    res.check(st == 403, "POST /v1/keys/disk as uid 65534: %d" % st)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/keys/disk")
    res.check(c.getresponse().status == 403, "POST /v1/keys/disk over TCP: 403")
    c.close()
    # the records are written before the replies are sent: no wait needed
    recs = records(d.read_log())
    res.check(("key-release", "disk", "0", "0", str(p.pid), "fuse") in recs,
              "FUSE release logged with uid 0 gid 0 and cat's pid %d" % p.pid)
    res.check(("key-release", "disk", "0", "0", str(pid_ok), "http") in recs,
              "HTTP release logged with uid 0 and the client's pid %d" % pid_ok)
    res.check(("key-refusal", "disk", "65534", "65534", str(pid_no), "http") in recs,
              "HTTP refusal logged with uid 65534 gid 65534 pid %d" % pid_no)
    res.check(any(r[0] == "key-refusal" and r[5] == "http-tcp" for r in recs),
              "TCP refusal logged (transport http-tcp)")
    res.check(len(recs) == 4, "one record each, 4 in all: %s" % recs)
    log = d.read_log()
    res.check(key.hex() not in log.lower() and key.hex().upper() not in log,
              "the key is not in the log")
    res.check(all("<5>" in x for x in log.splitlines() if LINE.search(x)),
              "the records are notices (<5>)")

    # rate limit per uid: root reads in a loop; uid 65534 still gets logged
    t0 = time.monotonic()
    n = 3 * BURST
    for _ in range(n):
        with open(d.path("keys", "disk"), "rb") as f:
            f.read()
    elapsed = time.monotonic() - t0
    st, pid_no2 = post_as(65534, "/v1/keys/disk", d.api)
    recs = records(d.read_log())
    root_fuse = [r for r in recs if r[2] == "0" and r[5] == "fuse"]
    # at most BURST per window that the loop touched (+1 from before it)
    bound = BURST * (int(elapsed // WINDOW) + 2)
    res.check(len(root_fuse) < n + 1 and len(root_fuse) <= bound,
              "%d reads in %.1f s by uid 0 gave %d records (at most %d)" % (
                  n, elapsed, len(root_fuse), bound))
    res.check(("key-refusal", "disk", "65534", "65534", str(pid_no2), "http") in recs,
              "another uid is not held back by uid 0's limit")
    d.stop()
    res.check("AddressSanitizer" not in d.read_log(), "no sanitizer report")
res.done()
