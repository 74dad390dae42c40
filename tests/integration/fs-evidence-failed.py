# SPDX-License-Identifier: Apache-2.0
"""A failed evidence batch fails the call that waited for it, and leaves
nothing on the descriptor (fs/fs.c, fail_evidence()).

The batch is failed by the firmware: the guest speaks with VMPCK1, and a
reload to Vmpl=0 makes every report at VMPL 0 INVALID_PARAM (EINVAL, not a
device failure); a reload back to Vmpl=1 removes the cause.

1. evidence/HEX opened alone waits in its OPEN: open(2) itself fails with
   EINVAL (it used to succeed, and every read of the descriptor failed for
   ever); the retry, a fresh open once the cause is gone, gets evidence.
2. A second descriptor of a name whose first is open joins at its first
   read: that read fails with EINVAL, and once the cause is gone the next
   read on the same descriptor joins a new batch and gets evidence (it
   used to fail with the same error for ever, like a refused join's EBUSY
   that a client is told to retry).
Every document is checked by the independent verifier for its nonce."""

import base64
import errno
import json
import os
import sys

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()

CONFIG = "[Daemon]\nVmpl=%d\nBatchWindowMSec=0\n"


def verified(doc, nonce, vmpl=1):
    """None if the independent verifier accepts @doc for @nonce at @vmpl."""
    try:
        doc = json.loads(doc)
        rep = base64.b64decode(doc["report"])
        ev.verify(rep[0x50:0x90], nonce, doc["binding"])
        if int.from_bytes(rep[0x30:0x34], "little") != vmpl:
            return "a report of VMPL %d" % int.from_bytes(rep[0x30:0x34], "little")
        return None
    except (ev.Refused, KeyError, TypeError, ValueError) as e:
        return repr(e)


def read_all(fd):
    data = b""
    while True:
        chunk = os.pread(fd, 1 << 20, len(data))
        if not chunk:
            return data
        data += chunk


def errname(e):
    return errno.errorcode.get(e.errno, e.errno)


with h.Daemon(config=CONFIG % 1, env={"SNP_SIM_VMPCK": "1"}) as d:
    d.start()
    one, two = bytes([0x71]) * 32, bytes([0x72]) * 32
    p_one, p_two = d.path("evidence", one.hex()), d.path("evidence", two.hex())

    # the first descriptor of name two, while batches work
    first = os.open(p_two, os.O_RDONLY)
    why = verified(read_all(first), two)
    res.check(why is None, "evidence at Vmpl=1 (%s)" % why)

    d.write_config(CONFIG % 0)
    d.reload()
    ev0 = h.evidence_status(d)

    # 1. the only opener: open(2) fails with the batch's error
    try:
        fd = os.open(p_one, os.O_RDONLY)
        try:
            got = "open succeeded, then read: %d bytes" % len(read_all(fd))
        except OSError as e:
            got = "open succeeded, then read: %s" % errname(e)
        os.close(fd)
    except OSError as e:
        got = "open: %s" % errname(e)
    res.check(got == "open: EINVAL", "Vmpl=0: the waiting open fails with the batch's "
              "error (%s)" % got)

    # 2. a second descriptor joins at its read: the read fails
    second = os.open(p_two, os.O_RDONLY)
    try:
        got = "%d bytes" % len(os.pread(second, 1 << 20, 0))
    except OSError as e:
        got = errname(e)
    res.check(got == "EINVAL", "Vmpl=0: the read that joined fails (%s)" % got)
    s = h.evidence_status(d)
    res.check(s["failed"] == ev0["failed"] + 2 and s["pending"] == 0 and s["in_flight"] == 0,
              "two members failed, none waits (%r)" % {k: s[k] for k in ("failed", "pending",
                                                                         "in_flight")})

    d.write_config(CONFIG % 1)
    d.reload()
    # the same descriptor: the next read joins a new batch
    try:
        why = verified(read_all(second), two)
    except OSError as e:
        why = "read: %s" % errname(e)
    res.check(why is None, "Vmpl=1 again: the next read on the same descriptor gets "
              "evidence (%s)" % why)
    os.close(second)
    os.close(first)
    # a fresh open
    try:
        fd = os.open(p_one, os.O_RDONLY)
        why = verified(read_all(fd), one)
        os.close(fd)
    except OSError as e:
        why = errname(e)
    res.check(why is None, "and a fresh open of the name whose open failed gets evidence "
              "(%s)" % why)
    st = json.loads(open(d.path("status"), "rb").read())
    res.check(st["health"] == "ok", "a firmware refusal is no device failure (%s)"
              % st["health"])
    res.check(d.stop() == 0, "clean exit")

res.done()
