#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The hang-up watch of suspended HTTP requests (http/http.c): one
edge-triggered watch per keep-alive connection for its lifetime, not an
EPOLL_CTL_ADD and a DEL per request (seen in /proc/PID/fdinfo of snpd's
epoll fds: a registration with EPOLLHUP|EPOLLERR|EPOLLET, 0x80000018, stays
while the connection is idle between requests, and goes when it closes).
A client that hangs up while its request waits for the device still has
its evidence member or its queued report request cancelled at once, also
on a connection that served requests before and when the hang-up came
before snpd suspended the request (sent and closed at once); a hang-up of
an idle connection closes it. The device is held still by the simulator's
state lock. Conditions are polled, no timing is asserted."""

import os
import socket

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

WATCH = 0x80000018  # EPOLLHUP | EPOLLERR | EPOLLET


def watches(d):
    """Registrations of the hang-up watch in snpd's epoll fds."""
    n = 0
    fds = "/proc/%d/fd" % d.proc.pid
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) != "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (d.proc.pid, fd)) as f:
                for line in f:
                    w = line.split()
                    if w and w[0] == "tfd:" and int(w[3], 16) == WATCH:
                        n += 1
        except OSError:
            pass
    return n


get = h.http_get


def nonce(i):
    return "%064x" % (0xabc000 + i)


REQ = b"GET /v1/evidence?nonce=%s HTTP/1.1\r\nHost: x\r\n\r\n"

with h.Daemon() as d:
    d.start()
    base = watches(d)
    conns = [h.UnixHTTPConnection(d.api, timeout=60) for _ in range(3)]
    codes = [get(c, "/v1/evidence?nonce=" + nonce(i)) for i, c in enumerate(conns)]
    codes += [get(c, "/v1/evidence?nonce=" + nonce(10 + i)) for i, c in enumerate(conns)]
    res.check(codes == [200] * 6, "two evidence requests on each of 3 keep-alive "
              "connections: %r" % codes)
    n = watches(d) - base
    res.check(n == 3, "one hang-up watch per idle keep-alive connection stays "
              "between requests (%d for 3 connections)" % n)

    # (a) a connection that served before hangs up while its member waits
    dev = h.DeviceHeld(d)
    ev0 = h.evidence_status(d)
    conns[0].request("GET", "/v1/evidence?nonce=" + nonce(20))
    h.wait_until(lambda: h.evidence_status(d)["members"] > ev0["members"])
    conns[0].sock.close()
    conns[0].close()
    ev = h.wait_until(lambda: h.evidence_status(d)["cancelled"] > ev0["cancelled"] and
                    h.evidence_status(d))
    res.check(ev and ev["cancelled"] == ev0["cancelled"] + 1,
              "(a) a keep-alive client that hung up while its evidence waited for the "
              "device: its member was cancelled at once (%r)" % ev)
    n = h.wait_until(lambda: watches(d) - base == 2) and watches(d) - base
    res.check(n == 2, "(a) its watch went with the connection (%d left of 3)" % n)

    # (b) an idle connection hangs up: snpd closes it, its watch goes
    conns[1].sock.close()
    conns[1].close()
    n = h.wait_until(lambda: watches(d) - base == 1) and watches(d) - base
    res.check(n == 1, "(b) an idle keep-alive connection that hung up was closed, "
              "its watch freed (%d left)" % n)

    # (c) request and hang-up at once on a watched connection: the hang-up
    # may come before the request is suspended; its member must not stay
    ev0 = h.evidence_status(d)
    s = conns[2].sock
    try:
        s.sendall(REQ % nonce(30).encode())
    except OSError:
        pass
    s.close()
    conns[2].close()
    n = h.wait_until(lambda: watches(d) - base == 0) and watches(d) - base
    ev = h.evidence_status(d)
    res.check(n == 0 and ev["members"] - ev0["members"] ==
              ev["cancelled"] - ev0["cancelled"],
              "(c) request sent and connection closed at once: every member it made was "
              "cancelled (%r then %r), no watch left (%d)" % (ev0, ev, n))

    # (d) the same for a queued report request (the broker's queue)
    c = h.UnixHTTPConnection(d.api, timeout=60)
    dev.release()
    code = get(c, "/v1/report")
    dev = h.DeviceHeld(d)
    b0 = h.fuse_status(d, "broker")
    # the next report waits behind the held device; one more is queued
    other = h.UnixHTTPConnection(d.api, timeout=60)
    other.request("GET", "/v1/report")
    h.wait_until(lambda: h.fuse_status(d, "broker")["submitted"] > b0["submitted"])
    c.request("GET", "/v1/report")
    h.wait_until(lambda: h.fuse_status(d, "broker")["submitted"] > b0["submitted"] + 1)
    c.sock.close()
    c.close()
    b = h.wait_until(lambda: h.fuse_status(d, "broker").get("cancelled", 0) >
                   b0.get("cancelled", 0) and h.fuse_status(d, "broker"))
    res.check(code == 200 and b and b.get("cancelled", 0) >= b0.get("cancelled", 0) + 1,
              "(d) a keep-alive client that hung up while its report was queued: it was "
              "dropped (%r, %r)" % (code, b))
    dev.release()
    code = h.http_response(other)
    other.close()
    res.check(code == 200, "the other client's report is answered (%r)" % code)

    c = h.UnixHTTPConnection(d.api, timeout=60)
    code = get(c, "/v1/evidence?nonce=" + nonce(40))
    c.close()
    res.check(code == 200, "snpd serves on (%r)" % code)
    n = h.wait_until(lambda: watches(d) - base == 0) and watches(d) - base
    res.check(n == 0, "no hang-up watch outlives its connection (%d)" % n)
    res.check(d.stop() == 0, "clean exit")
res.done()
