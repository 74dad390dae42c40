# SPDX-License-Identifier: Apache-2.0
"""The daemon evicts the least recently used nonce name. The kernel keeps
the names it looked up (fs-nonce-names.py), so a busy uid works at its
share and every fresh name evicts one: the uid's oldest that no handle
holds, or, when every slot is used, the oldest of any uid. A name looked
up again is young again. Seen through O_PATH descriptors, which hold the
kernel's inode without an open handle: re-opened through /proc/self/fd,
the inode of an evicted name gets ESTALE, a kept one reads its own nonce.

1. One uid at its share (2 * MaxHandlesPerUser=): A and B looked up
   first, A looked up again, then one fresh name: B goes, A stays.
2. Every slot used (two uids at a share of half the table): a third uid's
   fresh name evicts the oldest name of any uid (root's first, C), not
   the other uid's oldest and not a young one."""

import errno
import json
import os
import subprocess
import sys

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
TABLE = 8192  # fs.c NONCE_INODES_MAX

# Runs as another uid: looks up argv[2] fresh nonce names under argv[1].
STATTER = r'''
import os, sys
mnt, n = sys.argv[1], int(sys.argv[2])
bad = 0
for _ in range(n):
    try:
        os.stat(os.path.join(mnt, "nonce", os.urandom(32).hex()))
    except OSError:
        bad += 1
print(bad)
'''


def fresh(d, n):
    bad = 0
    for _ in range(n):
        try:
            os.stat(d.path("nonce", os.urandom(32).hex()))
        except OSError:
            bad += 1
    return bad


def fresh_as(d, uid, n):
    p = subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
                        sys.executable, "-c", STATTER, d.mnt, str(n)],
                       capture_output=True, text=True)
    return int(p.stdout) if p.returncode == 0 else -1


def reopen(fd, name):
    """The name's nonce read through its held inode, or the errno."""
    try:
        f = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    try:
        d = os.read(f, 65536)
    finally:
        os.close(f)
    return "bound" if d[0x50:0x70].hex() == name else "unbound"


def hold(d):
    name = os.urandom(32).hex()
    return name, os.open(d.path("nonce", name), os.O_PATH)


def known(d):
    with open(d.path("status")) as f:
        return json.load(f)["filesystem"]["nonce_inodes"]


# 1. one uid at its share: 2 * 1024 names
share = 2048
with h.Daemon(config="[Daemon]\nRateLimit=0\n[Filesystem]\nMaxHandlesPerUser=1024\n") as d:
    d.start()
    a, fa = hold(d)
    b, fb = hold(d)
    bad = fresh(d, share - 2)
    res.check(bad == 0 and known(d) == share,
              "root at its share: %d names known (want %d), %d failed" % (known(d), share, bad))
    os.stat(d.path("nonce", a))  # A is young again
    fresh(d, 1)
    ra, rb = reopen(fa, a), reopen(fb, b)
    res.check(ra == "bound", "A, looked up again, is kept: %s" % ra)
    res.check(rb == "ESTALE", "B, the oldest, went for the fresh name: %s" % rb)
    res.check(known(d) == share, "still %d names known: %d" % (share, known(d)))
    os.close(fa)
    os.close(fb)

# 2. every slot used: root and uid 65534 hold half the table each
with h.Daemon(config="[Daemon]\nRateLimit=0\n[Filesystem]\nMaxHandlesPerUser=2048\n") as d:
    d.start()
    c, fc = hold(d)
    e, fe = hold(d)
    bad = fresh(d, TABLE // 2 - 2)
    other = fresh_as(d, 65534, TABLE // 2)
    res.check(bad == 0 and other == 0 and known(d) == TABLE,
              "two uids fill the table: %d names known (want %d), failed: %d, %d"
              % (known(d), TABLE, bad, other))
    os.stat(d.path("nonce", e))  # E is young again
    res.check(fresh_as(d, 65533, 1) == 0, "a third uid's fresh name works")
    rc, re_ = reopen(fc, c), reopen(fe, e)
    res.check(rc == "ESTALE", "root's oldest, C, went for it: %s" % rc)
    res.check(re_ == "bound", "E, looked up again, is kept: %s" % re_)
    os.close(fc)
    os.close(fe)

sys.exit(res.done())
