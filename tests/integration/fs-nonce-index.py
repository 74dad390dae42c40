# SPDX-License-Identifier: Apache-2.0
"""The view finds a nonce name by its inode number through an index
(fs/fs.c nonce_index_*()). Under churn that evicts and frees thousands of
names around them, names held open keep their inode number at every new
path lookup (the lookup finds their entry, not a new one with a bumped
number), their open files still read their own nonce, and once they are
closed the names the daemon holds fall back within the uid's share."""

import json
import os

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
HELD = 300
ROUNDS = 6
CHURN = 1500  # fresh names per round: root's share is 2048 (fs.c nonce_share())
PER_UID = 2048


def names_known(d):
    with open(d.path("status")) as f:
        return json.load(f)["filesystem"]["nonce_inodes"]


with h.Daemon(config="[Daemon]\nRateLimit=0\n") as d:
    d.start()
    # the table holds names already, so that some held names sit away from
    # their home in the index, behind names that are freed later
    for _ in range(PER_UID - 300):
        os.stat(d.path("nonce", os.urandom(32).hex()))
    held = []
    for _ in range(HELD):
        name = os.urandom(32).hex()
        fd = os.open(d.path("nonce", name), os.O_RDONLY)
        held.append((name, fd, os.fstat(fd).st_ino))
    moved = []
    for r in range(ROUNDS):
        for _ in range(CHURN):
            os.stat(d.path("nonce", os.urandom(32).hex()))
        for name, fd, ino in held:
            now = os.stat(d.path("nonce", name)).st_ino
            if now != ino:
                moved.append((r, name[:16], hex(ino), hex(now)))
    res.check(not moved, "%d names held open, %d rounds of %d fresh names around them: "
              "inode numbers that changed at a new lookup: %d %r"
              % (HELD, ROUNDS, CHURN, len(moved), moved[:3]))
    bad = []
    for name, fd, ino in held[::15]:
        rep = os.pread(fd, 4096, 0)
        if rep[0x50:0x70].hex() != name:
            bad.append(name[:16])
    res.check(not bad, "the held files still read their own nonce: %d bad %r" % (len(bad), bad[:3]))
    for name, fd, ino in held:
        os.close(fd)
    # a name the kernel forgets or the daemon evicts leaves the index too
    for _ in range(PER_UID + 100):
        os.stat(d.path("nonce", os.urandom(32).hex()))
    n = names_known(d)
    res.check(n <= PER_UID, "names the daemon holds after the churn: %d (share %d)" % (n, PER_UID))
    res.check(d.stop() == 0, "clean exit")

res.done()
