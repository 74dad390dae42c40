# SPDX-License-Identifier: Apache-2.0
"""The HTTP API against RFC 9110/9112 where a conformance review found it
wrong (notes: review of the HTTP API), on the unix socket and on loopback
TCP, with raw sockets so that the test controls every byte:

- whitespace between a header name and the colon (any header) is refused
  with 400 before a body is read, and the connection is closed after it:
  the declared body is never read as a next request (RFC 9112 5.1).

No timed assert: sockets have a 10 s timeout while RequestTimeoutSec is
60, so an answer snpd would not give fails the check instead."""

import json
import socket

import snpd_harness as h
import snptest as t

res = t.Results()
PROBLEM = "urn:snpd:problem:"
TIMEOUT = 10.0


def connect(addr):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        s = socket.create_connection(addr)
    s.settimeout(TIMEOUT)
    return s


def read_to_eof(s):
    """Everything until the server closes; b"<timeout>" appended when it
    does not within TIMEOUT, b"<reset>" when it resets."""
    got = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return got
            got += c
    except socket.timeout:
        return got + b"<timeout>"
    except ConnectionResetError:
        return got + b"<reset>"


def exchange(addr, raw):
    s = connect(addr)
    try:
        s.sendall(raw)
        return read_to_eof(s)
    finally:
        s.close()


def responses(got):
    """The responses in @got: a list of (status, headers, body)."""
    out = []
    while got.startswith(b"HTTP/1.") and b"\r\n\r\n" in got:
        head, got = got.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hd = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hd.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(hd.get("content-length", ["0"])[0])
        out.append((int(lines[0].split()[1]), hd, got[:n]))
        got = got[n:]
    return out


def problem_type(hd, body):
    if hd.get("content-type") != ["application/problem+json"]:
        return None
    try:
        ty = json.loads(body).get("type", "")
    except ValueError:
        return None
    return ty[len(PROBLEM):] if ty.startswith(PROBLEM) else None


port = h.free_port()
CONFIG = """[HTTP]
Listen=127.0.0.1:%d
RequestTimeoutSec=60

[Daemon]
RateLimit=0
QueueSize=512
LogWriters=root
""" % port

with h.Daemon(config=CONFIG, args=["--no-fs"]) as d:
    d.start()
    transports = (("unix", d.api), ("tcp", ("127.0.0.1", port)))

    # --- finding 1: whitespace between a field name and the colon --------
    inner = b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"
    for name, addr in transports:
        for field in (b"Content-Length : %d" % len(inner), b"Content-Length\t: %d" % len(inner),
                      b"Host : x", b"X-Other : 1", b"Transfer-Encoding : chunked"):
            host = b"" if field.startswith(b"Host") else b"Host: x\r\n"
            raw = (b"POST /v1/report HTTP/1.1\r\n" + host + field + b"\r\n\r\n" + inner)
            got = exchange(addr, raw)
            rs = responses(got)
            res.check(len(rs) == 1 and rs[0][0] == 400 and
                      problem_type(rs[0][1], rs[0][2]) == "invalid-header" and
                      rs[0][1].get("connection") == ["close"] and
                      not got.endswith((b"<timeout>", b"<reset>")),
                      "%s: %r: one 400 invalid-header, then the connection closes (got %r)" %
                      (name, field, got[:200]))
    # the same in a GET, and after a first request on a kept-alive connection
    for name, addr in transports:
        got = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept : */*\r\n\r\n" + inner)
        rs = responses(got)
        res.check([r[0] for r in rs] == [200, 400] and not got.endswith(b"<timeout>"),
                  "%s: second request with 'Accept :' refused and nothing after it served "
                  "(got %r)" % (name, [r[0] for r in rs]))
        got = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        res.check(responses(got)[:1] and responses(got)[0][0] == 200,
                  "%s: still serving" % name)

    res.check(d.stop() == 0, "snpd exits cleanly (no leak under ASan)")

res.done()
