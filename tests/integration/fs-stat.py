# SPDX-License-Identifier: Apache-2.0
"""stat() of the view's files agrees with what reading them gives.

1. st_blocks matches st_size (512-byte units, rounded up) for every file
   with a size: platform.json, the certificates, the small files and a
   key. With st_blocks 0 tar --sparse (-S) took them for holes and
   archived platform.json and certs/*.pem as zeros: an archive made with
   -S and extracted gives the bytes read (when tar is installed).
2. report and a raw nonce/<hex>, always 1184 bytes, say so (they said 0:
   tar -c archived them empty, file(1) called them empty); the size stays
   after a read and a write of REPORT_DATA. Files whose size is not known
   before the device answers (report.json, nonce/<hex>.json, status) say
   0, as in procfs. Python's shutil.copyfile() of report (sendfile(2)
   first, which gets EIO from a page-cache read, then read(2)) copies
   1184 bytes, and tar -c archives 1184 bytes of report."""

import os
import shutil
import subprocess
import tempfile

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

KEYS = "[Key:pub]\nFields=measurement\nMode=0444\n"

with h.Daemon(config=KEYS) as d:
    d.start()
    files = ["platform.json", "measurement", "tcb", "chip_id", "policy", "vmpl",
             os.path.join("keys", "pub")]
    files += [os.path.join("certs", n) for n in sorted(os.listdir(d.path("certs")))]
    res.check(any(f.endswith(".pem") for f in files), "certs/ has certificates (%r)" % files)

    for f in files:
        st = os.stat(d.path(f))
        with open(d.path(f), "rb") as fh:
            data = fh.read()
        res.check(st.st_size == len(data) and st.st_blocks == (len(data) + 511) // 512,
                  "%s: size %d, %d blocks (read %d bytes)" % (f, st.st_size, st.st_blocks,
                                                              len(data)))

    tar = shutil.which("tar")
    if tar:
        tmp = tempfile.mkdtemp(prefix="snpd-stat-")
        try:
            archive = os.path.join(tmp, "s.tar")
            out = os.path.join(tmp, "x")
            os.mkdir(out)
            plain = [f for f in files if not f.startswith("keys")]
            p = subprocess.run([tar, "--sparse", "-cf", archive, "-C", d.mnt] + plain,
                               capture_output=True, text=True)
            q = subprocess.run([tar, "-xf", archive, "-C", out], capture_output=True,
                               text=True)
            res.check(p.returncode == 0 and q.returncode == 0,
                      "tar -S -c and tar -x: rc %d, %d %s%s" % (p.returncode, q.returncode,
                                                                p.stderr, q.stderr))
            for f in plain:
                try:
                    got = open(os.path.join(out, f), "rb").read()
                except OSError as e:
                    got = str(e).encode()
                res.check(got == open(d.path(f), "rb").read(),
                          "tar -S round trip of %s: the bytes read" % f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("tar not installed: no tar --sparse round trip")

    # 2. fixed and unknown sizes
    nonce = os.urandom(16).hex()
    for f, size in (("report", 1184), ("nonce/" + nonce, 1184), ("report.json", 0),
                    ("nonce/%s.json" % nonce, 0), ("status", 0)):
        st = os.stat(d.path(f))
        res.check(st.st_size == size and st.st_blocks == (size + 511) // 512,
                  "%s: size %d, %d blocks (want %d)" % (f, st.st_size, st.st_blocks, size))
    for f in ("report", "nonce/" + nonce):
        with open(d.path(f), "rb") as fh:
            n = len(fh.read())
        res.check(n == 1184 and os.stat(d.path(f)).st_size == 1184,
                  "%s: reads 1184 bytes, size still 1184 (%d)" % (f, n))
    fd = os.open(d.path("report"), os.O_RDWR)
    os.write(fd, b"\x42" * 64)
    data = h.read_all(fd)
    size = os.fstat(fd).st_size
    os.close(fd)
    res.check(len(data) == 1184 and data[0x50:0x90] == b"\x42" * 64 and size == 1184,
              "report after a write of REPORT_DATA: 1184 bytes with it, size %d" % size)
    tmp = tempfile.mkdtemp(prefix="snpd-stat-")
    try:
        dst = os.path.join(tmp, "report")
        shutil.copyfile(d.path("report"), dst)
        res.check(os.path.getsize(dst) == 1184,
                  "shutil.copyfile(report): %d bytes" % os.path.getsize(dst))
        if tar:
            archive = os.path.join(tmp, "r.tar")
            p = subprocess.run([tar, "-cf", archive, "-C", d.mnt, "report"],
                               capture_output=True, text=True)
            q = subprocess.run([tar, "-xf", archive, "-C", tmp], capture_output=True)
            res.check(p.returncode == 0 and q.returncode == 0 and
                      os.path.getsize(dst) == 1184,
                      "tar -c report: 1184 bytes archived (%d, %s)" % (
                          os.path.getsize(dst), p.stderr.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

res.done()
