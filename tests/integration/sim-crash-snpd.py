# SPDX-License-Identifier: Apache-2.0
"""snpd on the simulator killed with SIGKILL under load, started again
(issue 11, item 8): the simulated guest's counters outlive the process as
on hardware, so every restart comes up and serves a report that verifies
with the reader's own nonce, and `snpctl report --backend=sim:DIR` run next
to the daemon on the same directory keeps working too.

Before the fix a kill between the two counter writes made the next start
fail (firmware error 0x1d, then ENOTTY) until `snpctl sim relaunch`."""

import os
import random
import subprocess
import threading
import time

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
KILLS = 12


def load(d, stop):
    """Readers asking for fresh reports as fast as the daemon answers."""
    n = 0
    while not stop.is_set():
        try:
            with open(d.path("nonce", "%064x" % n), "rb") as f:
                f.read()
        except OSError:
            pass
        n += 1


def kill_daemon(d):
    d.proc.kill()
    d.proc.wait()
    d.logf.close()
    d.close_notify()
    d.proc = None
    subprocess.run(["umount", "-l", d.mnt], capture_output=True)


def fresh_report_verifies(d, i):
    nonce = os.urandom(32).hex()
    try:
        with open(d.path("nonce", nonce), "rb") as f:
            rep = f.read()
    except OSError as e:
        return res.check(False, "after kill %d: reading a report: %s" % (i, e))
    p = os.path.join(d.tmp, "r.bin")
    with open(p, "wb") as f:
        f.write(rep)
    rc, out, err = t.snpctl(["verify", p, "--certs", d.sim, "--trust-ark",
                             os.path.join(d.sim, "ark.pem"), "--report-data", nonce])
    return res.check(rc == 0, "after kill %d: a fresh report verifies (rc %d)%s" % (
        i, rc, "" if rc == 0 else "\n" + out + err))


with h.Daemon() as d:
    d.start()
    ok = True
    for i in range(KILLS):
        stop = threading.Event()
        readers = [threading.Thread(target=load, args=(d, stop), daemon=True)
                   for _ in range(2)]
        for r in readers:
            r.start()
        # a second process on the same directory, between the daemon's requests
        side = subprocess.Popen([t.SNPCTL, "report", "--backend=sim:" + d.sim,
                                 "--nonce", "%02x" % i, "-o", os.path.join(d.tmp, "side.bin")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(random.uniform(0.05, 0.4))
        kill_daemon(d)
        stop.set()
        for r in readers:
            r.join()
        out = side.communicate()[0].decode(errors="replace")
        ok = res.check(side.returncode == 0,
                       "kill %d: snpctl report next to the daemon: rc %d%s" % (
                           i, side.returncode, "" if side.returncode == 0 else "\n" + out)) and ok
        try:
            d.start()
        except RuntimeError as e:
            res.check(False, "after kill %d snpd starts again: %s" % (i, e))
            break
        if not fresh_report_verifies(d, i):
            break
    res.check(ok, "%d kills under load" % KILLS)
res.done()
