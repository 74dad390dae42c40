# SPDX-License-Identifier: Apache-2.0
"""snpctl doctor: without a device and without snpd it says attestation is
not available and points to the simulator (exit 4); with snpd serving on
the simulator it reports it healthy and the view mounted (exit 0); with a
dead device it says so."""

import os

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
nodev = not os.path.exists("/dev/sev-guest") and not os.path.exists("/sys/kernel/config/tsm")

with h.Daemon() as d:
    rc, out, err = t.snpctl(["doctor", "--socket", d.api, "--mountpoint", d.mnt])
    if nodev:
        res.check(rc == 4 and "NOT available" in out and "--backend=sim" in out,
                  "no device, no snpd: exit %d, points to the simulator" % rc)
    d.start()
    rc, out, err = t.snpctl(["doctor", "--socket", d.api, "--mountpoint", d.mnt])
    res.check(rc == 0 and "ok    snpd" in out and "backend sim" in out,
              "snpd healthy on the simulator: exit %d" % rc)
    res.check("ok    view" in out and "report is readable" in out, "the view is mounted")
    rc, out, err = t.snpctl(["doctor", "--bogus"])
    res.check(rc == 3, "bad option: exit 3")

with h.Daemon(env={"SNP_SIM_FAULTS": "after=1,tamper=1"}) as d:
    d.start()
    for _ in range(2):
        try:
            open(d.path("report"), "rb").read()
        except OSError:
            pass
    rc, out, err = t.snpctl(["doctor", "--socket", d.api, "--mountpoint", d.mnt])
    res.check("FAIL  snpd" in out and "dead" in out, "a dead device is reported: %r" %
              [l for l in out.splitlines() if "snpd" in l])
    if nodev:
        res.check(rc == 4, "and attestation is not available (exit %d)" % rc)

res.done()
