# SPDX-License-Identifier: Apache-2.0
"""TrustArk= is never waited on: only a regular file is read (a symbolic
link to one is followed), opened without blocking. Shows:
 (a) a FIFO as TrustArk= at start: snpd exits at once saying it is not a
     regular file;
 (b) a symbolic link to the ARK as TrustArk=: followed, the host's table
     is checked against it and taken;
 (c) a reload (SIGHUP) to a FIFO: refused, READY=1 again, the old
     configuration kept: reports still served, the collateral as before;
 (d) TrustArk= names a file that does not exist yet (allowed: read again
     every few seconds), and a FIFO appears there: last_error says it is
     not a regular file, reports are served, and SIGTERM stops snpd at
     once. Before, the collateral worker blocked in open() on the FIFO for
     good: last_error never changed and snpd could not stop (its worker
     is joined);
 (e) CertsDir= whose ark.pem is a FIFO (read with the same discipline):
     snpd does not hang at start and says why."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import snpd_harness as h  # noqa: E402
import snptest as t  # noqa: E402

h.need_fuse()
LIMIT = 30
res = t.Results()


def report_ok(d):
    st, data = h.api_get(d, "/v1/report?nonce=0102", {"Accept": "application/octet-stream"})
    return st == 200 and len(data) == 1184


def checked(c):
    """The host's table taken, checked against TrustArk= (the simulator's
    table has no CRL: with KdsOffline=yes the set is partial for that)."""
    return c.get("sources", {}).get("vcek.pem") == "host" and \
        "TrustArk" not in (c.get("last_error") or "")


def wait(d, pred):
    end = time.monotonic() + LIMIT
    while time.monotonic() < end:
        s = h.api_status(d).get("collateral", {})
        if pred(s):
            return s
        time.sleep(0.2)
    return h.api_status(d).get("collateral", {})


with tempfile.TemporaryDirectory(prefix="snpd-trust-ark-") as tmp:
    os.chmod(tmp, 0o755)
    sim = os.path.join(tmp, "sim")
    h.sim_init(sim)
    fifo = os.path.join(tmp, "ark.fifo")
    os.mkfifo(fifo)
    link = os.path.join(tmp, "ark-link.pem")
    os.symlink(os.path.join(sim, "ark.pem"), link)

    # (a) a FIFO at start
    os.makedirs(os.path.join(tmp, "a"))
    d = h.Daemon(tmp=os.path.join(tmp, "a"), sim_dir=sim,
                 config="[Daemon]\nTrustArk=%s\n" % fifo)
    t0 = time.monotonic()
    try:
        rc = d.start(expect_fail=True, timeout=LIMIT)
    except Exception as e:  # a hang: subprocess.TimeoutExpired
        rc = repr(e)
    log = d.read_log()
    res.check(rc not in (0, None) and isinstance(rc, int) and time.monotonic() - t0 < LIMIT and
              "TrustArk=" in log and "not a regular file" in log,
              "(a) a FIFO as TrustArk= at start: exit %r, says why: %r" %
              (rc, [ln for ln in log.splitlines() if "TrustArk" in ln][:2]))
    d.cleanup()

    # (b), (c): a symbolic link, then a reload to a FIFO
    os.makedirs(os.path.join(tmp, "b"))
    d = h.Daemon(tmp=os.path.join(tmp, "b"), sim_dir=sim,
                 config="[Daemon]\nTrustArk=%s\n" % link)
    try:
        d.start()
        c = wait(d, checked)
        res.check(checked(c),
                  "(b) TrustArk= a symbolic link to the ARK: followed, the host's table "
                  "checked against it (%r, %r)" % (c.get("sources"), c.get("last_error")))
        d.write_config("[Daemon]\nTrustArk=%s\n" % fifo)
        t0 = time.monotonic()
        msg = d.reload()
        log = d.read_log()
        res.check(time.monotonic() - t0 < LIMIT and "last reload failed" in msg and
                  "not a regular file" in log,
                  "(c) a reload to a FIFO: refused at once, READY=1 with %r" %
                  [ln for ln in msg.split("\n") if ln.startswith("STATUS=")])
        c = wait(d, checked)
        res.check(report_ok(d) and checked(c) and h.api_status(d).get("reloads") == 0,
                  "(c) the old configuration kept: reports served, the collateral as before")
    finally:
        h.stop_clean(d, res)

    # (d) missing at start, a FIFO later
    later = os.path.join(tmp, "later.pem")
    os.makedirs(os.path.join(tmp, "d"))
    d = h.Daemon(tmp=os.path.join(tmp, "d"), sim_dir=sim,
                 config="[Daemon]\nTrustArk=%s\n" % later)
    try:
        d.start()
        c = h.api_status(d).get("collateral", {})
        res.check("No such file" in (c.get("last_error") or ""),
                  "(d) TrustArk= missing at start: %r" % c.get("last_error"))
        os.mkfifo(later)
        c = wait(d, lambda c: "not a regular file" in (c.get("last_error") or ""))
        res.check("not a regular file" in (c.get("last_error") or "") and report_ok(d),
                  "(d) a FIFO appeared: last_error %r, reports served" % c.get("last_error"))
    finally:
        t0 = time.monotonic()
        rc = d.stop()
        took = time.monotonic() - t0
        log = d.read_log()
        res.check(rc == 0 and took < 20 and "Sanitizer" not in log and
                  "runtime error" not in log,
                  "(d) SIGTERM stops snpd at once: exit %r after %.1f s" % (rc, took))
        d.cleanup()

    # (e) CertsDir= whose ark.pem is a FIFO: read on the event loop, never waited on
    cdir = os.path.join(tmp, "certs")
    os.makedirs(cdir)
    os.mkfifo(os.path.join(cdir, "ark.pem"))
    os.makedirs(os.path.join(tmp, "e"))
    d = h.Daemon(tmp=os.path.join(tmp, "e"), sim_dir=sim,
                 config="[Daemon]\nCertsDir=%s\n" % cdir)
    try:
        t0 = time.monotonic()
        try:
            d.start(wait=False)
            d.wait_for("READY=1", LIMIT)
            ready = True
        except RuntimeError:
            ready = False
        log = d.read_log()
        res.check(time.monotonic() - t0 < LIMIT and "not a regular file" in log,
                  "(e) CertsDir= with a FIFO: %s at once, says why: %r" % (
                      "READY" if ready else "exit",
                      [ln for ln in log.splitlines() if "regular" in ln][:1]))
    finally:
        d.stop()
        d.cleanup()
res.done()
