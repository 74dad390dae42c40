# SPDX-License-Identifier: Apache-2.0
"""A file descriptor's answer is visible through that descriptor only:
processes (20 at a time) each write their own nonce on their own report
fd, then mmap(MAP_PRIVATE) it and read the mapping. None may see a report
bound to another process's nonce. A mapping that fails instead (SIGBUS,
or EIO) is the safe outcome and is only counted. readahead(2) on one fd
must not leave its report in the page cache for another's mapping either.
Ordinary readers keep working: cat, Python, dd with many block sizes,
cp, on report, report.json, nonce/ and status."""

import ctypes
import json
import os
import signal
import subprocess

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
TOTAL = 200
AT_ONCE = 20
PAGE = os.sysconf("SC_PAGE_SIZE")

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
PROT_READ, MAP_PRIVATE = 1, 2
MAP_FAILED = ctypes.c_void_p(-1).value


def child(path, nonce, go_r, out_w, mode):
    """Runs in a forked process: write the nonce, wait for the batch, map
    and read. Prints the REPORT_DATA seen (hex) or 'mmap-failed'."""
    fd = os.open(path, os.O_RDWR)
    os.write(fd, nonce)
    os.read(go_r, 1)
    if mode == "readahead":
        # ask the kernel to fill the page cache through this fd
        os.posix_fadvise(fd, 0, 8192, os.POSIX_FADV_WILLNEED)
        libc.readahead(fd, ctypes.c_long(0), ctypes.c_size_t(8192))
    addr = libc.mmap(None, PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    if addr in (None, MAP_FAILED):
        os.write(out_w, b"mmap-failed\n")
        os._exit(0)
    data = ctypes.string_at(addr, 0x90)  # SIGBUS here is a safe failure
    os.write(out_w, data[0x50:0x90].hex().encode() + b"\n")
    os._exit(0)


def batch_run(path, mode, total):
    seen_own = seen_foreign = seen_other = failed = 0
    for start in range(0, total, AT_ONCE):
        kids = []
        go_r, go_w = os.pipe()
        for i in range(start, start + AT_ONCE):
            nonce = i.to_bytes(4, "big") + os.urandom(28)
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(out_r)
                    child(path, nonce, go_r, out_w, mode)
                finally:
                    os._exit(3)
            os.close(out_w)
            kids.append((pid, nonce, out_r))
        os.write(go_w, b"x" * AT_ONCE)
        os.close(go_w)
        os.close(go_r)
        nonces = {n for _, n, _ in kids}
        for pid, nonce, out_r in kids:
            out = h.read_all(out_r)
            os.close(out_r)
            _, status = os.waitpid(pid, 0)
            out = out.strip()
            if os.WIFSIGNALED(status) or out in (b"", b"mmap-failed"):
                failed += 1
                continue
            rd = bytes.fromhex(out.decode())
            if rd == nonce + bytes(32):
                seen_own += 1
            elif rd[:32] in nonces and rd[32:] == bytes(32):
                seen_foreign += 1  # another process's nonce
            else:
                seen_other += 1  # no nonce (zeros), or anything else
    return seen_own, seen_foreign, seen_other, failed


def read_all(path, bufsize=65536):
    out = b""
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(bufsize)
            if not chunk:
                return out
            out += chunk


with h.Daemon(config="[Daemon]\nRateLimit=0\nQueueSize=256\n") as d:
    d.start()
    for mode, total in (("mmap", TOTAL), ("readahead", TOTAL // 2)):
        own, foreign, other, failed = batch_run(d.path("report"), mode, total)
        # a failed mapping (SIGBUS/EIO) is safe; a report bound to
        # somebody else's nonce is the bug
        res.check(foreign == 0 and other == 0,
                  "%s: %d of %d processes saw another process's report (%d zero/other)"
                  % (mode, foreign, total, other))
        print("     %s: %d saw their own report, %d mappings failed safely (SIGBUS/EIO)"
              % (mode, own, failed))

    # everyday readers are unaffected
    nonce = os.urandom(32).hex()
    p = subprocess.run(["cat", d.path("nonce", nonce)], capture_output=True)
    res.check(p.returncode == 0 and len(p.stdout) == 1184 and
              p.stdout[0x50:0x70].hex() == nonce, "cat nonce/<hex>")
    p = subprocess.run(["cat", d.path("report")], capture_output=True)
    res.check(p.returncode == 0 and len(p.stdout) == 1184, "cat report")
    for bs in (1, 7, 100, 512, 1184, 4096, 65536):
        p = subprocess.run(["dd", "if=" + d.path("nonce", nonce), "bs=%d" % bs,
                            "status=none"], capture_output=True)
        res.check(p.returncode == 0 and len(p.stdout) == 1184 and
                  p.stdout[0x50:0x70].hex() == nonce, "dd bs=%d of nonce/<hex>: %d bytes"
                  % (bs, len(p.stdout)))
    for bs in (1, 100, 4096):
        p = subprocess.run(["dd", "if=" + d.path("nonce", nonce + ".json"), "bs=%d" % bs,
                            "status=none"], capture_output=True)
        ok = p.returncode == 0
        try:
            ok = ok and json.loads(p.stdout)["report_data"].startswith(nonce)
        except ValueError:
            ok = False
        res.check(ok, "dd bs=%d of nonce/<hex>.json" % bs)
    for bufsize in (1, 333, 4096, 1 << 20):
        data = read_all(d.path("report"), bufsize)
        res.check(len(data) == 1184, "Python reads of %d bytes: %d in all" % (bufsize, len(data)))
    with open(d.path("report.json")) as f:
        res.check("measurement" in json.load(f), "Python json.load(report.json)")
    with open(d.path("status")) as f:
        res.check(json.load(f)["health"] == "ok", "Python json.load(status)")
    dst = os.path.join(d.tmp, "copy.bin")
    p = subprocess.run(["cp", d.path("nonce", nonce), dst])
    with open(dst, "rb") as f:
        data = f.read()
    res.check(p.returncode == 0 and len(data) == 1184 and data[0x50:0x70].hex() == nonce, "cp")
    with open(d.path("measurement"), "rb") as f:
        m = f.read()
    import mmap
    with open(d.path("measurement"), "rb") as f:
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            res.check(mm[:] == m, "static files still map (one content for all)")

res.done()
