# SPDX-License-Identifier: Apache-2.0
"""The view's timestamps say when a file's bytes last changed, so that
cp -u, make and rsync's size+mtime check notice a new certificate or TCB
after a reload (they were all 1970-01-01).

1. At start every node has a time of this run (not the epoch); report,
   status and nonce/ names, made for each open, the mount's (the root's),
   which does not move while they are read: tar -c of them does not say
   "file changed as we read it".
2. A reload that changes nothing moves no time of a static file, a
   certificate, a key or a directory.
3. A firmware update (the simulator's TCB raised) and a reload: tcb,
   certs/vcek.pem (once the collateral of the new TCB is served) and
   keys/pub get later times, measurement keeps its own; `cp -u` of
   certs/vcek.pem over a copy made before the update now copies the new
   certificate.
4. A reload that adds a key profile moves keys/'s time, not keys/pub's."""

import os
import subprocess
import tempfile
import shutil
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()

PUB = "[Key:pub]\nFields=measurement\nMode=0444\n"
MORE = "\n[Key:more]\nFields=policy\nMode=0444\n"
LIMIT = 120  # seconds before a wait is a failure (never a pass condition)

STATIC = ["platform.json", "measurement", "tcb", "chip_id", "policy", "vmpl"]


def mtimes(d, names):
    return {n: os.stat(d.path(n)).st_mtime_ns for n in names}


def vcek(d):
    try:
        return open(d.path("certs", "vcek.pem"), "rb").read()
    except OSError:
        return None


tmp = tempfile.mkdtemp(prefix="snpd-times-")
try:
    with h.Daemon(config=PUB) as d:
        before = time.time_ns()
        d.start()
        # the certificates come from the collateral worker's first pass
        ok = h.wait_until(lambda: vcek(d) is not None, tries=LIMIT * 20)
        res.check(ok, "certs/vcek.pem served")
        after = time.time_ns()
        certs = ["certs/" + n for n in sorted(os.listdir(d.path("certs")))]
        dirs = ["", "nonce", "evidence", "certs", "keys", "log"]
        names = STATIC + certs + dirs + ["keys/pub"]

        # 1. times of this run; the mount's for the root
        t0 = mtimes(d, names)
        epoch = [n for n, v in t0.items() if not before - 10**9 <= v <= after + 10**9]
        res.check(not epoch, "every node has a time of this run (not: %r)" % epoch)
        fresh = ["report", "report.json", "status", "nonce/00ff"]
        st = {n: os.stat(d.path(n)) for n in fresh}
        res.check(all(s.st_mtime_ns == s.st_ctime_ns == t0[""] for s in st.values()),
                  "report, report.json, status, nonce/00ff: the mount's time (%r, root %d)" % (
                      [s.st_mtime_ns for s in st.values()], t0[""]))
        tar = shutil.which("tar")
        if tar:
            p = subprocess.run([tar, "-cf", os.path.join(tmp, "f.tar"), "-C", d.mnt] + fresh,
                               capture_output=True, text=True)
            res.check(p.returncode == 0 and "changed" not in p.stderr,
                      "tar -c of them: rc %d %s" % (p.returncode, p.stderr.strip()))
        dst = os.path.join(tmp, "vcek.pem")
        subprocess.run(["cp", d.path("certs", "vcek.pem"), dst], check=True)

        # 2. nothing changed
        d.reload()
        t1 = mtimes(d, names)
        moved = [n for n in names if t1[n] != t0[n]]
        res.check(not moved, "a reload that changes nothing moves no time (moved: %r)" % moved)

        # 3. a firmware update
        old_pem = vcek(d)
        h.sim_set_tcb(d.sim, h.view_tcb(d) + (1 << 56))
        d.reload()
        ok = h.wait_until(lambda: vcek(d) not in (None, old_pem), tries=LIMIT * 20)
        res.check(ok, "certs/vcek.pem of the new TCB served")
        t2 = mtimes(d, ["tcb", "measurement", "certs/vcek.pem", "keys/pub", ""])
        res.check(t2["tcb"] > t0["tcb"], "tcb: a later time after the update")
        res.check(t2["certs/vcek.pem"] > t0["certs/vcek.pem"],
                  "certs/vcek.pem: a later time after the update")
        res.check(t2["keys/pub"] > t0["keys/pub"],
                  "keys/pub: a later time after the update (the TCB may go into a key)")
        res.check(t2["measurement"] == t0["measurement"] and t2[""] == t0[""],
                  "measurement and the root keep their times")
        subprocess.run(["cp", "-u", d.path("certs", "vcek.pem"), dst], check=True)
        res.check(open(dst, "rb").read() == vcek(d),
                  "cp -u over a copy of the old certificate copies the new one")

        # 4. a new key profile
        d.write_config(PUB + MORE)
        d.reload()
        t3 = mtimes(d, ["keys", "keys/pub"])
        res.check(t3["keys"] > t0["keys"] and t3["keys/pub"] == t2["keys/pub"],
                  "a new profile: keys/ gets a later time, keys/pub keeps its own")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

res.done()
