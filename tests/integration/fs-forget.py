# SPDX-License-Identifier: Apache-2.0
"""A FORGET counts only against the name that was given its node id.

FUSE's FORGET carries a node id and a count, no generation. snpd evicts
nonce names that the kernel may still hold (the kernel keeps unused
dentries until memory reclaim), and the kernel sends the FORGET of such a
name's inode when it drops it, which may be after the name was looked up
again: as the kernel evicts an inode, a LOOKUP of its name waits for
that (fuse_iget) and makes a new inode, so snpd sees the LOOKUP first and
the old inode's FORGET after it. When the name got its old node id back,
that FORGET took the new inode's lookup and snpd freed the name while the
kernel held it: its next OPEN got ESTALE.

This test is the kernel: snpd takes a socket as its FUSE connection
(LISTEN_FDNAMES=fuse, as from snpd-mount, see fs-nonce-access.py) and the
test speaks the protocol on it, with the requests in that order:

1. LOOKUP nonce/A as uid 65534; 1024 fresh names of that uid (its share,
   fs.c nonce_share()) evict A; LOOKUP nonce/A again: the same st_ino
   (the name's number is stable), a new node id.
2. FORGET of A's first node id, count 1 (the old inode's): A's new node id
   still opens and reads A's nonce; the slot that A's eviction freed (now
   the last fresh name's) is untouched too; the old node id gets ESTALE.
3. FORGET of the new node id, count 1: now the kernel holds nothing of A
   and snpd has forgotten it (ESTALE), and the count of names known falls
   by one (status nonce_inodes): nothing kept for a forgotten node id.
4. Node ids never issued, in the nonce node-id range (some in the slot of
   a live name, as a hostile or confused kernel could send) and below it:
   GETATTR and OPEN get ESTALE (ENOENT below the range), a FORGET of each
   frees nothing, and the live names still read.
5. A BATCH_FORGET (the kernel sends most forgets so) with a duplicate
   entry for one node (B, looked up twice: two entries of count 1 free
   it), one entry for C (looked up twice: it stays), and never-issued
   node ids in C's slot: exactly B is freed (nonce_inodes falls by one,
   forgets counts one request), C still reads, and snpd keeps serving a
   new name. (0 is not a node id in the protocol: not sent.)"""

import errno
import json
import os
import socket
import struct

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

NOBODY = 65534
SHARE = 1024  # fs.c nonce_share(): NONCE_INODES_PER_UID, with MaxHandlesPerUser= at most 512

# The FUSE protocol, as much as this needs (include/uapi/linux/fuse.h)
LOOKUP, FORGET, GETATTR, OPEN, READ, RELEASE, INIT, BATCH_FORGET = 1, 2, 3, 14, 15, 18, 26, 42
NODE_FIRST = 1 << 32  # fs.c INO_NONCE_NODE_FIRST: node ids of nonce and evidence names
SLOTS = 8192  # fs.c NONCE_INODES_MAX: a nonce node id's slot is (id - NODE_FIRST) % SLOTS
READ_LOCKOWNER = 1 << 1
ATTR_INO = 40  # fuse_entry_out: nodeid generation entry_valid attr_valid (u64) 2 x u32, attr.ino


def read_in(fh):
    """fuse_read_in of a read(2) (FUSE_READ_LOCKOWNER: snpd refuses reads for the page cache)"""
    return struct.pack("<QQIIQII", fh, 0, 1 << 16, READ_LOCKOWNER, 0x5eed, os.O_RDONLY, 0)


class Wire(h.FuseWire):
    """The kernel's side of a FUSE connection (snpd_harness.FuseWire), as uid nobody."""

    def __init__(self, sock):
        super().__init__(sock, NOBODY, NOBODY)

    def lookup(self, parent, name):
        """(errno, (node id, st_ino))"""
        err, body = self.call(LOOKUP, parent, name.encode() + b"\0")
        if err:
            return err, None
        return 0, (struct.unpack_from("<Q", body)[0], struct.unpack_from("<Q", body, ATTR_INO)[0])

    def forget(self, nodeid, n):
        # no reply: snpd reads its requests in order, the next call's reply comes after
        self.send(FORGET, nodeid, struct.pack("<Q", n))

    def batch_forget(self, entries):
        """fuse_batch_forget_in (count, dummy) and a fuse_forget_one (node id,
        count) for each of @entries; no reply either"""
        self.send(BATCH_FORGET, 0, struct.pack("<II", len(entries), 0) +
                  b"".join(struct.pack("<QQ", n, c) for n, c in entries))

    def getattr(self, nodeid):
        return self.call(GETATTR, nodeid, struct.pack("<IIQ", 0, 0, 0))[0]

    def read(self, nodeid):
        """(errno, the bytes of one READ of the file)"""
        err, body = self.call(OPEN, nodeid, struct.pack("<II", os.O_RDONLY, 0))
        if err:
            return err, None
        fh = struct.unpack_from("<Q", body)[0]
        err, data = self.call(READ, nodeid, read_in(fh))
        self.call(RELEASE, nodeid, struct.pack("<QIIQ", fh, os.O_RDONLY, 0, 0))
        return err, data


