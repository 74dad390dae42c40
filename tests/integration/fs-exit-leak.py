# SPDX-License-Identifier: Apache-2.0
"""SIGTERM with files open and reads in flight frees every handle (issue
11, item 17): snpd exits 0 and, in the sanitizer build (SNP_SANITIZER),
LeakSanitizer reports nothing. Handles of every kind are held open (report
unread, report written but unread, report.json, status, a static file, a
key, a nonce file) while threads keep reading reports."""

import os
import signal
import threading

import snpd_harness as h
import snptest as t

h.need_fuse()
res = t.Results()
SANITIZER = os.environ.get("SNP_SANITIZER", "")
if not SANITIZER:
    print("note: not a sanitizer build; only the exit status is checked")

with h.Daemon(config="[Daemon]\nRateLimit=0\n\n[Key:k]\nFields=measurement\n") as d:
    d.start()
    held = []

    def hold(path, flags=os.O_RDONLY, write=None, read=False):
        fd = os.open(path, flags)
        if write:
            os.write(fd, write)
        if read:
            os.read(fd, 65536)
        held.append(fd)

    hold(d.path("report"))
    hold(d.path("report"), os.O_RDWR, write=b"\x01" * 32)
    hold(d.path("report"), read=True)
    hold(d.path("report.json"), read=True)
    hold(d.path("report.json"))
    hold(d.path("status"), read=True)
    hold(d.path("measurement"), read=True)
    hold(d.path("keys", "k"), read=True)
    hold(d.path("keys", "k"))
    hold(d.path("nonce", "abcd"))
    hold(d.path("nonce", "abcd.json"), read=True)

    stop = threading.Event()
    started = threading.Barrier(5)
    counts = []
    going = [threading.Event() for _ in range(4)]

    def reader(i):
        n = 0
        started.wait(timeout=60)
        while not stop.is_set():
            try:
                with open(d.path("nonce", "%02x%06x" % (i, n)), "rb") as f:
                    f.read()
                n += 1
                going[i].set()
            except OSError:
                break  # the daemon is gone
        going[i].set()
        counts.append(n)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    started.wait(timeout=60)
    # every reader has read once and goes on reading: stop the daemon under them
    for ev in going:
        ev.wait(timeout=60)
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(timeout=120)
    except Exception:
        rc = None
    stop.set()
    for th in threads:
        th.join(timeout=60)
    for fd in held:
        try:
            os.close(fd)
        except OSError:
            pass
    log = d.read_log()
    res.check(rc == 0, "snpd exits 0 after SIGTERM with %d files open and reads in flight "
              "(exit %s)" % (len(held), rc))
    leaks = [line for line in log.splitlines()
             if "LeakSanitizer" in line or "AddressSanitizer" in line or "SUMMARY:" in line]
    res.check(not leaks, "no sanitizer report at exit%s" % (
        "" if not leaks else ":\n" + "\n".join(leaks[:6])))
    res.check(all(not th.is_alive() for th in threads), "the readers ended (%r reads)" % counts)

res.done()
