# SPDX-License-Identifier: Apache-2.0
"""KdsOffline=yes, the CRL from the host's certificate table (the
simulator's host_crl_* params): reference reports asked for the
collateral's fresh host table (daemon/snpd.c, SNPD_REF_COLL) that fail or
carry other reasons with them. The device is held (the simulator's state
lock, snpd_harness.DeviceHeld) to keep a report in flight while something
else happens; nothing is timed: every wait is for an event, bounded only
to call a hang a failure. Shows:
 (keep) the set is partial (the host's CRL expired) and a current CRL with
     a near nextUpdate is put in the cache; the retry's re-check of the old
     table lands complete with it while its fresh-table report is held,
     and that report then fails (the simulator's certs_small fault,
     certs_pages=2). coll_refresh_failed() keeps the CRL's nextUpdate
     timer, which comes before the host-CRL backoff ends: the log says so,
     snpd's CLOCK_REALTIME timerfd (/proc/PID/fdinfo) is armed for that
     nextUpdate, and at it snpd asks the host again and serves its newer
     CRL. With the backoff armed instead (before fa8eae7) the log says
     "asked again in 10 s" and no CLOCK_REALTIME timer is armed;
 (dead) the same as (keep), but the fresh table's report is tampered with
     (the simulator's tamper fault, as kds-crl-host-retry.py (f)): it
     fails, and the next one, after the backoff, finds the device dead (held
     until the re-check of its retry landed complete). The dead device is
     not asked again, yet the complete set keeps its CRL's
     nextUpdate timer (CLOCK_REALTIME, /proc/PID/fdinfo; status's
     next_retry), and at it the old table is checked again without the
     device: the expired CRL is no longer served, status says why and that
     the device is dead, and promises no retry. Before the fix,
     coll_refresh_failed() dropped that timer (coll_set_dead()) and the
     expired CRL was served on;
 (fold-fail) a SIGHUP's reference report is held; the collateral's retry
     and a second SIGHUP come meanwhile and are folded into one more
     report (RELOAD|COLL), which fails: the reload is said to have failed
     (READY=1 status, last_reload_failed, the log once) and so is the
     fresh table (the log once, with its backoff); the host is asked again
     by itself and its newer CRL served, which also clears the failed
     reload;
 (fold-ok) the same with the held report failing and the folded one
     succeeding: the reload is done (READY=1 without a failure, "Reloaded"
     once, last_reload_failed cleared) and its fresh table brings the
     host's newer CRL, with no other reference report;
 (backoff) the collateral's retry: its re-check of the old table lands
     partial, due again after the current host-CRL backoff (10 s), while
     the fresh table's report is held; that report then fails, and
     coll_refresh_failed() arms the next, doubled backoff ("asked again in
     20 s"): status's next_retry is that armed timer's time, not the
     re-checked set's (before 65bea97, it said the set's, about 10 s too
     soon), and last_error says the host's table is read again without a
     time of its own that contradicts it (before, "read again in 10 s");
 (dir) a SIGHUP that sets CertsDir= while the set carries a note about
     the host's table: collateral.host_table says CertsDir= is in use, no
     longer the old set's note.
The scenarios run at once (independent daemons)."""

import datetime
import os
import re
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SNP_TOP_SRCDIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "helpers"))
import kdsemu  # noqa: E402
import snpd_harness as h  # noqa: E402

h.need_fuse()
h.need_cryptography()

emu = kdsemu.emulator_module()

LIMIT = 90  # seconds before a wait is called a failure (never a pass condition)
ASKING = "asking the host for its certificate table again"
COLL_FAIL = "The reference report asked for a fresh host certificate table"
# the whole of it, a regular expression: its outcome ("failed", "got none") follows
COLL_FAILED = re.escape(COLL_FAIL + " (the collateral's CRL, KdsOffline=yes)")
RELOAD_FAIL = "keeping the previous view"
AGAIN = "; the host's table is read again later"  # SNPD_COLL_HOST_AGAIN
KEPT = "its CRL is looked up again at its nextUpdate"
# the start's reference report is the first exit; the next extended request
# is told its 4 pages are too small and that 2 would do: EIO, an error of
# the host (view-refresh-fail.py)
FAIL_NEXT = "after=%d,certs_small=1,certs_pages=2"


