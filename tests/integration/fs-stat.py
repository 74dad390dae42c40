# SPDX-License-Identifier: Apache-2.0
"""stat() of the view's files agrees with what reading them gives.

1. st_blocks matches st_size (512-byte units, rounded up) for every file
   with a size: platform.json, the certificates, the small files and a
   key. With st_blocks 0 tar --sparse (-S) took them for holes and
   archived platform.json and certs/*.pem as zeros: an archive made with
   -S and extracted gives the bytes read (when tar is installed)."""

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

res.done()
