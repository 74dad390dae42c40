# SPDX-License-Identifier: Apache-2.0
"""A connection snpd cuts is not served. A client over
MaxConnectionsPerClient= that sends its request at once (as curl and
Python do) has the request in the socket before snpd accepts it; snpd
answers 503 too-many-connections on the socket, and the request must not
run: a POST /v1/log/events on it appends nothing (its client would append
it again when it retries). The daemon is stopped (SIGSTOP) while the
request is sent, so it is there before the accept on every run."""

import json
import os
import signal
import socket

import snpd_harness as h
import snptest as t

res = t.Results()


def event(n):
    body = json.dumps({"alg": "sha256", "digest": ("%02x" % n) * 32, "type": 2,
                       "description": "cut %d" % n}).encode()
    return (b"POST /v1/log/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def answer(sock):
    sock.settimeout(10)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if len(rest) >= length:
                    break
    except OSError:
        pass
    return data


with h.Daemon(config="[Daemon]\nLogWriters=0\n[HTTP]\nMaxConnectionsPerClient=1\n",
              args=["--no-fs"]) as d:
    d.start()
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    held.connect(d.api)
    held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    res.check(answer(held).startswith(b"HTTP/1.1 200"), "the first connection is served")

    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.connect(d.api)
        extra.sendall(event(1))
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    got = answer(extra)
    extra.close()
    res.check(got.startswith(b"HTTP/1.1 503") and b"too-many-connections" in got,
              "a second connection with its POST already sent: 503 too-many-connections (%r)"
              % got[:40])

    # the held connection appends: the first event of the log, so the cut one never ran
    held.sendall(event(2))
    got = answer(held)
    head, _, body = got.partition(b"\r\n\r\n")
    doc = json.loads(body) if body.startswith(b"{") else {}
    res.check(head.startswith(b"HTTP/1.1 201") and doc.get("seq") == 0 and doc.get("count") == 1,
              "the cut connection's POST appended nothing: the next append is seq 0 (%r %r)"
              % (head[:12], doc))
    held.close()
    res.check(d.stop() == 0, "snpd stops cleanly")

res.done()