res = h.ThreadResults()  # the scenarios run in threads


class TooSlow(Exception):
    """The arrangement missed its window (a loaded machine): tried again."""


status = h.daemon_status
lines = h.log_lines
served_next_update = h.served_crl_next_update
newer_host_crl = h.sim_renew_host_crl


def coll(s):
    return (s or {}).get("collateral", {})


def err(s):
    return coll(s).get("last_error") or ""


def again(s, sec):
    """@s's collateral: the host's table is read again, said in last_error
    (that it is, not when) and armed at most @sec s away (next_retry)."""
    left = coll(s).get("next_retry_in_sec")
    return (err(s).endswith(AGAIN) and isinstance(coll(s).get("next_retry"), int) and
            isinstance(left, int) and 0 <= left <= sec)


def no_other_time(s):
    """@s's last_error names no time of its own (a number of seconds) other
    than what is left of next_retry, the timer armed; '' if so, else why."""
    c = coll(s)
    left = c.get("next_retry_in_sec")
    said = [int(n) for n in re.findall(r"(\d+) ?s\b", err(s))]
    bad = [n for n in said if not isinstance(left, int) or abs(n - left) > 1]
    return "" if not bad else "last_error says %r s, next_retry_in_sec %r (%r)" % (
        bad, left, err(s))


def wait(d, pred, what):
    """h.wait_daemon_status(), LIMIT s."""
    return h.wait_daemon_status(res, d, pred, what, LIMIT)


def daemon(tmp, name, env=None, config=""):
    """A daemon on a simulator of its own whose host CRL expired 10 s ago
    (the set is partial and the host's table read again, in 10 s), not
    started: the caller starts it in its try, stop_clean() in its finally."""
    top = os.path.join(tmp, name)
    os.makedirs(top)
    sim = os.path.join(top, "sim")
    h.sim_init(sim)
    now = int(time.time())
    h.sim_set_params(sim, host_crl_this_update=now - 3600, host_crl_next_update=now - 10)
    return sim, h.Daemon(tmp=top, sim_dir=sim, env=env,
                         config="[Daemon]\nLogWriters=0\n" + config)


def cache_crl(d, chip, next_update):
    """A current CRL of @chip's ARK (emu.Chip(sim), built beforehand: its
    RSA-4096 key loads are slow on a loaded machine), valid until
    @next_update, in @d's cache as lib/kds keeps one
    (crl/<Product>-vcek.crl, lib/kds.h)."""
    utc = datetime.timezone.utc
    der = chip.crl(False, valid=(datetime.datetime.fromtimestamp(next_update - 7200, utc),
                                 datetime.datetime.fromtimestamp(next_update, utc)))
    cdir = os.path.join(d.tmp, "cache", "crl")
    os.makedirs(cdir, mode=0o755, exist_ok=True)
    path = os.path.join(cdir, "%s-vcek.crl" % chip.product)
    with open(path + ".new", "wb") as f:
        f.write(der)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def realtime_timers(pid):
    """When snpd's armed CLOCK_REALTIME timerfds fire (epoch s): sd-event
    keeps one per clock, armed for its earliest enabled timer. Read from
    /proc/PID/fdinfo (it_value is what is left), with the wall clock read
    next to it."""
    out = []
    fds = os.path.join("/proc", str(pid), "fd")
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) != "anon_inode:[timerfd]":
                continue
            with open(os.path.join("/proc", str(pid), "fdinfo", fd)) as f:
                info = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
        except OSError:
            continue
        now = time.time()
        if int(info.get("clockid", "-1")) != 0:  # CLOCK_REALTIME
            continue
        sec, nsec = (int(x) for x in info["it_value"].strip(" ()").split(","))
        if sec or nsec:
            out.append(now + sec + nsec / 1e9)
    return out


