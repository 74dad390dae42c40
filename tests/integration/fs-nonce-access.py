# SPDX-License-Identifier: Apache-2.0
"""Who may open a nonce/<hex> or evidence/<hex> name is decided by snpd at
every OPEN against the configuration of now, not only by the kernel from
the attributes it caches (a LOOKUP reply caches them for 1 s, which saves
the GETATTR of every answer).

1. Through the kernel: uid 65534 looks names up (stat, an O_PATH
   descriptor), a reload takes its access away (ReportMode=0600), then
   open by path and through /proc/self/fd/N both fail with EACCES; root
   still opens; a reload giving it back lets uid 65534 open again. With
   ReportMode=0640 and Group=G, uid 65534 opens as a supplementary member
   of G and not without it.
2. Without the kernel's check: this test is the kernel. snpd takes a
   socket as its FUSE connection (LISTEN_FDNAMES=fuse, as from
   snpd-mount) and the test speaks the protocol on it: a LOOKUP of
   evidence/<hex> and nonce/<hex> as uid 65534 caches the attributes
   (attr_valid > 0) with mode 0444; after a reload to ReportMode=0600 snpd
   invalidates both inodes (NOTIFY_INVAL_INODE) and an OPEN of the inode
   looked up before it, which a kernel holding the old mode would send,
   is refused with EACCES; root's is not; User=65534 lets the owner
   open; with Group= the fsgid counts and, when the caller's groups
   cannot be read (snpd.service hides other users' /proc), a mode that
   differs for group and others is left to the kernel's check while no
   reload has changed owner, group or mode since the mount, and refused
   once one has. On the way, snpd's INIT reply takes parallel lookups
   (FUSE_PARALLEL_DIROPS, fs/fuse-parallel.c) exactly when the INIT
   offers them."""

import errno
import os
import socket
import struct
import subprocess
import sys

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

NOBODY = 65534
GROUP = 4321  # a group nobody is in, unless given with setpriv --groups


def config(report_mode, user="root", group="root"):
    return ("[Daemon]\nRateLimit=0\n\n[Filesystem]\nReportMode=%s\nUser=%s\nGroup=%s\n"
            % (report_mode, user, group))


# As uid 65534: for every line on stdin ("path P", "fd P" or "reopen"),
# open P / keep an O_PATH descriptor of P / reopen that descriptor through
# /proc/self/fd, and say "ok" or the errno name.
OPENER = r"""
import errno, os, sys
keep = None
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    try:
        if cmd == "path":
            os.close(os.open(arg, os.O_RDONLY))
        elif cmd == "fd":
            if keep is not None:
                os.close(keep)
            os.stat(arg)
            keep = os.open(arg, os.O_PATH)
        else:
            os.close(os.open("/proc/self/fd/%d" % keep, os.O_RDONLY))
        print("ok", flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
"""


