# SPDX-License-Identifier: Apache-2.0
"""LOOKUPs in one directory reach snpd side by side (fs/fuse-parallel.c).

Unless snpd's INIT reply carries FUSE_PARALLEL_DIROPS, the kernel holds a
mutex of the directory around each LOOKUP in it, and libfuse before 3.17
(Debian 12 has 3.14) never passes the flag on: every evidence reader's
LOOKUP of its fresh name waited for the one before it to come back from
snpd (at 1,000 readers, 637 waited on that mutex).

With snpd stopped (SIGSTOP), threads that stat() distinct names under
evidence/ and under nonce/ each get a request into the kernel's queue at
once: the FUSE connection's count of waiting requests (fusectl, mounted in
a mount namespace of the test's own) reaches the number of threads.
With the lookups serialized it stays at one per directory. After SIGCONT
every stat() gets its answer."""

import os
import signal
import subprocess
import sys
import threading

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
PER_DIR = 4
CONNECTIONS = "/sys/fs/fuse/connections"


def waiting(dev):
    """The connection's count of requests in flight, or None without fusectl."""
    path = "%s/%d/waiting" % (CONNECTIONS, dev)
    p = subprocess.run(["unshare", "--mount", "sh", "-c",
                        'mount -t fusectl fusectl "$1" && cat "$2"', "sh", CONNECTIONS, path],
                       capture_output=True, text=True)
    return int(p.stdout) if p.returncode == 0 and p.stdout.strip().isdigit() else None


with h.Daemon() as d:
    d.start()
    st = os.stat(d.mnt)
    dev = (os.major(st.st_dev) << 20) | os.minor(st.st_dev)  # the kernel's dev_t, fusectl's name
    if waiting(dev) is None:
        print("SKIP: cannot read the FUSE connection's counters (fusectl, unshare)")
        sys.exit(t.SKIP)
    # the directories' own entries are cached (for an hour): only the names are looked up
    os.stat(d.path("evidence"))
    os.stat(d.path("nonce"))
    base = waiting(dev)
    names = [d.path("evidence", "%064x" % (0xE0 + i)) for i in range(PER_DIR)] + \
        [d.path("nonce", "%064x" % (0xA0 + i)) for i in range(PER_DIR)]
    results = [None] * len(names)

    def look(i):
        try:
            results[i] = os.stat(names[i]).st_ino
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=look, args=(i,), daemon=True) for i in range(len(names))]
    # a test harness's SIGTERM must not leave snpd stopped (and its mount hung)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    d.proc.send_signal(signal.SIGSTOP)
    try:
        for th in threads:
            th.start()
        # every thread's LOOKUP is queued, or (serialized) one per directory stays so
        h.wait_until(lambda: (waiting(dev) or 0) - base >= len(names), tries=200)
        seen = (waiting(dev) or 0) - base
        res.check(seen == len(names),
                  "%d LOOKUPs in evidence/ and nonce/ are in the kernel's queue at once "
                  "(%d in flight; 2 when each directory lets one at a time)" % (len(names), seen))
    finally:
        d.proc.send_signal(signal.SIGCONT)
    for th in threads:
        th.join(timeout=30)
    res.check(all(isinstance(r, int) and r > 0 for r in results),
              "every name is looked up once snpd runs again: %r" % results)
    res.check(d.proc.poll() is None, "snpd still serves")
res.done()
