# SPDX-License-Identifier: Apache-2.0
"""The nonce written on a report fd is exactly its REPORT_DATA, whatever
other clients write meanwhile: an O_APPEND writer while another client's
write is pending, nonces written in pieces (plain and O_APPEND) with other
clients writing between the pieces, and pwrite() refused (the file is not
seekable), never a nonce at some other place."""

import errno
import os

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()


def report_data(fd):
    data = h.read_all(fd)
    os.close(fd)
    if len(data) != 1184:
        return None
    return data[0x50:0x90]


def wr(fd, data):
    """os.write(), with the errno name instead of an exception."""
    try:
        return os.write(fd, data)
    except OSError as e:
        return errno.errorcode.get(e.errno)


with h.Daemon() as d:
    d.start()
    rep = d.path("report")

    # another client's 32-byte write is pending when the O_APPEND one writes
    for rounds in range(3):
        a = os.open(rep, os.O_RDWR)
        na = os.urandom(32)
        wr(a, na)
        b = os.open(rep, os.O_RDWR | os.O_APPEND)
        nb = os.urandom(32)
        n = wr(b, nb)
        rb = report_data(b)
        ra = report_data(a)
        res.check(n == 32 and rb == nb + bytes(32),
                  "O_APPEND writer's REPORT_DATA is its nonce (round %d): %s" % (
                      rounds, rb.hex() if rb else rb))
        res.check(ra == na + bytes(32), "the other client's REPORT_DATA is its own")

    # 64 bytes in two 32-byte writes, others writing in between
    for flags, what in ((0, "plain"), (os.O_APPEND, "O_APPEND")):
        me = os.open(rep, os.O_RDWR | flags)
        mine = os.urandom(64)
        os.write(me, mine[:32])
        others = []
        for i in range(3):
            o = os.open(rep, os.O_RDWR | os.O_APPEND)
            no = os.urandom(16 * (i + 1))
            wr(o, no)
            others.append((o, no))
        wr(me, mine[32:])
        got = report_data(me)
        res.check(got == mine, "%s: 32+32 bytes give exactly the 64 written" % what)
        ok = all(report_data(o) == no + bytes(64 - len(no)) for o, no in others)
        res.check(ok, "%s: the writers in between each got their own" % what)

    # small pieces, and the total still capped at 64
    me = os.open(rep, os.O_RDWR | os.O_APPEND)
    for i in range(8):
        os.write(me, bytes([i]) * 8)
    try:
        os.write(me, b"z")
        res.check(False, "a 65th byte is refused")
    except OSError as e:
        res.check(e.errno == errno.EFBIG, "a 65th byte: %s" % errno.errorcode.get(e.errno))
    got = report_data(me)
    res.check(got == b"".join(bytes([i]) * 8 for i in range(8)), "8 writes of 8 bytes")

    # pwrite at an offset is refused rather than placed anywhere
    me = os.open(rep, os.O_RDWR)
    try:
        os.pwrite(me, b"off", 16)
        res.check(False, "pwrite at offset 16 is refused")
    except OSError as e:
        res.check(e.errno == errno.ESPIPE, "pwrite: %s" % errno.errorcode.get(e.errno))
    os.write(me, b"after")
    got = report_data(me)
    res.check(got == b"after" + bytes(59), "a write after the refused pwrite starts at 0")

res.done()