class Opener:
    def __init__(self, *groups):
        g = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
        self.p = subprocess.Popen(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY)]
                                  + g + [sys.executable, "-c", OPENER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        res.check(self.p.stdout.readline().strip() == "ready", "uid 65534 is ready")

    def do(self, *cmd):
        self.p.stdin.write(" ".join(cmd) + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def through_kernel():
    with h.Daemon(config=config("0644")) as d:
        d.start()
        o = Opener()
        try:
            for i, sub in enumerate(("evidence", "nonce", "nonce")):
                name = ("%02x" % (0x10 + i)) * 32 + (".json" if i == 2 else "")
                p = d.path(sub, name)
                res.check(o.do("fd", p) == "ok" and o.do("reopen") == "ok",
                          "ReportMode=0644: uid 65534 opens %s/%s through /proc/self/fd"
                          % (sub, name[:8]))
                d.write_config(config("0600"))
                d.reload()
                got = (o.do("path", p), o.do("reopen"))
                res.check(got == ("EACCES", "EACCES"),
                          "after a reload to ReportMode=0600, uid 65534 may not open %s/%s "
                          "looked up before it, by path or through /proc/self/fd: %s"
                          % (sub, name[:8], got))
                try:
                    os.close(os.open(p, os.O_RDONLY))
                    res.check(True, "root still opens %s/%s" % (sub, name[:8]))
                except OSError as e:
                    res.check(False, "root still opens %s/%s: %s" % (sub, name[:8], e))
                d.write_config(config("0644"))
                d.reload()
                got = (o.do("path", p), o.do("reopen"))
                res.check(got == ("ok", "ok"), "after a reload back to 0644 uid 65534 opens "
                          "%s/%s again: %s" % (sub, name[:8], got))
        finally:
            o.close()

        # group bits: supplementary membership counts, as for the kernel
        d.write_config(config("0640", group=str(GROUP)))
        d.reload()
        p = d.path("evidence", "22" * 32)
        member, other = Opener(GROUP), Opener()
        try:
            res.check(member.do("path", p) == "ok",
                      "ReportMode=0640 Group=%d: uid 65534 with supplementary group %d opens"
                      % (GROUP, GROUP))
            res.check(other.do("path", p) == "EACCES",
                      "ReportMode=0640 Group=%d: uid 65534 without it may not" % GROUP)
        finally:
            member.close()
            other.close()


# The FUSE protocol, as much as this needs (include/uapi/linux/fuse.h)
LOOKUP, OPEN, RELEASE, INIT = 1, 14, 18, 26
PARALLEL_DIROPS = 1 << 18  # an INIT flag (fs/fuse-parallel.c)
S_IFREG = 0o100000


class Wire(h.FuseWire):
    """The kernel's side of a FUSE connection (snpd_harness.FuseWire)."""

    def lookup(self, parent, name, uid=NOBODY, gid=NOBODY):
        err, body = self.call(LOOKUP, parent, name.encode() + b"\0", uid, gid)
        if err:
            return err, None
        nodeid, _, _, attr_valid = struct.unpack_from("<QQQQ", body)
        mode = struct.unpack_from("<I", body, 40 + 6 * 8 + 3 * 4)[0]
        return 0, (nodeid, attr_valid, mode)

    def open(self, nodeid, uid=NOBODY, gid=NOBODY, pid=None):
        err, body = self.call(OPEN, nodeid, struct.pack("<II", os.O_RDONLY, 0), uid, gid, pid)
        if err == 0:
            fh = struct.unpack_from("<Q", body)[0]
            self.call(RELEASE, nodeid, struct.pack("<QIIQ", fh, os.O_RDONLY, 0, 0), uid, gid)
        return err


def without_kernel():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with h.WireDaemon(config=config("0644")) as d:
        d.start_on(theirs.fileno())
        theirs.close()
        w = Wire(ours)
        err, body = w.call(INIT, 0, struct.pack("<IIII", 7, 31, 0, 0))
        res.check(err == 0, "snpd answers INIT on a socket as its FUSE connection")
        res.check(err == 0 and not struct.unpack_from("<IIII", body)[3] & PARALLEL_DIROPS,
                  "its INIT reply takes no parallel lookups the INIT did not offer")
        err, ev_dir = w.lookup(1, "evidence")
        err2, nonce_dir = w.lookup(1, "nonce")
        if not res.check(err == 0 and err2 == 0, "evidence/ and nonce/ are there"):
            return
        names = {}
        for label, parent, name in (("evidence/<hex>", ev_dir[0], "33" * 32),
                                    ("nonce/<hex>", nonce_dir[0], "44" * 32),
                                    ("nonce/<hex>.json", nonce_dir[0], "55" * 32 + ".json")):
            err, e = w.lookup(parent, name)
            if not res.check(err == 0, "LOOKUP %s as uid 65534" % label):
                return
            names[label] = e[0]
            res.check(e[1] > 0, "its attributes are cached (attr_valid %d s)" % e[1])
            res.check(e[2] == S_IFREG | 0o444, "mode 0444 (%o)" % e[2])
            res.check(w.open(e[0]) == 0, "uid 65534 opens %s" % label)

        d.write_config(config("0600"))
        d.reload()
        w.drain()
        for label, ino in names.items():
            res.check(ino in w.inval, "the reload invalidated the attributes of %s" % label)
            # a kernel that kept the old mode (a LOOKUP reply applied after the
            # invalidation) would send this OPEN: snpd must refuse it itself
            err = w.open(ino)
            res.check(err == errno.EACCES, "after a reload to ReportMode=0600 the OPEN of %s "
                      "by uid 65534 fails with EACCES (%s)" % (label, errno.errorcode.get(err, err)))
            res.check(w.open(ino, uid=0, gid=0) == 0, "root still opens %s" % label)

        d.write_config(config("0600", user=str(NOBODY)))
        d.reload()
        ino = names["evidence/<hex>"]
        res.check(w.open(ino) == 0, "User=65534 ReportMode=0600: the owner opens")
        res.check(w.open(ino, uid=NOBODY - 1, gid=NOBODY - 1) == errno.EACCES,
                  "another uid may not")

        d.write_config(config("0640", group=str(GROUP)))
        d.reload()
        res.check(w.open(ino, gid=GROUP) == 0, "ReportMode=0640 Group=%d: fsgid %d opens"
                  % (GROUP, GROUP))
        # pid 0: libfuse cannot read the caller's groups from /proc
        res.check(w.open(ino, pid=0) == errno.EACCES,
                  "ReportMode=0640: a caller whose groups cannot be read may not open")
        d.write_config(config("0604", group=str(GROUP)))
        d.reload()
        res.check(w.open(ino, pid=0) == errno.EACCES,
                  "ReportMode=0604: nor here (it may be in Group=, whose bits refuse)")
        res.check(w.open(ino) == 0,
                  "ReportMode=0604: a caller not in Group= opens (the others' bits)")
        # the mode changed since the mount: a kernel may hold any earlier one
        # (a LOOKUP reply applied late), so such a caller stays refused, also
        # under a mode it had before
        d.write_config(config("0640", group=str(GROUP)))
        d.reload()
        res.check(w.open(ino, pid=0) == errno.EACCES,
                  "after reloads that changed the mode, a caller whose groups cannot be read "
                  "may still not open")
        # The connection's end: libfuse reads it as an error (a short read).
        # snpd must stop rather than stay up, ready, with its FUSE source
        # switched off and every request on the mount hanging.
        ours.close()
        h.wait_until(lambda: d.proc.poll() is not None, tries=600)
        rc = d.proc.poll()
        res.check(rc is not None and rc != 0,
                  "snpd stops by itself, with a failure, when its FUSE connection "
                  "breaks (exit %s)" % rc)
        d.stop()


def unchanged_since_mount():
    """No reload changed owner, group or mode since the mount: every
    attribute the kernel holds is of now, and its check (which let the OPEN
    through) decides for a caller whose groups cannot be read."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with h.WireDaemon(config=config("0640", group=str(GROUP))) as d:
        d.start_on(theirs.fileno())
        theirs.close()
        w = Wire(ours)
        err, body = w.call(INIT, 0, struct.pack("<IIII", 7, 31, 0, PARALLEL_DIROPS))
        err2, ev_dir = w.lookup(1, "evidence")
        if not res.check(err == 0 and err2 == 0, "INIT, evidence/ (ReportMode=0640 from the start)"):
            return
        res.check(struct.unpack_from("<IIII", body)[3] & PARALLEL_DIROPS,
                  "an INIT that offers parallel lookups: the reply takes them (libfuse 3.14 "
                  "alone drops the flag)")
        err, e = w.lookup(ev_dir[0], "66" * 32)
        if not res.check(err == 0, "LOOKUP evidence/<hex> as uid 65534"):
            return
        res.check(w.open(e[0], pid=0) == 0,
                  "ReportMode=0640 since the mount: a caller whose groups cannot be read opens "
                  "(the kernel's check on current attributes decides)")
        d.reload()
        res.check(w.open(e[0], pid=0) == 0, "and still after a reload that changed nothing")
        d.write_config(config("0604", group=str(GROUP)))
        d.reload()
        res.check(w.open(e[0], pid=0) == errno.EACCES,
                  "a reload to ReportMode=0604: now refused (it may be in Group=)")
        ours.close()
        h.wait_until(lambda: d.proc.poll() is not None, tries=600)
        d.stop()


through_kernel()


without_kernel()
unchanged_since_mount()
res.done()
