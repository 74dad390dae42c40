#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""No client takes the service from the others (issue 11, items 11 and 12):
 - uid 65534 holding many idle connections on the unix socket and on TCP
   leaves root's requests served (MaxConnectionsPerClient=, and at
   MaxConnections= the busiest client's idle connection makes room);
 - on loopback TCP a client is its uid, not its source address: uid 65534
   sending from 100 addresses 127.0.0.x is one client and cannot fill the
   queue, and root's requests succeed; also through a dual-stack [::]
   listener (peers ::ffff:127.x): MaxConnectionsPerClient= holds;
 - a single client holds at most its share (a quarter) of the queue;
 - requests whose client went away (HTTP connection closed, FUSE reader
   killed) are dropped before they reach the device, so the next client
   gets 200, not 503; a client that half-closes (shutdown(SHUT_WR)) after
   its request is not gone and gets its answer; a reload that changes
   MaxConnections= or IdleTimeoutSec= warns that they need a restart.
The device is held still by taking the simulator's state lock, so that
requests stay queued for as long as the test needs."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

CLIENT = r'''
import os, socket, sys, time
mode, n, where = sys.argv[1], int(sys.argv[2]), sys.argv[3]
REQ = b"GET /v1/report HTTP/1.1\r\nHost: x\r\n\r\n"
socks, kids = [], []
for i in range(n):
    if mode in ("idle-unix", "report-unix"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(where)
    elif mode in ("idle-tcp", "report-tcp"):
        s = socket.create_connection(("127.0.0.1", int(where)))
    elif mode == "report-tcp-addrs":
        s = socket.socket()
        s.bind(("127.0.0.%d" % (2 + i), 0))
        s.connect(("127.0.0.1", int(where)))
    elif mode == "fuse-read":
        pid = os.fork()
        if pid == 0:
            try:
                with open(where, "rb") as f:
                    f.read()
            except OSError:
                pass
            os._exit(0)
        kids.append(pid)
        continue
    if mode.startswith("report"):
        try:
            s.sendall(REQ)
        except OSError:
            pass
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()  # held until the test closes stdin or kills us
for s in socks:
    s.close()
for pid in kids:
    os.kill(pid, 9)
'''


class Client:
    """CLIENT as @uid: connections (or FUSE readers) held until close()."""

    def __init__(self, d, uid, mode, n, where):
        self.path = os.path.join(d.tmp, "client.py")
        with open(self.path, "w") as f:
            f.write(CLIENT)
        os.chmod(self.path, 0o644)
        self.p = subprocess.Popen(
            ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
             sys.executable, self.path, mode, str(n), str(where)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        line = self.p.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError("client %s did not start: %r" % (mode, line))

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)

    def kill(self):
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=30)


EMPTY = {"broker": {"submitted": 0, "completed": 0, "queue_full": 0, "rate_limited": 0,
                   "queue_depth": -1, "device_busy": True},
         "http": {"connections_refused": 0}}


def status(d):
    """/v1/status (EMPTY if it cannot be had: a check then fails, not the script)."""
    try:
        c = h.UnixHTTPConnection(d.api)
        c.request("GET", "/v1/status")
        r = c.getresponse()
        if r.status == 200:
            return json.loads(r.read())
    except (OSError, http.client.HTTPException, ValueError):
        pass
    return EMPTY


def seen(s):
    """The client attempts status @s counts as placed: refused at connect,
    queued, refused by the queue or the rate limit."""
    b = s["broker"]
    return (b["submitted"] + b["queue_full"] + b["rate_limited"] +
            s["http"]["connections_refused"])


def settled(d, n, base):
    """Wait until the daemon has placed @n more client attempts (seen())."""
    for _ in range(200):
        s = status(d)
        if seen(s) - base >= n:
            return s
        time.sleep(0.05)
    return status(d)


def seen_now(d):
    return seen(status(d))


def drained(d):
    """Wait until the broker's queue is empty: the last status (200 looks
    50 ms apart, the caller checks its queue_depth)."""
    for _ in range(200):
        s = status(d)
        if s["broker"]["queue_depth"] == 0:
            break
        time.sleep(0.05)
    return s


get = h.http_get