def not_asked_yet(d):
    """Raise TooSlow once the retry has asked the host for its table.
    on_coll_retry() logs ASKING before it asks for the fresh table's report
    (daemon/snpd.c): checked with the device held, its absence means that
    report cannot have passed the device, and the retry's re-check has not
    read the cache yet. The retry's time is no help: next_retry is rounded
    up to the second and sd-event fires on a 250 ms grid, up to about 1 s
    before it."""
    if lines(d, ASKING):
        raise TooSlow("the retry asked the host before the device was held and the cache "
                      "written")


def held_retry(d, what, landed, chip=None, later=0):
    """Start @d, wait for its partial set (the host's table read again in
    10 s: status's next_retry, the retry) and hold the device before that
    retry; with @chip, a current CRL of its ARK valid until retry + @later
    is then put in the cache. Then wait until @landed(status): the retry's
    re-check landed, its fresh table's report held. Returns (the device,
    held; that status; the retry; retry + @later), or None after a failed
    check. Raises TooSlow (the device released) when the retry asked the
    host before all of that was in place."""
    d.start()
    s = wait(d, lambda s: again(s, 10),
             "%s partial at the start, the host's table read again in 10 s" % what)
    if s is None:
        return None
    retry = coll(s)["next_retry"]
    until = retry + later
    dev = h.DeviceHeld(d)
    try:
        not_asked_yet(d)
        if chip is not None:
            cache_crl(d, chip, until)
            not_asked_yet(d)
        s = wait(d, landed, "%s the retry's re-check landed, its fresh table held" % what)
    except BaseException:
        dev.release()
        raise
    if s is None:
        dev.release()
        return None
    return dev, s, retry, until


def complete_held(s):
    """The re-check landed complete, its fresh table's report held."""
    return (coll(s).get("state") == "complete" and s.get("reloading") and
            s["broker"].get("device_busy"))


def keep_attempt(tmp, name):
    sim, d = daemon(tmp, name, env={"SNP_SIM_FAULTS": FAIL_NEXT % 1})
    chip = emu.Chip(sim)
    dev = None
    try:
        # the re-check at the retry finds the cached CRL current; the
        # failure comes 14 s to 6 s before its nextUpdate, inside the first
        # host-CRL backoff (10 s) after it
        got = held_retry(d, "(keep)", complete_held, chip, 20)
        if got is None:
            return
        dev, s, _, until = got
        res.check(served_next_update(d) == until and
                  (coll(s).get("sources") or {}).get("crl.der") == "cache",
                  "(keep) the cached CRL is served (nextUpdate %r, want %d; sources %r)" % (
                      served_next_update(d), until, coll(s).get("sources")))
        if time.time() >= until - 7:
            raise TooSlow("the re-check landed %.1f s before the CRL's nextUpdate" %
                          (until - time.time()))
        time.sleep(max(0.0, until - 6 - time.time()))
        dev.release()
        dev = None
        end = time.monotonic() + LIMIT
        while not lines(d, COLL_FAIL) and time.monotonic() < end:
            time.sleep(0.05)
        seen = time.time()
        fails = lines(d, COLL_FAIL)
        if not fails:
            res.check(False, "(keep) the fresh table's report never failed\n%s" %
                      d.read_log()[-2000:])
            return
        armed = realtime_timers(d.proc.pid)
        if time.time() >= until - 1:
            raise TooSlow("the failure was seen %.1f s before the CRL's nextUpdate" %
                          (until - seen))
        res.check(len(fails) == 1 and KEPT in fails[0] and "asked again in" not in fails[0],
                  "(keep) the failure keeps the CRL's nextUpdate, sooner than the backoff: %r"
                  % fails)
        res.check(len(fails) == 1 and
                  re.fullmatch(r"<4>%s failed: .+; %s, in \d+ s" % (COLL_FAILED, KEPT),
                               fails[0]) is not None,
                  "(keep) said once, a warning, in these words (%r)" % fails)
        res.check(len(armed) == 1 and abs(armed[0] - until) <= 1,
                  "(keep) snpd's CLOCK_REALTIME timer is armed for the CRL's nextUpdate %d "
                  "(armed: %r)" % (until, ["%.1f" % a for a in armed]))
        s = status(d)
        res.check(coll(s).get("state") == "complete" and served_next_update(d) == until,
                  "(keep) until then the current cached CRL is served (%r)" %
                  coll(s).get("state"))
        asks = len(lines(d, ASKING))
        newer = newer_host_crl(sim)
        s = wait(d, lambda s: coll(s).get("state") == "complete" and
                 served_next_update(d) == newer,
                 "(keep) at the CRL's nextUpdate the host's newer CRL")
        after = time.time() - until
        res.check(s is not None and len(lines(d, ASKING)) == asks + 1 and
                  s.get("reloads") == 0 and s.get("health") == "ok",
                  "(keep) the host was asked again once, without a SIGHUP (health %r)" %
                  (s or {}).get("health"))
        # what it looked like, not a check: the timer's time is checked above
        print("info (keep): the newer CRL was seen %.1f s after the cached CRL's nextUpdate, "
              "the failure %.1f s before it" % (after, until - seen))
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


