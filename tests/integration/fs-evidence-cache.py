#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""evidence/<hex> opened alone: the OPEN waits for the batch, and the answer
is stored into the inode's page cache before the OPEN returns (fs/fs.c,
open_may_wait()). Shown on a real mount, conditions polled, nothing timed:

1. Alone: the document proves its nonce (the independent Python verifier),
   fstat() gives its size, no READ reaches snpd, and a mapping of the
   descriptor shows the same bytes. Once it is closed, snpd drops the
   kernel's copy (pages and attributes) at once; with a second descriptor
   of the name open, when that one closes.
2. The same name opened again after close: a new, complete document (valid
   JSON: nothing of the first one's is left past its end), read through
   direct I/O; a mapping of it never shows the first document.
   Evicted from snpd's table (1,100 fresh names looked up) while an O_PATH
   descriptor keeps the kernel's inode, the name comes back with the same
   inode number: it is stored again, whole (the kernel's size and pages
   of the first store are dropped before the second).
3. Two openers of one name at once: the first waits in its OPEN on the
   held device, the second opens at once; each gets its own document (two
   leaves), both read through direct I/O (nothing is stored where the
   other descriptor could map it).
4. An opener killed while its OPEN waits on the held device: snpd answers
   the interrupt, its nonce leaves the batch and its open file is gone
   without the device; afterwards evidence is served as before."""

import base64
import json
import mmap
import os
import signal
import subprocess
import sys
import threading

import snpd_harness as h
import snptest as t

sys.path.insert(0, os.path.join(os.environ.get("SNP_TOP_SRCDIR", "."), "tests", "helpers"))
import evidence_verify as ev  # noqa: E402

h.need_fuse()
res = t.Results()

MAPPER = r"""
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
n = int(sys.argv[2])
try:
    m = mmap.mmap(fd, n, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
except OSError:
    print("mmap-failed")
    sys.exit(0)
data = m[:n]  # SIGBUS here is a safe failure
print(data.hex())
"""


def open_files(d):
    """Open files but the one h.fuse_status() reads through."""
    return h.fuse_status(d, "filesystem")["open_files"] - 1


def nonce(i):
    return bytes([0x6c, i]) * 16


def read_all(fd):
    return h.read_all(fd, 1 << 20)


def proves(doc_bytes, n):
    """None if @doc_bytes is one JSON document proving nonce @n, else why."""
    try:
        doc = json.loads(doc_bytes)
        ev.verify(base64.b64decode(doc["report"])[0x50:0x90], n, doc["binding"])
        return None
    except (ValueError, KeyError) as e:
        return "not a document: %r" % e
    except ev.Refused as e:
        return str(e)


def mapped(d, path, n):
    """What a mapping of @path in a new process shows of its first @n bytes:
    the bytes, or None if the mapping failed (SIGBUS, or mmap refused)."""
    p = subprocess.run([sys.executable, "-c", MAPPER, path, str(n)], capture_output=True,
                       text=True)
    out = p.stdout.strip()
    if p.returncode != 0 or out in ("", "mmap-failed"):
        return None
    return bytes.fromhex(out)


# MaxHandlesPerUser=64: the uid's share of names is the floor, 1,024 (fs.c)
with h.Daemon(config="[Daemon]\nBatchWindowMSec=0\nBatchMax=64\n"
              "[Filesystem]\nMaxHandlesPerUser=64\n") as d:
    d.start()

    # 1. alone: stored, read from the page cache, mappable by its descriptor
    path = d.path("evidence", nonce(1).hex())
    r0 = h.fuse_status(d, "filesystem")["reads"]
    fd = os.open(path, os.O_RDONLY)
    first = read_all(fd)
    size = os.fstat(fd).st_size
    why = proves(first, nonce(1))
    res.check(why is None, "alone: the document proves its nonce (%s)" % why)
    res.check(size == len(first), "fstat() gives its size: %d of %d" % (size, len(first)))
    m = mmap.mmap(fd, len(first), flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    res.check(m[:] == first, "a mapping of the descriptor shows the same bytes")
    m.close()
    os.close(fd)
    reads = h.fuse_status(d, "filesystem")["reads"] - r0
    res.check(reads == 0, "no READ reached snpd (the page cache served them): %d" % reads)
    # closed: the kernel's copy (pages, size) goes with its last descriptor
    h.wait_until(lambda: open_files(d) == 0)
    fst = h.fuse_status(d, "filesystem")
    res.check(fst["stored"] == 1 and fst["dropped"] == 1,
              "closed: the stored answer is dropped from the page cache at its release "
              "(stored %d, dropped %d)" % (fst["stored"], fst["dropped"]))
    # ... with the last descriptor of the name, whichever closes last
    path4 = d.path("evidence", nonce(4).hex())
    fd = os.open(path4, os.O_RDONLY)
    why = proves(read_all(fd), nonce(4))
    other = os.open(path4, os.O_RDONLY)  # a second descriptor: direct I/O, never reads
    os.close(fd)
    h.wait_until(lambda: open_files(d) == 1)
    fst = h.fuse_status(d, "filesystem")
    kept = fst["stored"] == 2 and fst["dropped"] == 1
    os.close(other)
    h.wait_until(lambda: open_files(d) == 0 and h.fuse_status(d, "filesystem")["dropped"] == 2,
                 tries=100)
    dropped = h.fuse_status(d, "filesystem")["dropped"]
    res.check(why is None and kept and dropped == 2,
              "kept while another descriptor of the name is open, dropped when it closes "
              "(%s, kept %s, dropped %d)" % (why, kept, dropped))

    # 2. the same name again: direct I/O, complete, the first never mapped
    r0 = h.fuse_status(d, "filesystem")["reads"]
    fd = os.open(path, os.O_RDONLY)
    second = read_all(fd)
    why = proves(second, nonce(1))
    res.check(why is None, "again: a complete document that proves the nonce (%s)" % why)
    res.check(second != first, "again: a new document (a new batch), not the stored one")
    res.check(h.fuse_status(d, "filesystem")["reads"] > r0, "again: read through direct I/O")
    seen = mapped(d, path, min(len(first), len(second)))
    res.check(seen is None or seen != first[:len(seen)],
              "a mapping of the name opened again never shows the first document (%s)"
              % ("failed" if seen is None else "shows other bytes"))
    os.close(fd)

    # 2b. evicted, looked up again: the same kernel inode, stored again
    path2 = d.path("evidence", nonce(2).hex())
    keep = os.open(path2, os.O_PATH)
    fd = os.open(path2, os.O_RDONLY)
    before = read_all(fd)
    os.close(fd)
    ino = os.fstat(keep).st_ino
    for i in range(1100):  # over the uid's share (1,024 names): the oldest go
        os.stat(d.path("evidence", (0x7000 + i).to_bytes(4, "little").hex() * 8))
    r0 = h.fuse_status(d, "filesystem")["reads"]
    fd = os.open(path2, os.O_RDONLY)
    after = read_all(fd)
    same = os.fstat(fd).st_ino == ino
    os.close(fd)
    os.close(keep)
    why = proves(after, nonce(2))
    res.check(why is None and after != before,
              "evicted and looked up again: a new, complete document (%s)" % why)
    res.check(same and h.fuse_status(d, "filesystem")["reads"] == r0,
              "the same inode (%s), stored again: no READ" % same)

    # 3. two openers of one name: the first waits in its OPEN on the held device
    path3 = d.path("evidence", nonce(3).hex())
    e0 = h.evidence_status(d)
    r0 = h.fuse_status(d, "filesystem")["reads"]
    dev = h.DeviceHeld(d)
    got = {}

    def opener(key):
        fd = os.open(path3, os.O_RDONLY)
        got[key] = read_all(fd)
        os.close(fd)

    a = threading.Thread(target=opener, args=("a",))
    a.start()
    ok = h.wait_until(lambda: h.evidence_status(d)["in_flight"] == 1, 1200)
    res.check(ok and open_files(d) == 1,
              "the first opener waits in its OPEN, its nonce on the held device")
    b = threading.Thread(target=opener, args=("b",))
    b.start()
    ok = h.wait_until(lambda: h.evidence_status(d)["pending"] == 1, 1200)
    res.check(ok and open_files(d) == 2,
              "the second opener of the name opened at once and reads (its nonce waits)")
    dev.release()
    a.join()
    b.join()
    leaves = set()
    for k in ("a", "b"):
        why = proves(got.get(k, b""), nonce(3))
        res.check(why is None, "opener %s: its document proves the nonce (%s)" % (k, why))
        if why is None:
            leaves.add((json.loads(got[k])["report"], json.loads(got[k])["binding"]["leaf_index"]))
    res.check(len(leaves) == 2, "each opener its own answer")
    reads = h.fuse_status(d, "filesystem")["reads"] - r0
    res.check(reads >= 4, "both read through direct I/O, nothing stored: %d READs" % reads)
    e1 = h.evidence_status(d)
    res.check(e1["answered"] - e0["answered"] == 2, "two members answered")

    # 4. an opener killed while its OPEN waits
    path4 = d.path("evidence", nonce(4).hex())
    e0 = h.evidence_status(d)
    dev = h.DeviceHeld(d)
    child = subprocess.Popen([sys.executable, "-c",
                              "import os, sys; os.open(sys.argv[1], os.O_RDONLY); print('opened')",
                              path4], stdout=subprocess.PIPE, text=True)
    ok = h.wait_until(lambda: h.evidence_status(d)["in_flight"] == 1, 1200)
    res.check(ok, "the opener waits in its OPEN, its nonce on the held device")
    child.send_signal(signal.SIGKILL)
    s = h.wait_until(lambda: h.evidence_status(d)["cancelled"] == e0["cancelled"] + 1 and
                     open_files(d) == 0 and h.fuse_status(d), 1200)
    res.check(bool(s), "the interrupted OPEN left the batch and its open file is gone, "
              "the device still held")
    dev.release()  # (unanswered, the killed opener would wait for the device)
    out, _ = child.communicate()
    res.check(child.returncode == -signal.SIGKILL and "opened" not in out,
              "the opener is gone without its open returning (%r)" % child.returncode)
    fd = os.open(d.path("evidence", nonce(5).hex()), os.O_RDONLY)
    why = proves(read_all(fd), nonce(5))
    os.close(fd)
    res.check(why is None, "afterwards evidence is served as before (%s)" % why)
    res.check(d.stop() == 0, "clean exit")
res.done()
