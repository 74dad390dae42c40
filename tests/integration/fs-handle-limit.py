# SPDX-License-Identifier: Apache-2.0
"""Open handles are capped per uid (issue 11, item 13): uid 65534 gets
MaxHandlesPerUser= handles and then EMFILE, while root and uid 65533 still
open their own share; closing gives the share back; a reload applies a new
cap; the default is 1024."""

import os
import subprocess
import sys

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

CAP = 100
MOST = 3000  # how many a holder tries at most (well above CAP)

# Open PATH until an error or MOST; print "COUNT ERRNO", hold until stdin says.
HOLDER = r"""
import errno, os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = int(sys.argv[2]) + 64
if hard == resource.RLIM_INFINITY or hard >= want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
fds, err = [], "none"
while len(fds) < int(sys.argv[2]):
    try:
        fds.append(os.open(sys.argv[1], os.O_RDONLY))
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
        break
print(len(fds), err, flush=True)
sys.stdin.readline()
"""


def wait_closed(d, most=0, timeout=120):
    """The kernel sends RELEASE in the background after close(): wait until
    snpd has seen them (open_files in /v1/status, no FUSE handle of our
    own), so that a new holder starts from an empty share."""
    import json
    import time
    end = time.monotonic() + timeout
    while True:
        c = h.UnixHTTPConnection(d.api, timeout=30)
        c.request("GET", "/v1/status")
        n = json.loads(c.getresponse().read())["filesystem"]["open_files"]
        if n <= most or time.monotonic() > end:
            return n
        time.sleep(0.05)


class Holder:
    def __init__(self, uid, path, most=MOST):
        self.p = subprocess.Popen(["setpriv", "--reuid", str(uid), "--regid", str(uid),
                                   "--clear-groups", sys.executable, "-c", HOLDER, path,
                                   str(most)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        self.count, self.err = (int(line[0]), line[1]) if len(line) == 2 else (-1, "?")

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


with h.Daemon(config="[Filesystem]\nMaxHandlesPerUser=%d\n" % CAP) as d:
    d.start()
    report = d.path("report")
    a = Holder(65534, report)
    try:
        res.check((a.count, a.err) == (CAP, "EMFILE"),
                  "uid 65534: %d handles, then %s (want %d, EMFILE)" % (a.count, a.err, CAP))
        # other uids keep their own share
        b = Holder(65533, d.path("measurement"), CAP)
        res.check((b.count, b.err) == (CAP, "none"),
                  "uid 65533 still opens %d (%d, %s)" % (CAP, b.count, b.err))
        b.close()
        fds = []
        try:
            for _ in range(CAP):
                fds.append(os.open(d.path("status"), os.O_RDONLY))
        except OSError as e:
            res.check(False, "root opens its own share: %s" % e)
        finally:
            for fd in fds:
                os.close(fd)
        res.check(len(fds) == CAP, "root opens %d while uid 65534 is at its cap" % len(fds))
        with open(d.path("status"), "rb") as f:
            res.check(b'"open_files"' in f.read(), "the status file still answers")
    finally:
        a.close()
    wait_closed(d)

    # the share comes back after close
    a = Holder(65534, report)
    a.close()
    res.check((a.count, a.err) == (CAP, "EMFILE"),
              "after closing, uid 65534 gets %d again (%d, %s)" % (CAP, a.count, a.err))

    wait_closed(d)
    # a reload applies a new cap
    d.write_config("[Filesystem]\nMaxHandlesPerUser=%d\n" % (CAP + 50))
    d.reload()
    a = Holder(65534, report)
    a.close()
    res.check((a.count, a.err) == (CAP + 50, "EMFILE"),
              "after a reload with MaxHandlesPerUser=%d: %d, %s" % (CAP + 50, a.count, a.err))
    log = d.read_log()
    res.check(log.count("refusing more with EMFILE") >= 1 and log.count("uid 65534 holds") <= 3,
              "the refusal is logged, once per time the uid reaches its cap")

p = subprocess.run([h.SNPD, "--config", "/dev/null", "--dump-config"], capture_output=True,
                   text=True)
res.check("MaxHandlesPerUser=1024\n" in p.stdout, "the default is 1024")
p = subprocess.run([h.SNPD, "--config", "/dev/null", "--max-handles-per-user", "0",
                    "--dump-config"], capture_output=True, text=True)
res.check(p.returncode == 78 and "MaxHandlesPerUser" in p.stderr, "0 is refused (exit 78)")

res.done()
