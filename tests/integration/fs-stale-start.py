# SPDX-License-Identifier: Apache-2.0
"""After kill -9, the dead FUSE mount and the API socket stay behind. The
next start clears both before anything that can fail, so even a start that
fails (here: a backend that cannot be opened) leaves a usable mountpoint
(no ENOTCONN) and no stale socket. A LIVE mount or socket of another
instance is never taken."""

import errno
import os
import signal
import socket
import subprocess

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()


def mount_state(path):
    try:
        os.stat(path)
        os.listdir(path)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


with h.Daemon() as d:
    d.start()
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "first instance serves")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.stop()
    res.check(mount_state(d.mnt) == "ENOTCONN" and os.path.exists(d.api),
              "after kill -9: dead mount (%s) and socket left behind (%s)" %
              (mount_state(d.mnt), os.path.exists(d.api)))

    # the next start fails: the backend cannot be opened
    good = d.backend
    d.backend = "sev-guest:" + os.path.join(d.tmp, "no-such-device")
    rc = d.start(expect_fail=True)
    d.stop()
    log = d.read_log()
    res.check(rc not in (0, None) and "no-such-device" in log,
              "the start with a broken backend fails (exit %s)" % rc)
    res.check(mount_state(d.mnt) == "ok" and not os.path.ismount(d.mnt),
              "the dead mount was cleared anyway: %s" % mount_state(d.mnt))
    res.check(not os.path.exists(d.api), "the stale socket was removed anyway")

    # a good start after that serves
    d.backend = good
    d.start()
    res.check(len(open(d.path("report"), "rb").read()) == 1184, "a good start serves again")

    # a second instance never takes the live mount or socket of the first
    other = h.Daemon(tmp=d.tmp, sim_dir=d.sim)
    other.backend = "sev-guest:" + os.path.join(d.tmp, "no-such-device")
    other.log = os.path.join(d.tmp, "other.log")
    rc = other.start(expect_fail=True)
    other.stop()
    res.check(rc not in (0, None), "a second instance on the same paths fails (%s)" % rc)
    res.check(len(open(d.path("report"), "rb").read()) == 1184 and os.path.ismount(d.mnt),
              "the first instance's mount is untouched")
    conn = h.UnixHTTPConnection(d.api)
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    res.check(r.status in (200, 503), "the first instance's socket still answers (%d)" % r.status)

    # only the socket live (no FUSE): refused as well, file kept
    p = subprocess.run([h.SNPD, "--config", d.conf, "--backend", other.backend, "--no-fs",
                        "--api-socket", d.api, "--event-log=", "--offline=yes", "--cache-dir="],
                       capture_output=True, text=True, timeout=60)
    res.check(p.returncode != 0 and os.path.exists(d.api) and "live socket" in p.stderr,
              "a live socket is refused, not removed (%d)" % p.returncode)
    conn = h.UnixHTTPConnection(d.api)
    conn.request("GET", "/v1/status")
    r = conn.getresponse()
    r.read()
    res.check(r.status == 200, "and the first instance still serves on it")

res.done()