# --- item 11: idle connections of one uid leave room for the others ---------
port = h.free_port()
with h.Daemon(config="[HTTP]\nListen=127.0.0.1:%d\nRequestTimeoutSec=120\n"
              "IdleTimeoutSec=300\n" % port, args=["--no-fs"]) as d:
    d.start()
    hogs = [Client(d, 65534, "idle-unix", 140, d.api),
            Client(d, 65534, "idle-tcp", 140, port)]
    # connections are accepted in order: root's come after all of the hog's
    codes = [get(h.UnixHTTPConnection(d.api)) for _ in range(20)]
    codes += [get(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
              for _ in range(20)]
    res.check(codes.count(200) == 40,
              "uid 65534 holding 2 x 140 idle connections: root's 40 requests: %d x 200 "
              "(others: %r)" % (codes.count(200), [c for c in codes if c != 200][:5]))
    st = status(d)["http"]
    res.check(st["connections_refused"] >= 2 * (140 - 32),
              "the hog's connections over MaxConnectionsPerClient=32 were refused (%d)" %
              st["connections_refused"])
    for c in hogs:
        c.close()

# at MaxConnections=, the busiest client's idle connection makes room
with h.Daemon(config="[HTTP]\nMaxConnections=8\nMaxConnectionsPerClient=0\n"
              "RequestTimeoutSec=120\nIdleTimeoutSec=300\n", args=["--no-fs"]) as d:
    d.start()
    hog = Client(d, 65534, "idle-unix", 20, d.api)
    codes = [get(h.UnixHTTPConnection(d.api), "/healthz") for _ in range(10)]
    res.check(codes.count(200) == 10,
              "MaxConnections=8 held by uid 65534: root's 10 requests: %d x 200 (%r)" % (
                  codes.count(200), codes[:3]))
    res.check(status(d)["http"].get("connections_evicted", 0) >= 1,
              "idle connections of the busiest client were closed for them")
    hog.close()

# --- item 12: identity on TCP, the queue share, abandoned requests ---------
port = h.free_port()
with h.Daemon(config="[HTTP]\nListen=127.0.0.1:%d\nMaxConnections=256\n"
              "RequestTimeoutSec=120\nIdleTimeoutSec=300\n"
              "[Daemon]\nQueueSize=16\n" % port) as d:
    d.start()
    # (a) uid 65534 from 100 source addresses is one client
    dev = h.DeviceHeld(d)
    base = seen_now(d)
    hog = Client(d, 65534, "report-tcp-addrs", 100, port)
    s = settled(d, 100, base)
    res.check(s["broker"]["queue_depth"] <= 4,
              "(c) one uid from 100 addresses holds at most a quarter of QueueSize=16 "
              "(queue depth %d)" % s["broker"]["queue_depth"])
    mine = [h.UnixHTTPConnection(d.api) for _ in range(3)]
    mine.append(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    for c in mine:
        c.request("GET", "/v1/report")
    settled(d, 4, base + 100)
    dev.release()
    codes = []
    for c in mine:
        try:
            r = c.getresponse()
            r.read()
            codes.append(r.status)
        except (OSError, http.client.HTTPException) as e:
            codes.append(repr(e))
    res.check(codes == [200] * 4,
              "(a) 100 TCP connections from 127.0.0.x as uid 65534: root's 4 requests %r" %
              codes)
    hog.close()

    # (b) clients queue their share, then go away: nothing of theirs reaches
    # the device, and the next client gets 200
    dev = h.DeviceHeld(d)
    before = status(d)["broker"]
    base = seen_now(d)
    hogs = [Client(d, 65534 - i, "report-unix", 5, d.api) for i in range(4)]
    s = settled(d, 20, base)
    depth = s["broker"]["queue_depth"]
    for c in hogs:
        c.close()
    s = drained(d)
    res.check(depth >= 12 and s["broker"]["queue_depth"] == 0 and
              s["broker"].get("cancelled", 0) - before.get("cancelled", 0) == depth,
              "(b) %d queued requests of clients that hung up were dropped (depth now %d, "
              "cancelled %r)" % (depth, s["broker"]["queue_depth"], s["broker"].get("cancelled")))
    nxt = h.UnixHTTPConnection(d.api)
    nxt.request("GET", "/v1/report")
    settled(d, 1, base + 20)
    dev.release()
    code = h.http_response(nxt)
    res.check(code == 200, "(b) the next client after them gets %r" % code)
    after = status(d)["broker"]
    res.check(after["completed"] - before["completed"] == 2,
              "(b) the device saw only the request it held and the next client's (%d)" %
              (after["completed"] - before["completed"]))

    # (b) on FUSE: readers killed while their reads wait are dropped too
    dev = h.DeviceHeld(d)
    before = status(d)["broker"]
    base = seen_now(d)
    hogs = [Client(d, 65534 - i, "fuse-read", 4, d.path("report")) for i in range(4)]
    s = settled(d, 16, base)
    depth = s["broker"]["queue_depth"]
    for c in hogs:
        c.kill()
    s = drained(d)
    res.check(depth >= 12 and s["broker"]["queue_depth"] == 0,
              "(b) FUSE: %d queued reads of killed readers were dropped (depth now %d)" % (
                  depth, s["broker"]["queue_depth"]))
    out = {}

    def reader():
        try:
            with open(d.path("report"), "rb") as f:
                out["len"] = len(f.read())
        except OSError as e:
            out["err"] = e.errno

    import threading
    th = threading.Thread(target=reader)
    th.start()
    settled(d, 1, base + 16)
    dev.release()
    th.join(60)
    res.check(out.get("len") == 1184, "(b) FUSE: the next reader gets its report (%r)" % out)
    after = status(d)["broker"]
    res.check(after["completed"] - before["completed"] == 2,
              "(b) FUSE: the device saw only the request it held and the next reader's (%d)" %
              (after["completed"] - before["completed"]))
    s = status(d)
    b = s["broker"]
    res.check(b["queue_depth"] == 0 and not b["device_busy"] and
              b["submitted"] == b["completed"] + b.get("cancelled", -1),
              "status adds up: submitted %d = completed %d + cancelled %r" % (
                  b["submitted"], b["completed"], b.get("cancelled")))

# --- a dual-stack listener: 127.x through [::] is still its uid -----------
def v6_available():
    try:
        with socket.socket(socket.AF_INET6) as s6:
            s6.bind(("::", 0))
        return True
    except OSError:
        return False


if v6_available():
    port = h.free_port()
    with h.Daemon(config="[HTTP]\nListen=[::]:%d\nListenNonLoopback=yes\n"
                  "MaxConnectionsPerClient=2\n" % port, args=["--no-fs"]) as d:
        d.start()
        socks = []
        for i in range(6):
            c = socket.socket()
            c.bind(("127.0.0.%d" % (2 + i), 0))
            c.connect(("127.0.0.1", port))
            socks.append(c)
        served = cut = 0
        for c in socks:
            c.settimeout(60)
            try:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = c.recv(64)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 200"):
                served += 1
            else:
                cut += 1
        for c in socks:
            c.close()
        res.check(served == 2 and cut == 4,
                  "[::] listener, 6 connections of one uid from 127.0.0.2-7, "
                  "MaxConnectionsPerClient=2: %d served, %d cut" % (served, cut))
else:
    print("skipped: no IPv6 for the dual-stack case")

# --- a client that half-closes (shutdown(SHUT_WR)) still gets its answer --
with h.Daemon(config="[HTTP]\nMaxConnections=8\nIdleTimeoutSec=30\n", args=["--no-fs"]) as d:
    d.start()
    for path in ("/healthz", "/v1/report"):
        c = socket.socket(socket.AF_UNIX)
        c.connect(d.api)
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" %
                   path).encode())
        c.shutdown(socket.SHUT_WR)
        c.settimeout(60)
        data = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            data += repr(e).encode()
        c.close()
        head, _, body = data.partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.1 200")
        if ok and path == "/v1/report":
            ok = "report" in json.loads(body)
        res.check(ok, "half-closed client, GET %s: %r" % (path, data[:40]))

    # MaxConnections= and IdleTimeoutSec= are fixed when the HTTP server
    # starts: a reload that changes them says so (and keeps the old ones)
    d.write_config("[HTTP]\nMaxConnections=16\nIdleTimeoutSec=5\n")
    d.reload()
    warned = [ln for ln in d.read_log().splitlines()
              if "MaxConnections=" in ln and "need a restart" in ln]
    res.check(len(warned) == 1, "a reload changing MaxConnections= and IdleTimeoutSec= "
              "warns: %r" % warned)

res.done()