def tries(tmp, name, attempt_fn):
    """@attempt_fn(tmp, name + N) until one does not miss its window
    (TooSlow), three at most."""
    for attempt in range(3):
        try:
            attempt_fn(tmp, "%s%d" % (name, attempt))
            return
        except TooSlow as e:
            print("info (%s): attempt %d missed its window (%s); again" % (name, attempt, e))
    res.check(False, "(%s) three attempts missed their window: the machine is too slow" % name)


def scenario_keep(tmp):
    tries(tmp, "keep", keep_attempt)


def dead_attempt(tmp, name):
    # the start passes; the retry's fresh table is tampered with: the
    # device is dead (VMPCK disabled)
    sim, d = daemon(tmp, name, env={"SNP_SIM_FAULTS": "after=1,tamper=1"})
    chip = emu.Chip(sim)
    dev = None
    try:
        # the re-check at the retry finds the cached CRL current; the device
        # is found dead a backoff (10 s) after the tampered report, well
        # before its nextUpdate
        got = held_retry(d, "(dead)", complete_held, chip, 30)
        if got is None:
            return
        dev, s, _, until = got
        dev.release()
        dev = None
        end = time.monotonic() + LIMIT
        while not lines(d, COLL_FAIL) and time.monotonic() < end:
            time.sleep(0.05)
        fails = lines(d, COLL_FAIL)
        # the next fresh table's report is held until its re-check landed
        # (complete again, its CRL's nextUpdate armed), so that it is the
        # failure on the dead device that finds the set complete
        dev = h.DeviceHeld(d)
        if len(lines(d, ASKING)) != 1:
            raise TooSlow("the backoff ended before the device was held")
        res.check(len(fails) == 1 and "asked again in 10 s" in fails[0],
                  "(dead) the tampered report failed, asked again after the backoff (%r)" %
                  fails)
        s = wait(d, lambda s: len(lines(d, ASKING)) == 2 and
                 coll(s).get("state") == "complete" and coll(s).get("next_retry") == until and
                 s.get("reloading") and s["broker"].get("device_busy"),
                 "(dead) the next re-check complete, its fresh table held")
        if s is None:
            return
        dev.release()
        dev = None
        s = wait(d, lambda s: s.get("health") == "dead" and lines(d, "not asked again"),
                 "(dead) the device died on the fresh table's report")
        if s is None:
            return
        asks = len(lines(d, ASKING))
        armed = realtime_timers(d.proc.pid)
        s = status(d)
        if time.time() >= until - 1:
            raise TooSlow("the device died %.1f s before the CRL's nextUpdate" %
                          (until - time.time()))
        died = lines(d, "not asked again")
        res.check(len(died) == 1 and "its CRL is checked again at its nextUpdate" in died[0],
                  "(dead) the log says the CRL is checked again at its nextUpdate (%r)" % died)
        res.check(len(died) == 1 and
                  re.fullmatch(r"<3>%s (failed|got none): .+; the device is dead: not asked "
                               r"again; its CRL is checked again at its nextUpdate, in \d+ s" %
                               COLL_FAILED, died[0]) is not None,
                  "(dead) said once, an error, in these words (%r)" % died)
        res.check(coll(s).get("state") == "complete" and served_next_update(d) == until,
                  "(dead) until its nextUpdate the current cached CRL is served (%r)" %
                  coll(s).get("state"))
        res.check(len(armed) == 1 and abs(armed[0] - until) <= 1 and
                  coll(s).get("next_retry") == until,
                  "(dead) the CRL's nextUpdate %d stays armed (CLOCK_REALTIME: %r, "
                  "next_retry %r)" % (until, ["%.1f" % a for a in armed],
                                      coll(s).get("next_retry")))
        s = wait(d, lambda s: coll(s).get("state") == "partial" and
                 served_next_update(d) is None,
                 "(dead) at the CRL's nextUpdate the expired CRL is no longer served")
        if s is None:
            return
        res.check(err(s).startswith("CRL: ") and "the cached CRL expired" in err(s) and
                  AGAIN not in err(s) and
                  err(s).endswith("the device is dead: the host's table cannot be read "
                                  "again until the VM restarts") and
                  coll(s).get("next_retry") is None and s.get("health") == "dead",
                  "(dead) status says why (the CRL) and promises no retry from the dead "
                  "device: %r, next_retry %r" % (err(s), coll(s).get("next_retry")))
        res.check(len(lines(d, ASKING)) == asks and realtime_timers(d.proc.pid) == [],
                  "(dead) the dead device was not asked again, no timer is left armed")
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


