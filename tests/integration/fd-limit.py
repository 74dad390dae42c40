# SPDX-License-Identifier: Apache-2.0
"""snpd raises its open-file soft limit to the hard limit at start (issue 19:
MaxConnections= allows 10000 per listener, beyond the usual soft limit of
1024, where accept() failed with EMFILE). snpd is started with a soft limit
of 256 (the hard one unchanged): /proc/PID/limits must show soft = hard,
and 400 concurrent keep-alive connections on the unix socket must all be
served (/healthz), then evidence still works."""

import json
import resource
import socket

import snpd_harness as h
import snptest as t

res = t.Results()
SOFT = 256
CONNS = 400
CONFIG = ("[HTTP]\nMaxConnections=%d\nMaxConnectionsPerClient=%d\n" % (CONNS + 100, CONNS + 100))


def limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    return None, None


def healthz(sock):
    """One GET /healthz on @sock: the status, or None when nothing came."""
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: snpd\r\n\r\n")
    except OSError:
        return None
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(4096)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    clen = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            clen = int(v)
    while len(body) < clen:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        body += chunk
    return status


h.need_fuse()
soft0, hard0 = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard0 != resource.RLIM_INFINITY and hard0 < CONNS + 200:
    print("SKIP: the hard open-file limit (%d) is too low for this test" % hard0)
    raise SystemExit(h.SKIP)
with h.Daemon(config=CONFIG) as d:
    # snpd inherits a low soft limit; this process gets its own back at once
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard0))
    try:
        d.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft0, hard0))
    soft, hard = limits(d.proc.pid)
    res.check(soft is not None and soft == hard,
              "snpd started with a soft limit of %d runs with soft %s = hard %s" % (SOFT, soft,
                                                                                     hard))
    socks, served = [], 0
    for i in range(CONNS):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a guard against a daemon that never answers (the failure), not a
        # measure: an answer comes at once
        s.settimeout(60)
        socks.append(s)
        try:
            s.connect(d.api)
        except OSError as e:
            print("connection %d: %s" % (i, e))
            break
        if healthz(s) != 200:
            print("connection %d: no answer" % i)
            break
        served += 1
    res.check(served == CONNS, "%d of %d concurrent connections served (more than the "
              "soft limit of %d snpd was started with)" % (served, CONNS, SOFT))
    # all of them still open and usable
    again = sum(1 for s in socks[:served] if healthz(s) == 200)
    res.check(again == served, "all %d connections answer a second request" % served)
    for s in socks:
        s.close()
    try:
        c = h.UnixHTTPConnection(d.api, timeout=60)
        c.request("GET", "/v1/evidence?nonce=" + "ab" * 32)
        r = c.getresponse()
        doc = json.loads(r.read())
        ok = r.status == 200 and doc.get("binding", {}).get("nonce") == "ab" * 32
    except OSError as e:
        print("evidence afterwards: %s" % e)
        ok = False
    res.check(ok, "evidence is served afterwards")
res.done()