def nonce_of(data):
    """The first 32 bytes of REPORT_DATA of a raw report (offset 0x50): a name's nonce."""
    return data[0x50:0x70] if data and len(data) >= 0x90 else b""


def fs_status(w, status):
    """status's "filesystem" object, read as root ({} when it cannot be read)."""
    err, body = w.call(OPEN, status, struct.pack("<II", os.O_RDONLY, 0), uid=0, gid=0)
    if err:
        return {}
    fh = struct.unpack_from("<Q", body)[0]
    err, data = w.call(READ, status, read_in(fh), uid=0, gid=0)
    w.call(RELEASE, status, struct.pack("<QIIQ", fh, os.O_RDONLY, 0, 0), uid=0, gid=0)
    return json.loads(data)["filesystem"] if not err else {}


def known(w, status):
    """The names snpd knows (status: filesystem nonce_inodes)."""
    return fs_status(w, status).get("nonce_inodes", -1)


def in_slot(node, high):
    """A node id never issued in the slot of @node: its serial @high or more"""
    return NODE_FIRST + (high << 13) + (node - NODE_FIRST) % SLOTS


ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
with h.WireDaemon(config="[Daemon]\nRateLimit=0\n\n[Filesystem]\nMaxHandlesPerUser=16\n") as d:
    d.start_on(theirs.fileno())
    theirs.close()
    w = Wire(ours)
    err, _ = w.call(INIT, 0, struct.pack("<IIII", 7, 31, 0, 0))
    err2, nonce_dir = w.lookup(1, "nonce")
    err3, status = w.lookup(1, "status")
    if not res.check(err == 0 and err2 == 0 and err3 == 0, "INIT, nonce/ and status"):
        res.done()
    nonce_dir, status = nonce_dir[0], status[0]

    a = "a1" * 32
    err, first = w.lookup(nonce_dir, a)
    res.check(err == 0, "LOOKUP nonce/A as uid 65534")
    bad, last = 0, None
    for i in range(SHARE):
        err, e = w.lookup(nonce_dir, "%064x" % (0xf0000 + i))
        bad += err != 0
        last = e if not err else last
    res.check(bad == 0, "%d fresh names of that uid, all looked up (%d failed)" % (SHARE, bad))
    res.check(w.read(first[0])[0] == errno.ESTALE,
              "they evicted A: its node id gets ESTALE, as for a kernel still holding it")

    err, again = w.lookup(nonce_dir, a)
    if not res.check(err == 0, "LOOKUP nonce/A again"):
        res.done()
    res.check(again[1] == first[1],
              "A keeps its st_ino (%#x, %#x)" % (first[1], again[1]))
    res.check(again[1] < 1 << 32, "which fits a 32-bit stat()")
    res.check(again[0] != first[0],
              "A has a new node id (%#x, was %#x): a node id is never given twice"
              % (again[0], first[0]))
    before = known(w, status)

    # the FORGET of the inode the kernel held of A before it was evicted
    w.forget(first[0], 1)
    err, data = w.read(again[0])
    res.check(err == 0 and nonce_of(data) == bytes.fromhex(a),
              "after the FORGET of A's old node id, A's new one still opens and reads A's "
              "nonce (%s)" % errno.errorcode.get(err, err))
    err, data = w.read(last[0])
    res.check(err == 0 and nonce_of(data) == bytes.fromhex("%064x" % (0xf0000 + SHARE - 1)),
              "and the name that took A's slot reads its own (%s)"
              % errno.errorcode.get(err, err))
    res.check(known(w, status) == before, "no name was forgotten by that FORGET (%d known)"
              % before)
    res.check(w.call(GETATTR, first[0], struct.pack("<IIQ", 0, 0, 0))[0] == errno.ESTALE,
              "A's old node id stays unknown (GETATTR: ESTALE)")

    # the kernel drops its new inode of A: then snpd forgets A
    w.forget(again[0], 1)
    res.check(w.read(again[0])[0] == errno.ESTALE,
              "the FORGET of A's new node id (its one lookup) frees A: ESTALE")
    res.check(known(w, status) == before - 1,
              "the names known fall by one (%d, were %d)" % (known(w, status), before))

    # 4. node ids never issued: GETATTR, OPEN and FORGET of them
    e_name = "e5" * 32
    err, e = w.lookup(nonce_dir, e_name)
    res.check(err == 0, "LOOKUP nonce/E (one lookup)")
    before = known(w, status)
    never = [NODE_FIRST, in_slot(e[0], 1 << 27), in_slot(e[0], 1 << 50),
             (1 << 63) + (e[0] - NODE_FIRST) % SLOTS, (1 << 64) - 1]
    below = [NODE_FIRST - 1, (1 << 31) + 5]  # key inodes, none configured
    for n in never + below:
        want = errno.ESTALE if n >= NODE_FIRST else errno.ENOENT
        got = (w.getattr(n), w.read(n)[0])
        res.check(got == (want, want), "node id %#x, never issued: GETATTR and OPEN get %s "
                  "(%s, %s)" % (n, errno.errorcode[want], errno.errorcode.get(got[0], got[0]),
                                errno.errorcode.get(got[1], got[1])))
    for n in never + below:
        w.forget(n, 1)
    w.forget(never[1], 1 << 63)
    err, data = w.read(e[0])
    res.check(err == 0 and nonce_of(data) == bytes.fromhex(e_name),
              "after FORGETs of node ids never issued (some in E's slot), E still reads its "
              "nonce (%s)" % errno.errorcode.get(err, err))
    res.check(known(w, status) == before, "and no name was forgotten (%d known, were %d)"
              % (known(w, status), before))

    # 5. BATCH_FORGET: a duplicate entry, and node ids never issued in a live name's slot
    b_name, c_name = "b2" * 32, "c3" * 32
    err, b = w.lookup(nonce_dir, b_name)
    err2, b2 = w.lookup(nonce_dir, b_name)
    err3, c = w.lookup(nonce_dir, c_name)
    err4, c2 = w.lookup(nonce_dir, c_name)
    res.check(err == err2 == err3 == err4 == 0 and b == b2 and c == c2,
              "B and C, each looked up twice (one node id each)")
    st = fs_status(w, status)
    before, forgets = st.get("nonce_inodes", -1), st.get("forgets", -1)
    w.batch_forget([(b[0], 1), (c[0], 1), (in_slot(c[0], 1 << 27), 1),
                    (b[0], 1), ((1 << 64) - SLOTS + (c[0] - NODE_FIRST) % SLOTS, 1 << 63),
                    (NODE_FIRST - 1, 1), (in_slot(b[0], 1 << 30), 1)])
    res.check(w.read(b[0])[0] == errno.ESTALE,
              "the two entries of count 1 for B (its two lookups) free B: ESTALE")
    err, data = w.read(c[0])
    res.check(err == 0 and nonce_of(data) == bytes.fromhex(c_name),
              "C, one of its two lookups forgotten and never-issued node ids in its slot, "
              "still reads its nonce (%s)" % errno.errorcode.get(err, err))
    st = fs_status(w, status)
    res.check(st.get("nonce_inodes") == before - 1,
              "the names known fall by exactly one (%s, were %d)"
              % (st.get("nonce_inodes"), before))
    res.check(st.get("forgets") == forgets + 1,
              "forgets counts the BATCH_FORGET as one request (%s, were %d)"
              % (st.get("forgets"), forgets))
    err, f = w.lookup(nonce_dir, "f6" * 32)
    err2, data = w.read(f[0]) if not err else (err, None)
    res.check(err == 0 and err2 == 0 and nonce_of(data) == bytes.fromhex("f6" * 32),
              "and snpd still serves a new name (%s)" % errno.errorcode.get(err2, err2))
    ours.close()
    h.wait_until(lambda: d.proc.poll() is not None, tries=600)
    d.stop()
    if res.bad:
        with open(d.log, errors="replace") as f:
            print(f.read()[-3000:])
res.done()