def scenario_dead(tmp):
    tries(tmp, "dead", dead_attempt)


def backoff_attempt(tmp, name):
    # the start passes; the retry's fresh table fails
    sim, d = daemon(tmp, name, env={"SNP_SIM_FAULTS": FAIL_NEXT % 1})
    dev = None
    try:
        # the retry's fresh-table report held until its re-check landed:
        # its own retry armed, no longer the fallback while the fresh table
        # is asked for (on_coll_retry(), a minute)
        got = held_retry(d, "(backoff)", lambda s: lines(d, ASKING) and
                         not coll(s).get("checking") and again(s, 10) and
                         s.get("reloading") and s["broker"].get("device_busy"))
        if got is None:
            return
        dev, s, _, _ = got
        res.check(coll(s).get("state") == "partial" and again(s, 10),
                  "(backoff) the re-check is partial, its own retry in 10 s (%r, %r s)" % (
                      err(s), coll(s).get("next_retry_in_sec")))
        before = time.time()  # the failure comes after it
        dev.release()
        dev = None
        end = time.monotonic() + LIMIT
        while not lines(d, COLL_FAIL) and time.monotonic() < end:
            before = time.time()
            time.sleep(0.05)
        seen = time.time()
        fails = lines(d, COLL_FAIL)
        m = re.search(r"asked again in (\d+) s", fails[0]) if len(fails) == 1 else None
        res.check(m is not None and m.group(1) == "20",
                  "(backoff) the fresh table's report failed once; the backoff doubled to "
                  "20 s (%r)" % fails)
        if not m:
            return
        sec = int(m.group(1))
        s = wait(d, lambda s: not s.get("reloading") and not s.get("reload_pending"),
                 "(backoff) nothing in flight after the failure")
        if s is None:
            return
        c = coll(s)
        # armed between the last poll without the line and the one with it
        # (rounded up to the second); the re-checked set says 10 s sooner
        lo, hi = int(before) + sec, int(seen) + sec + 1
        res.check(c.get("state") == "partial" and isinstance(c.get("next_retry"), int) and
                  lo <= c["next_retry"] <= hi,
                  "(backoff) next_retry is the armed backoff's end, %d s after the failure, "
                  "not the re-checked set's retry (%r, want %d..%d)" % (
                      sec, c.get("next_retry"), lo, hi))
        left = c.get("next_retry_in_sec")
        res.check(isinstance(left, int) and 0 < left <= sec and
                  abs(c["next_retry"] - time.time() - left) <= 2,
                  "(backoff) next_retry_in_sec is what is left of it (%r)" % left)
        why = no_other_time(s)
        res.check(err(s).endswith(AGAIN) and not why,
                  "(backoff) last_error says the host's table is read again and does not "
                  "contradict next_retry: %s" % (why or repr(err(s))))
        newer = newer_host_crl(sim)
        s = wait(d, lambda s: coll(s).get("state") == "complete" and
                 served_next_update(d) == newer,
                 "(backoff) at the backoff's end the host's newer CRL")
        res.check(s is not None and len(lines(d, ASKING)) == 2,
                  "(backoff) the host was asked again once more, by itself")
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


