# SPDX-License-Identifier: Apache-2.0
"""Reloads under concurrent lookups never hang the daemon (issue 11, item
6). Processes of uid 65534 stat() keys/* and certs/* (names that exist and
names that do not) in a loop while root reloads many times, changing the
key profiles and the view; every reload must finish and the daemon must
still answer /healthz and the status file. A hung daemon fails the test
(every wait has a timeout) and is cleaned up: the lookups are killed, then
the FUSE connection is aborted, then snpd is killed."""

import glob
import os
import signal
import subprocess
import sys

import snpd_harness as h
import snptest as t

h.need_fuse()
h.need_setpriv()
res = t.Results()

RELOADS = 40
LOOKERS = 3
TIMEOUT = 60  # per reload: generous for a loaded machine, finite for a hung daemon

# As uid 65534: stat names in keys/ and certs/ until stdin closes.
LOOKER = r"""
import os, select, sys
mnt = sys.argv[1]
names = [("keys", n) for n in ("a", "b", "c", "d", "nope")] + \
        [("certs", n) for n in ("vcek.pem", "ask.pem", "ark.pem", "nope.pem")]
print("go", flush=True)
i = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    d, n = names[i % len(names)]
    i += 1
    for p in (os.path.join(mnt, d, n), os.path.join(mnt, d, "x%d" % (i % 97))):
        try:
            os.stat(p)
        except OSError:
            pass
    if i % 50 == 0:
        try:
            os.listdir(os.path.join(mnt, d))
        except OSError:
            pass
"""


def config(i):
    """Profiles that come and go and change modes; a different order each time."""
    keys = []
    for j, name in enumerate("abcd"):
        if (i + j) % 3 == 0:
            continue
        mode = "0444" if (i + j) % 2 else "0400"
        keys.append("[Key:%s]\nFields=measurement\nSVN=%d\nMode=%s\n" % (name, j, mode))
    if i % 2:
        keys.reverse()
    return "[Filesystem]\nMode=%s\n\n" % ("0444" if i % 2 else "0440") + "\n".join(keys)


def healthz(d):
    try:
        c = h.UnixHTTPConnection(d.api, timeout=TIMEOUT)
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        return r.status
    except OSError as e:
        return "%s" % e


def status_file(d):
    """Read status in a child with a timeout: a hung FUSE read must not hang us."""
    try:
        p = subprocess.run(["cat", d.path("status")], capture_output=True, timeout=TIMEOUT)
        return p.returncode == 0 and b'"reloads"' in p.stdout
    except subprocess.TimeoutExpired:
        return False


def abort_connection(dev):
    """Abort the FUSE connection of the mount (its device number)."""
    for p in glob.glob("/sys/fs/fuse/connections/%d/abort" % os.minor(dev)):
        try:
            with open(p, "w") as f:
                f.write("1")
        except OSError:
            pass


with h.Daemon(config=config(0)) as d:
    d.start()
    dev = os.stat(d.mnt).st_dev
    lookers = []
    done = 0
    hung = None
    try:
        for _ in range(LOOKERS):
            p = subprocess.Popen(["setpriv", "--reuid", "65534", "--regid", "65534",
                                  "--clear-groups", sys.executable, "-c", LOOKER, d.mnt],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            lookers.append(p)
            res.check(p.stdout.readline().strip() == "go", "uid 65534 looks names up")
        for i in range(1, RELOADS + 1):
            d.write_config(config(i))
            d.proc.send_signal(signal.SIGHUP)
            try:
                d.wait_for("RELOADING=1", TIMEOUT)
                d.wait_for("READY=1", TIMEOUT)
            except RuntimeError as e:
                hung = "reload %d: %s" % (i, str(e).splitlines()[0])
                break
            done += 1
        res.check(hung is None and done == RELOADS, "%d of %d reloads finished under "
                  "lookups%s" % (done, RELOADS, "; " + hung if hung else ""))
        st = healthz(d) if hung is None else "not asked (hung)"
        res.check(st == 200, "/healthz answers after the reloads: %s" % st)
        res.check(hung is None and status_file(d), "the status file answers")
        alive = all(p.poll() is None for p in lookers)
        res.check(alive, "the lookers are still running (no crash of the view)")
    finally:
        for p in lookers:
            p.kill()
        for p in lookers:
            p.wait()
        if hung is not None:
            abort_connection(dev)
            d.stop(signal.SIGKILL)

    if hung is None:
        # the view still follows the configuration of the last reload
        want = sorted(n for n in "abcd" if (RELOADS + "abcd".index(n)) % 3)
        res.check(sorted(os.listdir(d.path("keys"))) == want,
                  "keys/ shows the last configuration's profiles")
        for n in want:
            mode = 0o444 if (RELOADS + "abcd".index(n)) % 2 else 0o400
            res.check(os.stat(d.path("keys", n)).st_mode & 0o777 == mode,
                      "keys/%s has the last configuration's mode" % n)
        res.check(os.stat(d.path("measurement")).st_mode & 0o777 == 0o440,
                  "measurement has the last [Filesystem] Mode=")

res.done()