def scenario_backoff(tmp):
    tries(tmp, "backoff", backoff_attempt)


def fold(d, what):
    """Hold the device, SIGHUP (its report held), wait for the collateral's
    retry (folded: its reason waits) and SIGHUP again (folded too); the
    device is still held: returns it and the reference reports before."""
    refs = status(d)["reference_reports"]
    dev = h.DeviceHeld(d)
    try:
        d.send_signal(signal.SIGHUP)
        d.wait_for("RELOADING=1")
        # the reload's report is held before the collateral's retry, or
        # this attempt missed its window
        if lines(d, ASKING):
            raise TooSlow("the collateral's retry came before the reload's report was held")
        # the log first: the status after it shows what that retry did
        s = wait(d, lambda s: lines(d, ASKING), "%s: the retry for the host's CRL while a "
                 "reload is held" % what) and status(d)
        res.check(s and s.get("reloading") and s["broker"].get("device_busy") and
                  s.get("reload_pending") and s.get("reference_reports") == refs + 1,
                  "%s: its report is folded: one more pending, one asked (%r)" % (
                      what, s and s.get("reference_reports") - refs))
        d.send_signal(signal.SIGHUP)
        d.wait_for("RELOADING=1")
        s = wait(d, lambda s: s.get("reloads") == 2, "%s: the second SIGHUP" % what)
        res.check(s is not None and s.get("reload_pending") and s.get("reloading") and
                  s.get("reference_reports") == refs + 1,
                  "%s: the second SIGHUP is folded into the same pending report" % what)
    except BaseException:
        dev.release()
        raise
    return dev, refs


def fold_fail_attempt(tmp, name):
    # the start and the held reload pass; the folded report fails
    sim, d = daemon(tmp, name, env={"SNP_SIM_FAULTS": FAIL_NEXT % 2})
    dev = None
    try:
        d.start()
        if not wait(d, lambda s: again(s, 10), "(fold-fail) partial"):
            return
        dev, refs = fold(d, "(fold-fail)")
        dev.release()
        dev = None
        msg = d.wait_for("READY=1", LIMIT)
        s = status(d)
        res.check("last reload failed" in msg and s.get("last_reload_failed") and
                  s.get("reference_reports") == refs + 2,
                  "(fold-fail) READY=1 once both ran, saying the last reload failed; two "
                  "reports, not three (%r, %r)" % (msg, s.get("reference_reports") - refs))
        reload_fails, coll_fails = lines(d, RELOAD_FAIL), lines(d, COLL_FAIL)
        res.check(len(reload_fails) == 1 and reload_fails[0].startswith("<3>"),
                  "(fold-fail) the reload's failure is logged once (%r)" % reload_fails)
        res.check(len(coll_fails) == 1 and "failed" in coll_fails[0] and
                  "asked again in" in coll_fails[0],
                  "(fold-fail) the fresh table's failure is logged once, with its backoff "
                  "(%r)" % coll_fails)
        res.check(not lines(d, "Reloaded: view generation 3") and
                  len(lines(d, "Reloaded")) == 1,
                  "(fold-fail) only the held reload is logged as done")
        newer = newer_host_crl(sim)
        s = wait(d, lambda s: coll(s).get("state") == "complete" and
                 served_next_update(d) == newer,
                 "(fold-fail) the host asked again after the backoff: its newer CRL")
        res.check(s is not None and not s.get("last_reload_failed") and
                  s.get("reloads") == 2 and s.get("health") == "ok",
                  "(fold-fail) without another SIGHUP; its fresh view clears the failed reload "
                  "(%r)" % (s and s.get("last_reload_failed")))
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


def scenario_fold_fail(tmp):
    tries(tmp, "fold-fail", fold_fail_attempt)


def fold_ok_attempt(tmp, name):
    # the start passes, the held reload fails; the folded report passes
    sim, d = daemon(tmp, name, env={"SNP_SIM_FAULTS": FAIL_NEXT % 1})
    dev = None
    try:
        d.start()
        if not wait(d, lambda s: again(s, 10), "(fold-ok) partial"):
            return
        gen = status(d)["view_generation"]
        dev, refs = fold(d, "(fold-ok)")
        # only the folded report can take it: the held one fails
        newer = newer_host_crl(sim)
        dev.release()
        dev = None
        msg = d.wait_for("READY=1", LIMIT)
        s = status(d)
        res.check("last reload failed" not in msg and not s.get("last_reload_failed") and
                  s.get("reference_reports") == refs + 2,
                  "(fold-ok) READY=1 once both ran, the last reload done; two reports (%r, "
                  "%r)" % (msg, s.get("reference_reports") - refs))
        res.check(len(lines(d, RELOAD_FAIL)) == 1 and not lines(d, COLL_FAIL) and
                  len(lines(d, "Reloaded: view generation %d" % (gen + 1))) == 1,
                  "(fold-ok) the held reload's failure logged, the folded one's reload done, "
                  "no failure of the fresh table")
        s = wait(d, lambda s: coll(s).get("state") == "complete" and
                 served_next_update(d) == newer,
                 "(fold-ok) the folded report's fresh table: the host's newer CRL")
        res.check(s is not None and s.get("reference_reports") == refs + 2 and
                  (coll(s).get("sources") or {}).get("crl.der") == "host",
                  "(fold-ok) from that report's table, no other asked (%r)" % (
                      s and (s.get("reference_reports") - refs, coll(s).get("sources")),))
    finally:
        if dev:
            dev.release()
        h.stop_clean(d, res)


def scenario_fold_ok(tmp):
    tries(tmp, "fold-ok", fold_ok_attempt)


def scenario_dir(tmp):
    sim, d = daemon(tmp, "dir")
    cdir = h.sim_certs_dir(sim, os.path.join(tmp, "dir-certs"))
    try:
        d.start()
        s = wait(d, lambda s: err(s).endswith(AGAIN), "(dir) partial")
        note = coll(s).get("host_table") or ""
        res.check("the host's CRL" in note and "ignored" in note,
                  "(dir) before: host_table says why the host's CRL was not taken (%r)" % note)
        d.write_config(d.config_text() + "CertsDir=%s\n" % cdir)
        d.reload()
        s = wait(d, lambda s: s.get("reloads") == 1 and coll(s).get("state") == "certs-dir",
                 "(dir) the reload's CertsDir=")
        ht = coll(s).get("host_table") or ""
        res.check("CertsDir= is in use" in ht and "the host's CRL" not in ht,
                  "(dir) host_table says CertsDir= is in use, not the old set's note (%r)" % ht)
        p = h.subprocess.run([h.SNPCTL, "doctor", "--socket", d.api], capture_output=True,
                             text=True, timeout=60)
        warn = [ln for ln in p.stdout.splitlines() if "host's certificate table" in ln]
        res.check(warn and "CertsDir= is in use" in warn[0] and warn[0].split()[0] == "info",
                  "(dir) snpctl doctor shows it, not as a warning (%r)" % warn)
    finally:
        h.stop_clean(d, res)


with tempfile.TemporaryDirectory(prefix="snpd-coll-keep-") as tmp:
    os.chmod(tmp, 0o755)
    threads = [threading.Thread(target=res.run, args=(fn, tmp))
               for fn in (scenario_keep, scenario_dead, scenario_backoff, scenario_fold_fail, scenario_fold_ok,
                          scenario_dir)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
res.done()
